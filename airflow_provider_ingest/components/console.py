"""The console sink: one readable line per record, whatever the names in it hold."""

from __future__ import annotations

import sys
from typing import TextIO

from airflow_provider_ingest.api import ComponentConfig, Sink
from airflow_provider_ingest.records import Entity, Lineage, Query, Record, Table, TableUsage
from airflow_provider_ingest.terminal import printable


class ConsoleSinkConfig(ComponentConfig):
    pass


def describe(record: Record) -> str:
    """One line: kind, FQN, and for tables their type, columns and constraints; for lineage, queries and usage
    what they add (never a query's text, which may hold literals)."""
    line = f"{record.kind:<16} {record.fqn}"
    if isinstance(record, Table):
        line += f"  [{record.table_type.value}, {len(record.columns)} columns"
        if record.constraints:
            line += f", {len(record.constraints)} constraints"
        if record.row_count is not None:
            line += f", {record.row_count} rows"
        line += "]"
    elif isinstance(record, Lineage):
        line += f"  [{record.source}, {_count(len(record.columns), 'column edge')}]"
    elif isinstance(record, Query):
        analysis = f", {record.analysis.query_type}" if record.analysis is not None else ""
        line += f"  [{_count(record.calls, 'call')}{analysis}]"
    elif isinstance(record, TableUsage):
        line += f"  [{_count(record.count, 'query', 'queries')}, {_count(len(record.users), 'user')}]"
    if isinstance(record, Entity) and record.tags:
        line += "  tags: " + ", ".join(tag.tag_fqn for tag in record.tags)
    return line


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


class ConsoleSink(Sink):
    """Prints each record on one line to standard output (a name's control characters escaped)."""

    type_name = "console"
    config_class = ConsoleSinkConfig
    stream: TextIO | None = None

    def write(self, record: Record) -> None:
        """The line in one write, so that parts printing at once never cut it (see ``run.partitioned``)."""
        (self.stream or sys.stdout).write(printable(describe(record)) + "\n")
