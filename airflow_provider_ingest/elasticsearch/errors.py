"""Elasticsearch's failures as this package's errors: an unreachable cluster, refused credentials, another error.

The client's exceptions are translated where the components call it (:func:`translated`), so a step fails
with an error that says whether retrying can help; the client library is imported only when one occurs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_ingest.errors import (
    AuthenticationError,
    ConfigurationError,
    ServiceError,
    ServiceUnavailableError,
)
from airflow_provider_ingest.secrets import redact_url

UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})


class ElasticsearchError(ServiceError):
    """Elasticsearch failed a request."""


class ClusterUnavailable(ElasticsearchError, ServiceUnavailableError):
    """The cluster could not be reached, did not answer in time, or stayed overloaded through the retries."""


class CredentialsRefused(ElasticsearchError, AuthenticationError):
    """The cluster refused the credentials (401) or their privileges (403)."""


class ClusterRedirected(ElasticsearchError, ConfigurationError):
    """A host answers with a redirect, not followed (the credentials would go with it): a retry cannot help."""

    retryable = False


def service_error(error: Exception, prefix: str = "") -> ElasticsearchError:
    """The package's error for an exception of the ``elasticsearch`` client, its message after ``prefix``."""
    from elastic_transport import ConnectionError, ConnectionTimeout
    from elasticsearch import ApiError

    if isinstance(error, (ConnectionError, ConnectionTimeout)):
        tried = _node_tried(error)
        if tried is None:
            return ClusterUnavailable(f"{prefix}{type(error).__name__}: {error}")
        node, reason = tried
        return ClusterUnavailable(f"{prefix}cannot reach {node}: {type(error).__name__}: {reason}")
    if isinstance(error, ApiError):
        return redirected(error, prefix) or status_error(
            error.meta.status, f"{prefix}HTTP {error.meta.status}: {error_text(error.body)}"
        )
    return ElasticsearchError(f"{prefix}{type(error).__name__}: {error}")


def _node_tried(error: BaseException) -> tuple[str, str] | None:
    """``scheme://host:port`` of the node a connection error or timeout was trying (never a password), and why it
    failed, from the HTTP library's error behind the client's; None when none says."""
    cause = error.__cause__ or error.__context__
    while cause is not None:
        target = getattr(cause, "conn", None) or vars(cause).get("pool")  # urllib3's connection, or its pool
        if isinstance(getattr(target, "host", None), str):
            scheme = getattr(target, "scheme", None) or ("https" if "HTTPS" in type(target).__name__ else "http")
            port = f":{target.port}" if target.port else ""
            return f"{scheme}://{target.host}{port}", str(cause).partition("): ")[2] or str(cause)
        cause = cause.__cause__ or cause.__context__
    return None


def redirected(error: Any, prefix: str = "") -> ClusterRedirected | None:
    """The error of a host that answered the client's ``ApiError`` with a redirect, to the ``Location`` its headers
    name; None for any other answer."""
    status = error.meta.status
    if not 300 <= status < 400:
        return None
    location = redact_url(str((error.meta.headers or {}).get("Location") or "(nowhere)"))
    return ClusterRedirected(
        f"{prefix}HTTP {status}: the host redirects to {location}, which is not followed (the credentials would go"
        " with it): set hosts to where it redirects"
    )


def status_error(status: int, message: str) -> ElasticsearchError:
    """The package's error for an HTTP status: refused credentials, an unavailable cluster, or another error."""
    if status in (401, 403):
        return CredentialsRefused(message)
    if status in UNAVAILABLE_STATUSES:
        return ClusterUnavailable(message)
    return ElasticsearchError(message)


@contextmanager
def translated() -> Iterator[None]:
    """Raise the client's exceptions as the package's errors (also usable as a decorator)."""
    from elastic_transport import TransportError
    from elasticsearch import ApiError

    try:
        yield
    except (ApiError, TransportError) as error:
        raise service_error(error, "Elasticsearch: ") from error


def error_text(error: Any) -> str:
    """``type: reason`` of an Elasticsearch error object, or its text ("" for no body)."""
    if error is None:
        return ""
    if isinstance(error, dict):
        error = error.get("error", error)
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', json.dumps(error))}"
    return str(error)
