"""Predicting a video, or one session of synchronized cameras' videos, with a model or an ensemble:
the predictions, the ensemble's EKS and the metric CSVs of each, named alike for ``posecloud
predict`` and the worker's jobs.

- One model: ``<out>/<video stem>.csv`` (x, y, likelihood), ``<out>/<video stem>.labeled.mp4`` when
  asked, and the metrics ``<out>/<video stem>.<metric>.csv`` (``core.predict.metrics``).
- An ensemble: each member's files as above in ``<out>/<member folder name>/``, the EKS in
  ``<out>/<video stem>.eks.csv`` with its metrics ``<out>/<video stem>.eks.<metric>.csv`` (and, when
  asked, the EKS drawn in ``<out>/<video stem>.labeled.mp4``).

The metrics' PCAs are fitted on a model's training split, so that a prediction is scored against
the poses the model learned; a prediction whose metrics cannot be written is still a prediction
(the reason is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from core.errors import PoseCloudError
from core.labels.dlc_csv import read_pose_csv, write_pose_csv
from core.labels.table import PoseTable
from core.predict import ensemble
from core.predict.labeled_video import write_labeled_video
from core.predict.metrics import training_labels, write_prediction_metrics
from core.predict.trained_model import TrainedModel, load_model_config
from core.predict.video import predict_video
from core.smoothing.singlecam import check_smoothing_parameter
from core.video.dali_reader import Decoder

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
"""Takes the reports of a run; may raise (a cancelled job) to stop it, and is called often enough
for that: per batch of frames while predicting, per keypoint (or pass over the frames) while
smoothing."""


def predict_session(
    model_dir: Path,
    videos: list[Path],
    out_dir: Path,
    *,
    batch_size: int = 16,
    device: str = "auto",
    decoder: Decoder = "auto",
    labeled_video: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """Predict each video of one session (one video, or the views' videos of a camera session in
    the project's view order) with one model; write its CSV, the labeled video if asked, and the
    metrics (PCAs fitted on the model's training split). Nothing is written unless every video was
    predicted.

    ``progress`` gets ``{"video": name, "frames": done, "total_frames": total}`` per batch and, when
    a video is done, a final report whose frames and total_frames are the frames decoded (a
    container can list more frames than it holds).

    Returns the prediction CSVs in video order.
    """
    model = TrainedModel.load(model_dir, device=device)
    tables = [_predict(model, video, batch_size, decoder, progress) for video in videos]
    csvs = [write_pose_csv(t, out_dir / f"{v.stem}.csv") for v, t in zip(videos, tables, strict=True)]
    if labeled_video:
        _draw(videos, tables, model.project.skeleton_indices, out_dir)
    _write_metrics(csvs, model_dir)
    return csvs


def smooth_session(
    member_csvs: list[list[Path]],
    out_dir: Path,
    *,
    s: float | None,
    metrics_model_dir: Path,
    progress: Progress | None = None,
) -> list[Path]:
    """The EKS of every member's predictions of one session: ``member_csvs[view][member]``, the
    prediction CSVs of each view's video (one view for a single camera). Several views are smoothed
    together by the multi-camera EKS, each on its own where they cannot be (see
    ``core.predict.ensemble.smooth_session``). ``s`` fixes the smoothing parameter (None: fitted).

    Writes ``<stem>.eks.csv`` per view (the stem of the view's member CSVs: the video's) and its
    metrics, with the PCAs of ``metrics_model_dir``'s training split. ``progress`` gets
    ``{"step": "smoothing", "keypoints_done": k, "keypoints": K}``.

    Returns the EKS CSVs in view order.
    """
    views = [{str(path): read_pose_csv(path) for path in csvs} for csvs in member_csvs]

    def report(done: int, total: int) -> None:
        progress({"step": "smoothing", "keypoints_done": done, "keypoints": total})

    smoothed = ensemble.smooth_session(views, s, report if progress else None)
    eks = [
        write_pose_csv(table, out_dir / f"{csvs[0].stem}.eks.csv")
        for csvs, table in zip(member_csvs, smoothed, strict=True)
    ]
    _write_metrics(eks, metrics_model_dir)
    return eks


def predict_with_ensemble_session(
    member_dirs: list[Path],
    videos: list[Path],
    out_dir: Path,
    *,
    s: float | None = None,
    batch_size: int = 16,
    device: str = "auto",
    decoder: Decoder = "auto",
    labeled_video: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """``predict_session`` with each member (loaded one at a time) into ``out_dir/<member folder
    name>/``, then ``smooth_session`` into ``out_dir`` (the metrics' PCAs: the first member's
    training split); ``labeled_video`` draws the EKS. Returns the EKS CSVs in video order.

    The members and ``s`` are checked before anything is predicted.
    """
    check_smoothing_parameter(s)
    names = ensemble.member_names(member_dirs)
    predicted = [
        predict_session(
            member_dir,
            videos,
            out_dir / name,
            batch_size=batch_size,
            device=device,
            decoder=decoder,
            progress=progress,
        )
        for member_dir, name in zip(member_dirs, names, strict=True)
    ]
    member_csvs = [list(view) for view in zip(*predicted, strict=True)]
    eks = smooth_session(member_csvs, out_dir, s=s, metrics_model_dir=member_dirs[0], progress=progress)
    if labeled_video:
        skeleton = load_model_config(member_dirs[0])[0].skeleton_indices
        _draw(videos, [read_pose_csv(path) for path in eks], skeleton, out_dir)
    return eks


def labeled_video_path(out_dir: Path, video: Path) -> Path:
    """Where the copy of ``video`` with its predictions drawn goes."""
    return out_dir / f"{video.stem}.labeled.mp4"


def _predict(
    model: TrainedModel, video: Path, batch_size: int, decoder: Decoder, progress: Progress | None
) -> PoseTable:
    """``predict_video`` with its progress as reports, and the final report."""

    def report(done: int, total: int) -> None:
        progress({"video": video.name, "frames": done, "total_frames": total})

    table, _ = predict_video(
        model, video, batch_size=batch_size, progress=report if progress else None, decoder=decoder
    )
    if progress:
        report(len(table.index), len(table.index))
    return table


def _draw(
    videos: list[Path], tables: list[PoseTable], skeleton: list[tuple[int, int]], out_dir: Path
) -> None:
    """Each video with its predictions and the skeleton drawn (``labeled_video_path``)."""
    for video, table in zip(videos, tables, strict=True):
        write_labeled_video(video, table, skeleton, labeled_video_path(out_dir, video))


def _write_metrics(csvs: list[Path], model_dir: Path) -> None:
    """The metrics of one session's prediction CSVs, the PCAs fitted on the model's training split
    (on all the project's labels where that split cannot be read); a warning where they cannot be
    written."""
    project = load_model_config(model_dir)[0]
    names = ", ".join(path.name for path in csvs)
    try:
        labels = training_labels(model_dir)
    except PoseCloudError as e:
        log.warning(
            "%s: the metrics' PCAs use all the project's labels: cannot read the training labels of %s: %s",
            names,
            model_dir.name,
            e,
        )
        labels = None
    try:
        write_prediction_metrics(csvs, project, labels=labels)
    except PoseCloudError as e:
        log.warning("%s: metrics not written: %s", names, e)
