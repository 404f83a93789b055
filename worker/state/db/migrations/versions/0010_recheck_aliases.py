"""label rechecks' aliases: a re-shown frame's images are served under a random name, so that
nothing on its task says which frame it repeats

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("label_rechecks") as batch:
        batch.add_column(sa.Column("alias", sa.String(length=64), nullable=True))
        batch.create_index("ix_label_rechecks_alias", ["alias"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("label_rechecks") as batch:
        batch.drop_index("ix_label_rechecks_alias")
        batch.drop_column("alias")
