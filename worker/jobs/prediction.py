"""The ``predict`` job (one video, one model) and the ``smooth`` job (an ensemble's members'
predictions combined by the EKS)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from core.errors import PoseCloudError
from worker.jobs.project_data import fetch_labels, link_videos, project_row, published, session_videos
from worker.jobs.runner import JobContext
from worker.state.db.models import Ensemble, Job, Model, Video
from worker.state.layout import job_prefix


def predict(ctx: JobContext) -> dict:
    """Predict one video with one model (``core.predict.pipeline.predict_session``): ``<video>.csv``
    (x, y, likelihood per keypoint and frame), the same as NWB (``<video>.nwb``, ndx-pose), the
    metric CSVs and, when the job's ``labeled_video`` asks, ``<video>.labeled.mp4``. With separate
    cameras every view's video of the session, one file each."""
    from core.predict.pipeline import predict_session

    model: Model = project_row(ctx, Model, ctx.job.params["model_id"], "model")
    video: Video = project_row(ctx, Video, ctx.job.params["video_id"], "video")
    if model.summary is None:
        raise PoseCloudError(
            f"model {model.name!r} has not finished training; predict once its training succeeds"
        )
    model_dir = ctx.workspace.fetch(model.storage_prefix)
    fetch_labels(ctx, video.project, [model])
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    with tempfile.TemporaryDirectory(prefix="posecloud-videos-") as folder:
        videos = link_videos(ctx, list(session_videos(video).values()), Path(folder))
        predict_session(
            model_dir,
            videos,
            ctx.workspace.local_dir(prefix),
            labeled_video=ctx.job.params.get("labeled_video", False),
            progress=lambda r: ctx.report(
                f"predicting {r['video']}", r["frames"], r["total_frames"], "frames"
            ),
            formats=("csv", "nwb"),
            name=model.name,
            runtime=ctx.job.params.get("runtime", "torch"),
        )
    return published(ctx, prefix)


def smooth(ctx: JobContext) -> dict:
    """Combine the predictions of the job's children (ensemble members) with the EKS
    (``core.predict.pipeline.smooth_session``): ``<video>.eks.csv``, its variances, the same as NWB
    (``<video>.eks.nwb``), its metric CSVs and, when the job's ``labeled_video`` asks, the EKS drawn
    in ``<video>.labeled.mp4``; with separate cameras one each per view's video, the session's views
    smoothed together."""
    from core.predict.export import export_nwb
    from core.predict.pipeline import smooth_session
    from core.predict.provenance import smoothing_method

    children = ctx.session.query(Job).filter(Job.parent_id == ctx.job.id).order_by(Job.id).all()
    video: Video = project_row(ctx, Video, ctx.job.params["video_id"], "video")
    names = [f"{Path(v.filename).stem}.csv" for v in session_videos(video).values()]
    member_csvs = [[ctx.workspace.fetch_file(c.artifacts[name]) for c in children] for name in names]
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    ensemble: Ensemble = project_row(ctx, Ensemble, ctx.job.params["ensemble_id"], "ensemble")
    models = [project_row(ctx, Model, c.params["model_id"], "model") for c in children]
    fetch_labels(ctx, video.project, models)
    members = [ctx.workspace.fetch(m.storage_prefix) for m in models]
    with tempfile.TemporaryDirectory(prefix="posecloud-videos-") as folder:
        videos = link_videos(ctx, list(session_videos(video).values()), Path(folder))
        eks = smooth_session(
            member_csvs,
            ctx.workspace.local_dir(prefix),
            s=ctx.job.params.get("s"),
            metrics_model_dir=members[0],
            progress=lambda r: ctx.report("smoothing", r["keypoints_done"], r["keypoints"], "keypoints"),
            labeled_videos=videos if ctx.job.params.get("labeled_video") else None,
        )
        for csv, view_video in zip(eks, videos, strict=True):
            export_nwb(
                csv,
                view_video,
                csv.with_suffix(".nwb"),
                model=",".join(str(m) for m in members),
                smoothing=smoothing_method(ctx.job.params.get("s")),
                name=ensemble.name,
                member_names=[m.name for m in models],
            )
    return published(ctx, prefix)
