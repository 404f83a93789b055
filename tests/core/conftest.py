"""Fixtures of the unsupervised losses' and the prediction metrics' tests: the real mirror-mouse
labels, the PCAs fitted on them, and a smooth trajectory through real labeled poses."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import ProjectConfig, load_project
from core.labels.formats import read_labels
from core.labels.table import PoseTable
from core.plausibility.pose_pca import PosePCA, fit_project_multiview_pca, fit_project_pose_pca
from tests.testdata import EXAMPLE_PROJECT

MAX_STEP = 4.0  # pixels per frame along the trajectory


@pytest.fixture(scope="session")
def project() -> ProjectConfig:
    return load_project(EXAMPLE_PROJECT)


@pytest.fixture(scope="session")
def labels(project) -> PoseTable:
    return read_labels(project.data_dir / project.labels_file)


@pytest.fixture(scope="session")
def pose_pca(project) -> PosePCA:
    return fit_project_pose_pca(project)


@pytest.fixture(scope="session")
def multiview_pca(project) -> PosePCA:
    return fit_project_multiview_pca(project)


@pytest.fixture(scope="session")
def complete_poses(labels) -> np.ndarray:
    """``(frames, 17, 2)`` the labeled frames with every keypoint present, pixels."""
    return labels.xy[np.isfinite(labels.xy).all(axis=(1, 2))]


@pytest.fixture(scope="session")
def trajectory(complete_poses) -> np.ndarray:
    """``(T, 17, 2)`` a smooth walk through 4 real labeled poses (linear interpolation, every
    keypoint moving at most ``MAX_STEP`` pixels per frame), pixels."""
    parts = []
    for start, end in zip(complete_poses[:3], complete_poses[1:4], strict=True):
        steps = int(np.ceil(np.linalg.norm(end - start, axis=-1).max() / MAX_STEP))
        weights = np.linspace(0.0, 1.0, steps + 1)[:-1, None, None]
        parts.append(start + weights * (end - start))
    return np.concatenate([*parts, complete_poses[3:4]])


@pytest.fixture
def always_compared(monkeypatch):
    """``--runtime auto`` compares the runtimes whatever the video's length (it keeps torch, without
    comparing, for a video torch predicts in under a minute: every video the tests have)."""
    monkeypatch.setattr("core.predict.runtime.WORTH_COMPARING_S", 0.0)
