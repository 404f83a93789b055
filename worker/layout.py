"""Where a project's files live in storage (keys shared by the service and the workers)."""

from __future__ import annotations


def project_prefix(project_id: int) -> str:
    """Storage folder holding every file of a project."""
    return f"projects/{project_id}"


def data_prefix(project_id: int) -> str:
    """A project's labels (CollectedData.csv) and labeled-data/ images."""
    return f"{project_prefix(project_id)}/data"


def model_prefix(project_id: int, model_id: int) -> str:
    return f"{project_prefix(project_id)}/models/{model_id}"


def job_prefix(project_id: int, job_id: int) -> str:
    """Files a job produced (predictions, smoothed trajectories)."""
    return f"{project_prefix(project_id)}/jobs/{job_id}"
