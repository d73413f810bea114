"""A record read from a staged file is written again as the line it was read from, and only while nothing can
have changed it: a processor's output, a copy or samples left out are serialized anew."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.records import Column, DataType, Table, TagLabel, dump_record_bytes, staged_line
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import StagedFileReader, StagedFileWriter, read_records
from airflow_provider_ingest.workflow.loader import load_workflow


def table(index: int, samples: bool = False) -> Table:
    columns = [
        Column(name="id", data_type=DataType.BIGINT, nullable=False, samples=["1", "2"] if samples else []),
        Column(name="note", data_type=DataType.TEXT, description=f"note {index}"),
    ]
    return Table(service="svc", database="db", database_schema="s", name=f"t{index}", columns=columns)


def write(path: Path, records: list[Table], keep_samples: bool = False) -> str:
    with StagedFileWriter(str(path), producer="test", keep_samples=keep_samples) as out:
        for record in records:
            out.write(record)
    return str(path)


def body(path: str) -> list[bytes]:
    """The record lines of a staged file (no header, no trailer)."""
    return Path(path).read_bytes().splitlines()[1:-1]


def run(tmp_path: Path, source: str, target: Path, processors: list[str] = ()) -> None:
    spec = {
        "source": {"type": "file", "config": {"path": source}},
        "processors": [{"type": name} for name in processors],
        "sink": {"type": "file", "config": {"path": str(target)}},
        "workflow": {"staging_root": str(tmp_path / "staging")},
    }
    flow = tmp_path / "flow.yaml"
    flow.write_text(json.dumps(spec))
    result = run_workflow(load_workflow(flow))
    assert result.success, result.error


def test_a_record_read_is_written_again_as_its_line(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", [table(index) for index in range(3)])
    records = list(StagedFileReader(source).records())
    assert [record.line_read for record in records] == body(source)
    assert [staged_line(record) for record in records] == body(source)
    assert records == [table(index) for index in range(3)]  # the line read does not count in equality


def test_a_copy_is_serialized_anew(tmp_path: Path) -> None:
    (record,) = StagedFileReader(write(tmp_path / "in.jsonl", [table(0)])).records()
    copy = record.model_copy(update={"tags": [TagLabel(tag_fqn="PII.Sensitive")]})
    assert copy.line_read is None
    assert b"PII.Sensitive" in staged_line(copy)


def test_a_file_to_file_run_copies_each_line_byte_for_byte(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", [table(index) for index in range(5)])
    run(tmp_path, source, tmp_path / "out.jsonl")
    assert body(str(tmp_path / "out.jsonl")) == body(source)


def test_a_processor_changing_records_in_place_has_them_serialized_anew(tmp_path: Path) -> None:
    """A processor may change a record where it is, its columns too: the line read is then out of date."""
    source = write(tmp_path / "in.jsonl", [table(index) for index in range(3)])
    run(tmp_path, source, tmp_path / "out.jsonl", ["support.components:DescribeInPlace"])
    out = list(read_records(str(tmp_path / "out.jsonl")))
    assert [record.description for record in out] == ["changed in place"] * 3
    assert [record.columns[0].description for record in out] == ["first column, changed in place"] * 3


def test_samples_kept_in_a_file_are_left_out_when_written_without_them(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", [table(0, samples=True)], keep_samples=True)
    assert b'"samples"' in body(source)[0]
    run(tmp_path, source, tmp_path / "out.jsonl")
    (line,) = body(str(tmp_path / "out.jsonl"))
    assert b'"samples"' not in line
    (record,) = read_records(str(tmp_path / "out.jsonl"))
    assert record.columns[0].samples == []


def test_samples_written_with_an_escaped_key_are_left_out_too(tmp_path: Path) -> None:
    """A staged file written by another tool may spell the key with a JSON escape: the record is looked at, not the
    line, so its raw values still stay out of a file written without samples."""
    line = dump_record_bytes(table(0, samples=True), keep_samples=True).replace(b'"samples"', b'"\\u0073amples"')
    assert b'"samples"' not in line and b"\\u0073amples" in line
    source = tmp_path / "in.jsonl"
    with StagedFileWriter(str(source), producer="another tool") as out:
        out.write_line(line)
    (record,) = read_records(str(source))
    assert record.columns[0].samples == ["1", "2"]
    run(tmp_path, str(source), tmp_path / "out.jsonl")
    (written,) = body(str(tmp_path / "out.jsonl"))
    assert written == dump_record_bytes(table(0))


def test_the_file_bulk_sink_publishes_no_samples(tmp_path: Path) -> None:
    """A staged file with samples (a processor's input) handed to a file bulk sink task is published without them."""
    from airflow_provider_ingest.run.steps import run_task, task_context

    source = write(tmp_path / "in.jsonl", [table(0, samples=True), table(1)], keep_samples=True)
    context = task_context(dag_id="d", run_id="r", task_id="publish", staging_root=str(tmp_path / "staging"))
    published = tmp_path / "published.jsonl"
    result = run_task("bulk_sink", "file", {"path": str(published)}, context, input_uri=source)
    assert result.success, result.error
    assert body(str(published)) == [dump_record_bytes(table(0)), body(source)[1]]


@pytest.mark.parametrize(
    "line",
    [
        # valid JSON, not a valid record: its samples are taken out, the rest kept
        b'{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x","row_count":-1,'
        b'"columns":[{"name":"a","data_type":"INT","samples":["SECRET123"]}]}',
        b'{"kind":"table","name":"t","colour":1,"columns":[{"\\u0073amples":["SECRET123"]}]}',
        # an escape that is no character (a lone surrogate) stays an escape: the dead letter can be written
        b'{"kind":"table","name":"t\\ud800","service":"s","database":"d","database_schema":"x","row_count":-1}',
        # not JSON: cut where samples may start
        b'{"kind":"table","name":"t","columns":[{"name":"a","samples":["SECRET123"',
    ],
)
def test_a_dead_letter_of_a_line_that_is_no_record_keeps_no_samples(tmp_path: Path, line: bytes) -> None:
    """A staged file between processors keeps column samples (raw values of the user's tables); a line of it that
    is not a valid record goes to the dead letters without them, which the UI serves for download."""
    source = tmp_path / "in.jsonl"
    with StagedFileWriter(str(source), producer="another tool", keep_samples=True) as out:
        out.write_line(line)
        out.write(table(1, samples=True))
    spec = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "sink": {"type": "file", "config": {"path": str(tmp_path / "out.jsonl")}},
        "workflow": {"staging_root": str(tmp_path / "staging"), "success_threshold": 0},
    }
    (tmp_path / "flow.yaml").write_text(json.dumps(spec))
    result = run_workflow(load_workflow(tmp_path / "flow.yaml"))
    assert result.dead_letter_uri is not None
    letters = Path(result.dead_letter_uri).read_bytes()
    assert b"SECRET123" not in letters and b'"kind' in letters
    assert b'"1"' not in Path(tmp_path / "out.jsonl").read_bytes()  # table 1's samples left out of the output too


