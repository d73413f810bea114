"""Records given as their staged-file lines (``RecordLine``): the ``sql`` source's tables, valid by construction,
written as they are by files and stages, built as models only for a component that reads their fields."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_ingest.components.file import FileSink, FileStage
from airflow_provider_ingest.records import (
    ConstraintType,
    Record,
    RecordError,
    Table,
    TableType,
    TagLabel,
    dump_record_bytes,
)
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.run import RunResult, run_workflow
from airflow_provider_ingest.sources.sql import catalog
from airflow_provider_ingest.sources.sql.catalog import Catalog, Scope, column, constraint, type_fields
from airflow_provider_ingest.sources.sql.source import SqlSource
from airflow_provider_ingest.staging import read_dead_letters, read_records, stagedfile
from airflow_provider_ingest.workflow.loader import load_workflow

LINES = "support.components:LinesSource"
TRUSTED_LINES = "support.components:TrustedLinesSource"
TAGGER = "support.components:TagTables"


def run(folder: Path, spec: dict[str, Any]) -> RunResult:
    path = folder / "flow.yaml"
    path.write_text(json.dumps({**spec, "workflow": {"staging_root": "staging", **spec.get("workflow", {})}}))
    return run_workflow(load_workflow(path), run_id="run1")


def table_json(name: str, **fields: Any) -> str:
    return json.dumps(
        {"kind": "table", "name": name, "service": "svc", "database": "db", "database_schema": "s", **fields},
        separators=(",", ":"),
    )


@pytest.fixture
def models_built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The FQN of every record line built as a model during the test."""
    built: list[str] = []
    model = RecordLine.model

    def counted(self: RecordLine) -> Any:
        built.append(self.fqn)
        return model(self)

    monkeypatch.setattr(RecordLine, "model", counted)
    return built


# --- the run: lines pass through files and stages, models for the rest ---------------------------------------------


def test_lines_are_written_as_they_are_by_a_file_sink_and_a_stage(tmp_path: Path, models_built: list[str]) -> None:
    tables = [table_json("t0", description="first"), table_json("t1", row_count=5)]
    source = {"type": TRUSTED_LINES, "config": {"tables": tables}}
    result = run(tmp_path, {"source": source, "sink": {"type": "file", "config": {"path": "o"}}})
    assert result.success, result.error
    assert (tmp_path / "o").read_bytes().splitlines()[1:3] == [line.encode() for line in tables]
    result = run(tmp_path, {"source": source, "stage": {"type": "file"}})
    assert result.success, result.error
    assert [record.description for record in read_records(result.staged_uri)] == ["first", None]
    assert models_built == [], "no model is built where only lines are written"


def test_a_processor_and_a_sink_that_reads_fields_get_models(tmp_path: Path, models_built: list[str]) -> None:
    tables = [table_json("t0"), table_json("t1")]
    result = run(
        tmp_path,
        {
            "source": {"type": LINES, "config": {"tables": tables}},
            "processors": [{"type": TAGGER, "config": {}}],
            "sink": {"type": "file", "config": {"path": "o"}},
        },
    )
    assert result.success, result.error
    assert [[tag.tag_fqn for tag in record.tags] for record in read_records(str(tmp_path / "o"))] == [
        ["Test.Tagged"],
        ["Test.Tagged"],
    ]
    assert models_built == ["svc.db.s.t0", "svc.db.s.t1"]
    models_built.clear()
    result = run(tmp_path, {"source": {"type": LINES, "config": {"tables": tables}}, "sink": {"type": "console"}})
    assert result.success, result.error
    assert len(models_built) == 2, "the console sink reads fields: it gets models"


@pytest.mark.parametrize(
    ("source", "processors"),
    [(TRUSTED_LINES, [{"type": TAGGER, "config": {}}]), (LINES, [])],
    ids=["a processor reads it", "its source does not say its lines are valid"],
)
def test_a_line_that_is_no_valid_record_fails_in_its_source_and_is_kept(
    tmp_path: Path, source: str, processors: list[dict[str, Any]]
) -> None:
    tables = [table_json("t0"), table_json(""), table_json("t2")]
    result = run(
        tmp_path,
        {
            "source": {"type": source, "config": {"tables": tables}},
            "processors": processors,
            "sink": {"type": "file", "config": {"path": "o"}},
        },
    )
    assert not result.success, "a failed record is below the default threshold: the run fails"
    [source] = [report for report in result.reports if report.component.startswith("source:")]
    assert (source.records, source.failure_count) == (2, 1)
    [letter] = read_dead_letters(result.dead_letter_uri)
    assert (letter.fqn, letter.record) == ("svc.db.s.t1", tables[1])
    assert "name: String should have at least 1 character" in letter.error


