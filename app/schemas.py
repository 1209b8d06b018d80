"""Wire models shared by the server, the CLI and the worker (pydantic only, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.search.pruning import PruningPolicy
from app.search.refine import RefinePolicy, default_plan
from app.search.samplers import SamplerName
from app.search.space import Choice, Fixed, Param, SearchSpace
from worker.jsonsafe import json_safe

TrialState = Literal["queued", "running", "completed", "aborted", "pruned", "failed"]
StudyState = Literal["running", "paused", "cancelled", "completed"]
Role = Literal["admin", "submit", "worker", "read"]

MAX_BUDGET = 10_000_000
DEFAULT_MAX_EPOCHS = 50
EXAMPLE_SPACE: dict[str, Any] = {
    "learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
    "reg": {"type": "log_uniform", "low": 1e-5, "high": 1.0},
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _FromRow(_Model):
    """A wire model read straight from an ORM object or a result row (``model_validate``):
    fields by name or by the column alias given, epoch-second floats as UTC datetimes."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


def column(name: str, field: str) -> Any:
    """A field read from the column ``name``, or by its own name ``field``."""
    return Field(validation_alias=AliasChoices(name, field))


def example(value: dict[str, Any]) -> ConfigDict:
    """Model config with one example request, shown in the OpenAPI docs."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


def timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


# Metrics keep non-finite floats as strings ("inf", "nan") so every database stores them.
Metrics = Annotated[dict[str, Any], AfterValidator(json_safe)]


class Objective(_Model):
    metric: str = Field("val_accuracy", min_length=1, max_length=100)
    direction: Literal["maximize", "minimize"] = "maximize"


class TaskSpec(_Model):
    """What a worker trains: the built-in NumPy trainer on a dataset, or a custom objective."""

    type: Literal["builtin", "custom"] = Field(
        "builtin", description="builtin: hpsearch's NumPy MLP trainer; custom: --objective"
    )
    dataset: str | None = Field(
        None, description="digits | mnist1d | spiral | npz:PATH | cifar10:DIR (builtin only)"
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Fixed model and training settings"
    )

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str | None) -> str | None:
        if v is not None:
            from worker.datasets import validate_spec

            validate_spec(v)
        return v


class EarlyAbort(_Model):
    """The lecture's rule: abort a run whose loss passes factor x its initial loss."""

    enabled: bool = True
    loss_factor: float = Field(3.0, gt=1, allow_inf_nan=False)
    stall_epochs: int = Field(3, ge=1, le=1000)


class StageSpec(_Model):
    """One stage: a number of trials, or a budget of epochs to spend on as many as fit."""

    trials: int | None = Field(None, ge=1, le=100_000, description="Trials to sample")
    budget: int | None = Field(
        None,
        ge=1,
        le=MAX_BUDGET,
        description="Instead of trials: epochs to train in this stage (aborted and pruned "
        "trials count what they ran); trials are sampled until it is spent",
    )
    epochs: int = Field(..., ge=1, le=100_000, description="Epochs per trial (at most)")
    sampler: SamplerName | None = Field(None, description="Defaults to the study's sampler")
    pruning: PruningPolicy | None = Field(
        None, description="Defaults to median pruning for stages longer than 2 epochs"
    )

    @model_validator(mode="after")
    def _size(self) -> StageSpec:
        if (self.trials is None) == (self.budget is None):
            raise ValueError("a stage takes either trials or budget (epochs), exactly one")
        return self


