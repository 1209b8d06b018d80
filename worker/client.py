"""The worker's HTTP client is the Python client's (``hpsearch.http``)."""

from hpsearch.http import (  # noqa: F401
    ApiClient,
    ApiError,
    Unreachable,
    backoff,
    format_detail,
)
