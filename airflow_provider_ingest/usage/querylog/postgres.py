"""The ``postgres_query_log`` source: queries from PostgreSQL's ``pg_stat_statements``.

``pg_stat_statements`` keeps, per role, database and normalized statement, the number of calls and the
total execution time since its statistics were last reset; it keeps no time per call. One ``query``
record is emitted per entry, with ``calls`` and the mean duration of a call. With ``since`` the source
keeps a snapshot of every entry's counters and emits only the difference: the calls made since the
last successful run (an entry reset or evicted since then counts from zero).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_ingest.usage.querylog.common import (
    OWN_MARKER,
    DatabaseQueryLogConfig,
    DatabaseQueryLogSource,
    QueryLogSetupError,
    Snapshot,
    invalid,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from airflow_provider_ingest.records.usage import Query

HIDDEN = "<insufficient privilege>"
"""What ``pg_stat_statements`` shows instead of another role's query to a role without ``pg_read_all_stats``."""
PRELOAD = "add 'pg_stat_statements' to shared_preload_libraries in postgresql.conf and restart PostgreSQL"

SETUP = f"""{OWN_MARKER} SELECT current_database(), current_user,
 (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user),
 pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE'),
 (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
  WHERE e.extname = 'pg_stat_statements'),
 EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'pg_stat_statements'),
 current_setting('pg_stat_statements.track', true)"""
COLUMNS = f"""{OWN_MARKER} SELECT attname FROM pg_catalog.pg_attribute
 WHERE attrelid = CAST(:view AS regclass) AND attnum > 0 AND NOT attisdropped"""


class PostgresQueryLogConfig(DatabaseQueryLogConfig):
    window_refusal: ClassVar[str | None] = (
        "pg_stat_statements keeps counters per statement, not the time each query ran; use since to read only"
        " the calls made since the last successful run"
    )


