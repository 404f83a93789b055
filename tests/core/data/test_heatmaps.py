import math

import numpy as np
import pytest
import torch

from core.data.heatmaps import (
    gaussian_targets,
    heatmap_to_image_coords,
    image_to_heatmap_coords,
    posture_graph_targets,
)
from core.errors import ConfigError

NAN = float("nan")


def test_coordinate_conversion_uses_pixel_centres():
    image_xy = torch.tensor([[1.5, -0.5], [5.5, 9.5]])
    heatmap_xy = image_to_heatmap_coords(image_xy, stride=4)
    # Image pixels 0..3 are heatmap pixel 0, whose centre is image x = 1.5; the left edge maps to edge.
    assert torch.allclose(heatmap_xy, torch.tensor([[0.0, -0.5], [1.0, 2.0]]))
    assert torch.allclose(heatmap_to_image_coords(heatmap_xy, stride=4), image_xy)


def test_coordinate_conversion_keeps_numpy_and_leading_shape():
    xy = np.random.default_rng(0).uniform(0, 100, size=(2, 3, 5, 2))
    back = heatmap_to_image_coords(image_to_heatmap_coords(xy, 4), 4)
    assert isinstance(back, np.ndarray) and back.shape == xy.shape
    np.testing.assert_allclose(back, xy)


def test_coordinate_conversion_rejects_bad_stride_and_shape():
    with pytest.raises(ConfigError, match="stride must be positive"):
        image_to_heatmap_coords(torch.zeros(3, 2), stride=0)
    with pytest.raises(ValueError, match="last dimension of size 2"):
        heatmap_to_image_coords(torch.zeros(3, 3), stride=4)


def test_gaussian_targets_are_normalised_gaussians_at_the_keypoints():
    keypoints = torch.tensor([[[10.3, 20.7], [30.0, 5.25]], [[0.0, 0.0], [63.2, 47.4]]])
    targets, visible = gaussian_targets(keypoints, height=48, width=64)
    assert targets.shape == (2, 2, 48, 64) and visible.all()
    assert torch.allclose(targets.sum(dim=(-2, -1)), torch.ones(2, 2))
    # Interior maps: the centre of mass is the keypoint; the value matches the formula.
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    first = targets[0, 0]
    assert torch.allclose(torch.stack([(first * xs).sum(), (first * ys).sum()]), keypoints[0, 0], atol=1e-4)
    ratio = first[20, 10] / first[21, 10]
    expected = math.exp((-(0.3**2 + 0.7**2) + (0.3**2 + 0.3**2)) / (2 * 1.25**2))
    assert ratio.item() == pytest.approx(expected, rel=1e-5)
    # Corner keypoints: the truncated Gaussian is renormalised and peaks at the corner pixels.
    assert targets[1, 0].argmax().item() == 0
    assert targets[1, 1].argmax().item() == 48 * 64 - 1


def test_gaussian_targets_width_follows_sigma():
    keypoints = torch.tensor([[[32.0, 24.0]]])
    for sigma in (1.25, 3.0):
        targets, _ = gaussian_targets(keypoints, 48, 64, sigma=sigma)
        variance_x = (targets[0, 0].sum(0) * (torch.arange(64.0) - 32.0) ** 2).sum()
        assert variance_x.item() == pytest.approx(sigma**2, rel=1e-3)


def test_missing_and_off_map_keypoints_give_zero_maps_not_visible():
    keypoints = torch.tensor([[[NAN, NAN], [5.0, NAN], [-3.0, 4.0], [64.6, 4.0], [12.0, 8.0]]])
    targets, visible = gaussian_targets(keypoints, height=16, width=64)
    assert visible.tolist() == [[False, False, False, False, True]]
    assert torch.count_nonzero(targets[0, :4]) == 0
    assert not torch.isnan(targets).any()
    assert targets[0, 4].sum().item() == pytest.approx(1.0)


