"""Running the ``sql`` source alone in tests, and building the columns the tests expect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.records import Column, DataType
from airflow_provider_ingest.sources.sql.source import SqlSource


def extract(config: dict[str, Any], base_dir: Path) -> tuple[list, SqlSource]:
    """Run the source alone; return its records and the source (for its report)."""
    context = RunContext(workflow_name="test", run_id="run", staging_root=str(base_dir), base_dir=base_dir)
    source = SqlSource.create(config, context)
    source.prepare()
    try:
        return list(source.records()), source
    finally:
        source.close()


def column(name: str, data_type: DataType, raw: str | None, position: int, **fields: Any) -> Column:
    """A column as the source emits it: normalized type, raw type text and ordinal position."""
    return Column(name=name, data_type=data_type, data_type_display=raw, ordinal_position=position, **fields)
