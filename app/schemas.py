"""The server's pydantic models (no database). The trial protocol's models live in
``hpsearch.wire``, shared with the client and the worker, and are re-exported here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.search.confirm import ConfirmPolicy
from app.search.pruning import PruningPolicy
from app.search.refine import RefinePolicy, default_plan
from app.search.samplers import SamplerName
from app.search.space import Choice, Fixed, Param, SearchSpace
from hpsearch.bounds import INT32_MAX, JsonObject
from hpsearch.wire import (  # noqa: F401  (the trial protocol, re-exported)
    ClaimRequest,
    EarlyAbort,
    FinishRequest,
    LeaseOut,
    LeaseRequest,
    Metrics,
    ReleaseRequest,
    ReportOut,
    ReportRequest,
    TaskSpec,
    TrialTask,
    WorkerRegister,
    example,
)
from hpsearch.wire import (
    WireModel as _Model,
)

TrialState = Literal["queued", "running", "completed", "aborted", "pruned", "failed"]
StudyState = Literal["running", "paused", "cancelled", "completed"]
Role = Literal["admin", "submit", "worker", "read"]

MAX_BUDGET = 10_000_000
MAX_STAGE_TRIALS = 100_000
DEFAULT_MAX_EPOCHS = 50
PLAN_KEYS = ("epochs", "budget", "sampler", "pruning", "confirm")
EXAMPLE_SPACE: dict[str, Any] = {
    "learning_rate": {"type": "log_uniform", "low": 1e-6, "high": 1e-1},
    "reg": {"type": "log_uniform", "low": 1e-5, "high": 1.0},
}


class _FromRow(_Model):
    """A wire model read straight from an ORM object or a result row (``model_validate``):
    fields by name or by the column alias given, epoch-second floats as UTC datetimes."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)


def column(name: str, field: str) -> Any:
    """A field read from the column ``name``, or by its own name ``field``."""
    return Field(validation_alias=AliasChoices(name, field))


def timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


class Objective(_Model):
    metric: str = Field("val_accuracy", min_length=1, max_length=100)
    direction: Literal["maximize", "minimize"] = "maximize"


class StageSpec(_Model):
    """One stage: a number of trials, or a budget of epochs to spend on as many as fit; or,
    last, a confirmation of the search's top candidates."""

    trials: StrictInt | None = Field(
        None, ge=1, le=MAX_STAGE_TRIALS, description="Trials to sample"
    )
    budget: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_BUDGET,
        description="Instead of trials: epochs to train in this stage (aborted and pruned "
        "trials count what they ran); trials are sampled until it is spent",
    )
    epochs: StrictInt | None = Field(
        None,
        ge=1,
        le=100_000,
        description="Epochs per trial (at most); required, except that a confirmation "
        "stage defaults to the stage before it",
    )
    sampler: SamplerName | None = Field(None, description="Defaults to the study's sampler")
    pruning: PruningPolicy | None = Field(
        None, description="Defaults to median pruning for stages longer than 2 epochs"
    )
    confirm: ConfirmPolicy | None = Field(
        None,
        description="Instead of trials or budget: train the search's top candidates again "
        "(fresh seeds, full length, no pruning); the study's pick is the best mean",
    )

    @model_validator(mode="after")
    def _size(self) -> StageSpec:
        if self.confirm is not None:
            if self.trials is not None or self.budget is not None:
                raise ValueError("a confirm stage takes no trials or budget (it trains "
                                 "confirm.top x confirm.repeats runs)")
            if self.pruning is not None or self.sampler is not None:
                raise ValueError("a confirm stage is not pruned or sampled: drop pruning "
                                 "and sampler")
            return self
        if (self.trials is None) == (self.budget is None):
            raise ValueError("a stage takes either trials or budget (epochs), exactly one")
        if self.epochs is None:
            raise ValueError("epochs: a search stage needs epochs per trial")
        check_budget_trials(self.budget, self.epochs)
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
    budget: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_BUDGET,
        description="Instead of stages: epochs to train in all, planned as the default "
        "coarse-to-fine (three stages, Sobol-sampled and pruned, spending 30%, 30% and "
        "40% of what is left after about 12% kept for the confirmation stage that ends it)",
    )
    max_epochs: StrictInt | None = Field(
        None,
        ge=1,
        le=100_000,
        description=f"With budget: epochs per trial at most (default {DEFAULT_MAX_EPOCHS})",
    )
    sampler: SamplerName = "random"
    refine: RefinePolicy = Field(default_factory=RefinePolicy)
    early_abort: EarlyAbort = Field(default_factory=EarlyAbort)
    seed: StrictInt = Field(0, ge=0, le=INT32_MAX)
    max_attempts: StrictInt | None = Field(None, ge=1, le=100)

    @model_validator(mode="after")
    def _plan(self) -> StudySpec:
        """Expand ``budget`` into the default plan, so a stored spec always has stages."""
        if self.stages is not None:
            if self.budget is not None:
                raise ValueError("give either stages or budget, not both")
            if self.max_epochs is not None:
                raise ValueError("max_epochs goes with budget; with stages set each one's epochs")
            return self._confirm_last()
        if self.budget is None:
            raise ValueError("a study needs stages (a list of {trials, epochs}) or a budget")
        max_epochs = self.max_epochs or DEFAULT_MAX_EPOCHS
        self.max_epochs = max_epochs
        self.stages = [
            StageSpec(**{k: step[k] for k in PLAN_KEYS if k in step})
            for step in default_plan(self.budget, max_epochs=max_epochs)
        ]
        return self

    def _confirm_last(self) -> StudySpec:
        """A confirmation ends the plan and needs a search before it; it trains as long
        as the stage before it unless it says otherwise."""
        stages = self.plan
        for i, stage in enumerate(stages):
            if stage.confirm is None:
                continue
            if i != len(stages) - 1:
                raise ValueError(f"stages.{i}.confirm: a confirm stage must be the last")
            if i == 0:
                raise ValueError("stages.0.confirm: a confirm stage needs a search stage "
                                 "before it")
            stage.epochs = stage.epochs or stages[i - 1].epochs
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


