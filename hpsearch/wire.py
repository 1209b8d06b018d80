"""The wire format of the trial protocol: the pydantic models that the server and the
client both use (claim, heartbeat, report, finish, release, worker registration, the
claimed task with its early-abort rule), and how metric values become strict JSON.

Pydantic and the standard library only: importing this loads no server code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator

from hpsearch.bounds import INT32_MAX, Int32, JsonObject, check_json_any_float
from hpsearch.defaults import EARLY_ABORT_LOSS_FACTOR, EARLY_ABORT_STALL_EPOCHS

FinalState = Literal["completed", "aborted", "pruned", "failed"]
MAX_REASON = 20_000
DATASET_NAMES = ("digits", "mnist1d", "spiral")
# On an empty claim (204): trials still running in the studies asked for (more may come).
RUNNING_HEADER = "Hpsearch-Running"
DATASET_PREFIXES = ("npz:", "cifar10:")


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by its string form
    ("inf", "-inf", "nan"), so strict JSON and every database can hold it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """``value`` as JSON-ready Python: NumPy (or torch) scalars and arrays become numbers
    and lists, mappings plain dicts with string keys."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    return str(value)


def dataset_problem(spec: object) -> str | None:
    """What is wrong with the syntax of a dataset spec, or None (nothing is loaded)."""
    if not isinstance(spec, str):
        return f"dataset spec must be a string, not {type(spec).__name__}"
    if spec in DATASET_NAMES:
        return None
    for prefix in DATASET_PREFIXES:
        if spec.startswith(prefix):
            if not spec[len(prefix):].strip():
                return f"dataset spec {spec!r} needs a path after {prefix!r}"
            return None
    return (f"unknown dataset {spec!r}; use one of {', '.join(DATASET_NAMES)} "
            f"or {' / '.join(p + 'PATH' for p in DATASET_PREFIXES)}")


# Metrics keep non-finite floats as strings ("inf", "nan") so every database stores them.
Metrics = Annotated[
    dict[str, Any], AfterValidator(check_json_any_float), AfterValidator(json_safe)
]


class WireModel(BaseModel):
    """A wire model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def example(value: dict[str, Any]) -> ConfigDict:
    """Model config with one example request, shown in the OpenAPI docs."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [value]})


class EarlyAbort(WireModel):
    """The lecture's rule: abort a run whose loss passes factor x its initial loss, or that
    stalls at chance for ``stall_epochs`` epochs. It travels with every claimed task;
    ``enabled: false`` switches both checks off (a non-finite loss still aborts)."""

    enabled: bool = True
    loss_factor: float = Field(default=EARLY_ABORT_LOSS_FACTOR, gt=1, allow_inf_nan=False)
    stall_epochs: StrictInt = Field(default=EARLY_ABORT_STALL_EPOCHS, ge=1, le=1000)


class TaskSpec(WireModel):
    """What a worker trains: the built-in NumPy trainer on a dataset, or a custom objective."""

    type: Literal["builtin", "custom"] = Field(
        "builtin", description="builtin: hpsearch's NumPy MLP trainer; custom: --objective"
    )
    dataset: str | None = Field(
        None, description="digits | mnist1d | spiral | npz:PATH | cifar10:DIR (builtin only)"
    )
    settings: JsonObject = Field(
        default_factory=dict, description="Fixed model and training settings"
    )

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str | None) -> str | None:
        problem = None if v is None else dataset_problem(v)
        if problem is not None:
            raise ValueError(problem)
        return v


# --- the lease protocol --------------------------------------------------------------


class ClaimRequest(WireModel):
    model_config = example({"worker": "node1-0", "studies": [1]})
    worker: str = Field(..., min_length=1, max_length=200)
    studies: list[Int32] | None = Field(
        None, max_length=1000, description="Only claim from these studies"
    )


class TrialTask(WireModel):
    """Everything a worker needs to train one trial."""

    id: int
    study_id: int
    stage: int
    number: int
    params: dict[str, Any]
    task: TaskSpec
    early_abort: EarlyAbort = Field(
        default_factory=EarlyAbort, description="The study's early-abort rule"
    )
    epochs: int
    seed: int
    metric: str
    direction: str
    attempt: int
    lease_token: str
    lease_expires_at: datetime
    lease_seconds: float


class LeaseRequest(WireModel):
    model_config = example({"lease_token": "q1w2e3"})
    lease_token: str = Field(..., min_length=1, max_length=64)


class LeaseOut(WireModel):
    lease_expires_at: datetime


class ReportRequest(LeaseRequest):
    model_config = example(
        {"lease_token": "q1w2e3", "step": 3, "metrics": {"train_loss": 0.41, "val_accuracy": 0.93}}
    )
    step: StrictInt = Field(
        ..., ge=0, le=10_000_000, description="Epochs trained so far, at most the trial's"
    )
    metrics: Metrics


class ReportOut(WireModel):
    should_stop: bool
    lease_expires_at: datetime


class FinishRequest(WireModel):
    model_config = example(
        {
            "lease_token": "q1w2e3",
            "state": "aborted",
            "metrics": {"train_loss": 7.9},
            "reason": "loss 7.9 > 3 x initial 2.30 at epoch 1, step 37",
        }
    )
    lease_token: str | None = Field(None, max_length=64)
    state: FinalState
    metrics: Metrics = Field(default_factory=dict)
    reason: str | None = Field(None, max_length=MAX_REASON)


class ReleaseRequest(LeaseRequest):
    model_config = example({"lease_token": "q1w2e3", "reason": "worker stopping (SIGTERM)"})
    reason: str | None = Field(None, max_length=2_000)


class WorkerRegister(WireModel):
    model_config = example(
        {"name": "node1-0", "host": "node1", "pid": 4242, "processes": 2, "version": "0.1.0"}
    )
    name: str = Field(..., min_length=1, max_length=200)
    host: str = Field(..., max_length=200)
    pid: StrictInt = Field(..., ge=0, le=INT32_MAX)
    processes: StrictInt = Field(1, ge=1, le=1024)
    version: str = Field(..., max_length=50)
