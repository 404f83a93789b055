"""A Gaussian model of a project's labeled poses: where the other keypoints put a keypoint (or a
group of keypoints), and how far, in standard deviations, the labeled position is from there.

Why not the Pose PCA (``pose_pca``) for this: it keeps the components explaining 99 % of the
variance (13 of 28 on the mirror-mouse labels) and projects onto them without a prior, so a
keypoint predicted from the others is loose. The Gaussian keeps every direction, weighted by its
variance: one the labels never vary along (a body part's x in the mirror's two views) constrains
tightly, one they vary a lot along (a paw's height) loosely, and a distance is measured in the
units each direction varies by. Measured on the mirror-mouse labels, with one keypoint moved
15-40 px and as many false alarms allowed (2 % of frames), the PCA's prediction found 11 % of the
moves, this model's 38 %.

The covariance has ``RIDGE_PX2`` added to its diagonal: labels are never more precise than about
a pixel, and with fewer frames than coordinates the sample covariance is singular.

A pose is ``(K, 2)`` x/y in pixels, NaN where missing; the model's rows are flattened as
``(x_0, y_0, x_1, y_1, ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RIDGE_PX2 = 1.0
"""Added to the covariance's diagonal, pixels²: a labeler's click is uncertain by about 1 px."""


@dataclass(frozen=True)
class Conditional:
    """A group of keypoints compared with where the rest of the pose puts them.

    Attributes:
        residual: ``(G, 2)`` labeled minus expected position of the group's keypoints, pixels.
        m2: the residual's squared Mahalanobis distance under the conditional covariance
            (about chi-squared with 2G degrees of freedom for poses like the fitted ones).
    """

    residual: np.ndarray
    m2: float


@dataclass(frozen=True)
class PoseGaussian:
    """Mean ``(2K,)`` and covariance ``(2K, 2K)`` of flattened poses, pixels and pixels²."""

    mean: np.ndarray
    covariance: np.ndarray

    def conditionals(self, pose: np.ndarray, groups: Sequence[Sequence[int]]) -> list[Conditional | None]:
        """Each group of keypoints of ``pose`` ``(K, 2)`` against its distribution given the
        other keypoints present in ``pose``; None for a group with a keypoint missing.

        From the precision matrix ``P`` of the present coordinates: the residual of a group ``S``
        is ``P_SS^-1 (P d)_S`` and its squared Mahalanobis distance ``(P d)_S' P_SS^-1 (P d)_S``,
        with ``d`` the pose minus the mean: one inverse per pose, whatever the groups.
        """
        flat = np.asarray(pose, dtype=np.float64).reshape(-1) - self.mean
        present = np.flatnonzero(np.isfinite(flat))
        precision = np.linalg.inv(self.covariance[np.ix_(present, present)])
        gradient = precision @ flat[present]
        position = {coordinate: i for i, coordinate in enumerate(present)}
        results: list[Conditional | None] = []
        for group in groups:
            coordinates = [2 * k + c for k in group for c in (0, 1)]
            if any(c not in position for c in coordinates):
                results.append(None)
                continue
            rows = [position[c] for c in coordinates]
            residual = np.linalg.solve(precision[np.ix_(rows, rows)], gradient[rows])
            results.append(Conditional(residual.reshape(-1, 2), float(gradient[rows] @ residual)))
        return results


def fit_pose_gaussian(poses: np.ndarray, ridge: float = RIDGE_PX2) -> PoseGaussian:
    """Fit on ``(frames, K, 2)`` complete poses (pixels); at least 2 frames."""
    rows = np.asarray(poses, dtype=np.float64).reshape(len(poses), -1)
    if len(rows) < 2 or not np.isfinite(rows).all():
        raise ValueError(
            f"need 2 or more complete poses, got {len(rows)} rows (complete: {np.isfinite(rows).all()})"
        )
    covariance = np.cov(rows, rowvar=False) + ridge * np.eye(rows.shape[1])
    return PoseGaussian(rows.mean(axis=0), covariance)
