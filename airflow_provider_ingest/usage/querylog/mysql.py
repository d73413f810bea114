"""The ``mysql_query_log`` source: statement digests from MariaDB/MySQL ``performance_schema``.

``performance_schema.events_statements_summary_by_digest`` keeps, per default database (``SCHEMA_NAME``) and
normalized statement (``DIGEST``), the number of calls, their total time in picoseconds, and when the digest
was first and last seen. One ``query`` record is emitted per digest. Digests do not record who ran them:
``user`` is None, and ``user_filter`` is refused. A digest's lists of values (``IN (...)``, several rows of
``VALUES``) are written ``(?)``, as SQL parsers read them. With ``since`` the source keeps a snapshot of each
digest's counters and emits only the calls made since the last successful run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from airflow_provider_ingest.usage.querylog.common import (
    DatabaseQueryLogConfig,
    DatabaseQueryLogSource,
    QueryLogSetupError,
    Snapshot,
    invalid,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from airflow_provider_ingest.records.usage import Query

DIGESTS = "performance_schema.events_statements_summary_by_digest"
CONSUMERS = ("global_instrumentation", "statements_digest")
"""The consumers the digest summary needs (``statements_digest`` depends on ``global_instrumentation``)."""
PICOSECONDS_PER_MS = 1_000_000_000
_VALUE_LIST = re.compile(r"\(\s*\.\.\.\s*\)")
_MORE_ROWS = re.compile(r"\s*/\*\s*,\s*\.\.\.\s*\*/")


class MysqlQueryLogConfig(DatabaseQueryLogConfig):
    window_refusal: ClassVar[str | None] = (
        "statement digests keep counters per statement, not the time each call was made; use since to read"
        " only the calls made since the last successful run"
    )
    user_refusal: ClassVar[str | None] = "performance_schema statement digests do not record the user"

    database_name: str = Field(
        default="default",
        min_length=1,
        description="the database level of the records' names, as the sql source's (MySQL has none of its own);"
        " a digest's default database (SCHEMA_NAME) is the query's schema",
    )
    query_text: Literal["digest", "sample"] = Field(
        default="digest",
        description="digest: DIGEST_TEXT (normalized, no literal values); sample: QUERY_SAMPLE_TEXT (MySQL 8:"
        " one real call, literal values included), the digest where there is none",
    )


class MysqlQueryLogSource(DatabaseQueryLogSource):
    """Reads the statement digests of a MariaDB or MySQL server (every database), their new calls with ``since``."""

    type_name = "mysql_query_log"
    config_class = MysqlQueryLogConfig
    config: MysqlQueryLogConfig
    dialect = "mysql"
    backends: ClassVar[tuple[str, ...]] = ("mysql", "mariadb")

    def check(self, connection: Connection) -> None:
        """performance_schema is on, the role may read the digests, and the digest consumers are enabled."""
        from sqlalchemy import text

        enabled, version, account = connection.execute(
            text("SELECT @@performance_schema, VERSION(), CURRENT_USER()")
        ).one()
        self.dialect = "mariadb" if "mariadb" in str(version).lower() else "mysql"
        if not int(enabled):
            raise QueryLogSetupError(
                f"performance_schema is OFF on the server ({version}): it can only be turned on at startup; set"
                " performance_schema=ON in the [mysqld] section of the server's configuration and restart it"
            )
        grantee = _grantee(str(account))
        try:
            names = connection.execute(text(f"SELECT * FROM {DIGESTS} LIMIT 0")).keys()  # a privilege check too
            columns = {str(name).upper() for name in names}
            consumers = dict(
                connection.execute(
                    text(
                        "SELECT NAME, ENABLED FROM performance_schema.setup_consumers"
                        " WHERE NAME IN ('global_instrumentation', 'statements_digest')"
                    )
                ).all()
            )
            instruments = connection.execute(
                text(
                    "SELECT COUNT(*) FROM performance_schema.setup_instruments"
                    " WHERE NAME LIKE 'statement/sql/%' AND ENABLED = 'YES'"
                )
            ).scalar_one()
        except Exception as error:
            from airflow_provider_ingest.sources.sql.faults import mysql_code

            if mysql_code(error) in (1142, 1044, 1227):  # SELECT command denied, access denied to the database
                raise QueryLogSetupError(
                    f"{grantee} may not read performance_schema: run GRANT SELECT ON performance_schema.* TO"
                    f" {grantee}; (the server says: {self._text(error)})"
                ) from None
            raise
        disabled = [name for name in CONSUMERS if str(consumers.get(name, "NO")).upper() != "YES"]
        if disabled:
            names = ", ".join(f"'{name}'" for name in disabled)
            are = "s are" if len(disabled) > 1 else " is"
            raise QueryLogSetupError(
                f"the performance_schema consumer{are} disabled ({names}), so no statement digests are collected:"
                " run UPDATE performance_schema.setup_consumers"
                f" SET ENABLED = 'YES' WHERE NAME IN ({names}); (until the restart) and set"
                f" {' and '.join(f'performance_schema_consumer_{name}=ON' for name in disabled)} in the"
                " server's configuration"
            )
        if not instruments:
            raise QueryLogSetupError(
                "every statement instrument (statement/sql/%) is disabled, so no statement digests are"
                " collected: run UPDATE performance_schema.setup_instruments SET ENABLED = 'YES', TIMED = 'YES'"
                " WHERE NAME LIKE 'statement/%'; and set performance_schema_instrument='statement/%=ON' in the"
                " server's configuration"
            )
        self.sample = self.config.query_text == "sample" and "QUERY_SAMPLE_TEXT" in columns
        if self.config.query_text == "sample" and not self.sample:
            self.warn(f"query_text: sample: {version} keeps no QUERY_SAMPLE_TEXT; reading the digests' text")

    def _read(self, connection: Connection) -> tuple[Decimal, list[Any]]:
        """The server's time (seconds since the epoch) and every digest."""
        from sqlalchemy import text

        now = connection.execute(text("SELECT UNIX_TIMESTAMP(NOW(6))")).scalar_one()
        sample = "QUERY_SAMPLE_TEXT" if self.sample else "NULL"
        rows = connection.execute(
            text(
                f"SELECT SCHEMA_NAME, DIGEST, DIGEST_TEXT, {sample}, COUNT_STAR, SUM_TIMER_WAIT,"
                f" UNIX_TIMESTAMP(FIRST_SEEN) FROM {DIGESTS}"
            )
        ).all()
        return now, rows

    def _queries(self, snapshot: Snapshot) -> Iterator[Query]:
        now, rows = self.session.run("reading the statement digests", self._read)
        snapshot.taken_at = _time(now)
        snapshot.data = {"entries": {}}
        entries: dict[str, list[int]] = snapshot.data["entries"]
        base = self.baseline
        before: dict[str, list[int]] = base.data.get("entries", {}) if base is not None else {}
        lost = 0
        for schema, digest, digest_text, sample_text, count, timer, first_seen in rows:
            key = f"{schema or ''}/{digest or ''}"
            count, timer = int(count), int(timer)
            entries[key] = [count, timer]
            first = _time(first_seen)
            previous = before.get(key)
            since = first
            if base is not None and previous is not None and _continued(first, count, timer, previous, base):
                count, timer, since = count - previous[0], timer - previous[1], base.taken_at
            if count <= 0:
                self.report.count("unchanged")
                continue
            if digest is None:  # the row counting statements the full digest table could not hold
                lost += count
                continue
            text = self.masked((sample_text or readable(digest_text or "")).strip())
            where = f"digest {digest} in database {schema!r}"
            if not self.kept(text, None, schema):
                continue
            try:
                yield self.query(
                    text=text,
                    database=self.config.database_name,
                    database_schema=schema,
                    start_time=since,
                    duration_ms=timer / PICOSECONDS_PER_MS / count,
                    calls=count,
                )
            except ValueError as error:  # no text: a record that does not validate
                self.fail(f"{where}: {invalid(error)}", raw=key)
        if lost:
            self.warn(
                f"{lost} statement call(s) were not digested: the digest table is full"
                " (raise performance_schema_digests_size, or truncate the table after each run)"
            )

    def kept(self, text: str, user: str | None, database: str | None) -> bool:
        """Monitoring statements (on performance_schema: this source's own among them) are left out too; with
        literals masked, a value naming performance_schema does not make a statement one."""
        if "performance_schema" in text.lower():
            self.filtered("own_statements")
            return False
        return super().kept(text, user, database)


def readable(digest: str) -> str:
    """A digest text SQL parsers read: its lists of values, ``IN (...)`` and ``VALUES (...) /* , ... */``,
    become one parameter, ``(?)``."""
    return _VALUE_LIST.sub("(?)", _MORE_ROWS.sub("", digest))


def _continued(first: datetime, count: int, timer: int, previous: list[int], base: Snapshot) -> bool:
    """Whether a digest is the one the last run saw: not created again since (table truncated, entry evicted)."""
    recreated = first > base.taken_at.replace(microsecond=0)  # FIRST_SEEN has whole seconds on MariaDB
    return not recreated and count >= previous[0] and timer >= previous[1]


def _time(seconds: Decimal | float | int | None) -> datetime:
    """An aware UTC time from seconds since the epoch (as ``UNIX_TIMESTAMP`` gives them)."""
    return datetime.fromtimestamp(float(seconds or 0), tz=timezone.utc)


def _grantee(account: str) -> str:
    """``user@host`` as ``CURRENT_USER()`` gives it, quoted for a GRANT: ``'user'@'host'``."""
    user, _, host = account.rpartition("@")
    return f"'{user}'@'{host}'" if user else f"'{account}'"
