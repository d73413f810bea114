"""The ``table_usage`` stage: analysed queries aggregated per table and day, lineage merged per edge.

Memory holds one tally per table and day (users, joins, and a bounded set of frequent queries) and one
per lineage edge: it grows with the tables, never with the queries. The staged file holds the lineage
records, then one ``table_usage`` record per table and day, sorted, so the same queries give the same file.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pydantic import Field

from airflow_provider_ingest.api import ComponentConfig, Stage
from airflow_provider_ingest.components.file import Compression
from airflow_provider_ingest.records import (
    ColumnJoins,
    ColumnLineageEdge,
    FrequentQuery,
    JoinedColumn,
    JoinedTable,
    Lineage,
    Query,
    TableUsage,
    fqn,
    query_checksum,
)
from airflow_provider_ingest.records.usage import QueryType
from airflow_provider_ingest.usage.querylog.common import invalid

if TYPE_CHECKING:
    from airflow_provider_ingest.records import Record


class TableUsageConfig(ComponentConfig):
    path: str | None = Field(default=None, description="staged file to write; default: in the run's staging folder")
    compression: Compression = "auto"
    top_queries: int = Field(default=10, ge=0, le=1000, description="most frequent queries kept per table and day")
    query_capacity: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="distinct queries counted per table and day; beyond it the counts of the rarest are estimates",
    )
    max_users: int = Field(default=1000, ge=1, description="users listed per table and day (all are counted)")


@dataclass(slots=True)
class _Frequent:
    text: str
    count: int = 0
    error: int = 0
    """How much of ``count`` may belong to queries it replaced (the space-saving algorithm's over-estimate)."""
    users: set[str] = field(default_factory=set)
    duration_ms: float = 0.0
    timed: int = 0
    query_type: QueryType = "select"
    seq: int = 0
    """When it joined its tally (a tally's insertion order): of the rarest, the earliest is replaced."""


@dataclass(slots=True)
class _Tally:
    """One table's usage on one day."""

    count: int = 0
    users: set[str] = field(default_factory=set)
    joined: Counter[str] = field(default_factory=Counter)
    columns: dict[str, Counter[str]] = field(default_factory=dict)
    queries: dict[str, _Frequent] = field(default_factory=dict)
    rarest: list[tuple[int, int, str]] = field(default_factory=list)
    """A heap of (count, seq, checksum) of ``queries``: one entry per count a query had, stale ones dropped lazily."""
    joined_queries: int = 0


class TableUsageStage(Stage):
    """Aggregates analysed queries per table and day, and merges lineage records per edge, into a staged file."""

    type_name = "table_usage"
    config_class = TableUsageConfig
    config: TableUsageConfig

    def prepare(self) -> None:
        self.today = datetime.now(UTC).date()
        self.tallies: dict[tuple[str, date], _Tally] = {}
        self.edges: dict[tuple[str, str], Lineage] = {}
        self.columns: dict[tuple[str, str], dict[str, list[str]]] = {}

    def stage(self, record: Record) -> None:
        if isinstance(record, Lineage):
            self._edge(record)
        elif isinstance(record, Query) and record.analysis is not None:
            self._query(record)
        elif isinstance(record, Query):
            raise ValueError("query not analysed: put the query_parser processor before the table_usage stage")
        else:
            raise ValueError(f"the table_usage stage takes query and lineage records, not {record.kind}")

    def _query(self, query: Query) -> None:
        analysis = query.analysis
        assert analysis is not None
        day = query.start_time.astimezone(UTC).date() if query.start_time is not None else self.today
        tables = dict.fromkeys([*analysis.source_tables, *analysis.target_tables])
        if not tables:
            self.report.count("queries_without_tables")
            return
        checksum = query_checksum(query.text)
        pairs = [(pair.left, pair.right) for pair in analysis.joins]
        owners = {column: _table_of(column) for pair in pairs for column in pair}
        for table in tables:
            tally = self.tallies.get((table, day))
            if tally is None:
                tally = self.tallies[(table, day)] = _Tally()
            tally.count += query.calls
            if query.user is not None and len(tally.users) < self.config.max_users:
                tally.users.add(query.user)
            self._remember(tally, checksum, query)
        for left, right in pairs:
            for column, other in ((left, right), (right, left)):
                table, joined = owners[column], owners[other]
                tally = self.tallies.get((table, day))
                if tally is None:
                    continue  # a join of a table the query left without a database or schema
                if joined != table:
                    tally.joined[joined] += query.calls
                name = fqn.split(column)[-1]
                tally.columns.setdefault(name, Counter())[other] += query.calls

    def _remember(self, tally: _Tally, checksum: str, query: Query) -> None:
        """Count the query among the table's frequent ones: space-saving, at most ``query_capacity`` kept."""
        if self.config.top_queries == 0:
            return
        frequent = tally.queries.get(checksum)
        if frequent is None:
            if len(tally.queries) >= self.config.query_capacity:
                replaced = _pop_rarest(tally)
                frequent = _Frequent(query.text, count=replaced.count, error=replaced.count)
                self.report.count("frequent_queries_estimated")
            else:
                frequent = _Frequent(query.text)
            frequent.query_type = query.analysis.query_type  # type: ignore[union-attr]
            tally.joined_queries += 1
            frequent.seq = tally.joined_queries
            tally.queries[checksum] = frequent
        frequent.count += query.calls
        heapq.heappush(tally.rarest, (frequent.count, frequent.seq, checksum))
        if len(tally.rarest) > 2 * len(tally.queries) + 64:  # stale entries: rebuilt from the live ones
            tally.rarest = [(item.count, item.seq, key) for key, item in tally.queries.items()]
            heapq.heapify(tally.rarest)
        if query.user is not None and len(frequent.users) < self.config.max_users:
            frequent.users.add(query.user)
        if query.duration_ms is not None:
            frequent.duration_ms += query.duration_ms * query.calls
            frequent.timed += query.calls

    def _edge(self, lineage: Lineage) -> None:
        """Merge a lineage record into its edge: the column edges' sources are united; the first SQL is kept."""
        key = (lineage.from_table, lineage.to_table)
        columns = self.columns.setdefault(key, {})
        for edge in lineage.columns:
            known = columns.setdefault(edge.to_column, [])
            known.extend(name for name in edge.from_columns if name not in known)
        if key not in self.edges:
            self.edges[key] = lineage.model_copy(update={"columns": []})
        else:
            self.report.count("lineage_merged")

    def commit(self) -> str:
        from airflow_provider_ingest.staging import StagedFileWriter

        uri = (
            self.context.resolve_path(self.config.path)
            if self.config.path
            else self.context.staging_uri("usage.jsonl.gz" if self.context.compression == "gzip" else "usage.jsonl")
        )
        kinds = {"lineage"} if self.edges else set()
        kinds |= {"table_usage"} if self.tallies else set()
        with StagedFileWriter(
            uri, producer=self.report.component, kinds=kinds, compression=self.config.compression
        ) as out:
            for key in sorted(self.edges):
                columns = self.columns[key]
                edges = [
                    ColumnLineageEdge(to_column=name, from_columns=sorted(columns[name])) for name in sorted(columns)
                ]
                out.write(self.edges[key].model_copy(update={"columns": edges}))
            for table, day in sorted(self.tallies):
                try:
                    usage = self._usage(table, day, self.tallies[(table, day)])
                except ValueError as error:  # a sum of counts past what a record holds: this table-day fails alone
                    shown = f"{table} on {day.isoformat()}"
                    self.fail(f"usage of {shown}: {invalid(error)}", fqn=f"{table}@{day.isoformat()}")
                    continue
                out.write(usage)
        self.report.count("table_days", len(self.tallies))
        return uri

    def _usage(self, table: str, day: date, tally: _Tally) -> TableUsage:
        ranked = sorted(tally.queries.values(), key=lambda item: (-item.count, item.text))
        return TableUsage(
            table=table,
            date=day,
            count=tally.count,
            users=sorted(tally.users),
            joined_tables=[
                JoinedTable(table=name, count=count) for name, count in sorted(tally.joined.items(), key=_by_count)
            ],
            column_joins=[
                ColumnJoins(
                    column=name,
                    joined_with=[
                        JoinedColumn(column=other, count=count)
                        for other, count in sorted(tally.columns[name].items(), key=_by_count)
                    ],
                )
                for name in sorted(tally.columns)
            ],
            queries=[
                FrequentQuery(
                    text=item.text,
                    count=item.count,
                    users=sorted(item.users),
                    duration_ms=item.duration_ms / item.timed if item.timed else None,
                    query_type=item.query_type,
                )
                for item in ranked[: self.config.top_queries]
            ],
        )


def _pop_rarest(tally: _Tally) -> _Frequent:
    """Remove and return the query with the lowest count, the earliest to join of those (``min`` over the dict,
    in O(log n)): heap entries whose count or seq is no longer the query's are stale and skipped."""
    while True:
        count, seq, checksum = heapq.heappop(tally.rarest)
        frequent = tally.queries.get(checksum)
        if frequent is not None and frequent.count == count and frequent.seq == seq:
            del tally.queries[checksum]
            return frequent


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def _table_of(column: str) -> str:
    """The FQN of a column's table."""
    return fqn.build(*fqn.split(column)[:-1])
