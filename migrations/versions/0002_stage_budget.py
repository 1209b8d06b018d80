"""stages.budget: a stage may spend a budget of epochs instead of a trial count

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("stages") as batch:
        batch.add_column(sa.Column("budget", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stages") as batch:
        batch.drop_column("budget")
