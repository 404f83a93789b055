import pytest
import torch

from core.data.heatmaps import gaussian_targets
from core.errors import ConfigError
from core.models.decoding import (
    decode_heatmaps,
    decode_prediction,
    keypoint_confidence,
    most_confident,
    soft_argmax,
    spatial_softmax,
    subpixel_maxima,
)

DECODERS = [soft_argmax, subpixel_maxima]


def _random_keypoints(batch: int, n: int, height: int, width: int, margin: float, seed: int) -> torch.Tensor:
    """(batch, n, 2) subpixel points; margin < 0 puts them within -margin pixels of a border."""
    generator = torch.Generator().manual_seed(seed)
    size = torch.tensor([width, height], dtype=torch.float32)
    if margin >= 0:
        return margin + torch.rand(batch, n, 2, generator=generator) * (size - 1 - 2 * margin)
    # Near an edge: one coordinate within -margin of a border (either side), the other anywhere.
    points = torch.rand(batch, n, 2, generator=generator) * (size - 1)
    near = -0.5 + torch.rand(batch, n, generator=generator) * -margin
    far_side = torch.rand(batch, n, generator=generator) < 0.5
    axis = (torch.rand(batch, n, generator=generator) < 0.5).long()
    size_on_axis = size[axis]
    value = torch.where(far_side, size_on_axis - 1 - near, near)
    return points.scatter(-1, axis[..., None], value[..., None])


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize(("height", "width"), [(64, 64), (48, 64)])
@pytest.mark.parametrize("margin", [4.0, -3.0])
def test_decoders_recover_subpixel_peaks(decoder, height, width, margin):
    keypoints = _random_keypoints(4, 6, height, width, margin, seed=height + int(margin))
    targets, visible = gaussian_targets(keypoints, height, width)
    assert visible.all()
    decoded = decoder(targets)
    assert decoded.shape == (4, 6, 2)
    assert (decoded - keypoints).abs().max().item() < 0.05


@pytest.mark.parametrize("decoder", DECODERS)
def test_decoders_ignore_a_weak_second_blob(decoder):
    keypoints = torch.tensor([[[20.3, 30.6], [40.8, 12.2]]])
    second = torch.tensor([[[32.0, 22.0], [50.0, 20.0]]])
    main_maps, _ = gaussian_targets(keypoints, 48, 64)
    other_maps, _ = gaussian_targets(second, 48, 64)
    maps = (main_maps + 0.4 * other_maps) / 1.4
    assert (decoder(maps) - keypoints).abs().max().item() < 0.05
    # The global expectation, by contrast, is pulled far towards the second blob.
    ys, xs = torch.meshgrid(torch.arange(48.0), torch.arange(64.0), indexing="ij")
    global_mean = torch.stack([(maps * xs).sum((-2, -1)), (maps * ys).sum((-2, -1))], dim=-1)
    assert (global_mean - keypoints).abs().max().item() > 2


def test_decoders_agree_on_noisy_network_like_maps():
    keypoints = _random_keypoints(8, 5, 48, 64, margin=0.0, seed=7)
    targets, _ = gaussian_targets(keypoints, 48, 64)
    generator = torch.Generator().manual_seed(1)
    logits = torch.log(targets + 1e-6) + 0.1 * torch.randn(targets.shape, generator=generator)
    probs = spatial_softmax(logits)
    by_soft_argmax, by_subpixel = soft_argmax(probs), subpixel_maxima(probs)
    assert (by_soft_argmax - by_subpixel).abs().max().item() < 0.15
    for decoded in (by_soft_argmax, by_subpixel):
        error = (decoded - keypoints).norm(dim=-1)
        assert error.max().item() < 0.2 and error.mean().item() < 0.06


def test_confidence_is_high_for_ideal_targets_low_for_diffuse_maps():
    keypoints = _random_keypoints(2, 4, 48, 64, margin=-3.0, seed=3)
    targets, _ = gaussian_targets(keypoints, 48, 64)
    assert keypoint_confidence(targets, subpixel_maxima(targets)).min().item() > 0.99

    uniform = torch.full((1, 1, 48, 64), 1 / (48 * 64))
    assert keypoint_confidence(uniform, soft_argmax(uniform)).item() < 0.3

    centre = torch.tensor([[[31.4, 23.7]]])
    widths = [1.25, 1.5, 2.0, 3.0, 4.0, 6.0]
    blobs = torch.cat([gaussian_targets(centre, 48, 64, sigma=s)[0] for s in widths], dim=1)
    confidence = keypoint_confidence(blobs, subpixel_maxima(blobs))[0]
    assert confidence[0].item() > 0.99 and confidence[-1].item() < 0.3
    assert (confidence[1:] < confidence[:-1]).all()
    # Against the closed form 2 sigma^2 / (sigma^2 + s^2) for a blob of width s.
    assert confidence[-1].item() == pytest.approx(2 * 1.25**2 / (1.25**2 + 36), rel=0.05)


def test_confidence_halves_for_two_equal_blobs_and_is_zero_for_nan_points():
    first, _ = gaussian_targets(torch.tensor([[[15.0, 15.0]]]), 48, 64)
    second, _ = gaussian_targets(torch.tensor([[[45.0, 30.0]]]), 48, 64)
    maps = (first + second) / 2
    assert keypoint_confidence(maps, soft_argmax(maps)).item() == pytest.approx(0.5, abs=0.01)
    assert keypoint_confidence(maps, torch.tensor([[[float("nan"), 3.0]]])).item() == 0.0


