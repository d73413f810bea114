"""One hierarchy for every error this package raises; each class says whether retrying can help.

Airflow tasks fail without retries on a non-retryable error (``AirflowFailException``) and let
Airflow retry, as configured, a retryable one. The CLI exits 1 on any of them; any other exception
is an internal error (a bug): exit 2.
"""

from __future__ import annotations

from typing import ClassVar


class IngestError(Exception):
    """Root of the package's errors."""

    retryable: ClassVar[bool] = False


class ConfigurationError(IngestError, ValueError):
    """A setting, a workflow file or a component's config is wrong: fix it, then run again."""


class InputError(IngestError, ValueError):
    """An input (a staged file, an upstream task's output) is missing, corrupt or not what was expected."""


class ServiceError(IngestError):
    """An external service (database, Elasticsearch, OpenMetadata) failed; running again may succeed."""

    retryable: ClassVar[bool] = True


class ServiceUnavailableError(ServiceError):
    """The service cannot be reached, or stopped answering."""


class ServerFailure(ServiceError):
    """The service failed a request itself (a 5xx), also after the client's retries; a few in a row stop a step."""


class AuthenticationError(ServiceError):
    """The service refuses the credentials (401/403): retrying with the same ones cannot help."""

    retryable: ClassVar[bool] = False


class IncompleteRunError(IngestError):
    """A step could not handle every record (success rate below the threshold, records not attempted)."""

    retryable: ClassVar[bool] = True


def is_retryable(error: BaseException) -> bool:
    """Whether running the step again may succeed: unknown exceptions (bugs) are not retried either."""
    return isinstance(error, IngestError) and error.retryable
