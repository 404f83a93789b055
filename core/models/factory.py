"""Build the network a training config names, with the channels its targets need."""

from __future__ import annotations

from torch import nn

from core.config import ProjectConfig, TrainConfig
from core.errors import ConfigError
from core.models.context import ContextHeatmapNet
from core.models.heatmap_net import HeatmapNet
from core.models.input_size import check_input_size
from core.models.stacked_densenet import StackedDenseNet


def output_channels(project: ProjectConfig, train: TrainConfig) -> int:
    """Keypoint maps, plus (training only) one map per skeleton edge and two whole-skeleton maps."""
    extra = len(project.skeleton) + 2 if train.posture_graph and project.skeleton else 0
    return len(project.keypoints) + extra


def build_network(project: ProjectConfig, train: TrainConfig, pretrained: str | None = None) -> nn.Module:
    """``forward(images (B, 3, H, W)) -> list of logits (B, C, H/4, W/4)``; the last
    ``network.prediction_heads`` of them are the prediction. The context model takes windows
    ``(B, 5, 3, H, W)`` instead (see ``core.models.context``).

    ``pretrained`` overrides the config's (prediction loads trained weights, so it passes "none").
    """
    if train.posture_graph and not project.skeleton:
        raise ConfigError(
            "posture_graph: true needs a skeleton in the project; add skeleton edges or turn it off"
        )
    channels = output_channels(project, train)
    if train.model_type == "stacked_densenet":
        network = StackedDenseNet(
            in_channels=3,
            out_channels=channels,
            n_stacks=train.densenet_stacks,
            growth_rate=train.densenet_growth_rate,
        )
    else:
        net_class = ContextHeatmapNet if train.model_type == "context" else HeatmapNet
        network = net_class(train.backbone, channels, train.pretrained if pretrained is None else pretrained)
    check_input_size(train.image_height, train.image_width, network.required_multiple, train.model_type)
    return network
