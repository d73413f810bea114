"""Usage and lineage published to OpenMetadata: one code path for the sink and the bulk sink.

Records name tables by FQN; OpenMetadata's usage, joins and lineage endpoints take table ids, so ids are
resolved by FQN (``GET /api/v1/tables/name/{fqn}?fields=columns``), once per table, kept in a bounded LRU cache
with the table's column names. A ``table_usage`` record becomes a ``POST /api/v1/usage/table/{id}`` (skipped when
the server already holds that count for the day: OpenMetadata replaces the table's count but adds it again to the
schema's and database's), a ``PUT /api/v1/tables/{id}/joins`` (each pair's count for the day replaced) and a
``PUT /api/v1/queries`` per frequent query; a ``lineage`` record a ``PUT /api/v1/lineage``; a ``query`` record a
``PUT /api/v1/queries``. A query is merged with what the server holds (``GET /api/v1/queries/name/{fqn}``): a
``PUT`` replaces its users and the tables it is used in, so the union of both is sent, and nothing when the
union adds nothing. A table or column that OpenMetadata lacks fails the record that needs it, with its FQN.
"""

from __future__ import annotations

import datetime
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_ingest.breaker import CircuitBreaker, NotAttempted
from airflow_provider_ingest.errors import AuthenticationError, InputError
from airflow_provider_ingest.records import Lineage, Query, Record, TableUsage, fqn, query_checksum

if TYPE_CHECKING:
    from airflow_provider_ingest.openmetadata.sink import Outcome, Publisher

USAGE_KINDS = ("lineage", "query", "table_usage")
"""The record kinds published here, after the catalog's."""
CACHE_SIZE = 50_000
"""Tables whose id and column names are kept (those OpenMetadata lacks too): a few MB."""
JOIN_DAYS = 29
"""Joins of days at most this many days ago are sent: OpenMetadata takes the last 30 days (``dateInRange(date,
0, 30)`` by the server's clock), one day is left for a server in another timezone."""
WINDOW_DAYS = 30
"""Days of usage one ``GET /api/v1/usage/table/{id}`` reads at most."""
QUERY_TYPES = {
    "select": "SELECT",
    "insert": "INSERT",
    "update": "UPDATE",
    "delete": "DELETE",
    "merge": "MERGE",
    "create_table_as": "CREATE_TABLE_AS_SELECT",
    "create_view": "CREATE_VIEW",
}
"""``query_type`` as OpenMetadata's connectors send it (its lifecycle reads SELECT, INSERT, CREATE...)."""
LOCK_STRIPES = 64
MISSING = "not in OpenMetadata: publish the catalog first"


class NotInOpenMetadata(InputError):
    """A table or column a record names is not in OpenMetadata; the message names it."""


@dataclass(frozen=True)
class TableRef:
    """A table on the server: its id, its FQN and its column names."""

    id: str
    fqn: str
    columns: frozenset[str]

    def reference(self) -> dict[str, str]:
        return {"id": self.id, "type": "table"}


class TableIds:
    """Table ids by FQN, looked up once each and kept in an LRU cache of ``size`` tables (absent ones too);
    thread-safe, and a table is looked up once even when several threads need it."""

    def __init__(self, publisher: Publisher, size: int = CACHE_SIZE) -> None:
        self.publisher = publisher
        self.size = size
        self.lookups = 0
        self._cache: OrderedDict[str, TableRef | None] = OrderedDict()
        self._lock = threading.Lock()

    def resolve(self, names: Iterable[str]) -> dict[str, TableRef | Exception | None]:
        """Each table FQN's table, None when the server has none, or the error that stopped its lookup."""
        found: dict[str, TableRef | Exception | None] = {}
        with self._lock:  # held over the lookups: a table is looked up once, whoever needs it
            for name in names:
                if name in self._cache:
                    self._cache.move_to_end(name)
                    found[name] = self._cache[name]
                    continue
                try:
                    table = self._lookup(name)
                except Exception as error:
                    found[name] = error
                    continue
                found[name] = self._cache[name] = table
                if len(self._cache) > self.size:
                    self._cache.popitem(last=False)
        return found

    def _lookup(self, name: str) -> TableRef | None:
        breaker = self.publisher.breaker
        _stop_if_open(breaker)
        try:
            self.lookups += 1
            answer = self.publisher.client.find_by_name("tables", name, fields="columns")
        except Exception as error:
            breaker.failed(error)
            raise
        breaker.succeeded()
        if not isinstance(answer, dict) or "id" not in answer:
            return None
        columns = frozenset(str(column.get("name")) for column in answer.get("columns") or [])
        return TableRef(str(answer["id"]), str(answer.get("fullyQualifiedName") or name), columns)


