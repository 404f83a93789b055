"""Label Studio accounts, projects and tasks

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "labelstudio_accounts",
        sa.Column("user_id", sa.Integer(), primary_key=True),
        sa.Column("ls_user_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("legacy_token", sa.String(length=64), nullable=False),
        sa.Column("personal_token", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "labelstudio_projects",
        sa.Column("project_id", sa.Integer(), primary_key=True),
        sa.Column("ls_project_id", sa.Integer(), nullable=False, unique=True),
        sa.Column("label_config", sa.Text(), nullable=False),
        sa.Column("hook_secret", sa.String(length=64), nullable=False),
        sa.Column("synced_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
    )
    op.create_table(
        "labelstudio_tasks",
        sa.Column("ls_task_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("image", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.UniqueConstraint("project_id", "image", name="uq_labelstudio_tasks_project_image"),
    )
    op.create_index("ix_labelstudio_tasks_project_id", "labelstudio_tasks", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_labelstudio_tasks_project_id", table_name="labelstudio_tasks")
    op.drop_table("labelstudio_tasks")
    op.drop_table("labelstudio_projects")
    op.drop_table("labelstudio_accounts")
