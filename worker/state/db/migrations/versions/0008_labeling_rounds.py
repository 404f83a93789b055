"""labeling rounds: frames mined from videos by the model a round starts from, labeled, then the
training the round launched

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "labeling_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("start_model_id", sa.Integer(), nullable=True),
        sa.Column("start_ensemble_id", sa.Integer(), nullable=True),
        sa.Column("video_ids", sa.JSON(), nullable=False),
        sa.Column("budget", sa.Integer(), nullable=False),
        sa.Column("job_ids", sa.JSON(), nullable=False),
        sa.Column("label_version_id", sa.Integer(), nullable=True),
        sa.Column("trained_model_id", sa.Integer(), nullable=True),
        sa.Column("trained_ensemble_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["start_model_id"], ["models.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["start_ensemble_id"], ["ensembles.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["label_version_id"], ["label_versions.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["trained_model_id"], ["models.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["trained_ensemble_id"], ["ensembles.id"], ondelete="SET NULL"),
        sa.UniqueConstraint("project_id", "number", name="uq_labeling_rounds_project_number"),
    )
    op.create_index("ix_labeling_rounds_project_id", "labeling_rounds", ["project_id"])


def downgrade() -> None:
    op.drop_table("labeling_rounds")
