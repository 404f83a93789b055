"""Fixtures: the real mirror-mouse ensemble, with planted errors, and a Pose PCA fitted on it."""

from __future__ import annotations

import pytest

from core.labels.dlc_csv import read_pose_csv
from core.labels.table import PoseTable
from core.plausibility.pose_pca import PosePCA, fit_pose_pca
from core.smoothing.ensemble import ensemble_stats
from tests.core.selection.mouse import MEMBER_FILES, plant_errors


@pytest.fixture(scope="session")
def mouse_members() -> list[PoseTable]:
    assert len(MEMBER_FILES) == 5, f"the mirror-mouse ensemble is missing: {MEMBER_FILES}"
    return [read_pose_csv(path) for path in MEMBER_FILES]


@pytest.fixture(scope="session")
def planted_members(mouse_members) -> list[PoseTable]:
    return plant_errors(mouse_members)


@pytest.fixture(scope="session")
def mouse_pca(planted_members) -> PosePCA:
    """Pose PCA fitted on the ensemble median of the frames where every keypoint is confident."""
    stats = ensemble_stats(planted_members)
    confident = (stats.likelihood > 0.95).all(axis=1)
    return fit_pose_pca(stats.median[confident], stats.keypoints, source="the confident frames")
