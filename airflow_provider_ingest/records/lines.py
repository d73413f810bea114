"""Records as their staged-file lines: a record its source made valid, built as a model only when something reads
its fields (a processor, a service's sink); a file or a stage writes the line as it is.

Validating a catalog's tables into models costs more than reading the catalog (about 1 µs a column), while a
source task only writes them to its staged file, which the next task validates as it reads it.
"""

from __future__ import annotations

from airflow_provider_ingest.records import fqn as fqn_
from airflow_provider_ingest.records.entities import Record, parse_record


class RecordLine:
    """A record as the line a staged file holds, made valid by its source (the ``sql`` source's tables: see
    :meth:`~airflow_provider_ingest.sources.sql.catalog.Catalog.table`)."""

    __slots__ = ("kind", "line_read", "name_parts")

    def __init__(self, kind: str, line: bytes, name_parts: tuple[str, ...]) -> None:
        self.kind = kind
        self.line_read = line
        """The line, written as it is (the name :meth:`BaseRecord.line_read` gives a record's)."""
        self.name_parts = name_parts

    @property
    def fqn(self) -> str:
        """The record's fully qualified name."""
        return fqn_.build(*self.name_parts)

    def model(self) -> Record:
        """The record, validated as a staged file's line is; :class:`RecordError` if it is none."""
        record = parse_record(self.line_read, strict=True)
        record.read_from(self.line_read)
        return record

    def __repr__(self) -> str:
        return f"RecordLine({self.kind}, {self.fqn})"
