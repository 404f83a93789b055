"""A trained model loaded from its folder, predicting keypoints in frame pixels."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml
from torch import nn

from core.config import ProjectConfig, TrainConfig, parse_config
from core.data.augment import scale_points
from core.data.heatmaps import heatmap_to_image_coords
from core.data.images import to_model_input
from core.errors import ConfigError, PoseCloudError
from core.models.decoding import decode_prediction
from core.models.factory import build_network
from core.models.heatmap_net import HEATMAP_STRIDE
from core.predict.frame_stream import ContextWindows, FrameStream, SingleFrames, join_keypoints

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
CHECKPOINTS = ("best.ckpt", "last.ckpt")


def pick_device(name: str = "auto") -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise PoseCloudError("device 'cuda' was asked for but no CUDA GPU is available; use 'cpu' or 'auto'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def load_model_config(model_dir: Path) -> tuple[ProjectConfig, TrainConfig]:
    """The project and training settings saved in a model folder's config.yaml."""
    config_path = Path(model_dir) / CONFIG_FILE
    if not config_path.is_file():
        raise PoseCloudError(
            f"{model_dir} is not a posecloud model folder (no {CONFIG_FILE}); train a model first"
        )
    config = yaml.safe_load(config_path.read_text())
    project = parse_config(ProjectConfig, config["project"], f"{config_path} (project)")
    return project, parse_config(TrainConfig, config["train"], f"{config_path} (train)")


def load_weights(network: nn.Module, model_dir: Path) -> Path:
    """Load the best (else last) checkpoint of the model folder ``model_dir`` into ``network``, a
    network of the same model type, backbone and keypoints; returns the checkpoint's path."""
    checkpoint = next(
        (model_dir / "checkpoints" / c for c in CHECKPOINTS if (model_dir / "checkpoints" / c).is_file()),
        None,
    )
    if checkpoint is None:
        raise PoseCloudError(
            f"{model_dir} has no checkpoint in checkpoints/; its training did not finish an epoch"
        )
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    weights = {k.removeprefix("network."): v for k, v in state.items() if k.startswith("network.")}
    try:
        network.load_state_dict(weights)
    except RuntimeError as e:  # other layers or shapes: another architecture or keypoint count
        first = str(e).split("\n\t")[1] if "\n\t" in str(e) else str(e)
        raise ConfigError(
            f"the weights of {model_dir.name} do not fit this network ({first.strip()}); start from a model "
            "of the same model type, backbone and keypoints"
        ) from None
    return checkpoint


@dataclass
class TrainedModel:
    network: nn.Module
    project: ProjectConfig
    train: TrainConfig
    device: torch.device
    name: str
    cpu_bf16: bool = False
    """Whether the network runs under bfloat16 autocast on the CPU (``--runtime bf16``); on a GPU it
    always does."""

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", name: str | None = None) -> TrainedModel:
        """Load ``config.yaml`` and the best (else last) checkpoint of a model folder; ``name``
        (default: the folder's) is the scorer of its predictions."""
        model_dir = Path(model_dir)
        project, train = load_model_config(model_dir)
        network = build_network(project, train, pretrained="none")
        checkpoint = load_weights(network, model_dir)
        dev = pick_device(device)
        network = network.to(dev).eval().to(memory_format=torch.channels_last)
        log.info("loaded %s from %s on %s", model_dir.name, checkpoint.name, dev)
        return cls(network, project, train, dev, name or model_dir.name)

    def resize_for_model(self, frames: np.ndarray) -> np.ndarray:
        """``(B, H, W, 3)`` uint8 frames of any size -> the model input size."""
        size = (self.train.image_width, self.train.image_height)
        if frames.shape[2] == size[0] and frames.shape[1] == size[1]:
            return frames
        return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])

    def model_input(self, inputs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Model-sized uint8 frames ``(B, h, w, 3)`` or windows ``(B, 5, h, w, 3)`` to normalised
        network input on the model's device."""
        return to_model_input(torch.as_tensor(inputs).to(self.device, non_blocking=True))

    def autocast(self) -> torch.autocast:
        """bfloat16 on a GPU, and on a CPU where ``cpu_bf16``; else full precision."""
        enabled = self.device.type == "cuda" or self.cpu_bf16
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def keypoints(
        self, outputs: list[torch.Tensor], frame_width: int, frame_height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The network's prediction (the most confident head per keypoint) in frame pixels.

        Args:
            outputs: the network's logits, each ``(B, C, h/4, w/4)``.
            frame_width, frame_height: the original frames' size in pixels.

        Returns:
            ``xy (B, K, 2)`` in frame pixels and ``confidence (B, K)`` in [0, 1].
        """
        xy_hm, confidence = decode_prediction(
            outputs,
            self.network.prediction_heads,
            len(self.project.keypoints),
            self.train.decoder,
            self.train.heatmap_sigma,
        )
        xy_input = heatmap_to_image_coords(xy_hm, HEATMAP_STRIDE).cpu().numpy()
        xy = scale_points(
            xy_input, self.train.image_width, self.train.image_height, frame_width, frame_height
        )
        return xy, confidence.cpu().numpy()

    @torch.inference_mode()
    def predict_resized(
        self, inputs: np.ndarray | torch.Tensor, frame_width: int, frame_height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of model-sized frames ``(B, h, w, 3)`` uint8 (for the context model: windows
        ``(B, 5, h, w, 3)`` of frames t-2..t+2, predicting t), mapped to frame pixels.

        Returns ``xy (B, K, 2)`` in the original frame's pixels and ``confidence (B, K)`` in [0, 1].
        """
        with self.autocast():
            outputs = self.network(self.model_input(inputs))
        return self.keypoints(outputs, frame_width, frame_height)

    def frame_stream(self, frame_width: int, frame_height: int) -> FrameStream:
        """A predictor for consecutive model-sized frames of one video (frames ``frame_width`` x
        ``frame_height`` pixels): sliding windows for the context model, single frames otherwise."""
        stream = ContextWindows if self.train.uses_context else SingleFrames
        return stream(self, frame_width, frame_height)

    def predict_frames(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of ``(B, H, W, 3)`` uint8 frames in their pixels, and confidences. The context
        model takes them as consecutive frames of one video (the ends padded by repetition)."""
        stream = self.frame_stream(frames.shape[2], frames.shape[1])
        return join_keypoints([stream.push(self.resize_for_model(frames)), stream.finish()])
