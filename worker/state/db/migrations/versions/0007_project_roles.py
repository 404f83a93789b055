"""project roles: each member is a trainer, labeler or viewer (app.roles); members made before
roles existed could label and train, so they become trainers

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project_members") as batch:
        batch.add_column(sa.Column("role", sa.String(length=20), nullable=False, server_default="trainer"))
    with op.batch_alter_table("project_members") as batch:
        batch.alter_column("role", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("project_members") as batch:
        batch.drop_column("role")
