"""Running the ``sql`` source alone in tests, and building the columns the tests expect."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.records import Column, DataType, Record, dump_record_bytes
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.sources.sql.source import SqlSource


def extract(config: dict[str, Any], base_dir: Path) -> tuple[list, SqlSource]:
    """Run the source alone; return its records and the source (for its report)."""
    context = RunContext(workflow_name="test", run_id="run", staging_root=str(base_dir), base_dir=base_dir)
    source = SqlSource.create(config, context)
    source.prepare()
    try:
        return [as_model(record) for record in source.records()], source
    finally:
        source.close()


def as_model(record: Record | RecordLine) -> Record:
    """A record the source gave, as a model: one given as its line must be valid, the line its model's own."""
    if isinstance(record, RecordLine):
        built = record.model()
        assert dump_record_bytes(built) == record.line_read, record.line_read
        return built
    return record


def column(name: str, data_type: DataType, raw: str | None, position: int, **fields: Any) -> Column:
    """A column as the source emits it: normalized type, raw type text and ordinal position."""
    return Column(name=name, data_type=data_type, data_type_display=raw, ordinal_position=position, **fields)


@contextlib.contextmanager
def migrating(url: str, migration: str | list[str], pause: float = 0.0) -> Iterator[list[int]]:
    """``migration`` (a statement, or statements run in turn) run again and again over another connection while
    inside, ``pause`` seconds apart; the list yielded counts the runs."""
    import sqlalchemy

    stop, runs = threading.Event(), [0]

    def migrate() -> None:
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            while not stop.is_set():
                for statement in [migration] if isinstance(migration, str) else migration:
                    connection.exec_driver_sql(statement)
                runs[0] += 1
                stop.wait(pause)
        engine.dispose()

    migrator = threading.Thread(target=migrate)
    migrator.start()
    try:
        yield runs
    finally:
        stop.set()
        migrator.join()
