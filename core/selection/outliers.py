"""Frames worth labeling: a per-frame outlier score from the ensemble's quality metrics, and diverse
picks among the worst frames (one per cluster of poses, never two close in time)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.vq import kmeans2

from core.config import ProjectConfig
from core.errors import PoseCloudError
from core.labels.table import PoseTable, check_keypoints_match
from core.plausibility.pose_pca import (
    NotEnoughPosesError,
    PosePCA,
    fit_project_multiview_pca,
    fit_project_pose_pca,
)
from core.selection import MIN_GAP
from core.selection.metrics import ERROR_METRICS, frame_metrics
from core.smoothing.ensemble import EnsembleStats, ensemble_stats

log = logging.getLogger(__name__)

# A keypoint is an outlier on a frame when an error metric's robust z-score exceeds Z_THRESHOLD or
# its confidence is below MIN_CONFIDENCE (or no member predicts it). Only unusually large errors count:
# a frame where the members agree unusually well is not worth labeling.
#
# Frames are ranked by their summed outlier evidence (the z-scores above the threshold, plus
# Z_THRESHOLD per low-confidence keypoint), not by the number of outlier keypoints first as Lightning
# Pose does: on the real mirror-mouse ensemble (raw metrics are heavy-tailed; half its frames have an
# outlier keypoint), 20 planted 80-px single-keypoint errors reached the 100 worst frames 82 % of the
# time ranked by evidence, 52 % ranked by count.
Z_THRESHOLD = 3.0
MIN_CONFIDENCE = 0.5
# Diverse picks are drawn from the POOL_FACTOR * n worst frames; picks are at least MIN_GAP frames apart.
POOL_FACTOR = 5
MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_AD_TO_SD = 1.2533  # same for the mean absolute deviation (used when the MAD is 0)
# What each error metric's outliers say about a frame, in the words the pages show
REASONS = {
    "temporal_norm": "jump",
    "pca_error": "Pose PCA error",
    "pca_multiview_error": "multi-view PCA error",
    "ensemble_std": "ensemble spread",
}
LOW_CONFIDENCE = "low confidence"


def robust_z(values: np.ndarray) -> np.ndarray:
    """Robust z-scores per column: ``(value - median) / (1.4826 MAD)``.

    Args:
        values: ``(frames, keypoints)``; NaN where unknown.

    Returns:
        ``(frames, keypoints)``; NaN where ``values`` is. A keypoint whose MAD is 0 is scaled by its
        mean absolute deviation instead; one with no spread at all gets z = 0.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (keypoints with no metric)
        deviation = values - np.nanmedian(values, axis=0)
        mad = np.nanmedian(np.abs(deviation), axis=0)
        mean_ad = np.nanmean(np.abs(deviation), axis=0)
    scale = np.where(mad > 0, MAD_TO_SD * mad, MEAN_AD_TO_SD * mean_ad)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(scale > 0, deviation / scale, np.where(np.isnan(deviation), np.nan, 0.0))


@dataclass(frozen=True)
class OutlierScores:
    """Attributes:
    outliers: ``(frames, keypoints)`` True where a keypoint is an outlier.
    count: ``(frames,)`` number of outlier keypoints per frame.
    score: ``(frames,)`` outlier evidence: the sum over keypoints and error metrics of the robust
        z-scores above the threshold, plus the threshold once per low-confidence keypoint.
    reasons: reason (``REASONS``' words, ``LOW_CONFIDENCE``) -> ``(frames,)`` True where some
        keypoint is an outlier for that reason.
    """

    outliers: np.ndarray
    count: np.ndarray
    score: np.ndarray
    reasons: dict[str, np.ndarray]

    def reasons_of(self, frame: int) -> list[str]:
        """Why ``frame`` is an outlier (empty when it is not)."""
        return [reason for reason, flagged in self.reasons.items() if flagged[frame]]

    def ranking(self) -> np.ndarray:
        """Frame numbers, worst first: highest score, then most outlier keypoints, then earliest."""
        frames = np.arange(len(self.count))
        return np.lexsort((frames, -self.count, -self.score))


