"""Domain errors raised by services and turned into HTTP answers by the app."""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(
        self, message: str, *, field: str | None = None, location: str = "body"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # dotted, e.g. "trials.0.params"
        self.location = location  # where the field is: "body", "query" or "path"


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    """A stale lease token, or a state change the current state forbids."""

    status_code = 409


class Invalid(ServiceError):
    """Input that passed the schema but breaks a rule that needs the database."""

    status_code = 422
