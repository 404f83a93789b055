"""Pose PCA: a linear subspace of plausible poses fitted on labeled frames, and the distance (pixels)
of each keypoint of a pose from its reconstruction in that subspace.

The same fit serves frame selection (an error metric per frame and keypoint) and the Pose PCA loss:
``mean``, ``components`` and ``error_p99`` are plain numpy arrays. A pose is flattened as
``(x_0, y_0, x_1, y_1, ...)`` in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import ProjectConfig
from core.errors import PoseCloudError
from core.labels.formats import read_labels
from core.labels.table import check_keypoints_match

VARIANCE_EXPLAINED = 0.99
MIN_FRAMES = 10
ERROR_PERCENTILE = 99.0


class NotEnoughPosesError(PoseCloudError):
    """Too few complete labeled poses to fit a Pose PCA; callers may skip the PCA metric or loss."""


@dataclass(frozen=True)
class PosePCA:
    """A fitted Pose PCA.

    Attributes:
        keypoints: the keypoints the fit uses, in order (K of them).
        mean: ``(2K,)`` mean pose, pixels.
        components: ``(C, 2K)`` orthonormal principal axes, largest variance first.
        explained_variance_ratio: ``(C,)`` fraction of the training variance along each axis.
        error_p99: ``(K,)`` 99th percentile over the training frames of each keypoint's
            reconstruction error, pixels (the Pose PCA loss's epsilon).
        n_frames: number of complete training frames used.
    """

    keypoints: list[str]
    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    error_p99: np.ndarray
    n_frames: int

    def errors(self, poses: np.ndarray) -> np.ndarray:
        """``(frames, K)`` reconstruction error in pixels of ``(frames, K, 2)`` poses whose keypoints
        are in ``self.keypoints`` order; see ``reconstruction_errors``."""
        return reconstruction_errors(poses, self.mean, self.components)


def fit_pose_pca(
    poses: np.ndarray,
    keypoints: list[str],
    variance_explained: float = VARIANCE_EXPLAINED,
    source: str = "the training labels",
) -> PosePCA:
    """Fit a Pose PCA on the frames of ``poses`` where every keypoint is present.

    Args:
        poses: ``(frames, K, 2)`` x/y in pixels (NaN where unlabeled).
        keypoints: the K keypoint names.
        variance_explained: keep the fewest components explaining at least this fraction.
        source: names the poses in error messages.

    Raises:
        NotEnoughPosesError: fewer complete frames than ``max(10, 2K + 1)``, or poses that do not vary.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (len(keypoints), 2):
        raise ValueError(f"poses must have shape (frames, {len(keypoints)}, 2), got {poses.shape}")
    complete = poses[np.isfinite(poses).all(axis=(1, 2))].reshape(-1, 2 * len(keypoints))
    needed = max(MIN_FRAMES, complete.shape[1] + 1)
    if len(complete) < needed:
        raise NotEnoughPosesError(
            f"Pose PCA needs at least {needed} frames with all of its {len(keypoints)} keypoints labeled "
            f"({complete.shape[1]} dimensions), but {source} have {len(complete)}. Label more frames "
            "completely, or list fewer keypoints in the project's pca_keypoints."
        )
    mean = complete.mean(axis=0)
    _, singular, axes = np.linalg.svd(complete - mean, full_matrices=False)
    variance = singular**2
    if variance.sum() <= 1e-20 * len(complete) * max(1.0, float(mean @ mean)):
        raise NotEnoughPosesError(
            f"the {len(complete)} complete poses in {source} are all the same; Pose PCA needs frames "
            "showing different postures. Label frames where the animal moves."
        )
    ratio = variance / variance.sum()
    n_components = int(np.searchsorted(np.cumsum(ratio), variance_explained - 1e-12) + 1)
    components = axes[:n_components]
    train_errors = reconstruction_errors(complete.reshape(-1, len(keypoints), 2), mean, components)
    return PosePCA(
        keypoints=list(keypoints),
        mean=mean,
        components=components,
        explained_variance_ratio=ratio[:n_components],
        error_p99=np.percentile(train_errors, ERROR_PERCENTILE, axis=0),
        n_frames=len(complete),
    )


def fit_project_pose_pca(project: ProjectConfig) -> PosePCA:
    """Fit the Pose PCA on a project's labels, using its ``pca_keypoints`` (all keypoints when empty).

    Raises:
        NotEnoughPosesError: no label file yet, or too few complete frames.
    """
    path = project.data_dir / project.labels_file
    if not path.is_file():
        raise NotEnoughPosesError(
            f"Pose PCA needs labeled frames but {path} does not exist yet; label some frames first"
        )
    labels = read_labels(path)  # the images are not needed, so not checked
    check_keypoints_match(project.keypoints, labels.keypoints, source=str(path))
    names = project.pca_keypoints or project.keypoints
    return fit_pose_pca(labels.select_keypoints(names).xy, names, source=str(path))


def reconstruction_errors(poses: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Per-keypoint distance between each pose and its reconstruction from a PCA subspace, pixels.

    Args:
        poses: ``(frames, K, 2)`` x/y in pixels; NaN where missing.
        mean: ``(2K,)`` mean pose; components: ``(C, 2K)`` orthonormal axes.

    Returns:
        ``(frames, K)``. A frame with missing keypoints is projected using its present coordinates
        only (least squares in the subspace); its missing keypoints get NaN, and the whole frame is
        NaN when at most ``C`` coordinates are present (the fit would be exact and say nothing).
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[2] != 2 or 2 * poses.shape[1] != len(mean):
        raise ValueError(f"poses must have shape (frames, {len(mean) // 2}, 2), got {poses.shape}")
    flat = poses.reshape(len(poses), -1) - mean
    present = np.isfinite(flat)
    result = np.full(flat.shape, np.nan)
    patterns, inverse = np.unique(present, axis=0, return_inverse=True)
    for pattern, frames in zip(patterns, _group_rows(inverse.ravel(), len(patterns)), strict=True):
        if pattern.sum() <= len(components):
            continue
        basis = components[:, pattern]  # (C, present coordinates)
        observed = flat[np.ix_(frames, pattern)]
        latent = np.linalg.lstsq(basis.T, observed.T, rcond=None)[0]  # (C, frames)
        result[np.ix_(frames, pattern)] = observed - latent.T @ basis
    return np.linalg.norm(result.reshape(poses.shape), axis=-1)


def _group_rows(groups: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Row indices of each group id ``0..n_groups-1``."""
    order = np.argsort(groups, kind="stable")
    return np.split(order, np.cumsum(np.bincount(groups, minlength=n_groups))[:-1])
