"""What each kind of job does: plain ``core`` calls on local files, results published to storage.

Each handler takes a JobContext and returns the job's artifacts: ``{file name: storage key}``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from core.config import ProjectConfig, TrainConfig, parse_config
from core.data.cameras import camera_session
from core.errors import PoseCloudError
from worker.db.models import Job, Model, Project, Video
from worker.layout import PREANNOTATIONS, data_prefix, job_prefix, labels_file, labels_key
from worker.progress import TrainingLosses
from worker.runner import Handler, JobContext

log = logging.getLogger(__name__)


def project_config(project: Project, data_dir: Path) -> ProjectConfig:
    """The core project config of a database project whose labeled data is in ``data_dir``."""
    return ProjectConfig(
        name=project.name,
        keypoints=project.keypoints,
        skeleton=[tuple(e) for e in project.skeleton],
        views=project.views,
        pca_keypoints=project.pca_keypoints,
        view_matches=project.view_matches,
        flip_pairs=[tuple(p) for p in project.flip_pairs],
        data_dir=data_dir,
        labels_file=labels_file(project.views),
    )


def _get(ctx: JobContext, table: type, row_id: int, what: str):
    row = ctx.session.get(table, row_id)
    if row is None or getattr(row, "project_id", ctx.job.project_id) != ctx.job.project_id:
        raise PoseCloudError(f"{what} {row_id} no longer exists in project {ctx.job.project_id}")
    return row


def train(ctx: JobContext) -> dict:
    """Train one model; a later attempt resumes from the model's last checkpoint."""
    from core.training.train import train_model  # torch and Lightning load only in workers

    model: Model = _get(ctx, Model, ctx.job.params["model_id"], "model")
    project = _get(ctx, Project, ctx.job.project_id, "project")
    data_dir = ctx.workspace.fetch(data_prefix(project.id))
    project_cfg = project_config(project, data_dir)
    missing = [
        view for view, path in zip(project.views, project_cfg.labels_paths, strict=True) if not path.is_file()
    ]
    if missing:
        which = f" for view(s) {', '.join(missing)}" if len(project.views) > 1 else ""
        raise PoseCloudError(f"the project has no labels{which} yet; upload or import labels, then train")
    model_dir = ctx.workspace.local_dir(model.storage_prefix)
    resume = (model_dir / "checkpoints" / "last.ckpt").is_file()
    if resume:
        log.info("resuming model %s from its last checkpoint (attempt %d)", model.name, ctx.job.attempt)
    elif any(model_dir.iterdir()):
        shutil.rmtree(model_dir)  # an earlier attempt died before its first checkpoint
    config = parse_config(TrainConfig, model.train_config, "train_config")
    ctx.clock.limit_s = config.max_minutes * 60 if config.max_minutes else None
    with tempfile.TemporaryDirectory(prefix="posecloud-videos-") as videos:
        if config.losses:  # semi-supervised: the project's uploaded videos are the unlabeled frames
            link_videos(ctx, project.videos, Path(videos))
            project_cfg = project_cfg.model_copy(update={"video_dir": videos})
        result = train_model(
            project_cfg, config, model_dir, resume=resume, progress=lambda r: _report_training(ctx, r)
        )
    model.summary = result.summary
    ctx.session.commit()
    return {
        key.rpartition("/")[2]: key
        for key in ctx.workspace.publish(model.storage_prefix)
        if "/checkpoints/" not in key
    }


def _report_training(ctx: JobContext, report: dict) -> None:
    """A training's report (``core.training.callbacks.ProgressReporter``) as the job's progress: the
    epochs done, to the step (a bar that moves within an epoch), and the losses."""
    epochs, steps = report["epochs"], report["total_steps"]
    done = round(epochs * report["step"] / steps, 3) if steps else 0
    losses = TrainingLosses(epoch=report["epoch"], latest=report["losses"], history=report["history"])
    ctx.report("training", done, epochs, "epochs", losses)


