import dataclasses
from itertools import islice
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from core.errors import ConfigError, VideoError
from core.video import dali_reader
from core.video.dali_reader import dali_available, iter_batches_dali
from core.video.reader import iter_frames
from tests.testdata import TOY_VIDEO, write_video

pytestmark = pytest.mark.skipif(
    not dali_available(), reason="NVIDIA DALI is not installed (pip install nvidia-dali-cuda120)"
)


@pytest.fixture(scope="module")
def vp9_clip(tmp_path_factory) -> Path:
    """37 frames of 64x48: a distinct flat colour each, with a white bar that moves 4 px a frame."""
    rng = np.random.default_rng(0)
    frames = np.empty((37, 48, 64, 3), np.uint8)
    for i in range(len(frames)):
        frames[i] = rng.integers(0, 255, 3)
        frames[i, :, (i % 16) * 4 : (i % 16) * 4 + 4] = 255
    return write_video(tmp_path_factory.mktemp("dali") / "clip.webm", frames, codec="libvpx-vp9")


def assert_same_frames_in_order(batches: list[torch.Tensor], reference: np.ndarray, window: int) -> None:
    """Each decoded frame is within 3 levels (mean) of its reference twin and closer to it than to
    any other reference frame up to ``window`` frames away (YUV->RGB conversions differ slightly)."""
    decoded = torch.cat(batches)
    assert decoded.shape == reference.shape
    ref = torch.from_numpy(reference).to(decoded.device)
    for i in range(len(ref)):
        lo, hi = max(0, i - window), min(len(ref), i + window + 1)
        distance = (ref[lo:hi].float() - decoded[i].float()).abs().mean(dim=(1, 2, 3))
        assert distance[i - lo] < 3, f"frame {i} differs by {distance[i - lo]:.2f} levels"
        assert int(distance.argmin()) == i - lo, f"frame {i} looks like frame {lo + int(distance.argmin())}"


def test_cpu_decodes_every_frame_in_order(vp9_clip):
    batches = list(iter_batches_dali(vp9_clip, 8, "cpu"))
    assert [len(b) for b in batches] == [8, 8, 8, 8, 5]
    assert all(b.dtype == torch.uint8 and b.device.type == "cpu" for b in batches)
    reference = np.stack(list(iter_frames(vp9_clip)))
    assert_same_frames_in_order(batches, reference, window=len(reference))


def test_cpu_resize_is_close_to_cv2_area(vp9_clip):
    batches = list(iter_batches_dali(vp9_clip, 8, "cpu", resize_to=(24, 40)))
    assert [tuple(b.shape) for b in batches] == [(8, 24, 40, 3)] * 4 + [(5, 24, 40, 3)]
    reference = np.stack(
        [cv2.resize(f, (40, 24), interpolation=cv2.INTER_AREA) for f in iter_frames(vp9_clip)]
    )
    assert_same_frames_in_order(batches, reference, window=len(reference))


