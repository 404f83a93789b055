"""job attempt history; an ensemble's training job; live worker slots

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("history", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("ensembles") as batch:
        batch.add_column(sa.Column("train_job_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_ensembles_train_job_id_jobs", "jobs", ["train_job_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "worker_slots",
        sa.Column("name", sa.String(length=200), primary_key=True),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_worker_slots_heartbeat_at", "worker_slots", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_worker_slots_heartbeat_at", table_name="worker_slots")
    op.drop_table("worker_slots")
    with op.batch_alter_table("ensembles") as batch:
        batch.drop_constraint("fk_ensembles_train_job_id_jobs", type_="foreignkey")
        batch.drop_column("train_job_id")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("history")
