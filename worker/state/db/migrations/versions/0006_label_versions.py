"""label versions: every state of a project's label files, and the one each model trained on; the
model a fine-tuning started from

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "label_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("labeled_frames", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.UniqueConstraint("project_id", "number", name="uq_label_versions_project_number"),
    )
    op.create_index("ix_label_versions_project_id", "label_versions", ["project_id"])
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("label_version_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_models_label_version_id", "label_versions", ["label_version_id"], ["id"], ondelete="SET NULL"
        )
        batch.add_column(sa.Column("start_model_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_models_start_model_id", "models", ["start_model_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_constraint("fk_models_start_model_id", type_="foreignkey")
        batch.drop_column("start_model_id")
        batch.drop_constraint("fk_models_label_version_id", type_="foreignkey")
        batch.drop_column("label_version_id")
    op.drop_table("label_versions")
