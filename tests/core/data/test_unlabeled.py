import dataclasses
import subprocess
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from core.config import ProjectConfig, TrainConfig
from core.data.augment import scale_points
from core.data.images import IMAGENET_MEAN, IMAGENET_STD, to_model_input
from core.data.unlabeled import iter_unlabeled_opencv, make_unlabeled_loader, project_videos, sample_windows
from core.data.unlabeled_batch import (
    ROTATION_DEG,
    SCALE_RANGE,
    Augmentation,
    Window,
    draw_augmentation,
    resize_matrix,
    to_frame_pixels,
)
from core.data.unlabeled_dali import iter_unlabeled_dali
from core.errors import ConfigError, VideoError
from core.video.dali_reader import dali_available
from core.video.reader import iter_frames, probe_video
from tests.testdata import TOY_VIDEO, write_video

needs_dali = pytest.mark.skipif(not dali_available(), reason="NVIDIA DALI is not installed")
SIZE = (48, 64)  # model input (height, width): not square, so x/y mix-ups show


@pytest.fixture(scope="module")
def vp9_clip(tmp_path_factory) -> Path:
    """The toy video's first 48 frames at 192x200, VP9 with a keyframe every 12 frames (so seeks
    land between keyframes and decode forward)."""
    path = tmp_path_factory.mktemp("unlabeled") / "toy48.webm"
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", str(TOY_VIDEO), "-frames:v", "48",
        "-vf", "scale=192:200", "-c:v", "libvpx-vp9", "-g", "12", "-deadline", "realtime",
        "-cpu-used", "8", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True)
    return path


@pytest.fixture(scope="module")
def dot_clip(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """24 frames of 160x120 VP9: a Gaussian blob (sigma 4 px) on black at a known subpixel spot
    per frame. Returns the path and the spots ``(24, 2)`` in frame pixels (x, y)."""
    t = np.arange(24) * 2 * np.pi / 24
    spots = np.stack([80.3 + 25 * np.cos(t), 60.6 + 18 * np.sin(t)], axis=1)
    ys, xs = np.mgrid[:120, :160]
    frames = np.empty((24, 120, 160, 3), np.uint8)
    for frame, (x, y) in zip(frames, spots, strict=True):
        frame[:] = (255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 4.0**2)))[..., None]
    path = write_video(tmp_path_factory.mktemp("unlabeled") / "dot.webm", frames, codec="libvpx-vp9")
    return path, spots


def sequential(path: Path, count: int) -> torch.Tensor:
    """The first ``count`` frames decoded in order, resized with INTER_AREA, as model input."""
    frames = [
        cv2.resize(f, SIZE[::-1], interpolation=cv2.INTER_AREA) for f in islice(iter_frames(path), count)
    ]
    return to_model_input(torch.from_numpy(np.stack(frames)))


