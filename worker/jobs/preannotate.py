"""The ``preannotate`` job: a model's (or an ensemble's) keypoints on Label Studio tasks' images."""

from __future__ import annotations

from core.errors import PoseCloudError
from worker.jobs.project_data import project_row, published
from worker.jobs.runner import JobContext
from worker.state.db.models import Model
from worker.state.layout import PREANNOTATIONS, data_prefix, job_prefix


def preannotate(ctx: JobContext) -> dict:
    """Predict project images (``images``: the Label Studio tasks' frames, every view's) with a model
    or an ensemble's members (their median: ``predict_image_table``) into ``preannotations.csv``,
    which the service puts on the tasks as pre-annotations."""
    from core.labels.dlc_csv import write_pose_csv
    from core.predict.labeled_frames import predict_image_table

    models = [project_row(ctx, Model, model_id, "model") for model_id in ctx.job.params["model_ids"]]
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
    return published(ctx, prefix)
