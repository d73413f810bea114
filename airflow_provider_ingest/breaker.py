"""A circuit breaker for steps that call a service record by record (Elasticsearch, OpenMetadata).

It opens after a few authentication failures in a row, after a few requests in a row that the service
failed itself (a 500, each after the client's retries), or as soon as the service is unreachable after the
client's retries. From then on no record is sent: each is failed as not attempted (so it is
dead-lettered, never lost), and the step ends by raising one error that says what happened. Refused
credentials fail the step even when too few came in a row to open the breaker: they are never a
record's fault for the success threshold to tolerate.
"""

from __future__ import annotations

import threading

from airflow_provider_ingest.errors import (
    AuthenticationError,
    IngestError,
    ServerFailure,
    ServiceError,
    ServiceUnavailableError,
)
from airflow_provider_ingest.terminal import counted

AUTHENTICATION_FAILURES = 3
"""Authentication failures (401/403) in a row that stop a step."""
SERVER_FAILURES = 5
"""Requests in a row that a service failed itself (a 500), each after the client's retries, that stop a step."""


class NotAttempted(IngestError):
    """A record not sent because the service had already failed the step; its message says why."""

    retryable = True


class CircuitBreaker:
    """Watches one service's answers; thread-safe, as calls may run in a pool."""

    def __init__(self, service: str, authentication_failures: int = AUTHENTICATION_FAILURES) -> None:
        self.service = service
        self.authentication_failures = authentication_failures
        self.cause: ServiceError | None = None
        self.refusal: AuthenticationError | None = None
        self.refusals = 0
        self.not_attempted = 0
        self._refused = 0
        self._server_failures = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        """Whether the step has stopped sending."""
        return self.cause is not None

    def succeeded(self) -> None:
        """A call went through: failures no longer count as in a row (unless the step stopped already: a call in
        flight then changes nothing)."""
        with self._lock:
            if self.cause is None:
                self._refused = self._server_failures = 0

    def failed(self, error: BaseException) -> None:
        """Note a failed call: refused credentials count toward the limit, an unreachable service opens at once."""
        with self._lock:
            if self.cause is not None:
                return
            if isinstance(error, AuthenticationError):
                self.refusal, self.refusals = error, self.refusals + 1
                self._refused += 1
                if self._refused >= self.authentication_failures:
                    self.cause = error
            elif isinstance(error, ServiceUnavailableError):
                self.cause = error
            elif isinstance(error, ServerFailure):  # the service failed the request itself, also retried
                self._refused = 0
                self._server_failures += 1
                if self._server_failures >= SERVER_FAILURES:
                    self.cause = error
            elif isinstance(error, ServiceError):  # the service answered and took the credentials
                self._refused = self._server_failures = 0

    def skip(self) -> NotAttempted:
        """Count one record not sent; the error to fail it with."""
        with self._lock:
            self.not_attempted += 1
        return NotAttempted(f"not attempted: {self._why()}")

    def guard(self) -> None:
        """Before a call: raise :class:`NotAttempted` (counted) when the breaker is open."""
        if self.cause is not None:
            raise self.skip()

    def finish(self) -> None:
        """At the end of the step: raise the error that stopped it (with the records not attempted), or the
        refused credentials."""
        if self.cause is None:
            if self.refusal is not None:
                raise AuthenticationError(
                    f"{self.service} refused the credentials {counted(self.refusals, 'time')}: {self.refusal}"
                )
            return
        message = f"{self._why()}; {counted(self.not_attempted, 'record')} not attempted (dead-lettered)"
        if isinstance(self.cause, AuthenticationError):
            raise AuthenticationError(message) from self.cause
        raise ServiceUnavailableError(message) from self.cause

    def _why(self) -> str:
        if isinstance(self.cause, AuthenticationError):
            refused = counted(self._refused, "time")
            return f"{self.service} refused the credentials {refused} in a row, stopped: {self.cause}"
        if not isinstance(self.cause, ServiceUnavailableError):
            return f"{self.service} failed {counted(self._server_failures, 'request')} in a row, stopped: {self.cause}"
        return f"{self.service} is unavailable, stopped: {self.cause}"