class StudySpec(_Model):
    """A whole search: what to train, what to vary, and the coarse-to-fine plan."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "digits-lr-reg",
                    "task": {"dataset": "digits", "settings": {"hidden_size": 100}},
                    "space": EXAMPLE_SPACE,
                    "stages": [{"trials": 30, "epochs": 3}, {"trials": 10, "epochs": 15}],
                    "seed": 0,
                }
            ]
        },
    )

    name: str = Field(..., min_length=1, max_length=200)
    objective: Objective = Field(default_factory=Objective)
    task: TaskSpec
    space: SearchSpace
    stages: list[StageSpec] | None = Field(
        None, min_length=1, max_length=50, description="The plan; or give budget instead"
    )
    budget: int | None = Field(
        None,
        ge=1,
        le=MAX_BUDGET,
        description="Instead of stages: epochs to train in all, planned as the default "
        "coarse-to-fine (three stages spending 30%, 30% and 40%, Sobol-sampled, pruned)",
    )
    max_epochs: int | None = Field(
        None,
        ge=1,
        le=100_000,
        description=f"With budget: epochs per trial at most (default {DEFAULT_MAX_EPOCHS})",
    )
    sampler: SamplerName = "random"
    refine: RefinePolicy = Field(default_factory=RefinePolicy)
    early_abort: EarlyAbort = Field(default_factory=EarlyAbort)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    max_attempts: int | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _plan(self) -> StudySpec:
        """Expand ``budget`` into the default plan, so a stored spec always has stages."""
        if self.stages is not None:
            if self.budget is not None:
                raise ValueError("give either stages or budget, not both")
            if self.max_epochs is not None:
                raise ValueError("max_epochs goes with budget; with stages set each one's epochs")
            return self
        if self.budget is None:
            raise ValueError("a study needs stages (a list of {trials, epochs}) or a budget")
        max_epochs = self.max_epochs or DEFAULT_MAX_EPOCHS
        self.max_epochs = max_epochs
        self.stages = [
            StageSpec(**{k: step[k] for k in ("epochs", "budget", "sampler", "pruning")})
            for step in default_plan(self.budget, max_epochs=max_epochs)
        ]
        return self

    @property
    def plan(self) -> list[StageSpec]:
        """The stages, filled in from the budget when the spec gave none."""
        assert self.stages is not None
        return self.stages

    @field_validator("task")
    @classmethod
    def _task(cls, task: TaskSpec) -> TaskSpec:
        if task.type == "builtin":
            if task.dataset is None:
                raise ValueError("a builtin task needs a dataset (digits, mnist1d, spiral, ...)")
            _check_trainer_settings(task.settings, where="task.settings")
        return task

    @field_validator("space")
    @classmethod
    def _space(cls, space: SearchSpace, info: ValidationInfo) -> SearchSpace:
        task = info.data.get("task")
        if task is not None and task.type == "builtin":
            check_space_for_trainer(space, task.settings)
        return space


def check_space_for_trainer(space: SearchSpace, settings: dict[str, Any]) -> None:
    """Refuse names the built-in trainer does not know and values it cannot take."""
    from worker.nn.config import KNOWN_PARAMS, RELATED_PARAMS

    probes = {name: _probes(p) for name, p in space.params.items()}
    for name in space.params:
        if name not in KNOWN_PARAMS:
            raise ValueError(
                f"space.{name}: the built-in trainer has no parameter {name!r} "
                f"(known: {', '.join(sorted(KNOWN_PARAMS))}); use task.type=custom "
                "for your own objective"
            )
        if name in settings:
            raise ValueError(f"space.{name}: also fixed in task.settings; keep one of them")
        for value in probes[name]:
            _check_trainer_settings({**settings, name: value}, where=f"space.{name}")
    for a, b in RELATED_PARAMS:
        if a in probes and b in probes:
            for va in probes[a]:
                for vb in probes[b]:
                    _check_trainer_settings({**settings, a: va, b: vb}, where=f"space.{a}")


def _probes(p: Param) -> list[Any]:
    """The values that show whether the trainer takes a distribution: its ends or choices."""
    if isinstance(p, Choice):
        return list(p.values)
    if isinstance(p, Fixed):
        return [p.value]
    return [p.low, p.high]


def _check_trainer_settings(settings: dict[str, Any], *, where: str) -> None:
    from worker.nn.config import ConfigError, config_from

    try:
        config_from(settings, epochs=1, seed=0)
    except ConfigError as exc:
        raise ValueError(f"{where}: {exc}") from None


# --- studies -------------------------------------------------------------------------


class StageOut(_Model):
    index: int
    state: str
    epochs: int
    trials: int = Field(..., description="Trials sampled so far")
    budget: int | None = Field(None, description="Epochs a budget stage may train in all")
    epochs_spent: int = Field(0, description="Epochs its trials have trained so far")
    sampler: str
    space: dict[str, Any]
    pruning: dict[str, Any]
    policy: dict[str, Any] | None
    source_trial_ids: list[int]
    counts: dict[str, int] = Field(default_factory=dict)


class WarningOut(_FromRow):
    id: int
    stage: int | None = column("stage_index", "stage")
    kind: str
    param: str | None
    side: str | None
    message: str
    details: dict[str, Any]
    created_at: datetime | None


class StudySummary(_Model):
    id: int
    name: str
    state: StudyState
    state_reason: str | None
    dataset: str | None
    metric: str
    direction: str
    current_stage: int
    counts: dict[str, int]
    best: float | None
    warnings: int
    created_at: datetime | None


class StudyDetail(StudySummary):
    spec: dict[str, Any]
    stages: list[StageOut]
    warning_list: list[WarningOut]
    space_warnings: list[str] = Field(
        default_factory=list, description="Legal but suspicious choices in the space"
    )


class StudyList(_Model):
    total: int
    items: list[StudySummary]


class EnqueueItem(_Model):
    params: dict[str, Any]
    result: FinishRequest | None = Field(
        None, description="Record an externally trained result instead of queuing the trial"
    )


class EnqueueRequest(_Model):
    model_config = example(
        {
            "trials": [
                {"params": {"learning_rate": 0.001, "reg": 0.0001}},
                {
                    "params": {"learning_rate": 0.01, "reg": 0.001},
                    "result": {"state": "completed", "metrics": {"val_accuracy": 0.97}},
                },
            ]
        }
    )
    trials: list[EnqueueItem] = Field(..., min_length=1, max_length=10_000)


class RefineRequest(_Model):
    model_config = example(
        {"policy": {"top_k": 5, "on_edge": "expand"}, "trials": 20, "epochs": 10}
    )
    policy: RefinePolicy | None = Field(None, description="Override the study's policy")
    trials: int | None = Field(None, ge=1, le=100_000, description="Trials of the new stage")
    budget: int | None = Field(
        None, ge=1, le=MAX_BUDGET, description="Or: epochs the new stage may train in all"
    )
    epochs: int | None = Field(None, ge=1, le=100_000, description="Epochs of the new stage")

    @model_validator(mode="after")
    def _size(self) -> RefineRequest:
        if self.trials is not None and self.budget is not None:
            raise ValueError("give trials or budget for the new stage, not both")
        return self


# --- trials --------------------------------------------------------------------------


class ClaimRequest(_Model):
    model_config = example({"worker": "node1-0", "studies": [1]})
    worker: str = Field(..., min_length=1, max_length=200)
    studies: list[int] | None = Field(None, description="Only claim from these studies")


class TrialTask(_Model):
    """Everything a worker needs to train one trial."""

    id: int
    study_id: int
    stage: int
    number: int
    params: dict[str, Any]
    task: TaskSpec
    epochs: int
    seed: int
    metric: str
    direction: str
    attempt: int
    lease_token: str
    lease_expires_at: datetime
    lease_seconds: float


class LeaseRequest(_Model):
    model_config = example({"lease_token": "q1w2e3"})
    lease_token: str = Field(..., min_length=1, max_length=64)


class LeaseOut(_Model):
    lease_expires_at: datetime


class ReportRequest(LeaseRequest):
    model_config = example(
        {"lease_token": "q1w2e3", "step": 3, "metrics": {"train_loss": 0.41, "val_accuracy": 0.93}}
    )
    step: int = Field(..., ge=0, le=10_000_000)
    metrics: Metrics


class ReportOut(_Model):
    should_stop: bool
    lease_expires_at: datetime


class FinishRequest(_Model):
    model_config = example(
        {
            "lease_token": "q1w2e3",
            "state": "aborted",
            "metrics": {"train_loss": 7.9},
            "reason": "loss 7.9 > 3 x initial 2.30 at epoch 1, step 37",
        }
    )
    lease_token: str | None = Field(None, max_length=64)
    state: Literal["completed", "aborted", "pruned", "failed"]
    metrics: Metrics = Field(default_factory=dict)
    reason: str | None = Field(None, max_length=20_000)


class ReleaseRequest(LeaseRequest):
    model_config = example({"lease_token": "q1w2e3", "reason": "worker stopping (SIGTERM)"})
    reason: str | None = Field(None, max_length=2_000)


class ReportOutRow(_Model):
    step: int
    metrics: dict[str, Any]


class TrialOut(_FromRow):
    id: int
    study_id: int
    stage: int = column("stage_index", "stage")
    number: int
    state: TrialState
    origin: str
    params: dict[str, Any]
    epochs: int
    steps: int
    attempt: int
    objective: float | None
    metrics: dict[str, Any]
    reason: str | None
    worker: str | None = column("worker_name", "worker")
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class TrialDetail(TrialOut):
    reports: list[ReportOutRow]


# --- leaderboard ---------------------------------------------------------------------


class LeaderboardRow(_Model):
    rank: int
    trial_id: int
    study_id: int
    study: str
    number: int
    stage: int
    state: TrialState
    objective: float | None
    metric: str = Field(..., description="What objective is: the study's metric")
    direction: str = Field(..., description="maximize or minimize")
    params: dict[str, Any]
    metrics: dict[str, Any]
    epochs_run: int


class Leaderboard(_Model):
    total: int
    limit: int
    offset: int
    metric: str | None
    direction: str | None
    rows: list[LeaderboardRow]


# --- workers and tokens --------------------------------------------------------------


class WorkerRegister(_Model):
    model_config = example(
        {"name": "node1-0", "host": "node1", "pid": 4242, "processes": 2, "version": "0.1.0"}
    )
    name: str = Field(..., min_length=1, max_length=200)
    host: str = Field(..., max_length=200)
    pid: int
    processes: int = Field(1, ge=1, le=1024)
    version: str = Field(..., max_length=50)


class WorkerOut(_FromRow):
    name: str
    host: str
    pid: int
    processes: int
    version: str
    registered_at: datetime | None
    last_seen_at: datetime | None
    current_trial_id: int | None


class TokenCreate(_Model):
    model_config = example({"role": "worker", "name": "gpu-cluster"})
    role: Role
    name: str = Field("", max_length=200)


class TokenOut(_Model):
    id: int
    name: str
    role: Role
    prefix: str
    created_at: datetime | None
    revoked: bool


class TokenCreated(TokenOut):
    token: str = Field(..., description="Shown once; only its hash is stored")


EnqueueItem.model_rebuild()
