"""A trained model predicting through an exported graph on the CPU: exported in memory
(``core.predict.onnx_export``) and run by ONNX Runtime (``CPUExecutionProvider``) or by OpenVINO's
own runtime, in float32 or bfloat16, with the torch model's interface, so that
``core.predict.video`` predicts with either.

OpenVINO: on the project's 2-core Intel machine (AMX) it ran the ResNet-18 network at 256 about 2x
as fast as torch in float32 and about 4x under bfloat16 (BENCHMARKS.md). Its CPU plugin infers in
bfloat16 by default where the CPU has bf16 instructions: ``openvino`` asks for float32 explicitly.

``onnxruntime`` and ``openvino`` are imported only when such a model is made.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from core.data.augment import scale_points
from core.data.context_window import WINDOW, pad_ends
from core.errors import PoseCloudError
from core.models.pose_graph import decode_to_input_pixels
from core.predict.frame_stream import FrameStream, Keypoints, SingleFrames, no_keypoints
from core.predict.onnx_export import INPUT_NAME, export_onnx
from core.predict.trained_model import TrainedModel

Engine = Literal["onnx", "openvino", "openvino-bf16"]
"""What runs the exported graph: ONNX Runtime, OpenVINO in float32, OpenVINO in bfloat16."""


def cpu_session(model: bytes) -> Any:
    """An ONNX Runtime session on the CPU with as many threads as torch uses (one per core unless
    set otherwise), so that the runtimes compare on equal terms."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


class OpenVinoSession:
    """OpenVINO's CPU runtime behind ONNX Runtime's ``run``: the graph compiled for this CPU in
    ``precision`` (``"f32"`` or ``"bf16"``), with as many threads as torch uses. ``precision`` is
    what it compiled in: OpenVINO takes bf16 as a hint and compiles float32 on a CPU without bf16
    instructions."""

    def __init__(self, model: bytes, precision: Literal["f32", "bf16"]) -> None:
        import openvino

        core = openvino.Core()
        with tempfile.TemporaryDirectory() as folder:  # read_model takes ONNX from a file
            path = Path(folder) / "model.onnx"
            path.write_bytes(model)
            graph = core.read_model(path)
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
            "PERFORMANCE_HINT": "LATENCY",
        }
        compiled = core.compile_model(graph, "CPU", config)
        self.precision = (
            "bfloat16"
            if compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name() == "bf16"
            else "float32"
        )
        self.request = compiled.create_infer_request()

    def run(self, _outputs: None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(feeds)
        return [np.array(results[output]) for output in self.request.model_outputs]


def runtime_version(session: Any) -> str:
    """The runtime, its version and the precision ``session`` computes in."""
    if isinstance(session, OpenVinoSession):
        return f"openvino {metadata.version('openvino')} (CPU, {session.precision})"  # __version__ is a build tag
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)"


def _session(model: bytes, engine: Engine) -> Any:
    if engine == "onnx":
        return cpu_session(model)
    return OpenVinoSession(model, "bf16" if engine == "openvino-bf16" else "f32")


@dataclass
class OnnxModel(TrainedModel):
    """``TrainedModel`` whose predictions come from its exported graph (the torch ``network`` stays,
    unused for prediction). Made by ``from_trained``."""

    session: Any = field(kw_only=True)
    """The ``onnxruntime.InferenceSession`` or ``OpenVinoSession``."""
    engine: Engine = field(kw_only=True, default="onnx")

    @classmethod
    def from_trained(
        cls, model: TrainedModel, engine: Engine = "onnx", graph: bytes | None = None
    ) -> OnnxModel:
        """``model`` exported (or its export ``graph``) and opened in a CPU session of ``engine``.
        Raises a PoseCloudError when the model is on a GPU (these runtimes are the CPU's) or does
        not export."""
        if model.device.type != "cpu":
            raise PoseCloudError(
                f"the {engine} runtime predicts on the CPU, and {model.name} was loaded on {model.device}: "
                f"pass --device cpu with --runtime {engine}, or use --runtime torch on the GPU"
            )
        return cls(
            model.network,
            model.project,
            model.train,
            model.device,
            model.name,
            session=_session(export_onnx(model) if graph is None else graph, engine),
            engine=engine,
        )

    def run(self, inputs: np.ndarray | torch.Tensor) -> Keypoints:
        """Model-sized uint8 frames ``(N, h, w, 3)`` through the graph: ``xy (N', K, 2)`` in input
        pixels and ``confidence (N', K)`` (for the context model N' = N - 4, see ``PoseGraph``)."""
        images = self.model_input(inputs).contiguous().numpy()
        outputs = self.session.run(None, {INPUT_NAME: images})
        if len(outputs) == 1:  # heatmaps: the decoder does not trace into the graph
            heads = list(torch.from_numpy(outputs[0]).unbind(1))
            xy, confidence = decode_to_input_pixels(
                heads, len(self.project.keypoints), self.train.decoder, self.train.heatmap_sigma
            )
            return xy.numpy(), confidence.numpy()
        return outputs[0], outputs[1]

    def predict_resized(
        self, inputs: np.ndarray | torch.Tensor, frame_width: int, frame_height: int
    ) -> Keypoints:
        xy, confidence = self.run(inputs)
        return self.to_frame_pixels(xy, frame_width, frame_height), confidence

    def to_frame_pixels(self, xy: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
        return scale_points(xy, self.train.image_width, self.train.image_height, frame_width, frame_height)

    def frame_stream(self, frame_width: int, frame_height: int) -> FrameStream:
        stream = OnnxContextWindows if self.train.uses_context else SingleFrames
        return stream(self, frame_width, frame_height)


class OnnxContextWindows:
    """``core.predict.frame_stream.ContextWindows`` through the exported graph: frame t from frames
    t-2..t+2, the video's ends padded by repetition.

    The graph keeps no state between calls, so each push runs on the four frames before it again
    (the backbone sees them twice: 4 extra frames per batch) and predicts the frames its run
    covers; ``finish`` pads the end and predicts the last two.
    """

    def __init__(self, model: OnnxModel, frame_width: int, frame_height: int) -> None:
        self.model, self.frame_size = model, (frame_width, frame_height)
        self.pending: torch.Tensor | None = None
        """Model-sized uint8 frames ``(P, h, w, 3)`` the next run starts with: the last four pushed (all, when fewer)."""

    def push(self, frames: np.ndarray | torch.Tensor) -> Keypoints:
        frames = torch.as_tensor(frames)
        run = pad_ends(frames, end=False) if self.pending is None else torch.cat([self.pending, frames])
        return self._predict(run)

    def finish(self) -> Keypoints:
        if self.pending is None:
            return no_keypoints(self.model)
        keypoints = self._predict(pad_ends(self.pending, start=False))
        self.pending = None
        return keypoints

    def _predict(self, run: torch.Tensor) -> Keypoints:
        """Predict the frames ``run`` covers (none when it is shorter than a window), then keep its
        last four frames for the next run."""
        ready = len(run) >= WINDOW
        keypoints = self.model.predict_resized(run, *self.frame_size) if ready else no_keypoints(self.model)
        self.pending = run[-(WINDOW - 1) :]
        return keypoints