def test_a_line_too_long_for_a_staged_file_fails_alone_where_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stagedfile, "MAX_LINE_BYTES", 2000)
    tables = [table_json("t0"), table_json("t1", description="x" * 2500), table_json("t2")]
    source = {"type": TRUSTED_LINES, "config": {"tables": tables}}
    for end in ({"sink": {"type": "file", "config": {"path": "o"}}}, {"stage": {"type": "file"}}):
        result = run(tmp_path, {"source": source, **end, "workflow": {"success_threshold": 0}})
        assert result.success, result.error
        [end_report] = [report for report in result.reports if not report.component.startswith("source:")]
        assert (end_report.records, end_report.failure_count) == (2, 1)
        [letter] = read_dead_letters(result.dead_letter_uri)
        assert letter.fqn == "svc.db.s.t1" and "more than the 2,000 a staged file line holds" in letter.error


class RedactingFileSink(FileSink):
    """A file sink of a user's that reads fields: it keeps table comments out of its file."""

    def write(self, record: Record) -> None:
        if isinstance(record, Table) and record.description:
            record = record.model_copy(update={"description": None})
        super().write(record)


class CountingFileStage(FileStage):
    """A file stage of a user's that reads fields: it counts the columns it stages."""

    def stage(self, record: Record) -> None:
        self.report.count("columns", len(record.columns) if isinstance(record, Table) else 0)
        super().stage(record)


def test_a_subclass_of_the_file_sink_or_stage_gets_models_unless_it_says_it_takes_lines(tmp_path: Path) -> None:
    """``takes_lines`` is each class's own: a subclass may read fields where the ``file`` sink and stage do not."""
    tables = [
        table_json("t0", description="password: hunter2"),
        table_json("t1", columns=[{"name": "a", "data_type": "INT"}]),
    ]
    source = {"type": TRUSTED_LINES, "config": {"tables": tables}}
    result = run(
        tmp_path, {"source": source, "sink": {"type": f"{__name__}:RedactingFileSink", "config": {"path": "o"}}}
    )
    assert result.success, result.error
    assert b"hunter2" not in (tmp_path / "o").read_bytes()
    result = run(tmp_path, {"source": source, "stage": {"type": f"{__name__}:CountingFileStage"}})
    assert result.success, result.error
    [stage] = [report for report in result.reports if report.component.startswith("stage:")]
    assert stage.counters == {"columns": 1}
    assert (FileSink.takes_lines, FileStage.takes_lines, RedactingFileSink.takes_lines) == (True, True, False)


class TaggingSqlSource(SqlSource):
    """A sql source of a user's that reads its records: it tags every table."""

    def records(self) -> Iterator[Record]:
        for record in super().records():
            if isinstance(record, Table):
                record = record.model_copy(update={"tags": [TagLabel(tag_fqn="Source.Catalog")]})
            yield record


def test_a_subclass_of_the_sql_source_gets_models(tmp_path: Path) -> None:
    """``gives_lines`` is each class's own: the sql source's subclass gets its tables as models, to read."""
    sqlite_file = tmp_path / "lite.db"
    with sqlite3.connect(sqlite_file) as connection:
        connection.executescript("CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT);")
    connection.close()
    source = {
        "type": f"{__name__}:TaggingSqlSource",
        "config": {"url": f"sqlite:///{sqlite_file}", "service_name": "s"},
    }
    result = run(tmp_path, {"source": source, "sink": {"type": "file", "config": {"path": "o"}}})
    assert result.success, result.error
    tables = [record for record in read_records(str(tmp_path / "o")) if isinstance(record, Table)]
    assert [(table.name, [tag.tag_fqn for tag in table.tags]) for table in tables] == [
        ("a", ["Source.Catalog"]),
        ("b", ["Source.Catalog"]),
    ]


