"""job progress in one typed shape (worker.state.progress.JobProgress)

A training's report becomes the contract (its loss curves kept); any other kind's report, which no
page could read, is cleared: a parent then reads as its members' aggregate, the others as not yet
reported.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRAINING_KEYS = {"epoch", "epochs", "step", "total_steps", "losses", "history"}
jobs = sa.table("jobs", sa.column("id", sa.Integer), sa.column("progress", sa.JSON))


def typed(report: dict) -> dict:
    """A report of before this revision in the typed shape (``{}``: no report)."""
    if not report.keys() >= TRAINING_KEYS:
        return {}
    epochs, steps = report["epochs"], report["total_steps"]
    return {
        "stage": "training",
        "done": round(epochs * report["step"] / steps, 3) if steps else 0,
        "total": epochs,
        "unit": "epochs",
        "eta_s": None,
        "losses": {"epoch": report["epoch"], "latest": report["losses"], "history": report["history"]},
    }


def upgrade() -> None:
    connection = op.get_bind()
    for job_id, progress in connection.execute(sa.select(jobs.c.id, jobs.c.progress)).all():
        if progress and "stage" not in progress:
            connection.execute(jobs.update().where(jobs.c.id == job_id).values(progress=typed(progress)))


def downgrade() -> None:
    """The typed reports stay: the earlier code shows what it can of them."""
