"""The ``fiftyone`` job: (re)build a project's comparison datasets in FiftyOne from the chosen
models' labeled-frame predictions and the chosen prediction jobs' videos (``worker.fiftyone.build``
in a process of its own, as the project's MongoDB user). Its artifact ``fiftyone.json`` lists the
datasets and saved views made, which the service links to."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from core.config import view_suffix
from core.errors import PoseCloudError
from worker.fiftyone.database import fiftyone_env
from worker.fiftyone.plan import RESULT_FILE, BuildPlan, LabeledView, Track, VideoPlan, field_name, media_path
from worker.jobs.project_data import project_config, project_row, published, session_videos
from worker.jobs.runner import JobContext
from worker.state.db.models import Ensemble, Job, Model, Project, Video
from worker.state.layout import data_prefix, job_prefix
from worker.state.settings import StateSettings

log = logging.getLogger(__name__)
STOP_GRACE_S = 20.0


def build_plan(ctx: JobContext, project: Project, models: list[Model], jobs: list[Job]) -> BuildPlan:
    """Fetch what the datasets are made of into the workspace and say where it is."""
    taken: set[str] = set()
    fields = {m.id: field_name(m.name, taken) for m in models}
    data_dir = ctx.workspace.fetch(data_prefix(project.id))
    config = project_config(project, data_dir)
    labeled = []
    for view, labels in zip(project.views, config.labels_paths, strict=True):
        if not labels.is_file():
            continue
        suffix = view_suffix(project.views, view)
        tracks = [
            Track(
                name=m.name,
                field=fields[m.id],
                predictions=ctx.workspace.fetch_file(f"{m.storage_prefix}/predictions{suffix}.csv"),
            )
            for m in models
        ]
        labeled.append(LabeledView(view=view, labels=labels, data_dir=data_dir,
                                   media_prefix=media_path(data_prefix(project.id)), tracks=tracks))  # fmt: skip
    videos: dict[int, VideoPlan] = {}
    fields_by_name: dict[str, str] = {}  # a model's field is the same in every video
    for job in jobs:
        for video, track in _video_tracks(ctx, job, fields_by_name):
            plan = videos.get(video.id) or _video_plan(video)
            plan.tracks.append(track)
            videos[video.id] = plan
    skeleton = [(a, b) for a, b in project.skeleton]
    return BuildPlan(
        keypoints=project.keypoints, skeleton=skeleton, labeled=labeled, videos=list(videos.values())
    )


def _video_plan(video: Video) -> VideoPlan:
    # the transcoded copy (what browsers play) pads odd sizes to even ones, at the right and bottom
    width, height = video.width, video.height
    if video.transcoded_key:
        width, height = width + width % 2, height + height % 2
    return VideoPlan(
        name=video.filename,
        video_id=video.id,
        filepath=media_path(video.transcoded_key or video.storage_key),
        width=width,
        height=height,
        fps=video.fps,
        frames=video.frames,
        tracks=[],
    )


def _video_tracks(ctx: JobContext, job: Job, fields: dict[str, str]) -> list[tuple[Video, Track]]:
    """Each (video, track) of a succeeded prediction job: a model's predictions, or an ensemble's
    members' and its EKS; with separate cameras one per view's video of the session."""
    video = project_row(ctx, Video, job.params["video_id"], "video")
    if job.kind == "predict":
        model = project_row(ctx, Model, job.params["model_id"], "model")
        sources = [(job, model.name, "")]
    else:
        ensemble = project_row(ctx, Ensemble, job.params["ensemble_id"], "ensemble")
        children = ctx.session.query(Job).filter(Job.parent_id == job.id).order_by(Job.id).all()
        sources = [(c, project_row(ctx, Model, c.params["model_id"], "model").name, "") for c in children]
        sources.append((job, f"{ensemble.name} EKS", ".eks"))
    found = []
    for source, name, kind in sources:
        if name not in fields:
            fields[name] = field_name(name, set(fields.values()))
        for view_video in session_videos(video).values():
            found.append(
                (view_video, _track(ctx, source, name, fields[name], Path(view_video.filename).stem + kind))
            )
    return found


def _track(ctx: JobContext, job: Job, name: str, field: str, stem: str) -> Track:
    from core.predict.metrics import METRICS

    if f"{stem}.csv" not in job.artifacts:
        raise PoseCloudError(f"prediction job {job.id} has no {stem}.csv; predict the video again")
    metrics = {
        metric: ctx.workspace.fetch_file(job.artifacts[f"{stem}.{metric}.csv"])
        for metric in METRICS
        if f"{stem}.{metric}.csv" in job.artifacts
    }
    return Track(name=name, field=field, predictions=ctx.workspace.fetch_file(job.artifacts[f"{stem}.csv"]),
                 metrics=metrics)  # fmt: skip


def build_comparison(ctx: JobContext) -> dict:
    """Params: ``model_ids`` (labeled frames), ``prediction_job_ids`` (videos)."""
    settings = StateSettings()
    if not settings.mongo_port:
        raise PoseCloudError(
            "this worker has no MongoDB (POSECLOUD_MONGO_PORT is 0); start posecloud with it"
        )
    project = project_row(ctx, Project, ctx.job.project_id, "project")
    models = [project_row(ctx, Model, i, "model") for i in ctx.job.params.get("model_ids", [])]
    jobs = [project_row(ctx, Job, i, "prediction job") for i in ctx.job.params.get("prediction_job_ids", [])]
    ctx.report("fetching files", 0, None, "files")
    plan = build_plan(ctx, project, models, jobs)
    env = fiftyone_env(settings.mongo_dir, settings.mongo_host, settings.mongo_port, project.id)
    with tempfile.TemporaryDirectory(prefix="posecloud-fiftyone-") as folder:
        plan_file = Path(folder) / "plan.json"
        plan_file.write_text(plan.model_dump_json())
        made = _run_builder(ctx, plan_file, env, Path(folder) / "builder.log")
    prefix = job_prefix(project.id, ctx.job.id)
    out = ctx.workspace.local_dir(prefix) / RESULT_FILE
    out.write_text(json.dumps({"datasets": made}, indent=2))
    return published(ctx, prefix)


def _run_builder(ctx: JobContext, plan_file: Path, env: dict[str, str], log_file: Path) -> list[dict]:
    """Run the builder, relaying its progress (where a cancel stops it); returns its result."""
    with log_file.open("w+") as errors:
        builder = subprocess.Popen(
            [sys.executable, "-m", "worker.fiftyone.build", str(plan_file)],
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, **env},
            text=True,
        )
        result = None
        try:
            for line in builder.stdout:
                kind, _, payload = line.partition(" ")
                if kind == "PROGRESS":
                    ctx.report(**json.loads(payload))
                elif kind == "RESULT":
                    result = json.loads(payload)
        except BaseException:  # cancelled, or the worker stops: the old datasets stay as they were
            builder.terminate()  # it removes what it had half built
            try:
                builder.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                builder.kill()
                builder.wait()
            raise
        builder.wait()
        errors.seek(0)
        if builder.returncode != 0 or result is None:
            raise PoseCloudError(f"building the FiftyOne datasets failed: {errors.read().strip()[-1500:]}")
    for dataset in result:
        log.info("FiftyOne dataset %s: %d saved views", dataset["name"], len(dataset["views"]))
    return result
