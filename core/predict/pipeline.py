"""Predicting a video, or one session of synchronized cameras' videos, with a model or an ensemble:
the predictions, the ensemble's EKS and the metric CSVs of each, named alike for ``posecloud
predict`` and the worker's jobs.

- One model: ``<out>/<video stem>.csv`` (x, y, likelihood) and/or ``<out>/<video stem>.nwb`` (the
  ``formats`` asked), ``<out>/<video stem>.labeled.mp4`` when asked, and the metrics
  ``<out>/<video stem>.<metric>.csv`` (``core.predict.metrics``).
- An ensemble: each member's files as above in ``<out>/<member folder name>/``, the EKS in
  ``<out>/<video stem>.eks.csv`` (and/or ``.eks.nwb``) with its variances in
  ``<out>/<video stem>.eks.variances.csv`` and its metrics ``<out>/<video stem>.eks.<metric>.csv``
  (and, when asked, the EKS drawn in ``<out>/<video stem>.labeled.mp4``).

The metrics' PCAs are fitted on a model's training split, so that a prediction is scored against
the poses the model learned; a prediction whose metrics cannot be written is still a prediction
(the reason is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from core.config import ProjectConfig
from core.errors import PoseCloudError
from core.labels.dlc_csv import write_pose_csv
from core.labels.formats import read_labels
from core.labels.nwb import Provenance, write_pose_nwb
from core.labels.table import PoseTable
from core.predict import ensemble
from core.predict.labeled_video import write_labeled_video
from core.predict.metrics import training_labels, write_prediction_metrics
from core.predict.provenance import ensemble_provenance, model_provenance, nwb_video, smoothing_method
from core.predict.runtime import Runtime, describe_runtime, with_runtime
from core.predict.trained_model import TrainedModel, load_model_config
from core.predict.video import predict_video
from core.smoothing.io import write_smoothed
from core.smoothing.singlecam import check_smoothing_parameter
from core.video.dali_reader import Decoder

log = logging.getLogger(__name__)

Progress = Callable[[dict], None]
"""Takes the reports of a run; may raise (a cancelled job) to stop it, and is called often enough
for that: per batch of frames while predicting, per keypoint (or pass over the frames) while
smoothing."""

Format = Literal["csv", "nwb"]
FORMATS: tuple[Format, ...] = ("csv", "nwb")


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
    formats: Sequence[Format] = ("csv",),
    name: str | None = None,
    runtime: Runtime = "torch",
) -> list[Path]:
    """Predict each video of one session (one video, or the views' videos of a camera session in
    the project's view order) with one model; write its predictions in each of ``formats``, the
    labeled video if asked, and the metrics (PCAs fitted on the model's training split). Nothing is
    written unless every video was predicted.

    ``progress`` gets ``{"video": name, "frames": done, "total_frames": total}`` per batch and, when
    a video is done, a final report whose frames and total_frames are the frames decoded (a
    container can list more frames than it holds).

    ``name`` is the model's name in the files (their scorer; default: the folder's name).
    ``runtime`` runs the network (``core.predict.runtime``; an NWB file records which ran).

    Returns the predictions in video order: the CSVs, or the NWB files when no CSV is asked.
    """
    model = with_runtime(
        TrainedModel.load(model_dir, device=device, name=name), runtime, videos[0], batch_size
    )
    provenance = model_provenance(model_dir, model.name)
    provenance = replace(provenance, config={**provenance.config, "runtime": describe_runtime(model)})
    write = _writer(formats, model.project, provenance)
    tables = [_predict(model, video, batch_size, decoder, progress) for video in videos]
    paths = [write(t, v, out_dir / f"{v.stem}.csv") for v, t in zip(videos, tables, strict=True)]
    if labeled_video:
        _draw(videos, tables, model.project.skeleton_indices, out_dir)
    _write_metrics(paths, model_dir)
    return paths


def smooth_session(
    member_csvs: list[list[Path]],
    out_dir: Path,
    *,
    s: float | None,
    metrics_model_dir: Path,
    progress: Progress | None = None,
    labeled_videos: list[Path] | None = None,
) -> list[Path]:
    """The EKS of every member's predictions of one session: ``member_csvs[view][member]``, the
    prediction CSVs of each view's video (one view for a single camera). Several views are smoothed
    together by the multi-camera EKS, each on its own where they cannot be (see
    ``core.predict.ensemble.smooth_session``). ``s`` fixes the smoothing parameter (None: fitted).

    Writes ``<stem>.eks.csv`` per view (the stem of the view's member CSVs: the video's), its
    variances and its metrics, with the PCAs of ``metrics_model_dir``'s training split; with
    ``labeled_videos`` (the views' videos), each drawn with its EKS (``labeled_video_path``).
    ``progress`` gets ``{"step": "smoothing", "keypoints_done": k, "keypoints": K}``.

    Returns the EKS CSVs in view order.
    """
    smoothed = _smooth(member_csvs, s, progress)
    eks = [
        write_smoothed(table, out_dir / f"{csvs[0].stem}.eks.csv")
        for csvs, table in zip(member_csvs, smoothed, strict=True)
    ]
    _write_metrics(eks, metrics_model_dir)
    if labeled_videos:
        skeleton = load_model_config(metrics_model_dir)[0].skeleton_indices
        _draw(labeled_videos, smoothed, skeleton, out_dir)
    return eks


def _smooth(member_files: list[list[Path]], s: float | None, progress: Progress | None) -> list[PoseTable]:
    """The EKS tables of ``smooth_session``'s member files (CSV or NWB), in view order."""
    views = [{str(path): read_labels(path) for path in files} for files in member_files]

    def report(done: int, total: int) -> None:
        progress({"step": "smoothing", "keypoints_done": done, "keypoints": total})

    return ensemble.smooth_session(views, s, report if progress else None)


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
    formats: Sequence[Format] = ("csv",),
    runtime: Runtime = "torch",
) -> list[Path]:
    """``predict_session`` with each member (loaded one at a time) into ``out_dir/<member folder
    name>/``, then the EKS of their predictions into ``out_dir`` as ``smooth_session`` writes it,
    in each of ``formats`` (the metrics' PCAs: the first member's training split); ``labeled_video``
    draws the EKS. The members' reports carry ``"model"``: the member's folder name.

    Returns the EKS files in video order: the CSVs, or the NWB files when no CSV is asked. The
    members and ``s`` are checked before anything is predicted.
    """
    check_smoothing_parameter(s)
    names = ensemble.member_names(member_dirs)

    def member_progress(name: str) -> Progress | None:
        return (lambda report: progress({**report, "model": name})) if progress else None

    predicted = [
        predict_session(
            member_dir,
            videos,
            out_dir / name,
            batch_size=batch_size,
            device=device,
            decoder=decoder,
            progress=member_progress(name),
            formats=formats,
            runtime=runtime,
        )
        for member_dir, name in zip(member_dirs, names, strict=True)
    ]
    smoothed = _smooth([list(view) for view in zip(*predicted, strict=True)], s, progress)
    project = load_model_config(member_dirs[0])[0]
    write = _writer(formats, project, ensemble_provenance(member_dirs, smoothing_method(s)))
    eks = [
        write_smoothed(
            table, out_dir / f"{video.stem}.eks.csv", lambda poses, path, v=video: write(poses, v, path)
        )
        for video, table in zip(videos, smoothed, strict=True)
    ]
    _write_metrics(eks, member_dirs[0])
    if labeled_video:
        _draw(videos, smoothed, project.skeleton_indices, out_dir)
    return eks


def _writer(
    formats: Sequence[Format], project: ProjectConfig, provenance: Provenance
) -> Callable[[PoseTable, Path, Path], Path]:
    """``write(table, video, csv_path)``: the poses of ``video`` as ``csv_path`` and/or the NWB file
    beside it (``formats``); returns the CSV, or the NWB file when no CSV is asked."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise PoseCloudError(f"unknown output formats {unknown or 'none'}; choose from {list(FORMATS)}")

    def write(table: PoseTable, video: Path, csv_path: Path) -> Path:
        written = []
        if "csv" in formats:
            written.append(write_pose_csv(table, csv_path))
        if "nwb" in formats:
            written.append(
                write_pose_nwb(table, csv_path.with_suffix(".nwb"), nwb_video(video, project), provenance)
            )
        return written[0]

    return write


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