@settings(max_examples=30, deadline=None)
@given(
    descriptions=st.lists(st.text(max_size=20) | st.none(), min_size=1, max_size=5),
    row_counts=st.lists(st.integers(min_value=0, max_value=2**40) | st.none(), min_size=1, max_size=5),
)
def test_a_line_written_again_is_what_serializing_would_write(
    tmp_path_factory, descriptions: list[str | None], row_counts: list[int | None]
) -> None:
    """Whatever the record, the line kept and a fresh serialization agree, so a copied file is a written one."""
    folder = tmp_path_factory.mktemp("lines")
    records = [
        table(index).model_copy(update={"description": description, "row_count": rows})
        for index, (description, rows) in enumerate(zip(descriptions, row_counts, strict=False))
    ]
    for record in StagedFileReader(write(folder / "in.jsonl", records)).records():
        assert staged_line(record) == dump_record_bytes(record)
        assert record.line_read in (None, dump_record_bytes(record))  # None: a line with escapes is not copied


def staged_by_another_tool(path: Path, *lines: bytes) -> str:
    """A staged file (header, checksum and all) holding ``lines`` as written by something else than this package."""
    with StagedFileWriter(str(path), producer="another tool", keep_samples=True) as out:
        for line in lines:
            out.write_line(line)
    return str(path)


@pytest.mark.parametrize(
    "key_twice",
    [
        b'"samples":["SECRET123"],"samples":[]',
        b'"\\u0073amples":["SECRET123"],"\\u0073amples":[]',
        b'"samples":["SECRET123"],"\\u0073amples":[]',
    ],
    ids=["plain", "escaped", "mixed"],
)
def test_samples_hidden_behind_a_key_given_twice_are_not_copied(tmp_path: Path, key_twice: bytes) -> None:
    """With a key given twice the record keeps the last value and the line both: a line that may hold samples is
    not copied as it is, so values the record does not have cannot ride along into a file written without them."""
    line = b'{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x","columns":[{"name":"a",'
    line += b'"data_type":"INT",' + key_twice + b"}]}"
    source = staged_by_another_tool(tmp_path / "in.jsonl", line)
    (record,) = read_records(source)
    assert record.columns[0].samples == [] and record.line_read is None
    run(tmp_path, source, tmp_path / "out.jsonl")
    (written,) = body(str(tmp_path / "out.jsonl"))
    assert b"SECRET123" not in written and written == dump_record_bytes(record)


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        (b'"nullable":"no"', "columns.0.nullable: Input should be a valid boolean"),
        (b'"nullable":0', "columns.0.nullable: Input should be a valid boolean"),
        (b'"ordinal_position":"5"', "columns.0.ordinal_position: Input should be a valid integer"),
        (b'"ordinal_position":5.0', "columns.0.ordinal_position: Input should be a valid integer"),
    ],
)
def test_a_staged_line_is_read_as_written_no_value_converted(tmp_path: Path, field: bytes, problem: str) -> None:
    """A staged file is read strictly: a value of the wrong JSON type is a failed record naming its field, never
    converted for the record while the line (copied to files, sent to Elasticsearch) keeps the text."""
    line = b'{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x","columns":[{"name":"a",'
    line += b'"data_type":"INT",' + field + b"}]}"
    source = staged_by_another_tool(tmp_path / "in.jsonl", line, dump_record_bytes(table(1)))
    spec = {
        "source": {"type": "file", "config": {"path": source}},
        "sink": {"type": "file", "config": {"path": str(tmp_path / "out.jsonl")}},
        "workflow": {"staging_root": str(tmp_path / "staging"), "success_threshold": 0},
    }
    (tmp_path / "flow.yaml").write_text(json.dumps(spec))
    result = run_workflow(load_workflow(tmp_path / "flow.yaml"))
    assert result.reports[0].failure_count == 1 and problem in result.reports[0].failures[0].error
    assert "line 2 is not a valid record" in result.reports[0].failures[0].error
    assert body(str(tmp_path / "out.jsonl")) == [dump_record_bytes(table(1))]


