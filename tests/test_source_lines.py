"""The sql source's table records carry the line a staged file holds for them, built from the catalog's values as
the package writes a record (no second serialization), and never where it could differ from the record; a table
given as that line alone (``RecordLine``, no model built) is in ``test_record_lines.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.records import (
    ConstraintType,
    DataType,
    RecordError,
    Table,
    TableType,
    dump_record_bytes,
    parse_record,
    staged_line,
)
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.sources.sql.catalog import Scope, column, constraint, type_fields
from airflow_provider_ingest.sources.sql.sqlite import SqliteCatalog
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.workflow.loader import load_workflow

RAW_TYPES = ["integer", "varchar(20)", "numeric(12,2)", "numeric(5,-2)", "text[]", "_int4", "tinyint(1)", "", "geo?"]
names = st.text(min_size=1, max_size=12)
maybe_text = st.none() | st.text(max_size=12)


@st.composite
def columns(draw: st.DrawFn) -> list[dict]:
    found = []
    for position, name in enumerate(draw(st.lists(names, max_size=6, unique=True)), 1):
        found.append(
            column(
                name,
                type_fields(
                    draw(st.sampled_from(RAW_TYPES)),
                    data_type=draw(st.none() | st.sampled_from([DataType.ENUM, DataType.JSON])),
                    array_data_type=draw(st.none() | st.just(DataType.ENUM)),
                ),
                nullable=draw(st.booleans()),
                default=draw(maybe_text),
                position=position,
                comment=draw(maybe_text),
            )
        )
    return found


@st.composite
def constraints(draw: st.DrawFn, column_names: list[str]) -> list[dict]:
    if not column_names:
        return []
    kinds = st.sampled_from(list(ConstraintType))
    found = []
    for kind in draw(st.lists(kinds, max_size=3)):
        keys = draw(st.lists(st.sampled_from(column_names), min_size=1, max_size=2))
        foreign = kind is ConstraintType.FOREIGN_KEY
        found.append(
            constraint(
                kind, draw(st.none() | names), keys, "svc.db.s.other" if foreign else None, keys if foreign else None
            )
        )
    return found


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_a_table_built_from_catalog_values_keeps_the_line_the_package_writes_for_it(data: st.DataObject) -> None:
    """Whatever the catalog says (any text, with escapes and control characters, any type, key or count), the
    record is the one its fields validate to, and the line it keeps (when it keeps one) is byte for byte what
    serializing it writes: the source's files are what they were when every record was serialized."""
    catalog = SqliteCatalog(None, Scope("svc", "db", row_counts=data.draw(st.booleans())))  # type: ignore[arg-type]
    found = data.draw(columns())
    made = catalog.table(
        data.draw(names),
        data.draw(names),
        data.draw(st.sampled_from(list(TableType))),
        columns=found,
        constraints=data.draw(constraints([item["name"] for item in found])),
        description=data.draw(maybe_text),
        view_definition=data.draw(maybe_text),
        row_count=data.draw(st.none() | st.floats(min_value=-1, max_value=1e12)),
    )
    record = made.model() if isinstance(made, RecordLine) else made
    written = dump_record_bytes(record)
    assert parse_record(written, strict=True) == record
    if made.line_read is not None:
        assert made.line_read == written
    assert staged_line(made) == written


def test_plain_catalog_values_take_the_quick_path_and_a_bad_one_fails_naming_its_field() -> None:
    catalog = SqliteCatalog(None, Scope("svc", "db"))  # type: ignore[arg-type]
    kept = [column("id", type_fields("integer"), nullable=False, default=None, position=1, comment="the key")]
    made = catalog.table("s", "t", TableType.TABLE, columns=kept, constraints=[])
    assert isinstance(made, RecordLine), "given as its line: no model is built"
    assert made.line_read == dump_record_bytes(made.model())
    bad = [column("", type_fields("integer"), nullable=True, default=None, position=1, comment=None)]
    with pytest.raises(RecordError, match=r"columns\.0\.name: String should have at least 1 character"):
        catalog.table("s", "t", TableType.TABLE, columns=bad, constraints=[])


def test_a_sampled_table_is_written_with_its_samples_where_they_are_kept(tmp_path: Path) -> None:
    """Samples fill a table's columns after its record is built: the line built before them is forgotten, so a
    file that keeps samples has them (and one that does not, none)."""
    from airflow_provider_ingest.samples import sample_database_path

    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        f"""
source: {{type: sql, config: {{url: "sqlite:///{sample_database_path()}", service_name: shop, sample_rows: 3}}}}
sink: {{type: file, config: {{path: out.jsonl, keep_samples: true}}}}
"""
    )
    assert run_workflow(load_workflow(workflow)).success
    tables = [record for record in read_records(str(tmp_path / "out.jsonl")) if isinstance(record, Table)]
    assert tables and all(any(item.samples for item in table.columns) for table in tables)
