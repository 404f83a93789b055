"""Separate synchronized cameras on real data: the toy data's mirror cut into a top and a bottom
"camera" (``tests.testdata.make_camera_project``: one video and one label file per view). One
network learns both views; the multi-view PCA loss ties the views' predictions of the same frames
together; predictions and their metrics come per view."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from core.cli import main
from core.config import load_project, load_train_config
from core.data.labeled_frames import LabeledFrames, load_project_labels
from core.data.unlabeled import make_unlabeled_loader, sample_windows
from core.errors import LabelFormatError, VideoError
from core.labels.dlc_csv import read_pose_csv, write_pose_csv
from core.labels.formats import read_labels
from core.predict.ensemble import smooth_session
from core.smoothing.io import SMOOTHED_FIELDS, read_smoothed
from core.training.semisupervised import build_unsupervised
from core.training.train import train_model
from tests.conftest import module_folder
from tests.testdata import MIRROR_ROW, TINY, TOY, make_camera_project

LOSSES = ["temporal", "pca_singleview", "pca_multiview"]
SEMI = {
    **TINY,
    "losses": LOSSES,
    "unlabeled_seq_len": 4,
    "anneal_start_epoch": 0,
    "anneal_increase_per_epoch": 1.0,
}
FRAME_SIZES = {"top": (396, MIRROR_ROW), "bottom": (396, 406 - MIRROR_ROW)}  # width, height


@pytest.fixture(scope="module")
def cameras_yaml(tmp_path_factory):
    return make_camera_project(tmp_path_factory.mktemp("cameras"), video_frames=40)


@pytest.fixture(scope="module")
def cameras(cameras_yaml):
    return load_project(cameras_yaml)


@pytest.fixture(scope="module")
def camera_model(cameras, request):
    with module_folder(request, "camera-model") as folder:
        train_model(cameras, load_train_config(None, SEMI), folder / "model")
        yield folder / "model"


def test_labels_load_one_aligned_table_per_view(cameras):
    top, bottom = load_project_labels(cameras)
    toy = read_labels(TOY / "CollectedData.csv").index
    assert top.keypoints == bottom.keypoints == cameras.keypoints
    assert top.index == [name.replace("labeled-data/", "labeled-data/top/") for name in toy]
    assert bottom.index == [name.replace("labeled-data/", "labeled-data/bottom/") for name in toy]
    assert np.nanmax(top.xy[..., 1]) < MIRROR_ROW and np.nanmin(bottom.xy[..., 1]) >= 0


def test_label_files_out_of_step_are_refused(cameras, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(cameras.data_dir, moved, symlinks=True)
    bottom = read_pose_csv(moved / "CollectedData_bottom.csv")
    reordered = type(bottom)(bottom.keypoints, bottom.index[::-1], bottom.values[::-1], bottom.fields)
    write_pose_csv(reordered, moved / "CollectedData_bottom.csv")
    with pytest.raises(
        LabelFormatError, match="row 0 of the camera views' label files names different frames"
    ):
        load_project_labels(cameras.model_copy(update={"data_dir": moved}))


def test_every_view_of_a_row_is_a_training_item(cameras):
    labels = load_project_labels(cameras)
    frames = LabeledFrames(cameras, labels, np.array([3, 7]), load_train_config(None, TINY), augment=False)
    assert len(frames) == 4
    assert [(int(frames[i]["row"]), int(frames[i]["view"])) for i in range(4)] == [
        (3, 0),
        (3, 1),
        (7, 0),
        (7, 1),
    ]
    # keypoints in model-input pixels of each view's own image
    width, height = FRAME_SIZES["bottom"]
    expected = (labels[1].xy[7] + 0.5) * [64 / width, 64 / height] - 0.5
    np.testing.assert_allclose(frames[3]["keypoints"].numpy(), expected, rtol=1e-5)


def test_the_multiview_loss_is_zero_on_the_labels_and_positive_when_views_disagree(cameras):
    labels = load_project_labels(cameras)
    losses = build_unsupervised(cameras, load_train_config(None, SEMI), labels)
    assert losses.names == LOSSES
    xy = np.stack([t.xy for t in labels])  # (V, rows, K, 2)
    complete = np.isfinite(xy).all(axis=(0, 2, 3))
    consistent = torch.as_tensor(xy[:, complete][None], dtype=torch.float32)  # (heads, V, T, K, 2)
    term = losses.pca["pca_multiview"](consistent)
    assert term.value.item() < 0.05
    disagreeing = consistent.clone()
    disagreeing[0, 1, :, cameras.keypoints.index("paw2LF"), 0] += 40.0  # the bottom camera sees it 40 px off
    planted = losses.pca["pca_multiview"](disagreeing).per_keypoint  # (heads, T, V * K)
    paw = cameras.keypoints.index("paw2LF")
    assert (planted[0, :, [paw, len(cameras.keypoints) + paw]] > 10).float().mean() > 0.9
    assert planted.mean().item() > 50 * max(term.value.item(), 0.01)


def test_sessions_draw_the_same_frames_in_every_view():
    drawn = sample_windows([50, 50, 30, 31], 8, seed=1, sessions=[[0, 1], [2, 3]])
    windows = [(next(drawn), next(drawn)) for _ in range(200)]
    for top, bottom in windows:
        assert (top.video, bottom.video) in ((0, 1), (2, 3)) and top.start == bottom.start
        assert top.start <= (42 if top.video == 0 else 22)
        assert top.augmentation != bottom.augmentation
    assert {top.video for top, _ in windows} == {0, 2}


def test_the_loader_joins_the_views_of_a_session(cameras):
    train = load_train_config(None, SEMI)
    loader = make_unlabeled_loader(cameras, train, "cpu", 5, seed=0)
    try:
        batch = next(loader)
    finally:
        loader.close()
    assert batch["frames"].shape == (10, 3, 64, 64) and batch["affine"].shape == (2, 3, 3)
    assert batch["video"] == "test_vid_top.mp4 + test_vid_bottom.mp4"
    # each view's affine maps its own frame size to the model input: the bottom view is taller
    scale_y = [torch.linalg.det(a[:2, :2]).item() for a in batch["affine"]]
    assert scale_y[0] > scale_y[1]


def test_videos_that_are_not_whole_sessions_stop_training_before_it_starts(cameras, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "test_vid_top.mp4").symlink_to(cameras.data_dir / "videos" / "test_vid_top.mp4")
    with pytest.raises(VideoError, match="session 'test_vid_\\{view\\}' has no video for view\\(s\\) bottom"):
        train_model(
            cameras.model_copy(update={"video_dir": str(videos)}),
            load_train_config(None, SEMI),
            tmp_path / "m",
        )
    assert not (tmp_path / "m").exists()


def test_a_camera_model_trains_on_both_views_and_scores_each(camera_model):
    metrics = pd.read_csv(camera_model / "logs" / "metrics.csv")
    steps = metrics.dropna(subset=["train_loss"])
    steps = steps[steps["annealing_factor"] > 0]  # the unsupervised terms count (and are logged) from epoch 1
    assert len(steps) > 0
    for name in LOSSES:
        assert np.isfinite(steps[f"train_{name}_loss"]).all()
    assert (steps["train_pca_multiview_loss"] > 0).any()
    summary = pd.read_json(camera_model / "summary.json", typ="series")
    assert set(summary["views"]) == {"top", "bottom"}
    for view, (width, height) in FRAME_SIZES.items():
        predictions = read_pose_csv(camera_model / f"predictions_{view}.csv")
        assert predictions.xy.shape == (90, 7, 2) and predictions.extra["set"].count("train") == 45
        assert np.nanmax(predictions.xy[..., 1]) < height and np.nanmax(predictions.xy[..., 0]) < width
        error = pd.read_csv(camera_model / f"pixel_error_{view}.csv", index_col=0)
        assert error.index[0] == f"labeled-data/{view}/img01.png"
        multiview = pd.read_csv(camera_model / f"predictions_{view}.pca_multiview_error.csv", index_col=0)
        assert multiview.drop(columns="set").notna().to_numpy().mean() > 0.9
    pooled = summary["pixel_error"]["train"]["keypoints"]
    assert pooled == sum(summary["views"][v]["pixel_error"]["train"]["keypoints"] for v in FRAME_SIZES)
    # the training's validation pixel error, each view's frames in their own pixels (the views are
    # 2.6 and 3.7 times the network input's height, 6.2 its width) is the summary's for the best checkpoint;
    # loosely, for a GPU trains in bfloat16
    best_epoch = torch.load(camera_model / "checkpoints" / "best.ckpt", weights_only=False)["epoch"]
    logged = metrics.dropna(subset=["val_pixel_error_px"]).set_index("epoch")["val_pixel_error_px"]
    assert logged[best_epoch] == pytest.approx(summary["pixel_error"]["validation"]["mean"], rel=0.02)


def test_a_camera_model_predicts_each_views_video_in_its_pixels(camera_model, cameras, tmp_path, capsys):
    videos = [str(cameras.data_dir / "videos" / f"test_vid_{view}.mp4") for view in FRAME_SIZES]
    assert main(["predict", str(camera_model), *videos[::-1], "-o", str(tmp_path / "both")]) == 0
    predicted = {view: read_pose_csv(tmp_path / "both" / f"test_vid_{view}.csv") for view in FRAME_SIZES}
    for view, (_, height) in FRAME_SIZES.items():
        assert predicted[view].values.shape == (40, 7, 3)
        assert np.nanmax(predicted[view].xy[..., 1]) < height
        errors = pd.read_csv(tmp_path / "both" / f"test_vid_{view}.pca_multiview_error.csv", index_col=0)
        assert errors.shape == (40, 7) and np.isfinite(errors.to_numpy()).all()
    # one view alone: predicted and scored, without the multi-view PCA error (it needs both)
    assert main(["predict", str(camera_model), videos[0], "-o", str(tmp_path / "one")]) == 0
    err = capsys.readouterr().err
    assert (
        "each video on its own (no multi-view smoothing or PCA error): session 'test_vid_{view}' has no "
        in err
    )
    assert (tmp_path / "one" / "test_vid_top.temporal_norm.csv").is_file()
    assert not (tmp_path / "one" / "test_vid_top.pca_multiview_error.csv").exists()


def test_an_ensemble_smooths_a_sessions_views_together(camera_model, cameras, tmp_path):
    """Two members; the EKS of a session's views is the multi-camera one (the views tied by their
    3-D subspace), not each view smoothed on its own."""
    second = tmp_path / "seed1"
    train_model(cameras, load_train_config(None, {**TINY, "seed": 1, "epochs": 1}), second)
    videos = [str(cameras.data_dir / "videos" / f"test_vid_{view}.mp4") for view in FRAME_SIZES]
    out = tmp_path / "out"
    assert main(["predict", f"{camera_model},{second}", *videos, "-o", str(out)]) == 0
    members = [
        {name: read_pose_csv(out / name / f"test_vid_{view}.csv") for name in (camera_model.name, "seed1")}
        for view in FRAME_SIZES
    ]
    together = smooth_session(members)
    alone = smooth_session(members[:1])[0]
    for view, expected in zip(FRAME_SIZES, together, strict=True):
        eks = read_smoothed(out / f"test_vid_{view}.eks.csv")
        assert eks.fields == SMOOTHED_FIELDS and eks.values.shape == (40, 7, len(SMOOTHED_FIELDS))
        np.testing.assert_allclose(eks.values, expected.values, rtol=1e-6, atol=1e-6)
    assert np.abs(together[0].xy - alone.xy).max() > 0.01
