"""Which database errors a new try may cure: a lost connection, a statement or lock wait timeout; and which it cannot:
bad credentials, a database that does not exist.

Checked on SQLAlchemy's wrapped errors (``DBAPIError.connection_invalidated``) and on the driver's own (psycopg's
and psycopg2's SQLSTATE codes, PyMySQL's error numbers, sqlite3's result codes), so an error raised past SQLAlchemy
is recognized too.
"""

from __future__ import annotations

import re
from enum import Enum


class Fault(Enum):
    """Why a retry on a new connection may succeed."""

    LOST = "connection lost"
    TIMEOUT = "statement timeout"
    LOCKED = "lock wait timeout (a table or view is locked: a migration, LOCK TABLE, REFRESH MATERIALIZED VIEW?)"


PG_LOST_STATES = {"57P01", "57P02", "57P03", "57P04", "57P05"}
"""admin_shutdown (``pg_terminate_backend``), crash_shutdown, cannot_connect_now, database_dropped, idle timeout."""
PG_TIMEOUT_STATES = {"57014", "25P03"}
"""query_canceled (``statement_timeout``, ``pg_cancel_backend``), idle_in_transaction_session_timeout."""
PG_LOCKED_STATES = {"55P03"}
"""lock_not_available (``lock_timeout``)."""
PG_AUTH_STATES = {"28000", "28P01"}
"""invalid_authorization_specification (no pg_hba.conf entry, an unknown role), invalid_password."""
PG_REFUSED = re.compile(r'password authentication failed|no pg_hba\.conf entry|role ".*" does not exist')
"""What libpq says when the server refuses a login (a connection's error has no SQLSTATE)."""
PG_UNKNOWN_DATABASE = re.compile(r'database "(.*)" does not exist')
"""invalid_catalog_name (3D000) as libpq says it when connecting, where the error has no SQLSTATE."""
PG_LOST_MESSAGES = (
    "server closed the connection",
    "terminating connection",
    "connection already closed",
    "could not receive data from server",
    "could not send data to server",
    "ssl connection has been closed",
    "lost synchronization with server",
    "connection not open",
    "cursor already closed",
    "no connection to the server",
)
MYSQL_LOST_CODES = {1053, 1927, 2006, 2013, 2014, 2045, 2055, 4031}
"""Server shutdown, MariaDB's "Connection was killed", "server has gone away", "Lost connection"..."""
MYSQL_TIMEOUT_CODES = {1317, 1969, 3024}
"""Query interrupted (``KILL QUERY``), MariaDB's ``max_statement_time``, MySQL's ``max_execution_time``."""
MYSQL_LOCKED_CODES = {1205}
"""Lock wait timeout exceeded (``lock_wait_timeout``, ``innodb_lock_wait_timeout``)."""
SQLITE_LOCKED_CODES = {5, 6}
"""SQLITE_BUSY ("database is locked": another connection writes, and the driver's busy timeout ran out) and
SQLITE_LOCKED, as the primary codes of the extended ones."""
MYSQL_AUTH_CODES = {1044, 1045, 1698}
"""Access denied to the database, access denied for the user (a wrong password), no password for a socket login."""
MYSQL_UNKNOWN_DATABASE = 1049
"""Unknown database."""


def fault(error: BaseException) -> Fault | None:
    """Whether ``error`` is a lost connection, a statement timeout or a lock wait timeout; None for any other error."""
    if getattr(error, "connection_invalidated", False):
        return Fault.LOST
    original = getattr(error, "orig", None) or error
    if isinstance(original, (ConnectionError, EOFError)):
        return Fault.LOST
    state = pg_state(original)
    if state is not None or _is_libpq(original):
        if state in PG_TIMEOUT_STATES:
            return Fault.TIMEOUT
        if state in PG_LOCKED_STATES:
            return Fault.LOCKED
        if state in PG_LOST_STATES or (state or "").startswith("08"):
            return Fault.LOST
        first_line = _first_line(original).lower()
        if any(message in first_line for message in PG_LOST_MESSAGES):
            return Fault.LOST
        return None
    if type(original).__module__ == "sqlite3":
        code = getattr(original, "sqlite_errorcode", None)
        return Fault.LOCKED if isinstance(code, int) and code & 0xFF in SQLITE_LOCKED_CODES else None
    code = mysql_code(original)
    if code in MYSQL_TIMEOUT_CODES:
        return Fault.TIMEOUT
    if code in MYSQL_LOCKED_CODES:
        return Fault.LOCKED
    if code in MYSQL_LOST_CODES or (code == 0 and type(original).__name__ == "InterfaceError"):
        return Fault.LOST
    return None


def refuses_credentials(error: BaseException) -> bool:
    """Whether the server refused to log in with these credentials (a retry cannot help)."""
    original = getattr(error, "orig", None) or error
    if pg_state(original) in PG_AUTH_STATES or mysql_code(original) in MYSQL_AUTH_CODES:
        return True
    return _is_libpq(original) and PG_REFUSED.search(_first_line(original)) is not None


def unknown_database(error: BaseException) -> bool:
    """Whether the server has no database of the name connected to (a retry cannot help: the URL is wrong)."""
    original = getattr(error, "orig", None) or error
    if mysql_code(original) == MYSQL_UNKNOWN_DATABASE or pg_state(original) == "3D000":
        return True
    return _is_libpq(original) and PG_UNKNOWN_DATABASE.search(_first_line(original)) is not None


def _first_line(error: BaseException) -> str:
    return str(error).partition("\n")[0]


def _is_libpq(error: BaseException) -> bool:
    """An error of psycopg2 or psycopg (3), the PostgreSQL drivers over libpq."""
    return type(error).__module__.startswith("psycopg")


def pg_state(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg2 (``pgcode``) or psycopg (``sqlstate``) error; None for a connection's error (and for
    another driver's: PyMySQL's errors have a ``sqlstate`` too)."""
    return getattr(error, "pgcode", None) or (getattr(error, "sqlstate", None) if _is_libpq(error) else None)


def mysql_code(error: BaseException) -> int | None:
    """PyMySQL's error number (its first argument), of its own error or of SQLAlchemy's wrapping one."""
    error = getattr(error, "orig", None) or error
    if not type(error).__module__.startswith("pymysql"):
        return None
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
