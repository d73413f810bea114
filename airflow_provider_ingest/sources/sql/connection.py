"""Where the ``sql`` source connects: a SQLAlchemy URL, an Airflow connection, or the sample database.

Passwords never leave this module in clear: URLs are shown with ``hide_password=True``, error
messages pass through :func:`scrub`, and :func:`mask` hands passwords to Airflow's log masker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow_provider_ingest.errors import (
    AuthenticationError,
    ConfigurationError,
    IngestError,
    ServiceError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "sqlite": "sqlite",
}
"""SQLAlchemy driver names for Airflow connection types."""

_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^@/\s]+@")
_DSN_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


class SqlConnectionError(IngestError):
    """Base of the ``sql`` source's errors: its connection cannot be resolved, opened, kept or read over.

    The message holds no password. What is raised is one of the subclasses, which say whether a retry can help.
    """


class SqlConfigurationError(SqlConnectionError, ConfigurationError):
    """The connection is wrongly given: not a URL, an unknown Airflow connection or type, a missing driver."""


class SqlAuthenticationError(SqlConnectionError, AuthenticationError):
    """The database refuses the credentials."""


class SqlUnavailableError(SqlConnectionError, ServiceUnavailableError):
    """The database cannot be reached, or the connection was lost (or its statements timed out) past every retry."""


class SqlQueryError(SqlConnectionError, ServiceError):
    """A catalog query the source cannot do without failed."""


def parse_url(url: str) -> URL:
    """A SQLAlchemy URL from text; a bad URL is reported without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except ArgumentError:
        raise SqlConfigurationError(f"not a SQLAlchemy URL: {scrub(url)!r}") from None


def url_from_connection(conn_id: str) -> URL:
    """The SQLAlchemy URL of an Airflow connection (``postgres``, ``mysql`` or ``sqlite`` type)."""
    from airflow.sdk import BaseHook
    from sqlalchemy.engine import URL

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as error:
        raise SqlConfigurationError(f"Airflow connection {conn_id!r} not found: {scrub(str(error))}") from None
    conn_type = (connection.conn_type or "").lower()
    extra = connection.extra_dejson or {}
    driver = extra.get("sqlalchemy_driver") or DRIVERS.get(conn_type)
    if driver is None:
        known = ", ".join(sorted(DRIVERS))
        raise SqlConfigurationError(
            f"Airflow connection {conn_id!r} has type {conn_type!r}; the sql source knows {known} "
            "(or set 'sqlalchemy_driver' in the connection's extra)"
        )
    if driver == "sqlite":
        return URL.create("sqlite", database=connection.host or connection.schema or None)
    return URL.create(
        driver,
        username=connection.login or None,
        password=connection.password or None,
        host=connection.host or None,
        port=connection.port or None,
        database=connection.schema or None,
        query={key: str(value) for key, value in extra.get("sqlalchemy_query", {}).items()},
    )


def render(url: URL) -> str:
    """A URL as text with its password hidden."""
    return url.render_as_string(hide_password=True)


def scrub(message: str, url: URL | None = None, secrets: Iterable[str] = ()) -> str:
    """Remove passwords from a message: the URL's own, the ``secrets``, ``user:password@`` and ``password=...``."""
    known = {*secrets, str(url.password)} if url is not None and url.password else set(secrets)
    known |= {quote(secret, safe="") for secret in known}
    for secret in sorted(filter(None, known), key=len, reverse=True):
        message = message.replace(secret, "***")
    message = _URL_PASSWORD.sub(r"\1***@", message)
    return _DSN_PASSWORD.sub(r"\1***", message)


def mask(secret: str) -> None:
    """Have Airflow's log masker hide a password, also percent-encoded as in a URL, when running in Airflow."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    for form in {secret, quote(secret, safe="")}:
        mask_secret(form)
