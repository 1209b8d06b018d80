"""api_tokens.prefix: keep at most 4 characters of a token's secret in clear

Tokens given from the environment used to keep their first 8 characters; cut them to 4,
as app.services.tokens.shown_prefix now stores. Generated tokens (``hps_`` and 4
characters) are already short enough.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE api_tokens SET prefix = substr(prefix, 1, 4) "
        "WHERE substr(prefix, 1, 4) <> 'hps_' AND length(prefix) > 4"
    )


def downgrade() -> None:
    """The characters cut are gone; the shorter prefixes stay."""
