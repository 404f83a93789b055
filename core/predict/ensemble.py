"""Ensembles: folders of member models; predicting a video with every member, then the EKS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.errors import PoseCloudError
from core.labels.dlc_csv import write_pose_csv
from core.labels.table import PoseTable
from core.predict.trained_model import CONFIG_FILE, TrainedModel
from core.predict.video import Decoder, predict_video
from core.smoothing.ensemble import ensemble_stats
from core.smoothing.io import smoothed_table
from core.smoothing.multicam import MultiCameraError, smooth_multi_camera
from core.smoothing.singlecam import smooth_single_camera

log = logging.getLogger(__name__)


def resolve_members(spec: str | Path) -> list[Path]:
    """Model folders named by ``spec``: one model folder, an ensemble folder (whose subfolders are
    models), or model folders separated by commas."""
    parts = [Path(p) for p in str(spec).split(",") if p]
    if len(parts) > 1:
        for p in parts:
            if not (p / CONFIG_FILE).is_file():
                raise PoseCloudError(f"{p} is not a posecloud model folder (no {CONFIG_FILE})")
        return parts
    path = parts[0]
    if (path / CONFIG_FILE).is_file():
        return [path]
    members = sorted(p for p in path.glob("*") if (p / CONFIG_FILE).is_file()) if path.is_dir() else []
    if not members:
        raise PoseCloudError(
            f"{path} is neither a model folder nor an ensemble folder holding model folders; train a model first"
        )
    return members


@dataclass
class EnsemblePrediction:
    members: dict[str, PoseTable]
    smoothed: PoseTable


def predict_members(
    member_dirs: list[Path],
    video: str | Path,
    batch_size: int = 16,
    device: str = "auto",
    decoder: Decoder = "auto",
) -> dict[str, PoseTable]:
    """Predict ``video`` with each member (loaded one at a time): member folder name -> predictions."""
    names = [d.resolve().name for d in member_dirs]
    if len(set(names)) != len(names):
        raise PoseCloudError(
            f"ensemble members need distinct folder names (their predictions are saved by name); got {names}"
        )
    members: dict[str, PoseTable] = {}
    for member_dir in member_dirs:
        model = TrainedModel.load(member_dir, device=device)
        members[member_dir.resolve().name], _ = predict_video(
            model, video, batch_size=batch_size, decoder=decoder
        )
        del model
    keypoint_sets = {tuple(t.keypoints) for t in members.values()}
    if len(keypoint_sets) > 1:
        raise PoseCloudError(
            "ensemble members track different keypoints; an ensemble needs one project's models"
        )
    return members


def smooth_session(views: list[dict[str, PoseTable]], s: float | None = None) -> list[PoseTable]:
    """The EKS of one video's member predictions, or (several) of synchronized cameras' videos of
    one session smoothed together by the multi-camera EKS; falls back to each view on its own, with
    a warning, when the views cannot be smoothed together (too few frames seen in all)."""
    stats = [ensemble_stats(list(members.values()), list(members)) for members in views]
    if len(stats) > 1:
        try:
            result = smooth_multi_camera({str(v): st for v, st in enumerate(stats)}, s)
            return [smoothed_table(st, result.views[str(v)]) for v, st in enumerate(stats)]
        except MultiCameraError as e:
            log.warning("smoothing each camera view on its own: %s", e)
    return [smoothed_table(st, smooth_single_camera(st, s)) for st in stats]


def predict_with_ensemble(
    member_dirs: list[Path],
    video: str | Path,
    batch_size: int = 16,
    device: str = "auto",
    decoder: Decoder = "auto",
    s: float | None = None,
) -> EnsemblePrediction:
    """Predict ``video`` with each member (loaded one at a time), then smooth with the EKS."""
    members = predict_members(member_dirs, video, batch_size, device, decoder)
    return EnsemblePrediction(members, smooth_session([members], s)[0])


def write_ensemble_prediction(
    prediction: EnsemblePrediction, out_dir: Path, video_stem: str
) -> dict[str, Path]:
    """``out_dir/<member>/<video>.csv`` per member and ``out_dir/<video>.eks.csv``."""
    paths = {
        name: write_pose_csv(t, out_dir / name / f"{video_stem}.csv")
        for name, t in prediction.members.items()
    }
    paths["eks"] = write_pose_csv(prediction.smoothed, out_dir / f"{video_stem}.eks.csv")
    return paths
