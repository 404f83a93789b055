"""The frame jobs: ``extract_frames`` (frames given, or picked for varied postures) and
``select_frames`` (active selection by the outlier scores of predictions), both saving the frames to
label with their context frames into the project's data."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np

from core.errors import PoseCloudError
from worker.jobs.project_data import (
    fetch_labels,
    project_config,
    project_row,
    published,
    session_videos,
    taken_frames,
    video_file,
)
from worker.jobs.runner import JobContext
from worker.state.db.models import Job, Video
from worker.state.layout import PREANNOTATIONS, data_prefix, job_prefix
from worker.state.picks import PICKS_FILE, SELECTION_FILE

log = logging.getLogger(__name__)

# Why frames were picked, as frames.csv says (active selection gives the outlier reasons)
VARIED_POSTURES = "varied postures"
CHOSEN = "chosen by hand"


def extract_frames(ctx: JobContext) -> dict:
    """Save frames to label (given, or ``n`` picked for varied postures among those not labeled or
    picked yet) with their t±2 context frames as ``labeled-data/<video>/img<frame>.png`` in the
    project; ``frames.csv`` lists the picks and why each was chosen (``VARIED_POSTURES`` or
    ``CHOSEN``). With separate cameras the same frames are saved from every view's video of the
    session."""
    from core.selection.initial import pick_initial_frames

    video: Video = project_row(ctx, Video, ctx.job.params["video_id"], "video")
    frames = ctx.job.params.get("frames")
    reason = CHOSEN
    if not frames:
        frames = pick_initial_frames(
            video_file(ctx, video),
            ctx.job.params["n"],
            progress=lambda done, total: ctx.report("reading the video", done, total, "frames"),
            exclude=taken_frames(ctx, video),
        )
        reason = VARIED_POSTURES
    _save_frames(ctx, video, {int(f): reason for f in frames})
    return published(ctx, job_prefix(ctx.job.project_id, ctx.job.id))


def select_frames(ctx: JobContext) -> dict:
    """Active selection: the ``n`` frames of a video most worth labeling (of those not labeled or
    picked yet) by the outlier scores of the job's children's predictions (one model, or an
    ensemble's members; ``suggest_frames``; with separate cameras every view of the session at once,
    ``suggest_session_frames``), saved with their context as ``extract_frames`` saves them (with the
    outlier reasons of each), and ``preannotations.csv``: the model's (an ensemble's: the EKS's)
    keypoints on each pick, every view's image, which the service puts on the picks' tasks."""
    from core.labels.dlc_csv import write_pose_csv
    from core.labels.formats import read_labels
    from core.labels.table import PREDICTION_FIELDS, PoseTable
    from core.predict.ensemble import smooth_session as smooth
    from core.selection.outliers import suggest_frames, suggest_session_frames
    from core.video.extract import frame_image_path

    video: Video = project_row(ctx, Video, ctx.job.params["video_id"], "video")
    project = video.project
    views = session_videos(video)
    missing = [view for view in project.views if view not in views]
    if missing:
        raise PoseCloudError(
            f"the session of {video.filename} has no video of view(s) {missing} yet; upload them, then "
            "select frames again"
        )
    children = ctx.session.query(Job).filter(Job.parent_id == ctx.job.id).order_by(Job.id).all()
    members = [
        {
            f"model {c.params['model_id']}": read_labels(
                ctx.workspace.fetch_file(c.artifacts[f"{Path(view_video.filename).stem}.csv"])
            )
            for c in children
        }
        for view_video in views.values()
    ]
    fetch_labels(ctx, project)  # the Pose PCAs are fitted on the project's labels
    config = project_config(project, ctx.workspace.local_dir(data_prefix(project.id)))
    tables, n = [list(view.values()) for view in members], ctx.job.params["n"]
    found = {"sources": list(members[0]), "exclude": taken_frames(ctx, video)}
    if len(views) > 1:
        picks = suggest_session_frames(tables, config, n, **found)
    else:
        picks = suggest_frames(tables[0], config, n, **found)
    frames = [int(f) for f in picks["frame"]]

    def smoothing(done: int, total: int) -> None:
        ctx.report("smoothing", done, total, "keypoints")

    poses = (
        [next(iter(view.values())) for view in members]
        if len(children) == 1
        else smooth(members, None, smoothing)
    )
    values, images = [], []
    for view_poses, view_video in zip(poses, views.values(), strict=True):
        view_poses = view_poses.select_keypoints(project.keypoints)
        values.append(
            np.concatenate([view_poses.xy[frames], view_poses.field("likelihood")[frames, :, None]], axis=-1)
        )
        images += [frame_image_path(view_video.filename, f).as_posix() for f in frames]
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    table = PoseTable(
        list(project.keypoints),
        images,
        np.concatenate(values),
        PREDICTION_FIELDS,
        ctx.job.params["model_version"],
    )
    write_pose_csv(table, ctx.workspace.local_dir(prefix) / PREANNOTATIONS)
    spread = {"ensemble_std_median": picks.attrs.get("ensemble_std_median")}
    (ctx.workspace.local_dir(prefix) / SELECTION_FILE).write_text(json.dumps(spread))
    reasons = [why or VARIED_POSTURES for why in picks["reasons"]]  # no outlier: picked for variety
    _save_frames(ctx, video, dict(zip(frames, reasons, strict=True)))
    return published(ctx, prefix)


def _save_frames(ctx: JobContext, video: Video, reasons: dict[int, str]) -> None:
    """Write the frames of ``video`` that ``reasons`` names (of every view's video of its session) and
    their context frames (the job's ``context``, default 2) into the project's data, and
    ``frames.csv`` (frame, image, reasons: the picks) into the job's folder."""
    from core.video.extract import extract_frames as write_frames

    frames = sorted(reasons)
    data_dir = ctx.workspace.local_dir(data_prefix(ctx.job.project_id))
    views = session_videos(video)
    total = len(frames) * len(views)
    rows = []
    for i, view_video in enumerate(views.values()):
        name = Path(view_video.filename).stem
        before = i * len(frames)  # images of the earlier views

        def report(done: int, _total: int, before: int = before) -> None:
            ctx.report("saving frames", before + done, total, "frames")

        written = write_frames(
            video_file(ctx, view_video),
            frames,
            data_dir,
            ctx.job.params.get("context", 2),
            name=name,
            progress=report,
        )
        rows += [(f, f"labeled-data/{name}/img{f:08d}.png", reasons[f]) for f in frames]
        log.info(
            "extracted %d frames (%d images with context) from %s",
            len(frames),
            len(written),
            view_video.filename,
        )
    ctx.report("saving frames", total, total, "frames")
    ctx.workspace.publish(data_prefix(ctx.job.project_id))
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    with open(ctx.workspace.local_dir(prefix) / PICKS_FILE, "w", newline="") as f:
        csv.writer(f).writerows([("frame", "image", "reasons"), *rows])