def grey_levels(frames: torch.Tensor) -> torch.Tensor:
    """Undo the ImageNet normalisation: ``(..., 3, h, w)`` -> grey levels 0..255."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (frames.cpu() * std + mean) * 255


@pytest.mark.parametrize(
    ("clip", "starts"),
    [("vp9", [0, 5, 11, 12, 20, 32]), ("toy", [0, 185, 193, 300, 425])],  # toy keyframes: 0, 193, 433
)
def test_opencv_windows_are_the_frames_of_a_sequential_decode(vp9_clip, clip, starts):
    path = vp9_clip if clip == "vp9" else TOY_VIDEO
    info = probe_video(path)
    expected = sequential(path, max(starts) + 16)
    batches = list(iter_unlabeled_opencv([info], [Window(0, s) for s in starts], 16, SIZE))
    assert len(batches) == len(starts)
    for start, batch in zip(starts, batches, strict=True):
        assert batch["video"] == path.name
        assert batch["frames"].shape == (16, 3, *SIZE) and batch["frames"].dtype == torch.float32
        assert batch["frames"].is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(batch["frame_indices"], torch.arange(start, start + 16))
        torch.testing.assert_close(batch["frames"], expected[start : start + 16], rtol=0, atol=1e-5)
        np.testing.assert_allclose(batch["affine"].numpy(), resize_matrix(info.width, info.height, 64, 48))


@needs_dali
@pytest.mark.parametrize(
    "augmentation",
    [Augmentation(), Augmentation(rotation=-7.0, scale=(1.15, 0.85), brightness=1.2, contrast=0.8)],
    ids=["plain", "augmented"],
)
def test_dali_on_cpu_returns_the_frames_opencv_returns(vp9_clip, augmentation):
    """Same windows, same frames: within 2 grey levels on average per frame (the decoders convert
    YUV to RGB with slightly different rounding, ~0.55 levels at full size here, and DALI's
    Gaussian-antialiased resize differs from INTER_AREA by a few tenths), and each DALI frame is
    nearer its OpenCV twin than either neighbour (consecutive toy frames differ by ~5 levels)."""
    info = probe_video(vp9_clip)
    windows = [Window(0, s, augmentation) for s in (0, 7, 12, 19, 32)]
    cpu = list(iter_unlabeled_opencv([info], windows, 16, SIZE))
    dali = list(iter_unlabeled_dali([info], windows, 16, SIZE, "cpu", windows_per_pipeline=2))
    assert len(dali) == len(windows)
    for a, b in zip(cpu, dali, strict=True):
        assert b["video"] == a["video"] and torch.equal(b["frame_indices"], a["frame_indices"])
        assert torch.equal(b["affine"], a["affine"])
        assert b["frames"].shape == a["frames"].shape and b["frames"].device.type == "cpu"
        levels_a, levels_b = grey_levels(a["frames"]), grey_levels(b["frames"])
        same = (levels_a - levels_b).abs().mean(dim=(1, 2, 3))
        assert same.max() < 2, f"frames differ by up to {same.max():.2f} levels"
        shifted = (levels_a[1:] - levels_b[:-1]).abs().mean(dim=(1, 2, 3))
        assert (shifted > torch.maximum(same[1:], same[:-1])).all()


@pytest.mark.parametrize("path_kind", ["opencv", "dali"])
def test_affine_maps_augmented_points_back_to_frame_pixels(dot_clip, path_kind):
    """Random rotations and scales of a blob at known spots: its centre in each augmented frame,
    mapped back with ``to_frame_pixels``, lands within 0.3 frame pixels of where it was drawn (measured: 0.08-0.16)."""
    if path_kind == "dali" and not dali_available():
        pytest.skip("NVIDIA DALI is not installed")
    path, spots = dot_clip
    info = probe_video(path)
    windows = [
        dataclasses.replace(
            w, augmentation=dataclasses.replace(w.augmentation, brightness=1, contrast=1, noise=0)
        )
        for w in islice(sample_windows([info.frame_count], 8, seed=3), 6)
    ]
    assert all(w.augmentation.rotation != 0 for w in windows)
    loader = iter_unlabeled_opencv if path_kind == "opencv" else iter_unlabeled_dali
    args = ("cpu",) if path_kind == "dali" else ()
    for window, batch in zip(windows, loader([info], windows, 8, SIZE, *args), strict=True):
        weight = (grey_levels(batch["frames"]).mean(dim=1) - 8).clamp(min=0)  # (T, h, w)
        ys, xs = torch.meshgrid(torch.arange(SIZE[0]), torch.arange(SIZE[1]), indexing="ij")
        total = weight.sum(dim=(1, 2))
        centres = (
            torch.stack([(weight * xs).sum(dim=(1, 2)), (weight * ys).sum(dim=(1, 2))], -1) / total[:, None]
        )
        mapped = to_frame_pixels(centres[:, None].double(), batch["affine"])[:, 0]  # (T, 2)
        drawn = spots[window.start : window.start + 8]
        error = np.linalg.norm(mapped.numpy() - drawn, axis=1)
        assert error.max() < 0.3, f"{window}: blob centres off by up to {error.max():.2f} frame pixels"


def test_to_frame_pixels_inverts_the_affine_in_batches():
    rng = np.random.default_rng(0)
    affines = torch.eye(3).repeat(4, 1, 1)
    affines[:, :2] = torch.as_tensor(rng.normal(size=(4, 2, 3)), dtype=torch.float32) + torch.eye(2, 3)
    frame_points = torch.as_tensor(
        rng.uniform(0, 100, size=(4, 5, 3, 2)), dtype=torch.float32
    )  # (B, T, K, 2)
    frame_points[0, 0, 0] = float("nan")
    homogeneous = torch.cat([frame_points, torch.ones(4, 5, 3, 1)], -1)
    input_points = (homogeneous @ affines[:, None].transpose(-1, -2))[..., :2]
    back = to_frame_pixels(input_points, affines[:, None])
    assert back.shape == frame_points.shape and back.dtype == torch.float32
    torch.testing.assert_close(back, frame_points, atol=1e-3, rtol=0, equal_nan=True)
    torch.testing.assert_close(
        to_frame_pixels(input_points[1], affines[1]), frame_points[1], atol=1e-3, rtol=0
    )


def test_resize_matrix_agrees_with_scale_points():
    points = np.array([[0.0, 0.0], [395.0, 405.0], [12.3, 200.7]])
    moved = (resize_matrix(396, 406, 128, 96) @ np.c_[points, np.ones(3)].T).T[:, :2]
    np.testing.assert_allclose(moved, scale_points(points, 396, 406, 128, 96))


def test_sampled_windows_cover_every_start_and_skip_short_videos():
    windows = list(islice(sample_windows([100, 10, 40], 16, seed=0), 3000))
    videos = np.array([w.video for w in windows])
    assert set(videos) == {0, 2}  # video 1 is shorter than a window
    assert abs((videos == 0).mean() - 85 / (85 + 25)) < 0.03  # videos drawn in proportion to their starts
    assert {w.start for w in windows if w.video == 2} == set(range(25))
    augmentations = [w.augmentation for w in windows]
    assert all(abs(a.rotation) <= ROTATION_DEG for a in augmentations)
    assert all(SCALE_RANGE[0] <= s <= SCALE_RANGE[1] for a in augmentations for s in a.scale)
    assert all(
        w.augmentation == Augmentation() for w in islice(sample_windows([20], 16, 0, augment=False), 5)
    )
    with pytest.raises(VideoError, match="no video has 16 frames"):
        sample_windows([10, 15], 16, seed=0)


def _train(**overrides) -> TrainConfig:
    """Training settings with a model input the networks take (multiples of 32), not square."""
    return TrainConfig(image_height=64, image_width=96, **overrides)


def test_seeded_loaders_repeat_and_both_decoders_draw_the_same_windows(vp9_clip, tmp_path, caplog):
    project = ProjectConfig(name="p", keypoints=["a"], data_dir=tmp_path)

    def take(decoder: str, seed: int) -> list:
        loader = make_unlabeled_loader(
            project, _train(), "cpu", 8, seed=seed, videos=[vp9_clip], decoder=decoder
        )
        batches = list(islice(loader, 3))
        loader.close()
        return batches

    with caplog.at_level("INFO", logger="core.data.unlabeled"):
        first, again, other = take("auto", 5), take("auto", 5), take("auto", 6)
    assert "OpenCV on the CPU" in caplog.text  # no CUDA here, so auto is OpenCV
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a["frames"], b["frames"]) and torch.equal(a["affine"], b["affine"])
        assert torch.equal(a["frame_indices"], b["frame_indices"])
    assert not any(torch.equal(a["affine"], b["affine"]) for a, b in zip(first, other, strict=True))
    assert {int(b["frame_indices"][0]) for b in first} != {int(b["frame_indices"][0]) for b in other}
    if dali_available():
        for a, b in zip(first, take("dali", 5), strict=True):
            assert torch.equal(a["frame_indices"], b["frame_indices"]) and torch.equal(
                a["affine"], b["affine"]
            )


def test_project_videos_prefer_transcoded_copies(tmp_path):
    project = ProjectConfig(name="p", keypoints=["a"], data_dir=tmp_path, video_dir="vids")
    with pytest.raises(VideoError, match=r"no videos .* in .*vids"):
        project_videos(project)
    (tmp_path / "vids").mkdir()
    for name in ("a.mp4", "a.cfr.mp4", "b.AVI", ".a.part.mp4", "notes.txt"):
        (tmp_path / "vids" / name).touch()
    assert [p.name for p in project_videos(project)] == ["a.cfr.mp4", "b.AVI"]


@needs_dali
def test_h264_on_dali_cpu_says_use_the_cpu_loader_or_transcode():
    with pytest.raises(
        VideoError, match=r"h264, but DALI's CPU decoder .* CPU loader .* transcode the video to VP9"
    ):
        iter_unlabeled_dali([probe_video(TOY_VIDEO)], [Window(0, 0)], 16, SIZE, "cpu")


@pytest.mark.parametrize("path_kind", ["opencv", "dali"])
def test_corrupt_frames_are_a_clear_error(vp9_clip, tmp_path, path_kind):
    """Frame 20's VP9 frame marker flipped: the container stays readable, the frame does not decode."""
    if path_kind == "dali" and not dali_available():
        pytest.skip("NVIDIA DALI is not installed")
    data = bytearray(vp9_clip.read_bytes())
    with av.open(str(vp9_clip)) as container:
        packet = [p for p in container.demux(container.streams.video[0]) if p.size][20]
        payload = data.find(bytes(packet)[:8], packet.pos)
    data[payload] ^= 0xFF
    bad = tmp_path / "bad.webm"
    bad.write_bytes(data)
    info = probe_video(bad)
    assert info.frame_count == 48
    windows = [Window(0, s) for s in (0, 16, 32)]
    if path_kind == "dali":
        with pytest.raises(VideoError, match=r"DALI could not decode bad.webm: .*Invalid data"):
            list(iter_unlabeled_dali([info], windows, 16, SIZE, "cpu"))
    else:
        with pytest.raises(VideoError, match=r"could not decode frames 16..31 of bad.webm .*corrupt"):
            list(iter_unlabeled_opencv([info], windows, 16, SIZE))