def test_a_plain_json_lines_file_is_read_as_people_write_it(tmp_path: Path) -> None:
    """A plain JSON Lines file (no staged file header: written by hand or another tool) still takes ``"5"`` for a
    number: its records are serialized anew, never copied as their lines."""
    line = b'{"kind":"table","name":"t","service":"s","database":"d","database_schema":"x","row_count":"5"}'
    (tmp_path / "plain.jsonl").write_bytes(line + b"\n")
    (record,) = StagedFileReader(str(tmp_path / "plain.jsonl"), allow_plain=True).records()
    assert record.row_count == 5 and record.line_read is None


def test_a_line_with_a_carriage_return_between_its_values_is_written_anew(tmp_path: Path) -> None:
    """JSON takes a carriage return between values; no writer writes one (a line of text ends there): such a line is
    serialized anew, never copied, so the task publishing it does not fail on its own output."""
    from airflow_provider_ingest.run.steps import run_task, task_context

    line = dump_record_bytes(table(0)).replace(b'"service"', b'\r"service"', 1)
    header = {"staged_file": 2, "content": "records", "producer": "another tool", "kinds": ["table"]}
    written = json.dumps(header).encode() + b"\n" + line + b"\n"
    trailer = {"staged_file_end": True, "count": 1, "crc32": f"{zlib.crc32(written):08x}"}
    source = tmp_path / "in.jsonl"
    source.write_bytes(written + json.dumps(trailer).encode() + b"\n")
    context = task_context(dag_id="d", run_id="r", task_id="publish", staging_root=str(tmp_path / "staging"))
    published = tmp_path / "published.jsonl"
    result = run_task("bulk_sink", "file", {"path": str(published)}, context, input_uri=str(source))
    assert result.success, result.error
    assert body(str(published)) == [dump_record_bytes(table(0))]


def test_an_input_rewritten_in_place_while_it_is_read_fails_the_run(tmp_path: Path) -> None:
    """The file source checks a file whole before its first record, then reads it again: a file another program
    rewrites in place in between (``cp`` over it) fails the run at its end, nothing written, not a mix of both."""
    source = write(tmp_path / "in.jsonl", [table(index) for index in range(20_000)])
    spec = {
        "source": {"type": "file", "config": {"path": source}},
        "processors": [
            {
                "type": "support.components:RewriteInput",
                "config": {"path": source, "old": '"note 19999"', "new": '"EVIL 19999"'},
            }
        ],
        "sink": {"type": "file", "config": {"path": str(tmp_path / "out.jsonl")}},
        "workflow": {"staging_root": str(tmp_path / "staging")},
    }
    (tmp_path / "flow.yaml").write_text(json.dumps(spec))
    result = run_workflow(load_workflow(tmp_path / "flow.yaml"))
    assert not result.success and "checksum does not match the trailer" in (result.error or "")
    assert not (tmp_path / "out.jsonl").exists()


def test_a_processor_giving_something_else_than_records_fails_those_records_alone(tmp_path: Path) -> None:
    source = write(tmp_path / "in.jsonl", [table(index) for index in range(3)])
    spec = {
        "source": {"type": "file", "config": {"path": source}},
        "processors": [{"type": "support.components:GivesNoneInAList"}],
        "sink": {"type": "file", "config": {"path": str(tmp_path / "out.jsonl")}},
        "workflow": {"staging_root": str(tmp_path / "staging"), "success_threshold": 0},
    }
    (tmp_path / "flow.yaml").write_text(json.dumps(spec))
    result = run_workflow(load_workflow(tmp_path / "flow.yaml"))
    assert result.error is None
    processor = result.reports[1]
    assert processor.failure_count == 3 and processor.records == 0
    assert processor.failures[0].error == "TypeError: process() gave [Table, NoneType]: a record, records or None"