# --- the sql source: its tables as lines, the same as its models ----------------------------------------------------


def sample_run(folder: Path, **spec: Any) -> RunResult:
    return run(folder, {"source": {"type": "sql", "config": {"sample": "shop"}}, **spec})


def test_the_sample_database_gives_the_same_file_as_lines_and_as_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_built: list[str]
) -> None:
    as_lines = sample_run(tmp_path, sink={"type": "file", "config": {"path": "lines.jsonl"}})
    assert as_lines.success, as_lines.error
    assert models_built == []
    monkeypatch.setattr(catalog, "_valid_as_written", lambda fields, names: False)
    as_models = sample_run(tmp_path, sink={"type": "file", "config": {"path": "models.jsonl"}})
    assert as_models.success, as_models.error

    def body(name: str) -> list[bytes]:
        return (tmp_path / name).read_bytes().splitlines()[1:-1]  # the header and trailer name their producer run

    assert body("lines.jsonl") == body("models.jsonl")
    assert sum(b'"kind":"table"' in line for line in body("lines.jsonl")) >= 5


def test_a_table_whose_line_is_too_long_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table's line longer than a staged file takes fails that table where it is written: written, it would fail
    the whole file for the next step that reads it (which takes no longer line)."""
    database = tmp_path / "long.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE small (id INTEGER)")
        connection.execute(f"CREATE TABLE wide ({', '.join(f'c{i} INTEGER' for i in range(40))})")
    connection.close()
    monkeypatch.setattr(stagedfile, "MAX_LINE_BYTES", 1000)
    result = run(
        tmp_path,
        {
            "source": {"type": "sql", "config": {"url": f"sqlite:///{database}", "service_name": "s"}},
            "sink": {"type": "file", "config": {"path": "o.jsonl"}},
            "workflow": {"success_threshold": 0},
        },
    )
    assert result.success, result.error
    assert [record.name for record in read_records(str(tmp_path / "o.jsonl")) if isinstance(record, Table)] == ["small"]
    [letter] = read_dead_letters(result.dead_letter_uri)
    assert letter.fqn == "s.long.main.wide" and "a staged file line holds" in letter.error


# --- any fields: a line only when the model takes it, and then the model's own line --------------------------------

NAME = st.one_of(st.text(min_size=1, max_size=6), st.sampled_from(["b.c", 'q"', "é"]))
"""A valid name: text, not empty."""
ANY = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["", "\udc80", "a\ud800"]),  # empty; lone surrogates, which JSON cannot hold
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63),
    st.floats(),
    st.binary(max_size=3),
    st.decimals(),
    st.lists(st.text(max_size=2), max_size=2),
)
"""Any value, for the one argument a table is given wrong."""


@st.composite
def column_args(draw: st.DrawFn, wrong: str | None) -> dict[str, Any]:
    args = {
        "name": draw(NAME),
        "raw_type": draw(st.one_of(st.sampled_from(["int", "varchar(12)", "numeric(9,2)", "text[]"]), st.text())),
        "nullable": draw(st.booleans()),
        "default": draw(st.one_of(st.none(), st.text(max_size=6))),
        "position": draw(st.integers()),
        "comment": draw(st.one_of(st.none(), st.text(max_size=6))),
    }
    if wrong is not None:
        args[wrong] = draw(ANY)
    return args


@st.composite
def constraint_args(draw: st.DrawFn, wrong: str | None) -> dict[str, Any]:
    kind = draw(st.sampled_from(ConstraintType))
    columns = draw(st.lists(NAME, min_size=1, max_size=3))
    foreign = kind is ConstraintType.FOREIGN_KEY
    args = {
        "kind": kind,
        "name": draw(st.one_of(st.none(), st.text(max_size=6))),
        "columns": columns,
        "referred_table": draw(NAME) if foreign else None,
        "referred_columns": draw(st.lists(NAME, min_size=len(columns), max_size=len(columns))) if foreign else None,
    }
    if wrong in ("columns", "referred_columns"):
        args[wrong] = draw(st.one_of(st.lists(ANY, max_size=3), st.lists(NAME, max_size=4), ANY))
    elif wrong is not None:
        args[wrong] = draw(ANY)
    return args


TABLE_ARGS = ("service", "database", "schema", "name", "description", "view_definition", "row_count")
COLUMN_ARGS = ("name", "raw_type", "nullable", "default", "position", "comment")
CONSTRAINT_ARGS = ("name", "columns", "referred_table", "referred_columns")


WHERE = [
    None,
    *(("table", arg) for arg in TABLE_ARGS),
    *(("column", arg) for arg in COLUMN_ARGS),
    *(("constraint", arg) for arg in CONSTRAINT_ARGS),
]
"""Where a table's arguments may hold a wrong value: nowhere, or in one argument of the table, a column or a
constraint."""


@st.composite
def table_args(draw: st.DrawFn, where: tuple[str, str] | None) -> dict[str, Any]:
    """A table's arguments, as a catalog reader gives them, valid but for the one ``where`` says, of any value."""
    wrong = dict([where]) if where else {}
    columns = draw(st.lists(column_args(None), max_size=3))
    constraints = draw(st.lists(constraint_args(None), max_size=2))
    if "column" in wrong:
        columns.insert(draw(st.integers(0, len(columns))), draw(column_args(wrong["column"])))
    if "constraint" in wrong:
        constraints.insert(draw(st.integers(0, len(constraints))), draw(constraint_args(wrong["constraint"])))
    args = {
        "service": draw(NAME),
        "database": draw(NAME),
        "schema": draw(NAME),
        "name": draw(NAME),
        "table_type": draw(st.sampled_from(TableType)),
        "columns": columns,
        "constraints": constraints,
        "description": draw(st.one_of(st.none(), st.text(max_size=6))),
        "view_definition": draw(st.one_of(st.none(), st.text(max_size=6))),
        "row_count": draw(st.one_of(st.none(), st.integers(-5, 2**53 + 5), st.floats(allow_nan=False))),
    }
    if "table" in wrong:
        args[wrong["table"]] = draw(ANY)
    return args


