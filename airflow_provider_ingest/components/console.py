"""The console sink: one readable line per record."""

from __future__ import annotations

import sys
from typing import TextIO

from airflow_provider_ingest.api import ComponentConfig, Sink
from airflow_provider_ingest.records import Record, Table


class ConsoleSinkConfig(ComponentConfig):
    pass


def describe(record: Record) -> str:
    """One line: kind, FQN, and for tables their type, columns and constraints."""
    line = f"{record.kind:<16} {record.fqn}"
    if isinstance(record, Table):
        line += f"  [{record.table_type.value}, {len(record.columns)} columns"
        if record.constraints:
            line += f", {len(record.constraints)} constraints"
        if record.row_count is not None:
            line += f", {record.row_count} rows"
        line += "]"
    if record.tags:
        line += "  tags: " + ", ".join(tag.tag_fqn for tag in record.tags)
    return line


class ConsoleSink(Sink):
    """Prints each record on one line to standard output."""

    type_name = "console"
    config_class = ConsoleSinkConfig
    stream: TextIO | None = None

    def write(self, record: Record) -> None:
        print(describe(record), file=self.stream or sys.stdout)