def link_videos(ctx: JobContext, videos: list[Video], folder: Path) -> list[Path]:
    """Links in ``folder`` to ``videos`` (transcoded copies where made) under their uploaded names,
    which say view and session with separate cameras and name what is written about them; returns
    the links in order."""
    links = []
    for video in videos:
        source = video_file(ctx, video)
        link = folder / f"{Path(video.filename).stem}{source.suffix}"
        if link.exists():  # the same name uploaded twice (one camera): both are unlabeled frames
            link = folder / f"{Path(video.filename).stem}-{video.id}{source.suffix}"
        link.symlink_to(source.resolve())
        links.append(link)
    return links


def video_file(ctx: JobContext, video: Video) -> Path:
    """The local file to read frames from: the transcoded copy when there is one."""
    return ctx.workspace.fetch_file(video.transcoded_key or video.storage_key)


def _fetch_labels(ctx: JobContext, project: Project) -> None:
    """The project's label files in the workspace, for the metrics' PCAs (a model's training split)."""
    for view in project.views:
        key = labels_key(project.id, project.views, view)
        if ctx.storage.exists(key):
            ctx.workspace.fetch_file(key)


def _published(ctx: JobContext, prefix: str) -> dict:
    return {key.rpartition("/")[2]: key for key in ctx.workspace.publish(prefix)}


def predict(ctx: JobContext) -> dict:
    """Predict one video with one model (``core.predict.pipeline.predict_session``): ``<video>.csv``
    (x, y, likelihood per keypoint and frame), the same as NWB (``<video>.nwb``, ndx-pose), the
    metric CSVs and, when the job's ``labeled_video`` asks, ``<video>.labeled.mp4``. With separate
    cameras every view's video of the session, one file each."""
    from core.predict.pipeline import predict_session

    model: Model = _get(ctx, Model, ctx.job.params["model_id"], "model")
    video: Video = _get(ctx, Video, ctx.job.params["video_id"], "video")
    if model.summary is None:
        raise PoseCloudError(
            f"model {model.name!r} has not finished training; predict once its training succeeds"
        )
    model_dir = ctx.workspace.fetch(model.storage_prefix)
    _fetch_labels(ctx, video.project)
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
        )
    return _published(ctx, prefix)


def smooth(ctx: JobContext) -> dict:
    """Combine the predictions of the job's children (ensemble members) with the EKS
    (``core.predict.pipeline.smooth_session``): ``<video>.eks.csv``, its variances, the same as NWB
    (``<video>.eks.nwb``), its metric CSVs and, when the job's ``labeled_video`` asks, the EKS drawn
    in ``<video>.labeled.mp4``; with separate cameras one each per view's video, the session's views
    smoothed together."""
    from core.predict.export import export_nwb
    from core.predict.pipeline import smooth_session

    children = ctx.session.query(Job).filter(Job.parent_id == ctx.job.id).order_by(Job.id).all()
    video: Video = _get(ctx, Video, ctx.job.params["video_id"], "video")
    names = [f"{Path(v.filename).stem}.csv" for v in session_videos(video).values()]
    member_csvs = [[ctx.workspace.fetch_file(c.artifacts[name]) for c in children] for name in names]
    _fetch_labels(ctx, video.project)
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    members = [
        ctx.workspace.fetch(_get(ctx, Model, c.params["model_id"], "model").storage_prefix) for c in children
    ]
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
            export_nwb(csv, view_video, csv.with_suffix(".nwb"), model=",".join(str(m) for m in members))
    return _published(ctx, prefix)


