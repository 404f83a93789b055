"""Convert a trajectory between posecloud's two file formats: a prediction CSV (a model's, an
ensemble member's or an EKS) to an NWB pose file, and an NWB pose file (any tool's) to a
DeepLabCut-style CSV. ``posecloud export`` runs these; so can a job that publishes NWB artifacts."""

from __future__ import annotations

from pathlib import Path

from core.errors import PoseCloudError
from core.labels.dlc_csv import write_pose_csv
from core.labels.formats import read_labels
from core.labels.nwb import Provenance, read_pose_nwb, write_pose_nwb
from core.labels.table import check_keypoints_match
from core.predict.ensemble import resolve_members
from core.predict.provenance import ensemble_provenance, model_provenance, nwb_video
from core.predict.trained_model import load_model_config


def export_nwb(
    predictions: str | Path,
    video: str | Path,
    out: str | Path,
    model: str | Path | None = None,
    *,
    smoothing: str | None = None,
    name: str | None = None,
    member_names: list[str] | None = None,
) -> Path:
    """Write the predictions of ``video`` (CSV or H5, one row per frame) as the NWB file ``out``.

    ``model`` (a model folder, an ensemble folder or model folders joined by commas) gives the
    provenance, the skeleton and the camera view; without it the file has the CSV's scorer, no
    skeleton edges and names the CSV as its source. For an ensemble's EKS, ``smoothing``
    (``core.predict.provenance.smoothing_method``) says how it was smoothed; ``name`` and
    ``member_names`` replace the folders' names (``core.predict.provenance``).
    """
    predictions, video, out = Path(predictions), Path(video), Path(out)
    if out.suffix.lower() != ".nwb":
        raise PoseCloudError(f"{out}: an NWB file's name ends in .nwb; choose a name like {out.stem}.nwb")
    table = read_labels(predictions)
    project = None
    if model is None:
        provenance = Provenance(table.scorer, {"converted_from": predictions.name}, [])
    else:
        members = resolve_members(model)
        project = load_model_config(members[0])[0]
        check_keypoints_match(project.keypoints, table.keypoints, source=str(predictions))
        table = table.select_keypoints(project.keypoints)
        provenance = (
            model_provenance(members[0], name)
            if len(members) == 1
            else ensemble_provenance(members, smoothing, name, member_names)
        )
    return write_pose_nwb(table, out, nwb_video(video, project), provenance)


def export_csv(nwb: str | Path, out: str | Path, pose_estimation: str | None = None) -> Path:
    """Write the poses of an NWB file's PoseEstimation (``pose_estimation`` picks one of several)
    as the DeepLabCut-style CSV ``out``: x, y, likelihood per keypoint, one row per frame."""
    out = Path(out)
    if out.suffix.lower() != ".csv":
        raise PoseCloudError(f"{out}: the CSV's name must end in .csv; choose a name like {out.stem}.csv")
    return write_pose_csv(read_pose_nwb(nwb, pose_estimation), out)
