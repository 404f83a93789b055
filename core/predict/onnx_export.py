"""A trained model as an ONNX file that runs without posecloud: the network with its keypoint
decoding (``core.models.pose_graph``), and in the file's metadata what a user needs to feed it and
read its outputs (keypoint names, input size and normalisation, the pixel convention).

The graph is traced with torch's TorchScript-based exporter (``dynamo=False``): it gives the same
keypoints as the torch.export-based one, needs no onnxscript, and exports in seconds rather than
tens of seconds. torch has deprecated it (2.9); the torch.export-based exporter (``dynamo=True``
and ``dynamic_shapes`` for the frame axis, with onnxscript installed) exported the same graphs
with torch 2.14 when tried. ``onnx`` is imported here only, when a model is exported.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from importlib import metadata
from pathlib import Path

import torch

from core.atomic import atomic_open
from core.data.context_window import WINDOW
from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.errors import PoseCloudError
from core.models.heatmap_net import HEATMAP_STRIDE
from core.models.pose_graph import PoseGraph
from core.predict.trained_model import TrainedModel

ONNX_FILE = "model.onnx"
"""The exported file's default name, in the model folder."""
INPUT_NAME = "images"
OPSET = 17
METADATA_VERSION = "1"
"""Bumped when a metadata key changes meaning."""


def _pose_graph(model: TrainedModel) -> PoseGraph:
    """The model's network (a CPU copy in its default memory format) and decoding, as traced."""
    network = copy.deepcopy(model.network).cpu().to(memory_format=torch.contiguous_format).eval()
    train = model.train
    return PoseGraph(
        network, len(model.project.keypoints), train.decoder, train.heatmap_sigma, train.uses_context
    )


def export_onnx(model: TrainedModel) -> bytes:
    """The model as a serialized ONNX model with its metadata (``onnx_metadata``).

    Raises a PoseCloudError saying why when the network does not export.
    """
    import onnx

    graph = _pose_graph(model)
    frames = WINDOW + 1 if graph.context else 2  # not 1: a traced size-1 batch can be taken for a constant
    example = torch.zeros(frames, 3, model.train.image_height, model.train.image_width)
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # the deprecation of this exporter (see the module docstring), and the tracer's notes on
            # the decoder's shape checks, which it cannot record (they validate, the graph is the same)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                graph,
                (example,),
                buffer,
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=list(graph.output_names),
                dynamic_axes={INPUT_NAME: {0: "frames"}}
                | {name: {0: "predictions"} for name in graph.output_names},
                opset_version=OPSET,
            )
    # the exporter raises many kinds of errors, all meaning "this graph does not export"
    except Exception as e:
        kind = ", ".join(filter(None, [model.train.model_type, _backbone(model)]))
        raise PoseCloudError(
            f"{model.name} ({kind}) cannot be exported to ONNX: {type(e).__name__}: {e}; "
            "predict it with --runtime torch"
        ) from e
    proto = onnx.load_from_string(buffer.getvalue())
    proto.doc_string = f"posecloud {model.train.model_type} model {model.name}: frames to keypoints"
    onnx.helper.set_model_props(proto, onnx_metadata(model, graph))
    return proto.SerializeToString()


def write_onnx(model_dir: str | Path, out: str | Path | None = None) -> Path:
    """Export the model in ``model_dir`` to ``out`` (default ``<model_dir>/model.onnx``), atomically."""
    model = TrainedModel.load(model_dir, device="cpu")
    out = Path(out) if out is not None else Path(model_dir) / ONNX_FILE
    data = export_onnx(model)
    with atomic_open(out) as handle:
        handle.write(data)
    return out


def onnx_metadata(model: TrainedModel, graph: PoseGraph) -> dict[str, str]:
    """The file's ``metadata_props``: strings, JSON for lists."""
    train = model.train
    props = {
        "posecloud_metadata_version": METADATA_VERSION,
        "posecloud_version": _posecloud_version(),
        "model_name": model.name,
        "model_type": train.model_type,
        "backbone": _backbone(model),
        "keypoints": json.dumps(list(model.project.keypoints)),
        "views": json.dumps(list(model.project.views)),
        "input_name": INPUT_NAME,
        "input_height": str(train.image_height),
        "input_width": str(train.image_width),
        "input_format": "float32 (frames, 3, input_height, input_width), RGB, (pixel / 255 - mean) / std per channel",
        "mean": json.dumps(list(IMAGENET_MEAN)),
        "std": json.dumps(list(IMAGENET_STD)),
        "context_frames": str(WINDOW if graph.context else 1),
        "outputs": json.dumps(list(graph.output_names)),
        "decoder": train.decoder,
        "decoded_in_graph": json.dumps(graph.decodes),
        "heatmap_stride": str(HEATMAP_STRIDE),
        "heatmap_sigma": str(train.heatmap_sigma),
        "coordinates": "input pixels, pixel centres at integers; in a frame of frame_width x frame_height "
        "pixels: x_frame = (x + 0.5) * frame_width / input_width - 0.5, and y alike with the heights",
    }
    if graph.context:
        props["context"] = (
            "images are N >= 5 consecutive frames; the outputs are frames 2..N-3, each predicted from "
            "frames t-2..t+2; repeat a video's first and last frame twice to predict its ends"
        )
    if not graph.decodes:
        props["heatmaps"] = (
            f"(predictions, heads, keypoints, input_height / {HEATMAP_STRIDE}, input_width / {HEATMAP_STRIDE}) "
            f"logits: a spatial softmax per map, then the {train.decoder} peak of each (heatmap pixel x maps "
            f"to input pixel (x + 0.5) * {HEATMAP_STRIDE} - 0.5); per keypoint the most confident head"
        )
    return props


def _backbone(model: TrainedModel) -> str:
    """The backbone's name; none for the Stacked DenseNet, which has none."""
    return "" if model.train.model_type == "stacked_densenet" else model.train.backbone


def _posecloud_version() -> str:
    try:
        return metadata.version("posecloud")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
