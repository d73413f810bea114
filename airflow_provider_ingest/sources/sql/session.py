"""One database's connection for the ``sql`` source: replaced when lost, and the work it was doing retried.

A catalog query whose connection was lost (backend terminated, server restarted, ``KILL CONNECTION``) or
that hit a statement or lock wait timeout runs again on a new connection, up to ``retry.attempts`` times with
an exponential backoff; after that the step fails with :class:`SqlUnavailableError`. Each retry is a warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pydantic import Field

from airflow_provider_ingest.api import ComponentConfig
from airflow_provider_ingest.sources.sql.connection import (
    SqlAuthenticationError,
    SqlConfigurationError,
    SqlUnavailableError,
    render,
)
from airflow_provider_ingest.sources.sql.faults import Fault, fault, refuses_credentials, unknown_database

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
MAX_DELAY = 60.0
"""Seconds: the backoff doubles up to this."""
Text = Callable[[BaseException], str]
"""An error's message with every password removed."""


class RetrySettings(ComponentConfig):
    """How often a catalog query is tried when its connection is lost or it times out."""

    attempts: int = Field(default=3, ge=1, le=20, description="tries in all, each retry on a new connection")
    backoff: float = Field(
        default=0.5, ge=0, le=60, description="seconds before the first retry, doubled before each next (up to 60)"
    )


class Session:
    """The connection the source reads one database over, opened on demand and replaced when lost."""

    def __init__(self, engine: Engine, retry: RetrySettings, *, text: Text, warn: Callable[[str], None]) -> None:
        self.engine = engine
        self.retry = retry
        self._text = text
        self._warn = warn
        self._connection: Connection | None = None

    def open(self) -> Connection:
        """The current connection, opened now if there is none (once, without retries)."""
        if self._connection is None:
            self._connection = connect(self.engine, self._text)
        return self._connection

    def run(self, what: str, work: Callable[[Connection], T], *, retry_timeouts: bool = True) -> T:
        """``work(connection)``; if the connection is lost (or, with ``retry_timeouts``, a statement times out or
        waits too long for a lock) ``work`` runs again on a new connection. Other errors are raised as they are."""
        attempt = 1
        while True:
            try:
                return work(self.open())
            except (SqlAuthenticationError, SqlConfigurationError):
                raise
            except Exception as error:
                reason = self._reason(error, retry_timeouts)
                if reason is None:
                    raise
                self.discard()
                detail = str(error) if isinstance(error, SqlUnavailableError) else self._text(error)
                if attempt == self.retry.attempts:
                    tries = f" ({attempt} attempts, each on a new connection)" if attempt > 1 else ""
                    raise SqlUnavailableError(f"{what} failed: {reason}{tries}: {detail}") from None
                delay = min(self.retry.backoff * 2 ** (attempt - 1), MAX_DELAY)
                self._warn(
                    f"{what}: {reason} ({detail}); trying again on a new connection in {delay:g} s"
                    f" (attempt {attempt + 1} of {self.retry.attempts})"
                )
                time.sleep(delay)
                attempt += 1

    def discard(self) -> None:
        """Drop the current connection (it is dead, or no longer trusted); the next ``open`` makes a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:  # a dead connection may fail to close; nothing is lost
                pass

    def close(self) -> None:
        """Close the connection, if one is open."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    @staticmethod
    def _reason(error: BaseException, retry_timeouts: bool) -> str | None:
        """Why a new try may help: the connection was lost, could not be reopened, or a statement timed out or waited
        too long for a lock."""
        if isinstance(error, SqlUnavailableError):
            return "cannot reconnect"
        found = fault(error)
        if found is Fault.LOST or (found in (Fault.TIMEOUT, Fault.LOCKED) and retry_timeouts):
            return found.value
        return None


def connect(engine: Engine, text: Text) -> Connection:
    """An autocommit connection: a failed catalog query does not spoil the next one. Refused credentials and a
    database the server does not have are not retried: the settings must change."""
    try:
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except Exception as error:
        where = f"cannot connect to {render(engine.url)}"
        if refuses_credentials(error):
            raise SqlAuthenticationError(f"{where}: {text(error)}") from None
        if unknown_database(error):
            raise SqlConfigurationError(
                f"{where}: the server has no database {engine.url.database!r}: check the database the URL or"
                f" connection names ({text(error)})"
            ) from None
        raise SqlUnavailableError(f"{where}: {text(error)}") from None
