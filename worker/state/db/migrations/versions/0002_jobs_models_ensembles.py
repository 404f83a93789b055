"""jobs, models, ensembles; project PCA/view settings; transcoded videos

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _project_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE")


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        for column in ("pca_keypoints", "view_matches", "flip_pairs"):
            batch.add_column(sa.Column(column, sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("transcoded_key", sa.String(length=300), nullable=True))
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("log_tail", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("artifacts", sa.JSON(), nullable=False),
        sa.Column("broker_run_id", sa.String(length=64), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        _project_fk(),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["parent_id"], ["jobs.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_jobs_project_id", "jobs", ["project_id"])
    op.create_index("ix_jobs_parent_id", "jobs", ["parent_id"])
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_table(
        "ensembles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _project_fk(),
        sa.UniqueConstraint("project_id", "name", name="uq_ensembles_project_name"),
    )
    op.create_index("ix_ensembles_project_id", "ensembles", ["project_id"])
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("ensemble_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("train_config", sa.JSON(), nullable=False),
        sa.Column("storage_prefix", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("train_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _project_fk(),
        sa.ForeignKeyConstraint(["ensemble_id"], ["ensembles.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["train_job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.UniqueConstraint("project_id", "name", name="uq_models_project_name"),
    )
    op.create_index("ix_models_project_id", "models", ["project_id"])
    op.create_index("ix_models_ensemble_id", "models", ["ensemble_id"])


def downgrade() -> None:
    op.drop_table("models")
    op.drop_table("ensembles")
    op.drop_table("jobs")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("transcoded_key")
    with op.batch_alter_table("projects") as batch:
        for column in ("flip_pairs", "view_matches", "pca_keypoints"):
            batch.drop_column(column)