def test_h264_on_cpu_says_to_use_opencv_or_a_gpu():
    with pytest.raises(VideoError, match=r"h264, but DALI's CPU decoder reads only VP8/VP9/MJPEG.*OpenCV"):
        next(iter_batches_dali(TOY_VIDEO, 8, "cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
def test_gpu_without_cuda_is_a_clear_error(vp9_clip):
    with pytest.raises(VideoError, match="needs a CUDA GPU"):
        next(iter_batches_dali(vp9_clip, 8, "gpu"))


@pytest.mark.parametrize(
    ("batch_size", "resize_to", "message"),
    [(0, None, "batch_size must be at least 1"), (8, (0, 40), r"resize_to must be \(height, width\)")],
)
def test_bad_arguments(vp9_clip, batch_size, resize_to, message):
    with pytest.raises(ConfigError, match=message):
        next(iter_batches_dali(vp9_clip, batch_size, "cpu", resize_to))


def test_without_dali_is_a_clear_error(vp9_clip, monkeypatch):
    monkeypatch.setattr(dali_reader, "dali_available", lambda: False)
    with pytest.raises(VideoError, match="DALI is not installed; pip install nvidia-dali-cuda120"):
        next(iter_batches_dali(vp9_clip, 8, "cpu"))


def test_missing_video(tmp_path):
    with pytest.raises(VideoError, match="video not found"):
        next(iter_batches_dali(tmp_path / "nope.webm", 8, "cpu"))


def test_corrupt_frames_are_a_clear_error(vp9_clip, tmp_path):
    data = bytearray(vp9_clip.read_bytes())
    for i in np.random.default_rng(0).integers(len(data) // 4, len(data), 10):
        data[i] ^= 0xFF  # flip bytes inside the frame data; the container stays readable
    bad = tmp_path / "bad.webm"
    bad.write_bytes(data)
    with pytest.raises(VideoError, match=r"DALI could not decode bad.webm: .*OpenCV reader"):
        list(iter_batches_dali(bad, 8, "cpu"))


def test_first_of_two_video_streams_is_read(tmp_path):
    """As OpenCV and probe_video do: the first stream (9 frames of 64x48), not the second (5 of 32x32)."""
    path = tmp_path / "two_streams.webm"
    with av.open(str(path), "w") as container:
        streams = [container.add_stream("libvpx-vp9", rate=30) for _ in range(2)]
        for stream, (height, width) in zip(streams, ((48, 64), (32, 32)), strict=True):
            stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        for stream, frames in zip(streams, (9, 5), strict=True):
            for i in range(frames):
                image = np.full((stream.height, stream.width, 3), 20 * i, np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
            container.mux(stream.encode(None))
    batches = list(iter_batches_dali(path, 4, "cpu"))
    assert [tuple(b.shape) for b in batches] == [(4, 48, 64, 3), (4, 48, 64, 3), (1, 48, 64, 3)]
    np.testing.assert_allclose(torch.cat(batches)[:, 24, 32, 0].numpy(), 20 * np.arange(9), atol=4)


@pytest.mark.parametrize("listed", [36, 38])
def test_container_frame_count_disagreeing_with_dali_is_a_clear_error(vp9_clip, monkeypatch, listed):
    """A container that lists a frame more or less than DALI reads: no frame is lost or made up."""
    real = dali_reader.probe_video(vp9_clip)
    monkeypatch.setattr(dali_reader, "probe_video", lambda _: dataclasses.replace(real, frame_count=listed))
    with pytest.raises(
        VideoError, match=rf"did not read frames 32..{listed - 1} of clip.webm .*OpenCV reader"
    ):
        list(iter_batches_dali(vp9_clip, 8, "cpu"))


def test_video_rewritten_at_the_same_path_is_read_afresh(tmp_path):
    """DALI caches frame indexes by path for the life of the process; a new version must not use it."""
    path = tmp_path / "reused.webm"
    for count in (5, 9):
        frames = np.zeros((count, 32, 32, 3), np.uint8)
        frames[..., 0] = (25 * np.arange(count))[:, None, None]
        write_video(path, frames, codec="libvpx-vp9")
        red = torch.cat(list(iter_batches_dali(path, 4, "cpu")))[:, 16, 16, 0].int()
        np.testing.assert_allclose(red.numpy(), 25 * np.arange(count), atol=4)


@pytest.mark.gpu
def test_gpu_decodes_the_h264_toy_video_in_order():
    batches = list(iter_batches_dali(TOY_VIDEO, 64, "gpu"))
    assert [len(b) for b in batches] == [64] * 15 + [34]  # 994 frames
    assert all(b.dtype == torch.uint8 and b.device.type == "cuda" for b in batches)
    assert_same_frames_in_order(batches, np.stack(list(iter_frames(TOY_VIDEO))), window=3)


@pytest.mark.gpu
def test_gpu_resize_is_close_to_cv2_area():
    batches = list(islice(iter_batches_dali(TOY_VIDEO, 64, "gpu", resize_to=(256, 192)), 2))
    assert all(b.shape == (64, 256, 192, 3) and b.device.type == "cuda" for b in batches)
    frames = islice(iter_frames(TOY_VIDEO), 128)
    reference = np.stack([cv2.resize(f, (192, 256), interpolation=cv2.INTER_AREA) for f in frames])
    assert_same_frames_in_order(batches, reference, window=3)
