"""label rechecks: labeled frames shown again, blind, to measure each labeler's consistency with
themself

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_rechecks",
        sa.Column("ls_task_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(length=500), nullable=False),
        sa.Column("original_ls_task_id", sa.Integer(), nullable=False),
        sa.Column("labeler_ls_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_label_rechecks_project_id", "label_rechecks", ["project_id"])


def downgrade() -> None:
    op.drop_table("label_rechecks")
