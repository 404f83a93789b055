"""Where a project's files live in storage (keys shared by the service and the workers)."""

from __future__ import annotations

from core.config import VIEW_PLACEHOLDER
from core.labels.imported import LABELS_CSV

PREANNOTATIONS = "preannotations.csv"  # a job's keypoints for Label Studio's pre-annotations


def project_prefix(project_id: int) -> str:
    """Storage folder holding every file of a project."""
    return f"projects/{project_id}"


def data_prefix(project_id: int) -> str:
    """A project's labels (CollectedData.csv) and labeled-data/ images."""
    return f"{project_prefix(project_id)}/data"


def labels_file(views: list[str]) -> str:
    """The name of a project's label file in its data folder: CollectedData.csv, or with separate
    cameras the pattern CollectedData_{view}.csv (one file per view)."""
    return LABELS_CSV if len(views) == 1 else LABELS_CSV.replace(".csv", f"_{VIEW_PLACEHOLDER}.csv")


def labels_key(project_id: int, views: list[str], view: str) -> str:
    """The storage key of ``view``'s label file."""
    return f"{data_prefix(project_id)}/{labels_file(views).replace(VIEW_PLACEHOLDER, view)}"


def model_prefix(project_id: int, model_id: int) -> str:
    return f"{project_prefix(project_id)}/models/{model_id}"


def job_prefix(project_id: int, job_id: int) -> str:
    """Files a job produced (predictions, smoothed trajectories)."""
    return f"{project_prefix(project_id)}/jobs/{job_id}"


def label_version_prefix(project_id: int, sha256: str) -> str:
    """A copy of a project's label files as they were (named by their content's hash, so that two
    processes keeping the same state write the same bytes)."""
    return f"{project_prefix(project_id)}/label-versions/{sha256}"
