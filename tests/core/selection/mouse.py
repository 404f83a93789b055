"""The real mirror-mouse ensemble (5 members, 2000 frames, 8 paw keypoints) and planted errors."""

from __future__ import annotations

import numpy as np

from core.labels.table import PoseTable
from tests.testdata import SHARED_DATA

MEMBER_FILES = sorted((SHARED_DATA / "eks_ensembles" / "mirror-mouse").glob("*.csv"))
GLITCH_FRAMES = (500, 1200)  # one keypoint 80 px off in every member
GLITCH_KEYPOINT = 2  # paw3RF_top
DISAGREE_FRAME = 1500  # members scattered by up to 60 px


def plant_errors(members: list[PoseTable]) -> list[PoseTable]:
    """Copies of ``members`` with the glitches and the disagreement planted."""
    rng = np.random.default_rng(0)
    planted = []
    for table in members:
        values = table.values.copy()
        values[list(GLITCH_FRAMES), GLITCH_KEYPOINT, 0] += 80.0
        values[DISAGREE_FRAME, :, :2] += rng.uniform(-60, 60, size=(len(table.keypoints), 2))
        planted.append(PoseTable(table.keypoints, table.index, values, table.fields, table.scorer))
    return planted