def outlier_scores(
    metrics: dict[str, np.ndarray], z_threshold: float = Z_THRESHOLD, min_confidence: float = MIN_CONFIDENCE
) -> OutlierScores:
    """Score frames from ``frame_metrics`` output.

    Error metrics present in ``metrics`` are z-scored per keypoint with ``robust_z``; a keypoint is an
    outlier where any z > ``z_threshold``, where its ``confidence`` is below ``min_confidence``, or
    where no member predicts it (NaN confidence).
    """
    z = {name: robust_z(metrics[name]) for name in ERROR_METRICS if name in metrics}
    with np.errstate(invalid="ignore"):
        above = {name: values > z_threshold for name, values in z.items()}
        unsure = ~(metrics["confidence"] >= min_confidence)
    excess = sum(np.where(above[name], z[name], 0.0) for name in z)  # (frames, keypoints)
    outliers = (excess > 0) | unsure
    reasons = {REASONS[name]: flagged.any(axis=1) for name, flagged in above.items()}
    reasons[LOW_CONFIDENCE] = unsure.any(axis=1)
    score = (excess + z_threshold * unsure).sum(axis=1)
    return OutlierScores(outliers, outliers.sum(axis=1), score, reasons)


def cluster_poses(poses: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """K-means cluster labels ``(frames,)`` of ``(frames, keypoints, 2)`` poses (pixels).

    Each coordinate is centred and scaled to unit variance; missing coordinates take their mean.
    Seeded k-means++ initialisation; some labels may go unused (empty clusters).
    """
    flat = poses.reshape(len(poses), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, spread = np.nanmean(flat, axis=0), np.nanstd(flat, axis=0)
    flat = np.where(np.isfinite(flat), flat, mean)
    data = np.nan_to_num((flat - mean) / np.where(spread > 0, spread, 1.0))
    return kmeans_labels(data, k, seed)


def kmeans_labels(data: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Seeded k-means++ cluster labels ``(rows,)`` of ``(rows, dims)`` data; with no more distinct rows
    than ``k``, one cluster per distinct row. Some labels may go unused (empty clusters)."""
    distinct, same = np.unique(data, axis=0, return_inverse=True)
    if len(distinct) <= k:
        return same.ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an empty cluster: fewer groups, filled later
        _, labels = kmeans2(data, k, minit="++", rng=np.random.default_rng(seed))
    return labels


def excluded_frames(exclude: Collection[int], n_frames: int) -> np.ndarray:
    """A mask over ``n_frames`` frames, True where ``exclude`` names one (out-of-range names ignored)."""
    mask = np.zeros(n_frames, bool)
    mask[[f for f in exclude if 0 <= f < n_frames]] = True
    return mask


def diverse_picks(
    ranking: np.ndarray,
    poses: np.ndarray,
    n: int,
    min_gap: int = MIN_GAP,
    pool_factor: int = POOL_FACTOR,
    seed: int = 0,
) -> np.ndarray:
    """Pick ``n`` frames: the worst frame of each pose cluster among the ``pool_factor * n`` worst,
    then (if clusters were empty or too close in time) the next worst frames; no two picks are
    fewer than ``min_gap`` frames apart.

    Args:
        ranking: the frame numbers that may be picked, worst first, each once.
        poses: ``(frames, keypoints, 2)`` poses used for clustering, pixels.

    Returns:
        the picked frame numbers, sorted.
    """
    pool = ranking[: pool_factor * n]
    labels = cluster_poses(poses[pool], n, seed)
    _, first = np.unique(labels, return_index=True)  # the pool is worst first
    picks: list[int] = []
    for frame in np.concatenate([pool[np.sort(first)], ranking]):
        if len(picks) == n:
            break
        if not picks or np.abs(np.asarray(picks) - frame).min() >= min_gap:
            picks.append(int(frame))
    if len(picks) < n:
        raise PoseCloudError(
            f"only {len(picks)} frames can be picked at least {min_gap} frames apart in this "
            f"{len(ranking)} frames of this video that may be picked, but {n} were asked for; ask for fewer "
            "frames or lower the minimum gap"
        )
    return np.sort(np.asarray(picks))


def suggest_frames(
    members: list[PoseTable],
    project: ProjectConfig | None,
    n: int,
    *,
    pca: PosePCA | None = None,
    min_gap: int = MIN_GAP,
    seed: int = 0,
    sources: Sequence[str] | None = None,
    exclude: Collection[int] = (),
) -> pd.DataFrame:
    """The ``n`` frames of one video most worth labeling, from an ensemble's predictions.

    Args:
        members: M >= 1 prediction tables (x, y, likelihood) of the same video, one row per frame
            from frame 0. With one member the ensemble spread is not a metric.
        project: restricts the keypoints to the project's, and (unless ``pca`` is given) fits the
            Pose PCA on its labels; without a project and ``pca`` the PCA metric is skipped, and
            it is skipped with a logged warning when the project has too few complete labels.
        n: how many frames to pick.
        pca: a fitted Pose PCA to use instead of the project's.
        min_gap: picks are at least this many frames apart.
        seed: seeds the pose clustering.
        sources: a name per member (e.g. its file) for error messages.
        exclude: frames not to pick (labeled already, or picked before and waiting for a labeler).

    Returns:
        one row per pick, sorted by ``frame``: ``frame``, ``rank`` (1 = worst frame of the video),
        ``score`` (outlier evidence, see ``OutlierScores``), ``outlier_keypoints`` (their number),
        ``flagged_keypoints`` (their names, ``;``-joined), ``reasons`` (why: ``REASONS``' words and
        ``LOW_CONFIDENCE``, ``;``-joined), then per metric the frame's worst keypoint
        value: ``temporal_norm_max``, ``pca_error_max``, ``ensemble_std_max`` (pixels; each only when
        computed) and ``confidence_min``. ``attrs["skipped_metrics"]`` maps a skipped metric to the reason;
        with two or more members ``attrs["ensemble_std_median"]`` is the video's median over frames of
        the keypoints' mean ensemble standard deviation (pixels): how much the members disagree there.
    """
    _check_request(n, min_gap)
    sources = list(sources) if sources is not None else [f"member {i + 1}" for i in range(len(members))]
    if project is not None:
        members = _project_keypoints(members, project, sources)
    stats = ensemble_stats(members, sources)
    skipped = _one_member(stats)
    if pca is None and project is None:
        skipped["pca_error"] = "no project labels to fit the Pose PCA on"
    elif pca is None:
        pca = _fitted(fit_project_pose_pca, project, "pca_error", skipped)
    metrics = frame_metrics(stats, pca)
    return _picks(metrics, stats.median, stats.keypoints, n, exclude, min_gap, seed, skipped)


def suggest_session_frames(
    views: Sequence[list[PoseTable]],
    project: ProjectConfig,
    n: int,
    *,
    min_gap: int = MIN_GAP,
    seed: int = 0,
    sources: Sequence[str] | None = None,
    exclude: Collection[int] = (),
) -> pd.DataFrame:
    """The ``n`` moments of a session of separate cameras most worth labeling: ``suggest_frames``
    over every view at once, each view's keypoints named ``<keypoint>_<view>`` (the multi-view
    PCA's names), and the multi-view PCA error besides (a body part seen where the other cameras
    do not put it; ``REASONS``). A moment's evidence is summed over its views.

    Args:
        views: per view of ``project.views``, the same M members' predictions of its video.
        sources: a name per member, the same in every view.
        n, min_gap, seed, exclude: as ``suggest_frames``'s; frames are counted alike in every view,
            up to the shortest view's length.

    Returns:
        as ``suggest_frames``; ``attrs["ensemble_std_median"]`` over every view's keypoints.
    """
    _check_request(n, min_gap)
    if len(views) != len(project.views):
        raise PoseCloudError(
            f"a session of project {project.name!r} has {len(project.views)} views "
            f"({', '.join(project.views)}), got predictions of {len(views)}; predict every view's video"
        )
    sources = list(sources) if sources is not None else [f"member {i + 1}" for i in range(len(views[0]))]
    stats = []
    for view, members in zip(project.views, views, strict=True):
        named = [f"{s} ({view})" for s in sources]
        stats.append(ensemble_stats(_project_keypoints(members, project, named), named))
    frames = min(len(st.index) for st in stats)
    skipped = _one_member(stats[0])
    pca = _fitted(fit_project_pose_pca, project, "pca_error", skipped)
    per_view = [frame_metrics(st, pca) for st in stats]
    metrics = {name: np.concatenate([m[name][:frames] for m in per_view], axis=1) for name in per_view[0]}
    poses = np.concatenate([st.median[:frames] for st in stats], axis=1)
    keypoints = [f"{k}_{view}" for view, st in zip(project.views, stats, strict=True) for k in st.keypoints]
    multiview = _fitted(fit_project_multiview_pca, project, "pca_multiview_error", skipped)
    if multiview is not None:
        metrics["pca_multiview_error"] = multiview.keypoint_errors(
            poses, keypoints, "the session's predictions"
        )
    return _picks(metrics, poses, keypoints, n, exclude, min_gap, seed, skipped)


def _check_request(n: int, min_gap: int) -> None:
    if n < 1:
        raise PoseCloudError(f"the number of frames to suggest must be at least 1, got {n}")
    if min_gap < 1:
        raise PoseCloudError(f"the minimum gap between picks must be at least 1 frame, got {min_gap}")


def _project_keypoints(
    members: list[PoseTable], project: ProjectConfig, sources: list[str]
) -> list[PoseTable]:
    """``members`` with the project's keypoints only, in its order."""
    for table, source in zip(members, sources, strict=True):
        check_keypoints_match(project.keypoints, table.keypoints, allow_subset=True, source=source)
    return [table.select_keypoints(project.keypoints) for table in members]


def _one_member(stats: EnsembleStats) -> dict[str, str]:
    """The skipped metrics' reasons, starting with the spread where there is one member."""
    return {"ensemble_std": "one ensemble member: no spread between members"} if stats.n_members == 1 else {}


def _fitted(
    fit: Callable[[ProjectConfig], PosePCA], project: ProjectConfig, metric: str, skipped: dict[str, str]
) -> PosePCA | None:
    """``fit(project)``, or None with the reason in ``skipped[metric]`` (logged) when the project's
    labels cannot fit it."""
    try:
        return fit(project)
    except NotEnoughPosesError as e:
        log.warning("%s skipped: %s", REASONS[metric], e)
        skipped[metric] = str(e)
        return None


def _picks(
    metrics: dict[str, np.ndarray],
    poses: np.ndarray,
    keypoints: list[str],
    n: int,
    exclude: Collection[int],
    min_gap: int,
    seed: int,
    skipped: dict[str, str],
) -> pd.DataFrame:
    """The picks' table (``suggest_frames``) from the ``(frames, keypoints)`` metrics and the
    ``(frames, keypoints, 2)`` poses their picks are clustered by."""
    n_frames = len(poses)
    excluded = excluded_frames(exclude, n_frames)
    available = n_frames - int(excluded.sum())
    if n > available:
        raise PoseCloudError(
            f"{n} frames asked for but the predictions have only {n_frames}"
            + (f", {n_frames - available} of them labeled or picked already" if available < n_frames else "")
            + f"; ask for at most {available}"
        )
    scores = outlier_scores(metrics)
    ranking = scores.ranking()
    picks = diverse_picks(ranking[~excluded[ranking]], poses, n, min_gap, seed=seed)
    rank = np.empty(n_frames, dtype=int)
    rank[ranking] = np.arange(1, n_frames + 1)
    names = np.asarray(keypoints)
    table = pd.DataFrame(
        {
            "frame": picks,
            "rank": rank[picks],
            "score": scores.score[picks],
            "outlier_keypoints": scores.count[picks],
            "flagged_keypoints": [";".join(names[scores.outliers[f]]) for f in picks],
            "reasons": [";".join(scores.reasons_of(f)) for f in picks],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a frame with no value for a metric
        for name in ERROR_METRICS:
            if name in metrics:
                table[f"{name}_max"] = np.nanmax(metrics[name][picks], axis=1)
        table["confidence_min"] = np.nanmin(metrics["confidence"][picks], axis=1)
        if "ensemble_std" in metrics:
            table.attrs["ensemble_std_median"] = float(
                np.nanmedian(np.nanmean(metrics["ensemble_std"], axis=1))
            )
    table.attrs["skipped_metrics"] = skipped
    return table