class PostgresQueryLogSource(DatabaseQueryLogSource):
    """Reads ``pg_stat_statements`` (every database of the server), its calls since the last run with ``since``."""

    type_name = "postgres_query_log"
    config_class = PostgresQueryLogConfig
    config: PostgresQueryLogConfig
    dialect = "postgresql"
    backends: ClassVar[tuple[str, ...]] = ("postgresql",)

    def _options(self) -> dict[str, Any]:
        # psycopg2's hstore probe would be a query of this source that carries no marker
        return {"use_native_hstore": False} if self.url.get_driver_name() == "psycopg2" else {}

    def check(self, connection: Connection) -> None:
        """The extension is created in the URL's database, loaded by the server, and the role reads every query."""
        from sqlalchemy import text

        database, role, superuser, reads_all, schema, available, track = connection.execute(text(SETUP)).one()
        if schema is None:
            if not available:
                raise QueryLogSetupError(
                    "the PostgreSQL server has no pg_stat_statements extension: install PostgreSQL's contrib"
                    f" package on it, then {PRELOAD}, and run CREATE EXTENSION pg_stat_statements; in database"
                    f" {database!r}"
                )
            raise QueryLogSetupError(
                f"pg_stat_statements is not created in database {database!r} (the one the source connects to):"
                " run CREATE EXTENSION pg_stat_statements; in it as a superuser (or the database owner), and make"
                f" sure the server loads it: {PRELOAD}"
            )
        quote = connection.dialect.identifier_preparer.quote
        self.view = f"{quote(schema)}.pg_stat_statements"
        self._probe(connection, database, role)
        if not (superuser or reads_all):
            raise QueryLogSetupError(
                f"role {role!r} lacks pg_read_all_stats: pg_stat_statements shows it other roles' queries as"
                f" {HIDDEN!r}. Run GRANT pg_read_all_stats TO {quote(role)}; as a superuser"
            )
        columns = {name for (name,) in connection.execute(text(COLUMNS), {"view": self.view})}
        self.total_column = "total_exec_time" if "total_exec_time" in columns else "total_time"
        self.toplevel = "s.toplevel" if "toplevel" in columns else "true"
        info = connection.execute(
            text(f"{OWN_MARKER} SELECT to_regclass(:info) IS NOT NULL"), {"info": f"{self.view}_info"}
        )
        self.info = bool(info.scalar())
        if track == "none":
            self.warn("pg_stat_statements.track is 'none': the server records no statements (set it to 'top')")

    def _probe(self, connection: Connection, database: str, role: str) -> None:
        """Read the view once: it fails when the server does not preload the library, or the role may not read it."""
        from sqlalchemy import text

        from airflow_provider_ingest.sources.sql.connection import SqlConnectionError

        try:
            connection.execute(text(f"{OWN_MARKER} SELECT 1 FROM {self.view} LIMIT 1")).all()
        except Exception as error:
            if isinstance(error, SqlConnectionError) or not self._is_database_error(error):
                raise
            reason = self._text(error)
            if "shared_preload_libraries" in reason:
                raise QueryLogSetupError(
                    f"pg_stat_statements is created in database {database!r} but the server does not load it:"
                    f" {PRELOAD} (the server says: {reason})"
                ) from None
            if getattr(getattr(error, "orig", None), "pgcode", None) == "42501":
                raise QueryLogSetupError(
                    f"role {role!r} may not read {self.view}: run GRANT SELECT ON {self.view} TO"
                    f" {connection.dialect.identifier_preparer.quote(role)}; (the server says: {reason})"
                ) from None
            raise

    def _read(self, connection: Connection) -> tuple[datetime, datetime | None, int | None, list[Any]]:
        """The server's time, when the statistics were last reset, entries evicted so far, and every entry."""
        from sqlalchemy import text

        now = connection.execute(text(f"{OWN_MARKER} SELECT clock_timestamp()")).scalar_one()
        reset, dealloc = None, None
        if self.info:
            reset, dealloc = connection.execute(
                text(f"{OWN_MARKER} SELECT stats_reset, dealloc FROM {self.view}_info")
            ).one()
        rows = connection.execute(
            text(
                f"{OWN_MARKER} SELECT s.userid, s.dbid, s.queryid, {self.toplevel} AS toplevel, r.rolname,"
                f" d.datname, s.query, s.calls, s.{self.total_column} AS total_ms FROM {self.view} s"
                " LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.userid"
                " LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid"
            )
        ).all()
        return now, reset, dealloc, rows

    def _queries(self, snapshot: Snapshot) -> Iterator[Query]:
        now, reset, dealloc, rows = self.session.run("reading pg_stat_statements", self._read)
        snapshot.taken_at = now
        snapshot.data = {"stats_reset": reset.isoformat() if reset else None, "dealloc": dealloc, "entries": {}}
        before, since = self._baseline(reset, dealloc)
        entries: dict[str, list[float]] = snapshot.data["entries"]
        for row in rows:
            key = f"{row.userid}/{row.dbid}/{row.queryid}/{int(bool(row.toplevel))}"
            calls, total = int(row.calls), float(row.total_ms or 0.0)
            entries[key] = [calls, total]
            previous = before.get(key)
            if previous is not None and calls >= previous[0] and total >= previous[1]:
                calls, total = calls - int(previous[0]), total - previous[1]
            if calls <= 0:
                self.report.count("unchanged")
                continue
            where = f"the entry of role {row.rolname or row.userid} in database {row.datname or row.dbid}"
            if row.query is None or row.query == HIDDEN:
                why = "hidden from this role" if row.query else "not available (the server could not read it)"
                self.fail(f"{where}: its query text is {why}", raw=key)
                continue
            text = self.masked(row.query.strip())
            if not self.kept(text, row.rolname, row.datname):
                continue
            try:
                yield self.query(
                    text=text,
                    database=row.datname,
                    user=row.rolname,
                    start_time=since,
                    duration_ms=max(total, 0.0) / calls,
                    calls=calls,
                )
            except ValueError as error:  # a record that does not validate
                self.fail(f"{where}: {invalid(error)}", raw=text)

    def _baseline(self, reset: datetime | None, dealloc: int | None) -> tuple[dict[str, list[float]], datetime | None]:
        """The counters to subtract, and the earliest time the calls counted now can have been made."""
        base = self.baseline
        if base is None:
            return {}, reset
        if reset is not None and reset > base.taken_at:
            self.warn(
                f"pg_stat_statements was reset at {reset.isoformat()}, after the last run"
                f" ({base.taken_at.isoformat()}): the calls made between them are lost; counting from the reset"
            )
            return {}, reset
        evicted = dealloc - base.data["dealloc"] if dealloc is not None and base.data.get("dealloc") is not None else 0
        if evicted > 0:
            self.warn(
                f"pg_stat_statements evicted its least-used entries {evicted} time(s) since the last run: calls of"
                " evicted statements may be missing or counted short (raise pg_stat_statements.max)"
            )
        return base.data.get("entries", {}), base.taken_at