@pytest.mark.parametrize("method", ["soft_argmax", "subpixel"])
def test_decode_heatmaps_from_logits_and_probabilities(method):
    keypoints = _random_keypoints(3, 4, 48, 64, margin=2.0, seed=11)
    targets, _ = gaussian_targets(keypoints, 48, 64)
    logits = torch.log(targets.clamp_min(1e-30)) + 5.0  # softmax is shift-invariant
    for maps, already in ((logits, False), (targets, True)):
        xy, confidence = decode_heatmaps(maps, method, already_probs=already)
        assert xy.shape == (3, 4, 2) and confidence.shape == (3, 4)
        assert (xy - keypoints).abs().max().item() < 0.05
        assert confidence.min().item() > 0.99
        assert xy.device == maps.device and confidence.device == maps.device


def test_decoding_works_in_float64_and_half_precision():
    keypoints = torch.tensor([[[12.25, 7.75]]], dtype=torch.float64)
    targets, _ = gaussian_targets(keypoints, 32, 32)
    for method in ("soft_argmax", "subpixel"):
        xy, _ = decode_heatmaps(targets, method, already_probs=True)
        assert xy.dtype == torch.float64
        xy_half, _ = decode_heatmaps(targets.half(), method, already_probs=True)
        assert (xy_half.double() - keypoints).abs().max().item() < 0.05


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["soft_argmax", "subpixel"])
def test_decoding_stays_on_the_gpu(method):
    keypoints = _random_keypoints(2, 3, 48, 64, margin=-2.0, seed=5).cuda()
    targets, _ = gaussian_targets(keypoints, 48, 64)
    xy, confidence = decode_heatmaps(targets, method, already_probs=True)
    assert xy.is_cuda and confidence.is_cuda
    assert (xy - keypoints).abs().max().item() < 0.05


def test_decoders_reject_bad_arguments():
    maps = torch.rand(1, 2, 8, 8)
    with pytest.raises(ConfigError, match="odd number"):
        soft_argmax(maps, window=4)
    with pytest.raises(ConfigError, match="sigma must be positive"):
        subpixel_maxima(maps, sigma=0)
    with pytest.raises(ConfigError, match="upsampling factor"):
        subpixel_maxima(maps, upsample=0)
    with pytest.raises(ConfigError, match="unknown heatmap decoding method 'argmax'"):
        decode_heatmaps(maps, "argmax")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(batch, keypoints, H, W\)"):
        soft_argmax(maps[0])
    with pytest.raises(ValueError, match="do not match"):
        keypoint_confidence(maps, torch.zeros(1, 3, 2))


def test_most_confident_takes_each_keypoint_from_its_most_confident_head():
    xy = torch.tensor(
        [
            [[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]],  # head 0
            [[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]],  # head 1
        ]
    )  # (heads 2, batch 1, keypoints 3, 2)
    confidence = torch.tensor([[[0.9, 0.2, 0.5]], [[0.1, 0.8, 0.5]]])
    picked_xy, picked_conf = most_confident(xy, confidence)
    assert picked_xy.tolist() == [[[1.0, 1.0], [20.0, 20.0], [3.0, 3.0]]]  # a tie goes to head 0
    assert picked_conf.tolist() == [[pytest.approx(0.9), pytest.approx(0.8), pytest.approx(0.5)]]


def test_decode_prediction_picks_the_sharper_heatmap_per_keypoint():
    # Keypoint 0 is a sharp target in head A and a wide blob in head B; keypoint 1 the other way round.
    sharp_a, _ = gaussian_targets(torch.tensor([[[10.3, 12.6], [30.0, 20.0]]]), 32, 48)
    wide_b, _ = gaussian_targets(torch.tensor([[[14.0, 14.0], [33.4, 21.7]]]), 32, 48, sigma=5.0)
    sharp_b, _ = gaussian_targets(torch.tensor([[[14.0, 14.0], [33.4, 21.7]]]), 32, 48)
    wide_a, _ = gaussian_targets(torch.tensor([[[10.3, 12.6], [30.0, 20.0]]]), 32, 48, sigma=5.0)
    head_a = torch.cat([sharp_a[:, :1], wide_a[:, 1:]], dim=1).log()
    head_b = torch.cat([wide_b[:, :1], sharp_b[:, 1:]], dim=1).log()
    extra = torch.zeros(1, 1, 32, 48)  # a training-only channel, ignored
    outputs = [torch.cat([head_a, extra], 1), torch.cat([head_b, extra], 1)]
    xy, confidence = decode_prediction(outputs, heads=2, keypoints=2, method="soft_argmax")
    torch.testing.assert_close(xy, torch.tensor([[[10.3, 12.6], [33.4, 21.7]]]), atol=0.02, rtol=0)
    assert (confidence > 0.9).all()
    # with one prediction head only the last output counts
    xy_last, _ = decode_prediction(outputs, heads=1, keypoints=2, method="soft_argmax")
    assert xy_last[0, 1].tolist() == pytest.approx([33.4, 21.7], abs=0.02)
    assert xy_last[0, 0].tolist() != pytest.approx([10.3, 12.6], abs=0.5)