@dataclass
class _QueryPart:
    """One query, merged from every record of a batch that names it."""

    text: str
    service: str
    tables: dict[str, TableRef] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    date: int | None = None
    duration_ms: float | None = None
    query_type: str | None = None
    records: list[Record] = field(default_factory=list)

    def add(self, record: Record, users: Iterable[str], date: int | None, duration: float | None, kind: str) -> None:
        self.records.append(record)
        self.users.update(user for user in users if user)
        if date is not None and (self.date is None or date >= self.date):
            self.date = date
            self.duration_ms = duration if duration is not None else self.duration_ms
        self.query_type = self.query_type or QUERY_TYPES.get(kind)


class UsagePublisher:
    """Publishes ``table_usage``, ``lineage`` and ``query`` records for one component; thread-safe.

    Shares the :class:`~airflow_provider_ingest.openmetadata.sink.Publisher`'s client, circuit breaker and
    omission counts, so that refused credentials or an unreachable server stop both alike.
    """

    def __init__(self, publisher: Publisher, cache_size: int = CACHE_SIZE) -> None:
        self.publisher = publisher
        self.client = publisher.client
        self.breaker = publisher.breaker
        self.component = publisher.component
        self.features = publisher.mapper.features
        self.omissions = publisher.mapper.omissions
        self.tables = TableIds(publisher, cache_size)
        self.usage_posted = False
        self._users: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._query_locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def publish_batch(self, records: Sequence[Record]) -> list[Outcome]:
        """Publish usage, lineage and query records; each one's outcome (None: published), in order.

        A record fails when a table or column it needs is not in OpenMetadata, or when any request it needs
        is refused; a query shared by several records fails them all.
        """
        failed: dict[int, Exception] = {}
        needed: dict[int, set[str]] = {}
        for record in records:
            try:
                needed[id(record)] = _tables_named(record)
            except Exception as error:
                failed[id(record)] = InputError(f"{record.fqn}: {error}")
        names = set().union(*needed.values()) if needed else set()
        refs = self.tables.resolve(sorted(names))
        queries: dict[tuple[str, str], _QueryPart] = {}
        edges: dict[tuple[str, str], list[Lineage]] = {}
        usages: list[TableUsage] = []
        for record in records:
            if id(record) in failed:
                continue
            try:
                _stop_if_open(self.breaker)
                _check_tables(record, refs)
                if isinstance(record, Lineage):
                    edges.setdefault((record.from_table, record.to_table), []).append(record)
                elif isinstance(record, TableUsage):
                    usages.append(record)
                    self._usage_queries(record, refs, queries)
                elif isinstance(record, Query):
                    self._query_record(record, refs, queries)
                else:
                    raise InputError(f"{record.kind} records are not usage or lineage")
            except Exception as error:
                failed[id(record)] = error
        self._usages(usages, refs, failed)
        for group in edges.values():
            self._lineage(group, refs, failed)
        for part in queries.values():
            self._query(part, failed)
        return [(record, self._counted(failed.get(id(record)))) for record in records]

    def _counted(self, error: Exception | None) -> Exception | None:
        """A record's error; a record not attempted is counted as such (once) and says why."""
        return self.breaker.skip() if isinstance(error, NotAttempted) else error

    def finish(self) -> None:
        """After the last record: have OpenMetadata rank tables and databases by usage, as its own usage
        workflow does, if usage was published; a failure is a warning."""
        if not self.usage_posted or self.breaker.open:
            return
        today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
        for entity in ("table", "database"):
            try:
                self.client.post(f"/api/v1/usage/compute.percentile/{entity}/{today}", {})
            except Exception as error:
                self.component.warn(f"OpenMetadata did not compute the usage percentiles of {entity}s: {error}")

    # table usage

    def _usages(self, usages: list[TableUsage], refs: dict[str, Any], failed: dict[int, Exception]) -> None:
        """Usage counts (one read of the server's counts per table and 30 days), then joins, record by record."""
        dates: dict[str, set[datetime.date]] = {}
        for record in usages:
            dates.setdefault(record.table, set()).add(record.date)
        held: dict[str, dict[str, int] | Exception] = {}
        for name, days in dates.items():
            try:
                held[name] = self._held_usage(refs[name], days)
            except Exception as error:
                held[name] = error
        for record in usages:
            try:
                _stop_if_open(self.breaker)
                counts = held[record.table]
                if isinstance(counts, Exception):
                    raise counts
                self._post_usage(record, refs[record.table], counts)
                self._joins(record, refs)
            except Exception as error:
                failed[id(record)] = error

    def _held_usage(self, table: TableRef, days: set[datetime.date]) -> dict[str, int]:
        """The table's usage count the server holds for each of ``days`` (30 days a request)."""
        held: dict[str, int] = {}
        remaining = sorted(days, reverse=True)
        while remaining:
            last = remaining[0]
            window = [day for day in remaining if (last - day).days < WINDOW_DAYS]
            span = (last - window[-1]).days + 1
            answer = self._request("GET", f"/api/v1/usage/table/{table.id}?date={last.isoformat()}&days={span}")
            for item in answer.get("usage") or [] if isinstance(answer, dict) else []:
                stats = item.get("dailyStats") if isinstance(item, dict) else None
                if isinstance(stats, dict) and isinstance(stats.get("count"), int):
                    held[str(item.get("date"))] = stats["count"]
            remaining = remaining[len(window) :]
        return held

    def _post_usage(self, record: TableUsage, table: TableRef, held: dict[str, int]) -> None:
        day = record.date.isoformat()
        if held.get(day) == record.count:
            self._count("usage_unchanged")
            return
        self._request("POST", f"/api/v1/usage/table/{table.id}", {"date": day, "count": record.count})
        self.usage_posted = True
        self._count("usage_published")

    def _joins(self, record: TableUsage, refs: dict[str, Any]) -> None:
        """``PUT /api/v1/tables/{id}/joins`` with the record's column joins, and the joined tables without a column
        pair as direct joins; joins with what OpenMetadata lacks are left out, counted."""
        if not record.column_joins and not record.joined_tables:
            return
        from airflow_provider_ingest.openmetadata.omissions import Tally

        tally = Tally()
        age = (datetime.datetime.now(datetime.timezone.utc).date() - record.date).days
        if not 0 <= age <= JOIN_DAYS:
            tally.add("joins_out_of_range")
            self.omissions.add(f"{record.fqn} joins", tally)
            return
        table: TableRef = refs[record.table]
        column_joins, paired = [], set()
        for join in record.column_joins:
            if join.column not in table.columns:
                tally.add("join_not_in_openmetadata", name=fqn.build(*fqn.split(table.fqn), join.column))
                continue
            joined = []
            for other in join.joined_with:
                found = _column(other.column, refs)
                if found is None:
                    tally.add("join_not_in_openmetadata", name=other.column)
                    continue
                paired.add(found[0].fqn)
                joined.append({"fullyQualifiedName": other.column, "joinCount": other.count})
            if joined:
                column_joins.append({"columnName": join.column, "joinedWith": joined})
        direct = []
        for other in record.joined_tables:
            ref = refs.get(other.table)
            if not isinstance(ref, TableRef):
                tally.add("join_not_in_openmetadata", name=other.table)
            elif ref.fqn not in paired and ref.fqn != table.fqn:
                direct.append({"fullyQualifiedName": ref.fqn, "joinCount": other.count})
        self.omissions.add(f"{record.fqn} joins", tally)
        if column_joins or direct:
            body = {"startDate": record.date.isoformat(), "dayCount": 1, "columnJoins": column_joins}
            body["directTableJoins"] = direct
            self._request("PUT", f"/api/v1/tables/{table.id}/joins", body)
            self._count("joins_published")

    # queries

    def _usage_queries(self, record: TableUsage, refs: dict[str, Any], queries: dict[Any, _QueryPart]) -> None:
        from airflow_provider_ingest.openmetadata.omissions import Tally

        table: TableRef = refs[record.table]
        service = fqn.split(record.table)[0]
        date = _millis(record.date)
        tally = Tally()
        for query in record.queries:
            part = queries.setdefault((service, query_checksum(query.text)), _QueryPart(query.text, service))
            part.tables[table.id] = table
            part.add(record, query.users, date, query.duration_ms, query.query_type)
            tally.add("query_count")
        self.omissions.add(f"{record.fqn} queries", tally)

    def _query_record(self, record: Query, refs: dict[str, Any], queries: dict[Any, _QueryPart]) -> None:
        from airflow_provider_ingest.openmetadata.omissions import Tally

        part = queries.setdefault(
            (record.service, query_checksum(record.text)), _QueryPart(record.text, record.service)
        )
        tally = Tally()
        analysis = record.analysis
        for name in [*analysis.source_tables, *analysis.target_tables] if analysis else []:
            ref = refs.get(name)
            if isinstance(ref, TableRef):
                part.tables[ref.id] = ref
            else:
                tally.add("query_table_not_in_openmetadata", name=name)
        if record.calls > 1:
            tally.add("query_count")
        self.omissions.add(f"{record.fqn} tables", tally)
        date = int(record.start_time.timestamp() * 1000) if record.start_time else None
        part.add(
            record,
            [record.user] if record.user else [],
            date,
            record.duration_ms,
            analysis.query_type if analysis else "other",
        )

    def _query(self, part: _QueryPart, failed: dict[int, Exception]) -> None:
        """Create or update one query, merged with what the server holds; its records fail if it is refused."""
        from airflow_provider_ingest.openmetadata.omissions import Tally

        records = [record for record in part.records if id(record) not in failed]
        if not records:
            return
        if not self.features.query_service:
            tally = Tally()
            tally.add("queries_unsupported")
            self.omissions.add(f"{part.service}.{query_checksum(part.text)}", tally)
            return
        try:
            _stop_if_open(self.breaker)
            name = fqn.build(part.service, query_checksum(part.text))
            with self._query_locks[hash(name) % LOCK_STRIPES]:  # GET and PUT of one query are not interleaved
                self._put_query(part, name)
        except Exception as error:
            for record in records:
                failed[id(record)] = _about_query(error, part)

    def _put_query(self, part: _QueryPart, name: str) -> None:
        from airflow_provider_ingest.openmetadata.omissions import Tally

        held = self._request_or_none("GET", f"/api/v1/queries/name/{_quote_path(name)}?fields=queryUsedIn,users")
        held = held if isinstance(held, dict) else {}
        tables = {ref["id"]: ref.get("type", "table") for ref in held.get("queryUsedIn") or [] if "id" in ref}
        users = {ref.get("fullyQualifiedName") or ref.get("name") for ref in held.get("users") or []} - {None}
        used_by = set(held.get("usedBy") or [])
        tally = Tally()
        new_tables = {table.id: "table" for table in part.tables.values()}
        new_users: set[str] = set()
        for user in sorted(part.users):
            found = self._user(user)
            if found is not None:
                new_users.add(found)
            else:
                tally.add("query_user_by_name", name=user)
        self.omissions.add(f"query {name}", tally)
        merged = ({**tables, **new_tables}, users | new_users, used_by | part.users)
        date = max(filter(None, (held.get("queryDate"), part.date)), default=None)
        if held and merged == (tables, users, used_by) and date == held.get("queryDate"):
            self._count("queries_unchanged")
            return
        body: dict[str, Any] = {"query": part.text, "service": fqn.build(part.service)}
        if date is not None:
            body["queryDate"] = date
        if part.duration_ms is not None:
            body["duration"] = part.duration_ms * self.features.query_duration_scale
        if part.query_type:
            body["query_type"] = part.query_type
        body["queryUsedIn"] = [{"id": key, "type": kind} for key, kind in sorted(merged[0].items())]
        body["users"] = sorted(merged[1])
        body["usedBy"] = sorted(merged[2])
        status, _ = self._request_status("PUT", "/api/v1/queries", body)
        self._count("queries_created" if status == 201 else "queries_updated")

    def _user(self, name: str) -> str | None:
        """The FQN of the OpenMetadata user named ``name``, or None; looked up once per run."""
        if name not in self._users:
            found = self._request_or_none("GET", f"/api/v1/users/name/{_quote_path(name)}")
            user = found.get("fullyQualifiedName") or found.get("name") if isinstance(found, dict) else None
            with self._lock:
                self._users[name] = str(user) if user else None
        return self._users[name]

    # lineage

    def _lineage(self, group: list[Lineage], refs: dict[str, Any], failed: dict[int, Exception]) -> None:
        """One ``PUT /api/v1/lineage`` for the records of one edge in the batch, their column edges merged."""
        records = [record for record in group if id(record) not in failed]
        if not records:
            return
        try:
            _stop_if_open(self.breaker)
            source, target = refs[records[0].from_table], refs[records[0].to_table]
            columns: dict[str, set[str]] = {}
            for record in records:
                for edge in record.columns:
                    _column_of(edge.to_column, refs, target)
                    for column in edge.from_columns:
                        _column_of(column, refs, None)
                    columns.setdefault(edge.to_column, set()).update(edge.from_columns)
            details: dict[str, Any] = {}
            sql = next((record.sql for record in reversed(records) if record.sql), None)
            if sql:
                details["sqlQuery"] = sql
            if columns:
                details["columnsLineage"] = [
                    {"fromColumns": sorted(froms), "toColumn": to} for to, froms in sorted(columns.items())
                ]
            if self.features.lineage_source:
                view = any(record.source == "view" for record in records)
                details["source"] = "ViewLineage" if view else "QueryLineage"
            edge: dict[str, Any] = {"fromEntity": source.reference(), "toEntity": target.reference()}
            if details:
                edge["lineageDetails"] = details
            self._request("PUT", "/api/v1/lineage", {"edge": edge})
            self._count("lineage_published")
        except Exception as error:
            for record in records:
                failed[id(record)] = error

    # requests

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request_status(method, path, body)[1]

    def _request_status(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One request, through the circuit breaker."""
        _stop_if_open(self.breaker)
        try:
            if method == "POST":
                answer = self.client.post(path, body or {})
            elif method == "PUT":
                answer = self.client.put(path, body or {})
            else:
                answer = (200, self.client.request(method, path))
        except Exception as error:
            self.breaker.failed(error)
            raise
        self.breaker.succeeded()
        return answer

    def _request_or_none(self, method: str, path: str) -> Any:
        """A ``GET``'s answer, or None when the server answers 404."""
        from airflow_provider_ingest.openmetadata.client import RequestRejected

        try:
            return self._request(method, path)
        except RequestRejected as error:
            if error.status == 404:
                return None
            raise

    def _count(self, counter: str) -> None:
        with self._lock:
            self.component.report.count(counter)


def _tables_named(record: Record) -> set[str]:
    """The FQNs of every table a record names (its columns' tables too); raises for a name that is not an FQN."""
    if isinstance(record, Lineage):
        names = {_table_fqn(record.from_table), _table_fqn(record.to_table)}
        for edge in record.columns:
            names |= {_column_table(column) for column in [edge.to_column, *edge.from_columns]}
        return names
    if isinstance(record, TableUsage):
        names = {_table_fqn(record.table)} | {_table_fqn(joined.table) for joined in record.joined_tables}
        for join in record.column_joins:
            names |= {_column_table(other.column) for other in join.joined_with}
        return names
    if isinstance(record, Query) and record.analysis is not None:
        return {_table_fqn(name) for name in [*record.analysis.source_tables, *record.analysis.target_tables]}
    return set()


def _table_fqn(name: str) -> str:
    """``name`` as it stands, checked to be a table's FQN (four parts: service, database, schema, table)."""
    parts = fqn.split(name)
    if len(parts) != 4:
        raise ValueError(f"{name!r} is not a table's FQN (service.database.schema.table)")
    if fqn.build(*parts) != name:
        raise ValueError(f"{name!r} is not quoted as OpenMetadata quotes FQNs ({fqn.build(*parts)!r})")
    return name


def _column_table(column: str) -> str:
    """The FQN of a column's table (the column FQN has five parts)."""
    parts = fqn.split(column)
    if len(parts) != 5:
        raise ValueError(f"{column!r} is not a column's FQN (service.database.schema.table.column)")
    return _table_fqn(fqn.build(*parts[:4]))


def _check_tables(record: Record, refs: dict[str, Any]) -> None:
    """Raise for the record's own tables that the server lacks, or whose lookup failed."""
    if isinstance(record, Lineage):
        names = [record.from_table, record.to_table]
    elif isinstance(record, TableUsage):
        names = [record.table]
    else:
        names = []
    for name in names:
        found = refs.get(name)
        if isinstance(found, Exception):
            raise found
        if found is None:
            raise NotInOpenMetadata(f"table {name} {MISSING}")


def _column(column: str, refs: dict[str, Any]) -> tuple[TableRef, str] | None:
    """A column FQN's table and name, when the server has both."""
    parts = fqn.split(column)
    table = refs.get(fqn.build(*parts[:4]))
    if isinstance(table, Exception):
        raise table
    if isinstance(table, TableRef) and parts[4] in table.columns:
        return table, parts[4]
    return None


def _column_of(column: str, refs: dict[str, Any], table: TableRef | None) -> None:
    """Raise unless the server has ``column`` (in ``table``, if given)."""
    found = _column(column, refs)
    if table is not None and found is not None and found[0].id != table.id:
        raise NotInOpenMetadata(f"column {column} is not a column of {table.fqn}")
    if found is None:
        raise NotInOpenMetadata(f"column {column} {MISSING}")


def _stop_if_open(breaker: CircuitBreaker) -> None:
    """Raise :class:`NotAttempted` when the breaker is open, uncounted: each record is counted once, at the end."""
    if breaker.open:
        raise NotAttempted("not attempted")


def _about_query(error: Exception, part: _QueryPart) -> Exception:
    """The error of a refused query, naming it, for each of its records."""
    from airflow_provider_ingest.openmetadata.client import RequestRejected

    if isinstance(error, RequestRejected) and not isinstance(error, AuthenticationError):
        return RequestRejected(error.status, f"query {query_checksum(part.text)}: {error.server_message}")
    return error


def _millis(day: datetime.date) -> int:
    """Midnight UTC of ``day``, in epoch milliseconds (OpenMetadata's ``timestamp``)."""
    return int(datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc).timestamp() * 1000)


def _quote_path(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
