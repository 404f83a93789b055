"""Per-labeler figures of a project: the frames whose labels are each labeler's, the time Label
Studio measured per frame, and how many of those frames label QC flags now."""

from __future__ import annotations

import statistics

from fastapi import APIRouter

from app.api.deps import ProjectDep, SessionDep, StorageDep
from app.api.routes.label_qc import label_qc_report
from app.api.routes.labeling import LabelStudioDep, down
from app.api.schemas import LabelerOut
from app.labelstudio.accounts import LabelStudioDown
from app.labelstudio.labels import view_images

router = APIRouter(prefix="/projects/{project_id}/labeling/labelers", tags=["labeling"])


@router.get("", response_model=list[LabelerOut])
def labelers(
    project: ProjectDep, session: SessionDep, storage: StorageDep, ls: LabelStudioDep
) -> list[LabelerOut]:
    """Who labeled the project's tasks (a task's labels are its newest annotation's author's; labels
    that came with an upload or an import are nobody's: ``labeler`` None), most frames first."""
    try:
        work = ls.labelers(session, project)
    except LabelStudioDown as e:
        raise down(e) from None
    report = label_qc_report(project, session, storage)
    flagged = {frame.image for view in report.views for frame in view.flagged}
    out = [
        LabelerOut(
            labeler=who,
            frames=len(done.images),
            median_seconds_per_frame=statistics.median(done.seconds) if done.seconds else None,
            flagged=sum(
                any(i in flagged for i in view_images(project, image).values()) for image in done.images
            ),
        )
        for who, done in work.items()
    ]
    return sorted(out, key=lambda row: (-row.frames, row.labeler or ""))