def test_gaussian_targets_keep_dtype_and_reject_bad_arguments():
    targets, _ = gaussian_targets(torch.tensor([[[3.0, 3.0]]], dtype=torch.float64), 8, 8)
    assert targets.dtype == torch.float64
    with pytest.raises(ConfigError, match="sigma must be positive"):
        gaussian_targets(torch.zeros(1, 1, 2), 8, 8, sigma=0)
    with pytest.raises(ConfigError, match="at least 1x1"):
        gaussian_targets(torch.zeros(1, 1, 2), 0, 8)
    with pytest.raises(ValueError, match=r"\(batch, keypoints, 2\)"):
        gaussian_targets(torch.zeros(1, 2), 8, 8)


def test_posture_graph_draws_blurred_segments():
    keypoints = torch.tensor([[[10.0, 20.0], [30.0, 20.0], [30.0, 40.0]]])
    targets, visible = posture_graph_targets(keypoints, [(0, 1), (1, 2)], height=48, width=64)
    assert targets.shape == (1, 4, 48, 64) and visible.all()
    assert torch.allclose(targets.sum(dim=(-2, -1)), torch.ones(1, 4))
    horizontal = targets[0, 0]
    # Constant along the segment, Gaussian across it, and Gaussian in distance past the end.
    peak = horizontal[20, 10:31]
    assert torch.allclose(peak, peak.max().expand(21))
    sigma2 = 2 * 1.25**2
    assert (horizontal[22, 15] / horizontal[20, 15]).item() == pytest.approx(math.exp(-4 / sigma2), rel=1e-5)
    assert (horizontal[20, 33] / horizontal[20, 30]).item() == pytest.approx(math.exp(-9 / sigma2), rel=1e-5)
    assert (horizontal[23, 34] / horizontal[20, 30]).item() == pytest.approx(math.exp(-25 / sigma2), rel=1e-5)
    # The whole skeleton is high on both limbs; skeleton + keypoints equals it on this graph
    # (every keypoint lies on a limb), up to normalisation.
    skeleton, with_keypoints = targets[0, 2], targets[0, 3]
    assert skeleton[20, 12] == pytest.approx(skeleton[35, 30].item())
    assert torch.allclose(skeleton, with_keypoints)


def test_posture_graph_adds_keypoints_off_the_skeleton():
    keypoints = torch.tensor([[[10.0, 10.0], [20.0, 10.0], [40.0, 30.0]]])
    targets, _ = posture_graph_targets(keypoints, [(0, 1)], height=48, width=64)
    assert targets[0, 1, 30, 40] < 1e-20
    with_keypoints = targets[0, 2]
    assert with_keypoints[30, 40] == pytest.approx(with_keypoints[10, 15].item())


def test_posture_graph_visibility_with_missing_endpoints():
    keypoints = torch.tensor(
        [
            [[10.0, 10.0], [NAN, NAN], [30.0, 30.0]],
            [[NAN, NAN], [NAN, NAN], [30.0, 30.0]],
        ]
    )
    targets, visible = posture_graph_targets(keypoints, [(0, 1), (0, 2)], height=48, width=64)
    assert visible.tolist() == [[False, True, True, True], [False, False, False, True]]
    assert torch.count_nonzero(targets[0, 0]) == 0 and torch.count_nonzero(targets[1, :3]) == 0
    assert not torch.isnan(targets).any()
    # With one edge left, the skeleton map is that edge's map.
    assert torch.allclose(targets[0, 2], targets[0, 1])
    # Only a keypoint left: the last map is its Gaussian.
    gaussian, _ = gaussian_targets(keypoints[1:, 2:], 48, 64)
    assert torch.allclose(targets[1, 3], gaussian[0, 0], atol=1e-7)


def test_posture_graph_rejects_bad_edges():
    keypoints = torch.zeros(1, 3, 2)
    with pytest.raises(ConfigError, match=r"outside 0..2"):
        posture_graph_targets(keypoints, [(0, 3)], 8, 8)
    with pytest.raises(ConfigError, match="at least one skeleton edge"):
        posture_graph_targets(keypoints, [], 8, 8)