def transcode(ctx: JobContext) -> dict:
    """Re-encode an upload as constant-frame-rate H.264 (yuv420p), every frame a keyframe, so frame
    seeking is exact and every decoder (DALI included) reads it; the original is kept. ffmpeg reports
    the frames written twice a second, which is when a cancel stops it."""
    video: Video = _get(ctx, Video, ctx.job.params["video_id"], "video")
    source = video_file(ctx, video)
    key = video.storage_key.rsplit(".", 1)[0] + ".cfr.mp4"
    out = ctx.workspace.local_dir(key.rpartition("/")[0]) / f".{Path(key).name}.part.mp4"
    command = [
        "ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-map", "0:v:0",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-g", "1", "-fps_mode", "cfr", "-r", f"{video.fps:.6f}", "-an",
        "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2",  # yuv420p needs even sizes; odd sizes gain one black pixel
        "-progress", "pipe:1", "-nostats", "-stats_period", "0.5",
        str(out),
    ]  # fmt: skip
    ctx.report("transcoding", 0, video.frames, "frames")
    with tempfile.TemporaryFile("w+") as errors:
        ffmpeg = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
        frames = 0
        try:
            for line in ffmpeg.stdout:
                if line.startswith("frame="):
                    frames = int(line.partition("=")[2])
                    ctx.report("transcoding", frames, video.frames, "frames")
        except BaseException:  # cancelled (or the worker stops): no ffmpeg or partial file left behind
            ffmpeg.kill()
            ffmpeg.wait()
            out.unlink(missing_ok=True)
            raise
        ffmpeg.wait()
        errors.seek(0)
        if ffmpeg.returncode != 0:
            out.unlink(missing_ok=True)
            raise PoseCloudError(
                f"ffmpeg could not transcode {video.filename}: {errors.read().strip()[-500:]}"
            )
    ctx.report("transcoding", frames, frames, "frames")  # the frames written: the container may list others
    ctx.storage.put_file(out, key)
    video.transcoded_key = key
    ctx.session.commit()
    return {"video.mp4": key}


def extract_frames(ctx: JobContext) -> dict:
    """Save frames to label (given, or ``n`` picked for varied postures) with their t±2 context frames
    as ``labeled-data/<video>/img<frame>.png`` in the project; ``frames.csv`` lists the picks. With
    separate cameras the same frames are saved from every view's video of the session."""
    from core.selection.initial import pick_initial_frames

    video: Video = _get(ctx, Video, ctx.job.params["video_id"], "video")
    frames = ctx.job.params.get("frames") or pick_initial_frames(
        video_file(ctx, video),
        ctx.job.params["n"],
        progress=lambda done, total: ctx.report("reading the video", done, total, "frames"),
    )
    _save_frames(ctx, video, frames)
    return _published(ctx, job_prefix(ctx.job.project_id, ctx.job.id))


def select_frames(ctx: JobContext) -> dict:
    """Active selection: the ``n`` frames of a video most worth labeling by the outlier scores of the
    job's children's predictions (one model, or an ensemble's members; ``suggest_frames``), saved
    with their context as ``extract_frames`` saves them, and ``preannotations.csv``: the model's (an
    ensemble's: the EKS's) keypoints on each pick, which the service puts on the picks' tasks."""
    from core.labels.dlc_csv import write_pose_csv
    from core.labels.formats import read_labels
    from core.labels.table import PREDICTION_FIELDS, PoseTable
    from core.predict.ensemble import smooth_session as smooth
    from core.selection.extract import frame_image_path
    from core.selection.outliers import suggest_frames

    video: Video = _get(ctx, Video, ctx.job.params["video_id"], "video")
    project = video.project
    children = ctx.session.query(Job).filter(Job.parent_id == ctx.job.id).order_by(Job.id).all()
    name = f"{Path(video.filename).stem}.csv"
    members = {
        f"model {c.params['model_id']}": read_labels(ctx.workspace.fetch_file(c.artifacts[name]))
        for c in children
    }
    _fetch_labels(ctx, project)  # the Pose PCA is fitted on the project's labels
    config = project_config(project, ctx.workspace.local_dir(data_prefix(project.id)))
    picks = suggest_frames(list(members.values()), config, ctx.job.params["n"], sources=list(members))
    frames = [int(f) for f in picks["frame"]]

    def smoothing(done: int, total: int) -> None:
        ctx.report("smoothing", done, total, "keypoints")

    poses = next(iter(members.values())) if len(members) == 1 else smooth([members], None, smoothing)[0]
    poses = poses.select_keypoints(project.keypoints)
    values = np.concatenate([poses.xy[frames], poses.field("likelihood")[frames, :, None]], axis=-1)
    images = [frame_image_path(video.filename, f).as_posix() for f in frames]
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    table = PoseTable(
        list(project.keypoints), images, values, PREDICTION_FIELDS, ctx.job.params["model_version"]
    )
    write_pose_csv(table, ctx.workspace.local_dir(prefix) / PREANNOTATIONS)
    _save_frames(ctx, video, frames)
    return _published(ctx, prefix)


