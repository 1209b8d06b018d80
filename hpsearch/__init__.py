"""hpsearch: hyperparameter random search as a service, and its Python client.

    import hpsearch

    study = hpsearch.connect().create_study("study.yaml")
    for trial in study.trials(max_trials=20):
        with trial:
            ...  # train with trial.params, trial.report(epoch, val_accuracy=acc)

The client and the worker import no server code: ``import hpsearch`` needs only httpx
and pydantic. Names are loaded on first use, so ``hpsearch.__version__`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from hpsearch.client import Client, Study, TrialResult, connect
    from hpsearch.http import ApiError, Unreachable
    from hpsearch.lease import LeaseLost, TaskError
    from hpsearch.trial import Trial

_EXPORTS = {
    "connect": "hpsearch.client",
    "Client": "hpsearch.client",
    "Study": "hpsearch.client",
    "TrialResult": "hpsearch.client",
    "Trial": "hpsearch.trial",
    "LeaseLost": "hpsearch.lease",
    "TaskError": "hpsearch.lease",
    "ApiError": "hpsearch.http",
    "Unreachable": "hpsearch.http",
}
__all__ = ["ApiError", "Client", "LeaseLost", "Study", "TaskError", "Trial", "TrialResult",
           "Unreachable", "__version__", "connect"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hpsearch' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