def check_budget_trials(budget: int | None, epochs: int) -> None:
    """Refuse a budget that buys more full-length trials than a stage may hold."""
    if budget is not None and budget // epochs > MAX_STAGE_TRIALS:
        raise ValueError(
            f"budget: {budget} epochs buy {budget // epochs} trials of {epochs} epochs; "
            f"a stage holds at most {MAX_STAGE_TRIALS} trials (raise epochs or lower budget)"
        )


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


class ConfirmOut(_Model):
    """A confirmed candidate's runs: its own when it ran full length, and its repeats."""

    runs: int = Field(..., description="Runs that finished (the mean is over these)")
    mean: float | None
    std: float | None = Field(None, description="Sample standard deviation (2+ runs)")
    min: float | None
    max: float | None
    unfinished: int = Field(0, description="Runs that failed or aborted: left out")
    pending: int = Field(0, description="Runs still queued or running")
    pick: bool = Field(False, description="This candidate is the study's pick")


class PickOut(ConfirmOut):
    """The study's pick: the confirmed candidate with the best mean, and why."""

    trial_id: int
    reason: str = Field(..., description='e.g. "best mean of 3 runs"')
    trial: LeaderboardRow = Field(..., description="The picked trial as the leaderboard shows it")


class StudyDetail(StudySummary):
    pick: PickOut | None = Field(
        None, description="After confirmation: the candidate with the best mean over its runs"
    )
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
    params: JsonObject
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
    trials: StrictInt | None = Field(
        None, ge=1, le=MAX_STAGE_TRIALS, description="Trials of the new stage"
    )
    budget: StrictInt | None = Field(
        None, ge=1, le=MAX_BUDGET, description="Or: epochs the new stage may train in all"
    )
    epochs: StrictInt | None = Field(
        None, ge=1, le=100_000, description="Epochs of the new stage"
    )

    @model_validator(mode="after")
    def _size(self) -> RefineRequest:
        if self.trials is not None and self.budget is not None:
            raise ValueError("give trials or budget for the new stage, not both")
        return self


# --- trials --------------------------------------------------------------------------


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
    candidate: int | None = column("candidate_id", "candidate")
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
    candidate: int | None = Field(
        None, description="A confirmation run: the id of the trial whose params it trains again"
    )
    confirmed: ConfirmOut | None = Field(
        None, description="A confirmed candidate: mean and spread over its runs"
    )
    pick: str | None = Field(None, description="Why this trial is the study's pick, if it is")


class Leaderboard(_Model):
    total: int
    limit: int
    offset: int
    metric: str | None
    direction: str | None
    rows: list[LeaderboardRow]


# --- workers and tokens --------------------------------------------------------------


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
PickOut.model_rebuild()
