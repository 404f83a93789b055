"""The context model's shapes, and that its per-frame/per-window split equals the windowed forward."""

import pytest
import torch

from core.config import ProjectConfig, TrainConfig
from core.data.context_window import CENTRE, WINDOW
from core.models.context import ContextHeatmapNet
from core.models.factory import build_network


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_b0"])
def test_both_heads_give_centre_frame_maps_at_stride_4(backbone):
    torch.manual_seed(0)
    network = ContextHeatmapNet(backbone, out_channels=7).eval()
    with torch.no_grad():
        outputs = network(torch.randn(3, WINDOW, 3, 64, 96))
    assert network.prediction_heads == 2
    assert [tuple(o.shape) for o in outputs] == [(3, 7, 16, 24), (3, 7, 16, 24)]


def test_the_factory_builds_it_with_posture_graph_channels():
    project = ProjectConfig(name="p", keypoints=["a", "b", "c"], skeleton=[("a", "b")])
    train = TrainConfig(model_type="context", backbone="resnet18", pretrained="none", posture_graph=True)
    network = build_network(project, train)
    assert isinstance(network, ContextHeatmapNet)
    assert network.temporal.transition.out_channels == 2 * (
        3 + 1 + 2
    )  # keypoints, one edge, two whole-graph maps


def test_per_frame_encoding_then_windows_equals_the_windowed_forward():
    """What video prediction does (each frame encoded once, windows stacked from the encodings)
    gives what training does (each window through the whole network)."""
    torch.manual_seed(1)
    network = ContextHeatmapNet("resnet18", out_channels=4).eval()
    frames = torch.randn(7, 3, 64, 64)
    windows = torch.stack([frames[i : i + WINDOW] for i in range(3)])  # centres: frames 2, 3, 4
    with torch.no_grad():
        single, temporal = network(windows)
        frame_single, frame_inputs = network.encode(frames)
        stacked = torch.stack([frame_inputs[i : i + WINDOW] for i in range(3)])
        streamed = network.decode_windows(stacked)
    torch.testing.assert_close(single, frame_single[CENTRE : CENTRE + 3], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(temporal, streamed, atol=1e-4, rtol=1e-4)


def test_the_temporal_head_sees_every_frame_of_the_window():
    torch.manual_seed(2)
    network = ContextHeatmapNet("resnet18", out_channels=4).eval()
    windows = torch.randn(1, WINDOW, 3, 64, 64)
    with torch.no_grad():
        single, temporal = network(windows)
        for t in range(WINDOW):
            changed = windows.clone()
            changed[:, t] = torch.randn(3, 64, 64)
            single_changed, temporal_changed = network(changed)
            assert not torch.allclose(temporal_changed, temporal), f"frame {t} is ignored"
            assert torch.equal(single_changed, single) == (t != CENTRE)


def test_frames_must_come_as_windows():
    network = ContextHeatmapNet("resnet18", out_channels=4)
    with pytest.raises(ValueError, match=r"\(batch, 5, 3, H, W\)"):
        network(torch.randn(2, 3, 64, 64))
