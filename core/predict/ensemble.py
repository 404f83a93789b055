"""Ensembles: folders of member models, and the EKS of their predictions of one video or of one
session of synchronized cameras' videos."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from core.errors import PoseCloudError
from core.labels.table import PoseTable
from core.predict.trained_model import CONFIG_FILE, load_model_config
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


def member_names(member_dirs: list[Path]) -> list[str]:
    """The members' folder names, which name the folders of their predictions; a PoseCloudError,
    before anything is predicted, unless they are distinct and the members are one project's models
    (the same keypoints)."""
    names = [d.resolve().name for d in member_dirs]
    if len(set(names)) != len(names):
        raise PoseCloudError(
            f"ensemble members need distinct folder names (their predictions are saved by name); got {names}"
        )
    if len({tuple(load_model_config(d)[0].keypoints) for d in member_dirs}) > 1:
        raise PoseCloudError(
            "ensemble members track different keypoints; an ensemble needs one project's models"
        )
    return names


def smooth_session(
    views: list[dict[str, PoseTable]],
    s: float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[PoseTable]:
    """The EKS of one video's member predictions (member name -> table), or (several) of
    synchronized cameras' videos of one session smoothed together by the multi-camera EKS; falls
    back to each view on its own, with a warning, when the views cannot be smoothed together (too
    few frames seen in all).

    ``progress(keypoints done, keypoints)`` as the smoothers report it; each view smoothed on its
    own counts its keypoints.
    """
    stats = [ensemble_stats(list(members.values()), list(members)) for members in views]
    if len(stats) > 1:
        try:
            result = smooth_multi_camera({str(v): st for v, st in enumerate(stats)}, s, progress)
            return [smoothed_table(st, result.views[str(v)]) for v, st in enumerate(stats)]
        except MultiCameraError as e:
            log.warning("smoothing each camera view on its own: %s", e)
    total = sum(len(st.keypoints) for st in stats)

    def after(before: int) -> Callable[[int, int], None] | None:
        """A view's progress as part of all the views' keypoints."""
        return None if progress is None else lambda done, _: progress(before + done, total)

    starts = [sum(len(st.keypoints) for st in stats[:v]) for v in range(len(stats))]
    return [
        smoothed_table(st, smooth_single_camera(st, s, after(start)))
        for st, start in zip(stats, starts, strict=True)
    ]