def made_table(args: dict[str, Any]) -> Table | RecordLine | None:
    """What the catalog reader makes of the arguments; None where it raises (the table fails alone)."""
    reader = SimpleNamespace(scope=Scope(args["service"], args["database"], row_counts=True))
    try:
        columns = [
            column(
                a["name"],
                type_fields(a["raw_type"]),
                nullable=a["nullable"],
                default=a["default"],
                position=a["position"],
                comment=a["comment"],
            )
            for a in args["columns"]
        ]
        constraints = [
            constraint(a["kind"], a["name"], a["columns"], a["referred_table"], a["referred_columns"])
            for a in args["constraints"]
        ]
        return Catalog.table(
            reader,  # type: ignore[arg-type]
            args["schema"],
            args["name"],
            args["table_type"],
            columns=columns,
            constraints=constraints,
            description=args["description"],
            view_definition=args["view_definition"],
            row_count=args["row_count"],
        )
    except Exception:  # refused by the model (RecordError), or rows no record is made of
        return None


@pytest.mark.parametrize("where", WHERE, ids=lambda where: ".".join(where) if where else "valid")
@given(data=st.data())
def test_a_table_is_a_line_only_when_its_model_takes_it_and_then_the_models_own_line(
    where: tuple[str, str] | None, data: st.DataObject
) -> None:
    """Whatever a reader gives (one argument of any value), the record is what validating the fields as a model
    gives (the same table, or none: it fails alone); given as a line, the line is the model's own."""
    args = data.draw(table_args(where))
    made = made_table(args)
    original = catalog._valid_as_written
    catalog._valid_as_written = lambda fields, names: False
    try:
        as_model = made_table(args)
    finally:
        catalog._valid_as_written = original
    if isinstance(made, RecordLine):
        record = made.model()  # the line is a valid record
        assert dump_record_bytes(record) == made.line_read, "the line is the one the model writes"
        assert (made.fqn, record) == (record.fqn, as_model)
    else:
        assert made == as_model


def test_a_line_that_is_no_record_says_why() -> None:
    line = RecordLine("table", table_json("t", row_count=-1).encode(), ("svc", "db", "s", "t"))
    with pytest.raises(RecordError, match="row_count"):
        line.model()
