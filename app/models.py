"""ORM tables. Times are Unix seconds (float): portable, indexable, timezone-free."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(16), default="running")
    state_reason: Mapped[str | None] = mapped_column(Text)
    metric: Mapped[str] = mapped_column(String(100))
    maximize: Mapped[bool] = mapped_column(Boolean)
    dataset: Mapped[str | None] = mapped_column(String(500), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer)
    current_stage: Mapped[int] = mapped_column(Integer, default=0)
    next_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class Stage(Base):
    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("study_id", "index", name="uq_stage_study_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="open")
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    epochs: Mapped[int] = mapped_column(Integer)
    n_trials: Mapped[int] = mapped_column(Integer)
    # epochs a budget stage may train in all; None for a stage of a fixed trial count
    budget: Mapped[int | None] = mapped_column(Integer)
    sampler: Mapped[str] = mapped_column(String(16))
    pruning: Mapped[dict[str, Any]] = mapped_column(JSON)
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source_trial_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number", name="uq_trial_study_number"),
        # claim: oldest queued trial, of any study or of the studies a worker serves
        Index("ix_trials_claim", "state", "id"),
        Index("ix_trials_claim_study", "study_id", "state", "id"),
        # lease expiry sweep
        Index("ix_trials_lease", "state", "lease_expires_at"),
        # leaderboard order: rank_key is the objective, negated when maximizing
        Index("ix_trials_leaderboard", "study_id", "rank_key", "id"),
        Index("ix_trials_stage_state", "stage_id", "state"),
        # counts per state, and leaderboards filtered by state
        Index("ix_trials_study_state", "study_id", "state", "rank_key", "id"),
        Index("ix_trials_rank", "rank_key", "id"),
        # failure streaks read a study's latest finished trials
        Index("ix_trials_finished", "study_id", "finished_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    stage_index: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    origin: Mapped[str] = mapped_column(String(16), default="sampled")
    # a confirmation run: the id of the trial whose params it trains again
    candidate_id: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    epochs: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    lease_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    worker_name: Mapped[str | None] = mapped_column(String(200))
    objective: Mapped[float | None] = mapped_column(Float)
    rank_key: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)


class TrialReport(Base):
    __tablename__ = "trial_reports"
    __table_args__ = (
        UniqueConstraint("trial_id", "step", name="uq_report_trial_step"),
        # pruning reads the objective of a stage's trials at one step
        Index("ix_reports_stage_step", "stage_id", "step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    objective: Mapped[float | None] = mapped_column(Float)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)


class StudyWarning(Base):
    __tablename__ = "warnings"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), index=True
    )
    stage_index: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    param: Mapped[str | None] = mapped_column(String(100))
    side: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    processes: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[str] = mapped_column(String(50))
    registered_at: Mapped[float] = mapped_column(Float)
    last_seen_at: Mapped[float] = mapped_column(Float)
    current_trial_id: Mapped[int | None] = mapped_column(Integer)