def preannotate(ctx: JobContext) -> dict:
    """Predict project images (``images``: the Label Studio tasks' frames, every view's) with a model
    or an ensemble's members (their median: ``predict_image_table``) into ``preannotations.csv``,
    which the service puts on the tasks as pre-annotations."""
    from core.labels.dlc_csv import write_pose_csv
    from core.predict.labeled_frames import predict_image_table

    models = [_get(ctx, Model, model_id, "model") for model_id in ctx.job.params["model_ids"]]
    untrained = [m.name for m in models if m.summary is None]
    if untrained:
        raise PoseCloudError(f"models {untrained} have not finished training; pre-annotate once they have")
    ctx.report("predicting the images", 0, len(models), "models")
    table = predict_image_table(
        [ctx.workspace.fetch(m.storage_prefix) for m in models],
        ctx.workspace.fetch(data_prefix(ctx.job.project_id)),
        ctx.job.params["images"],
        ctx.job.params["model_version"],
        progress=lambda done, total: ctx.report("predicting the images", done, total, "models"),
    )
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    write_pose_csv(table, ctx.workspace.local_dir(prefix) / PREANNOTATIONS)
    return _published(ctx, prefix)


def _save_frames(ctx: JobContext, video: Video, frames: list[int]) -> None:
    """Write ``frames`` of ``video`` (of every view's video of its session) and their context frames
    (the job's ``context``, default 2) into the project's data, and ``frames.csv`` (the picks) into
    the job's folder."""
    from core.selection.extract import extract_frames as write_frames

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
        rows += [f"{f},labeled-data/{name}/img{f:08d}.png" for f in sorted(frames)]
        log.info(
            "extracted %d frames (%d images with context) from %s",
            len(frames),
            len(written),
            view_video.filename,
        )
    ctx.report("saving frames", total, total, "frames")
    ctx.workspace.publish(data_prefix(ctx.job.project_id))
    prefix = job_prefix(ctx.job.project_id, ctx.job.id)
    (ctx.workspace.local_dir(prefix) / "frames.csv").write_text("frame,image\n" + "\n".join(rows) + "\n")


def session_videos(video: Video) -> dict[str, Video]:
    """View -> video: ``video`` under the project's one view or, with separate cameras, every view's
    video of its session (by file name; a view not uploaded yet is left out), in view order."""
    views = video.project.views
    if len(views) == 1:
        return {views[0]: video}
    session, _ = camera_session(Path(video.filename).stem, views)  # one view word: checked at upload
    found = {}
    for other in video.project.videos:
        other_session = camera_session(Path(other.filename).stem, views)
        if other_session is not None and other_session[0] == session:
            found[other_session[1]] = other
    return {v: found[v] for v in views if v in found}


def fiftyone(ctx: JobContext) -> dict:
    """Build the project's comparison datasets in FiftyOne (``worker.fiftyone_job``)."""
    from worker.fiftyone_job import build_comparison

    return build_comparison(ctx)


HANDLERS: dict[str, Handler] = {
    "train": train,
    "predict": predict,
    "smooth": smooth,
    "transcode": transcode,
    "extract_frames": extract_frames,
    "fiftyone": fiftyone,
    "select_frames": select_frames,
    "preannotate": preannotate,
}
