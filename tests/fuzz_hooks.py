"""Schemathesis hooks for the fuzz test: the run's own admin token is never revoked, so
every operation keeps being tested with it (its id comes from FUZZ_ADMIN_TOKEN_ID)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def filter_case(ctx: Any, case: Any) -> bool:
    if case.method.upper() != "DELETE" or not case.path.startswith("/api/v1/tokens/"):
        return True
    token_id = (case.path_parameters or {}).get("token_id")
    return str(token_id) != os.environ["FUZZ_ADMIN_TOKEN_ID"]
