"""Server settings, from the environment (``HPSEARCH_*``) or the command line."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///hpsearch.db"
# A bulk POST /studies/{id}/trials of 10,000 trials (its maximum) with 8 params and 10
# metrics each is about 6.5 MiB; the default leaves room for longer names and values.
DEFAULT_MAX_BODY_BYTES = 16 * 2**20
MIN_TOKEN_CHARS = 32


class Settings(BaseSettings):
    """Everything the server reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="HPSEARCH_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite:///path.db (default) or postgresql+psycopg://...",
    )
    lease_seconds: float = Field(60.0, gt=0, description="How long a claim or heartbeat lasts.")
    max_attempts: int = Field(3, ge=1, description="Lease losses before a trial is failed.")
    sweep_seconds: float = Field(5.0, gt=0, description="How often expired leases are reaped.")
    auto_migrate: bool = Field(True, description="Run alembic upgrade head on start.")
    admin_token: str | None = Field(None, description="Bootstrap admin token (stored hashed).")
    worker_token: str | None = Field(None, description="Bootstrap worker token (stored hashed).")
    require_auth: bool = Field(
        False, description="Refuse requests without a token even when no token exists."
    )
    failure_streak: int = Field(
        5, ge=2, description="Same-reason failures in a row that pause a study."
    )
    max_page: int = Field(1000, ge=1, description="Largest page size a listing returns.")
    max_body_bytes: int = Field(
        DEFAULT_MAX_BODY_BYTES,
        ge=1024,
        description="Largest request body accepted; a larger one gets 413.",
    )

    @field_validator("admin_token", "worker_token")
    @classmethod
    def _long_enough(cls, token: str | None, info: ValidationInfo) -> str | None:
        if token is not None and len(token) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"HPSEARCH_{(info.field_name or '').upper()} is {len(token)} characters; a "
                f"token must have at least {MIN_TOKEN_CHARS} (make one with `openssl rand "
                "-hex 24`)"
            )
        return token

