"""Column samples for processors: up to N distinct non-null values per column, from one query per table.

The values are text (bytes in hex, dates in ISO format), cut to :data:`MAX_SAMPLE_CHARS`. They stay in
``Column.samples`` for processors such as ``pii`` and are never published.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING

from airflow_provider_ingest.records import Table

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

MAX_SAMPLE_CHARS = 100
"""Longer values are cut to this many characters."""


def sample_table(connection: Connection, table: Table, rows: int) -> None:
    """Fill each column's ``samples`` from ``SELECT * ... LIMIT rows``; raises if the query fails."""
    from sqlalchemy import literal_column, select
    from sqlalchemy import table as table_clause

    query = select(literal_column("*")).select_from(table_clause(table.name, schema=table.database_schema)).limit(rows)
    result = connection.execute(query)
    positions = {key: index for index, key in enumerate(result.keys())}
    found = result.all()
    for column in table.columns:
        index = positions.get(column.name)
        if index is not None:
            column.samples = distinct_samples(row[index] for row in found)


def distinct_samples(values: Iterable[object]) -> list[str]:
    """The distinct non-null values as text, in first-seen order."""
    seen: dict[str, None] = {}
    for value in values:
        if value is not None:
            seen.setdefault(as_text(value)[:MAX_SAMPLE_CHARS])
    return list(seen)


def as_text(value: object) -> str:
    """A sample value as text: bytes in hex, dates in ISO format."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)
