"""PCA of plausible keypoint positions fitted on labeled frames, and the distance (pixels) of each
keypoint from its reconstruction in the fitted subspace.

One fit serves every PCA of the project:

- the **Pose PCA**: a row is one frame's pose (the selected keypoints), with as many components as
  explain 99 % of the variance;
- the **multi-view PCA**: a row is one body part in one frame, seen in V views (2V numbers); a 3-D
  point seen by V cameras lies in a 3-D subspace, so exactly 3 components.

The reconstruction errors serve frame selection and the metrics written after prediction (NaN
aware, numpy) and the unsupervised losses (``core.losses``; ``mean``, ``components`` and
``error_p99`` are plain numpy arrays). A row of points is flattened as ``(x_0, y_0, x_1, y_1, ...)``
in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from core.config import ProjectConfig
from core.errors import PoseCloudError
from core.labels.formats import read_labels
from core.labels.table import PoseTable, check_keypoints_match
from core.pca import VARIANCE_EXPLAINED, principal_subspace

if TYPE_CHECKING:
    import torch

MULTIVIEW_COMPONENTS = 3
MIN_FRAMES = 10
ERROR_PERCENTILE = 99.0

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


class NotEnoughPosesError(PoseCloudError):
    """Too few complete labeled poses to fit a PCA; callers may skip the PCA metric or loss."""


@dataclass(frozen=True)
class PosePCA:
    """A fitted Pose PCA (``views == 1``) or multi-view PCA (``views == V >= 2``).

    A pose is ``(frames, K, 2)`` with its keypoints in ``keypoints`` order. For a multi-view PCA the
    K keypoints are V blocks of the same P body parts, one block per view (view-major, like the
    project's ``view_matches`` flattened), and each PCA row is one body part in all V views.

    Attributes:
        keypoints: the K keypoints the fit uses, in order.
        mean: ``(D,)`` mean row, pixels (``D = 2K`` single view, ``2V`` multi-view).
        components: ``(C, D)`` orthonormal principal axes, largest variance first.
        explained_variance_ratio: ``(C,)`` fraction of the training variance along each axis.
        error_p99: ``(K,)`` 99th percentile over the training rows of each keypoint's
            reconstruction error, pixels (the PCA loss's epsilon).
        n_frames: number of labeled frames that contributed at least one complete row.
        views: 1 for a Pose PCA, V for a multi-view PCA.
    """

    keypoints: list[str]
    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    error_p99: np.ndarray
    n_frames: int
    views: int = 1

    def errors(self, poses: np.ndarray) -> np.ndarray:
        """``(frames, K)`` reconstruction error in pixels of ``(frames, K, 2)`` poses whose keypoints
        are in ``self.keypoints`` order; NaN-aware, see ``reconstruction_errors``."""
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[1:] != (len(self.keypoints), 2):
            raise ValueError(f"poses must have shape (frames, {len(self.keypoints)}, 2), got {poses.shape}")
        rows = pca_rows(poses, self.views)
        return from_pca_rows(reconstruction_errors(rows, self.mean, self.components), len(poses), self.views)

    def keypoint_errors(
        self, xy: np.ndarray, keypoints: list[str], source: str = "the predictions"
    ) -> np.ndarray:
        """``(frames, len(keypoints))`` reconstruction errors, pixels, of ``(frames, len(keypoints), 2)``
        poses whose columns are named ``keypoints`` (a superset of the fit's); NaN for keypoints the
        PCA does not use."""
        check_keypoints_match(self.keypoints, keypoints, allow_subset=True, source=source)
        columns = [keypoints.index(name) for name in self.keypoints]
        errors = np.full(np.shape(xy)[:2], np.nan)
        errors[:, columns] = self.errors(np.asarray(xy)[:, columns])
        return errors


def pca_rows(poses: Array, views: int) -> Array:
    """The PCA rows of ``(frames, K, 2)`` poses (numpy or torch): ``(frames, K, 2)`` for a Pose PCA
    (``views == 1``), ``(frames * P, V, 2)`` for a multi-view PCA (``K = V * P``, view-major)."""
    if views == 1:
        return poses
    return poses.reshape(poses.shape[0], views, -1, 2).swapaxes(1, 2).reshape(-1, views, 2)


def from_pca_rows(values: Array, frames: int, views: int) -> Array:
    """Per-point values of PCA rows ``(rows, points)`` back to ``(frames, K)``; inverse of ``pca_rows``."""
    if views == 1:
        return values
    return values.reshape(frames, -1, views).swapaxes(1, 2).reshape(frames, -1)


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
    return _fit(
        poses,
        list(keypoints),
        views=1,
        n_components=None,
        variance_explained=variance_explained,
        source=source,
        rows_needed=f"frames with all of its {len(keypoints)} keypoints labeled",
        advice="Label more frames completely, or list fewer keypoints in the project's pca_keypoints.",
    )


def fit_multiview_pca(
    views: Sequence[np.ndarray], keypoints: Sequence[Sequence[str]], source: str = "the training labels"
) -> PosePCA:
    """Fit a multi-view PCA (3 components) on body parts labeled in all views of the same frame.

    Args:
        views: V >= 2 arrays ``(frames, P, 2)`` in pixels (NaN where unlabeled), one per view, rows
            aligned (the same frames), body parts in the same order: the mirrored views of one image
            (``view_matches`` columns) or the labels of separate synchronized cameras.
        keypoints: V lists of the P keypoint names of each view (the fit's ``keypoints`` are these,
            concatenated).
        source: names the labels in error messages.

    Raises:
        NotEnoughPosesError: fewer complete (frame, body part) rows than ``max(10, 2V + 1)``, a body
            part never labeled in all views, or positions that do not vary.
    """
    if len(views) < 2 or len(keypoints) != len(views):
        raise ValueError(f"multi-view PCA needs 2 or more views with one name list each, got {len(views)}")
    shapes = {np.shape(v) for v in views}
    if len(shapes) != 1 or any(len(names) != np.shape(views[0])[1] for names in keypoints):
        raise ValueError(f"every view needs the same frames and body parts; got shapes {sorted(shapes)}")
    return _fit(
        np.concatenate(views, axis=1),
        [name for names in keypoints for name in names],
        views=len(views),
        n_components=MULTIVIEW_COMPONENTS,
        source=source,
        rows_needed=f"body-part positions labeled in all {len(views)} views",
        advice="Label the same body parts in every view of more frames, or check the project's view_matches.",
    )


def _fit(
    poses: np.ndarray,
    keypoints: list[str],
    views: int,
    n_components: int | None,
    source: str,
    rows_needed: str,
    advice: str,
    variance_explained: float = VARIANCE_EXPLAINED,
) -> PosePCA:
    """Fit on the complete PCA rows of ``(frames, K, 2)`` poses; see ``fit_pose_pca`` and
    ``fit_multiview_pca``. ``rows_needed`` and ``advice`` word the NotEnoughPosesError."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (len(keypoints), 2):
        raise ValueError(f"poses must have shape (frames, {len(keypoints)}, 2), got {poses.shape}")
    name = "Pose PCA" if views == 1 else "multi-view PCA"
    rows = pca_rows(poses, views)
    complete = np.isfinite(rows).all(axis=(1, 2))
    data = rows[complete].reshape(-1, 2 * rows.shape[1])
    needed = max(MIN_FRAMES, data.shape[1] + 1)
    if len(data) < needed:
        raise NotEnoughPosesError(
            f"{name} needs at least {needed} {rows_needed} ({data.shape[1]} dimensions), but {source} "
            f"have {len(data)}. {advice}"
        )
    centre = data.mean(axis=0)
    if np.square(data - centre).sum() <= 1e-20 * len(data) * max(1.0, float(centre @ centre)):
        raise NotEnoughPosesError(
            f"the {len(data)} complete rows in {source} are all the same; {name} needs frames showing "
            "different postures. Label frames where the animal moves."
        )
    mean, components, variance = principal_subspace(data, n_components, variance_explained)
    training = np.where(complete[:, None, None], rows, np.nan)
    errors = from_pca_rows(reconstruction_errors(training, mean, components), len(poses), views)
    never = [k for k, column in zip(keypoints, errors.T, strict=True) if np.isnan(column).all()]
    if never:
        raise NotEnoughPosesError(f"{name}: {never} are never labeled in all views in {source}. {advice}")
    return PosePCA(
        keypoints=keypoints,
        mean=mean,
        components=components,
        explained_variance_ratio=variance[: len(components)] / variance.sum(),
        error_p99=np.nanpercentile(errors, ERROR_PERCENTILE, axis=0),
        n_frames=int(complete.reshape(len(poses), -1).any(axis=1).sum()),
        views=views,
    )


def _labels_to_fit(
    project: ProjectConfig, labels: Sequence[PoseTable] | None, what: str, source: str | None
) -> tuple[Sequence[PoseTable], str]:
    """``labels`` (one table per view), or (None) the project's label files (images not checked),
    and how to name them in errors (``source``, if given).

    Raises:
        NotEnoughPosesError: no label file yet.
    """
    if labels is not None:
        return labels, source or "the given labels"
    paths = project.labels_paths
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NotEnoughPosesError(
            f"{what} needs labeled frames but {', '.join(missing)} does not exist yet; label some frames first"
        )
    tables = [read_labels(p) for p in paths]
    for path, table in zip(paths, tables, strict=True):
        check_keypoints_match(project.keypoints, table.keypoints, source=str(path))
    return tables, ", ".join(str(p) for p in paths)


def fit_project_pose_pca(
    project: ProjectConfig, labels: Sequence[PoseTable] | None = None, source: str | None = None
) -> PosePCA:
    """Fit the Pose PCA on ``labels`` (one table per view, e.g. the training split; default: all the
    project's labels; named ``source`` in errors), using the project's ``pca_keypoints`` (all
    keypoints when empty). With separate cameras each view's labeled poses are rows of the one fit.

    Raises:
        NotEnoughPosesError: no label file yet, or too few complete frames.
    """
    labels, source = _labels_to_fit(project, labels, "Pose PCA", source)
    names = project.pca_keypoints or project.keypoints
    poses = np.concatenate([table.select_keypoints(names).xy for table in labels])
    return fit_pose_pca(poses, names, source=source)


def fit_project_multiview_pca(
    project: ProjectConfig, labels: Sequence[PoseTable] | None = None, source: str | None = None
) -> PosePCA:
    """Fit the multi-view PCA on ``labels`` (one table per view; default: all the project's labels).

    Mirrored views (``view_matches``: the same body parts seen in each view of one frame) are
    columns of one table. With separate cameras each view's table gives its block of the project's
    ``pca_keypoints`` (all keypoints when empty), named ``<keypoint>_<view>``; see
    ``camera_poses``.

    Raises:
        NotEnoughPosesError: the project matches no views, no label file yet, or too few rows.
    """
    if not project.separate_cameras and len(project.view_matches) < 2:
        raise NotEnoughPosesError(
            "multi-view PCA needs the same body parts listed for 2 or more views in the project's "
            f"view_matches, or separate cameras; project {project.name!r} has neither"
        )
    labels, source = _labels_to_fit(project, labels, "multi-view PCA", source)
    if project.separate_cameras:
        names = project.pca_keypoints or project.keypoints
        views = [table.select_keypoints(names).xy for table in labels]
        blocks = [[f"{name}_{view}" for name in names] for view in project.views]
        return fit_multiview_pca(views, blocks, source=source)
    views = [labels[0].select_keypoints(names).xy for names in project.view_matches]
    return fit_multiview_pca(views, project.view_matches, source=source)


def camera_poses(xy: Array, columns: Sequence[int]) -> Array:
    """Separate cameras' predictions ``(..., V, frames, K, 2)`` of the same frames as the multi-view
    PCA's poses ``(..., frames, V * P, 2)`` (view-major) of the keypoint ``columns`` (P of them)."""
    poses = xy[..., list(columns), :]
    poses = poses.swapaxes(-4, -3)  # (..., frames, V, P, 2)
    return poses.reshape(*poses.shape[:-3], -1, 2)


def reconstruction_errors(poses: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Per-point distance between each PCA row and its reconstruction from a PCA subspace, pixels.

    Args:
        poses: ``(rows, P, 2)`` x/y in pixels (a pose, or one body part in all views); NaN where missing.
        mean: ``(2P,)`` mean row; components: ``(C, 2P)`` orthonormal axes.

    Returns:
        ``(rows, P)``. A row with missing points is projected using its present coordinates
        only (least squares in the subspace); its missing points get NaN, and the whole row is
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
