"""Labelers' consistency with themselves (``app.labelstudio.rechecks``): labeled frames shown again,
blind, and how far each labeler's second labels land from their first."""

from __future__ import annotations

import random

from fastapi import APIRouter, HTTPException

from app.api.deps import ProjectDep, SessionDep
from app.api.routes.labeling import LabelStudioDep, down
from app.api.schemas import ConsistencyOut, RecheckCreate, RechecksMade
from app.labelstudio.accounts import LabelStudioDown
from app.labelstudio.rechecks import consistency, show_again
from core.errors import PoseCloudError

router = APIRouter(prefix="/projects/{project_id}/labeling/rechecks", tags=["labeling"])


@router.post("", status_code=201, response_model=RechecksMade)
def show_frames_again(
    body: RecheckCreate, project: ProjectDep, session: SessionDep, ls: LabelStudioDep
) -> RechecksMade:
    """Add a task for a random ``fraction`` of each labeler's labeled frames (at least one each, none
    shown again before), without their labels: Label Studio shows them as new frames to label."""
    try:
        shown = show_again(ls, session, project, body.fraction, random.Random(body.seed))
    except LabelStudioDown as e:
        raise down(e) from None
    except PoseCloudError as e:
        raise HTTPException(409, str(e)) from None
    if not shown:
        raise HTTPException(
            409,
            "no frame to show again: none labeled in Label Studio by a labeler (uploaded labels are not "
            "re-checked), or every one shown again already",
        )
    return RechecksMade(shown=shown)


@router.get("", response_model=list[ConsistencyOut])
def labelers_consistency(
    project: ProjectDep, session: SessionDep, ls: LabelStudioDep
) -> list[ConsistencyOut]:
    """Per labeler: frames shown again, labeled again, and the distance between their two labels of a
    frame (median, pixels; per keypoint too)."""
    try:
        figures = consistency(ls, session, project)
    except LabelStudioDown as e:
        raise down(e) from None
    return [
        ConsistencyOut(
            labeler=who,
            shown=f.shown,
            relabeled=f.relabeled,
            by_others=f.by_others,
            median_px=f.median_px(),
            keypoints_px={k: f.median_px(k) for k in project.keypoints},
        )
        for who, f in sorted(figures.items(), key=lambda item: item[0] or "")
    ]
