"""A job's project: its rows (looked up within the job's project), its core config, its videos and
label files fetched into the workspace, and the job's results published to storage; what every kind
of job shares."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from core.config import ProjectConfig
from core.data.cameras import camera_session
from core.errors import PoseCloudError
from worker.jobs.runner import JobContext
from worker.state.db.models import Model, Project, Video
from worker.state.label_versions import version_key
from worker.state.layout import labels_file, labels_key
from worker.state.picks import project_picks


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


def project_row(ctx: JobContext, table: type, row_id: int, what: str):
    """Row ``row_id`` of ``table`` while it exists in the job's project; else a PoseCloudError that
    calls it ``what``."""
    row = ctx.session.get(table, row_id)
    if row is None or getattr(row, "project_id", ctx.job.project_id) != ctx.job.project_id:
        raise PoseCloudError(f"{what} {row_id} no longer exists in project {ctx.job.project_id}")
    return row


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


def fetch_labels(ctx: JobContext, project: Project, models: Sequence[Model] = ()) -> None:
    """The project's label files in the workspace, and those of the versions ``models`` trained
    on, for the metrics' PCAs (a model's training split)."""
    keys = [labels_key(project.id, project.views, view) for view in project.views]
    for model in models:
        if model.label_version is not None:
            keys += [version_key(project, model.label_version, view) for view in project.views]
    for key in keys:
        if ctx.storage.exists(key):
            ctx.workspace.fetch_file(key)


def taken_frames(ctx: JobContext, video: Video) -> set[int]:
    """Frames of ``video`` that a new pick must leave alone: labeled in the project's label files, or
    picked by an earlier frame job (their tasks wait for a labeler). Without this a labeling round
    could spend its budget on frames labeled in an earlier one."""
    from core.labels.formats import read_labels

    project = video.project
    names = {pick.image for pick in project_picks(ctx.session, ctx.storage, project.id)}
    for view in project.views:
        key = labels_key(project.id, project.views, view)
        if ctx.storage.exists(key):
            names |= set(read_labels(ctx.workspace.fetch_file(key)).index)
    image = re.compile(rf"labeled-data/{re.escape(Path(video.filename).stem)}/img(\d+)\.png")
    return {int(m[1]) for name in names if (m := image.fullmatch(name))}


def published(ctx: JobContext, prefix: str) -> dict:
    """Publish the local folder of ``prefix``; the job's artifacts ``{file name: storage key}``."""
    return {key.rpartition("/")[2]: key for key in ctx.workspace.publish(prefix)}