def test_missing_frames_on_opencv_are_a_clear_error(vp9_clip):
    """A container that lists more frames than it holds: the window past the end is an error."""
    info = dataclasses.replace(probe_video(vp9_clip), frame_count=60)
    with pytest.raises(
        VideoError, match=r"could not decode frames 40..55 of toy48.webm .*truncated or corrupt"
    ):
        list(iter_unlabeled_opencv([info], [Window(0, 40)], 16, SIZE))


def test_unreadable_video_and_bad_windows_are_clear_errors(vp9_clip, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    project = ProjectConfig(name="p", keypoints=["a"], data_dir=tmp_path)
    with pytest.raises(VideoError, match="junk.mp4 is not a readable video"):
        make_unlabeled_loader(project, _train(), "cpu", 8, videos=[junk])
    info = probe_video(vp9_clip)
    with pytest.raises(ConfigError, match=r"frames 40..55 are not all inside toy48.webm \(48 frames\)"):
        next(iter_unlabeled_opencv([info], [Window(0, 40)], 16, SIZE))
    with pytest.raises(ConfigError, match="names video 1, but there are 1 videos"):
        next(iter_unlabeled_opencv([info], [Window(1, 0)], 16, SIZE))


@pytest.mark.gpu
def test_gpu_dali_reads_h264_like_opencv():
    """The toy video (H.264) through NVDEC: same windows as OpenCV, frames within the same
    tolerance as the CPU comparison, tensors on the GPU."""
    info = probe_video(TOY_VIDEO)
    windows = [Window(0, s, draw_augmentation(np.random.default_rng(s))) for s in (0, 185, 500, 978)]
    windows = [
        dataclasses.replace(w, augmentation=dataclasses.replace(w.augmentation, noise=0)) for w in windows
    ]
    cpu = list(iter_unlabeled_opencv([info], windows, 16, (128, 128)))
    gpu = list(iter_unlabeled_dali([info], windows, 16, (128, 128), "gpu"))
    for a, b in zip(cpu, gpu, strict=True):
        assert b["frames"].device.type == "cuda" and b["affine"].device.type == "cuda"
        assert torch.equal(a["frame_indices"], b["frame_indices"])
        torch.testing.assert_close(b["affine"].cpu(), a["affine"])
        assert (grey_levels(a["frames"]) - grey_levels(b["frames"])).abs().mean(dim=(1, 2, 3)).max() < 2
