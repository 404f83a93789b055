import numpy as np
import pytest

from core.errors import VideoError
from core.predict.trained_model import TrainedModel
from core.predict.video import predict_video
from core.video.dali_reader import dali_available
from core.video.reader import iter_frames
from tests.testdata import write_video


@pytest.fixture(scope="module")
def vp9_clip(toy_clip, tmp_path_factory):
    frames = np.stack(list(iter_frames(toy_clip)))[:21]
    return write_video(tmp_path_factory.mktemp("vp9") / "clip.webm", frames, fps=30, codec="libvpx-vp9")


@pytest.mark.skipif(not dali_available(), reason="NVIDIA DALI is not installed")
def test_dali_and_opencv_decoding_give_the_same_predictions(tiny_model, vp9_clip):
    model = TrainedModel.load(tiny_model, device="cpu")
    with_opencv, _ = predict_video(model, vp9_clip, batch_size=8, decoder="opencv")
    with_dali, _ = predict_video(model, vp9_clip, batch_size=8, decoder="dali")
    assert with_dali.values.shape == with_opencv.values.shape == (21, 17, 3)
    # decoders differ by a grey level or two after resizing: keypoints agree to a fraction of a pixel
    assert np.median(np.abs(with_dali.xy - with_opencv.xy)) < 0.5
    np.testing.assert_allclose(with_dali.field("likelihood"), with_opencv.field("likelihood"), atol=0.1)


def test_progress_is_reported_per_batch(tiny_model, toy_clip):
    model = TrainedModel.load(tiny_model, device="cpu")
    seen = []
    table, info = predict_video(
        model, toy_clip, batch_size=16, progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(16, 40), (32, 40), (40, 40)]
    assert len(table.index) == info.frame_count == 40


def test_h264_through_dalis_cpu_decoder_is_refused_clearly(tiny_model, toy_clip):
    if not dali_available():
        pytest.skip("NVIDIA DALI is not installed")
    model = TrainedModel.load(tiny_model, device="cpu")
    with pytest.raises(VideoError, match="VP8/VP9/MJPEG"):
        predict_video(model, toy_clip, decoder="dali")


@pytest.mark.gpu
def test_gpu_prediction_with_dali_matches_opencv(tiny_model, toy_clip):
    model = TrainedModel.load(tiny_model, device="cuda")
    with_opencv, _ = predict_video(model, toy_clip, batch_size=16, decoder="opencv")
    with_dali, _ = predict_video(model, toy_clip, batch_size=16, decoder="auto")
    assert with_dali.values.shape == (40, 17, 3)
    assert np.median(np.abs(with_dali.xy - with_opencv.xy)) < 1.0
