"""Where the ``sql`` source connects: a SQLAlchemy URL, an Airflow connection, or the sample database.

Passwords never leave this module in clear: URLs are shown through :func:`render` (password and secret
query parameters hidden), error messages pass through :func:`scrub`, and :func:`mask` hands passwords to
Airflow's log masker and the run's secrets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_ingest import secrets
from airflow_provider_ingest.errors import (
    AuthenticationError,
    ConfigurationError,
    IngestError,
    ServiceError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "sqlite": "sqlite",
}
"""SQLAlchemy driver names for Airflow connection types."""
EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
"""The package extra that installs each backend's driver."""
APPLICATION_NAME = "airflow-provider-ingest"
"""How the sources' connections name themselves to the server (``pg_stat_activity.application_name``)."""


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
    """A SQLAlchemy URL from text; a bad URL is reported without its password.

    A URL with a password and more than one raw ``@`` is refused: SQLAlchemy ends the password at the first
    ``@`` and takes the rest of it for the host, port, database or query, which messages would then show.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        scheme = url.partition("://")[0] if "://" in url else ""
        named = f" (scheme {scheme!r})" if scheme and all(c.isalnum() or c in "+-_" for c in scheme) else ""
        raise SqlConfigurationError(
            f"not a SQLAlchemy URL{named}: expected dialect+driver://user@host:port/database"
            " (the text is not shown: a password in it may not be where a URL's password goes)"
        ) from None
    if parsed.password is not None and url.partition("://")[2].count("@") > 1:
        raise SqlConfigurationError("the URL has a password and more than one '@': percent-encode each '@' as %40")
    return parsed


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
    """A URL as text with its password and secret query parameters hidden."""
    return secrets.redact_url(url.render_as_string(hide_password=True))


def scrub(message: str, url: URL | None = None, known: Iterable[str] = ()) -> str:
    """Remove passwords from a message: the URL's own, the ``known`` secrets, and any URL's or ``password=...``."""
    password = [str(url.password)] if url is not None and url.password else []
    return secrets.scrub(message, [*known, *password])


def mask(url: URL, run_secrets: set[str] | None = None) -> None:
    """Keep a URL's password and secret query values (from a connection too) out of messages, in every form:
    into ``run_secrets`` and to Airflow's log masker."""
    values = [url.password, *(url.query[key] for key in url.query if secrets.SECRET_KEY.search(key))]
    for value in values:
        for secret in [value] if isinstance(value, str) else value or ():
            secrets.register(str(secret), run_secrets)


def create_source_engine(url: URL, text: Callable[[BaseException | str], str], **options: Any) -> Engine:
    """An engine without a pool (a lost connection is never handed out again), naming this package to the server;
    a URL SQLAlchemy cannot use is a :class:`SqlConfigurationError` naming the extra to install."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    try:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args(url), **options)
    except Exception as error:
        extra = EXTRAS.get(url.get_backend_name())
        hint = f"; install airflow-provider-ingest[{extra}]" if extra else ""
        raise SqlConfigurationError(f"cannot use {render(url)}: {text(error)}{hint}") from None


MYSQL_READ_TIMEOUT = 900
"""Seconds a MySQL connection waits for the server to send anything (its greeting, a query's first rows) before it
counts as lost: PyMySQL waits for ever by default, so a server that accepts connections and never answers hung the
run. A catalog query that takes longer needs ``read_timeout`` in the URL."""


POSTGRES_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 60, "keepalives_interval": 10, "keepalives_count": 6}
"""TCP keepalives of a PostgreSQL connection (libpq's settings): a server that vanished (a host down, a dropped NAT
entry), which would leave a catalog query waiting for ever, is found within about two minutes of silence and the
connection counts as lost. A live server answers them, however long its query takes."""
POSTGRES_CONNECT_TIMEOUT = 30
"""Seconds a PostgreSQL connection may take to open (libpq's ``connect_timeout``, for each of the host's addresses):
libpq waits for ever by default, so a server that accepted the connection and never answered (a hung server, a
proxy with nothing behind it) hung the run, and a host whose packets a firewall drops took the system's two minutes.
Long enough for a serverless database to resume."""


def connect_args(url: URL) -> dict[str, Any]:
    """The application name the server shows for the source's connections, a connect timeout and TCP keepalives for
    PostgreSQL over libpq and a read timeout for MySQL, each unless the URL sets its own (the connect timeout also
    unless ``PGCONNECT_TIMEOUT`` or a connection service file may)."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        defaults: dict[str, Any] = {"application_name": APPLICATION_NAME}
        if url.get_driver_name() in ("psycopg2", "psycopg"):
            defaults.update(POSTGRES_KEEPALIVES)
            if not os.environ.get("PGCONNECT_TIMEOUT") and "service" not in url.query:  # libpq's own, kept
                defaults["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT
        return {key: value for key, value in defaults.items() if key not in url.query}
    if url.get_driver_name() != "pymysql":
        return {}
    defaults = {"program_name": APPLICATION_NAME, "read_timeout": MYSQL_READ_TIMEOUT}
    return {key: value for key, value in defaults.items() if key not in url.query}


def is_database_error(engine: Engine | None, error: BaseException) -> bool:
    """Whether ``error`` comes from SQLAlchemy or the engine's database driver (its text may hold a DSN)."""
    from sqlalchemy.exc import SQLAlchemyError

    dbapi = getattr(engine.dialect, "loaded_dbapi", None) if engine is not None else None
    return isinstance(error, SQLAlchemyError) or (dbapi is not None and isinstance(error, dbapi.Error))
