"""Records at the edges: what a bad record's error says (each kind of problem, the field, the cut-off of long
values and long lists), what a staged record leaves out, how quoted FQN parts split, and a query's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ingest.records import KIND_ORDER, Column, Table
from airflow_provider_ingest.records import fqn as fqn_
from airflow_provider_ingest.records.entities import (
    RecordError,
    dump_record,
    dump_record_bytes,
    parse_record,
    record_from_dict,
    staged_line,
)
from airflow_provider_ingest.records.usage import query_checksum
from airflow_provider_ingest.staging import StagedFileReader, StagedFileWriter

KINDS = "database_service, database, database_schema, table, lineage, query, table_usage"
TABLE = '"kind":"table","name":"t","service":"s","database":"d","database_schema":"sc"'


def test_the_kinds_are_listed_in_their_order() -> None:
    assert ", ".join(KIND_ORDER) == KINDS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name":"x"}', f"no kind (one of {KINDS})"),
        ('{"kind":"nope"}', f"unknown kind 'nope' (one of {KINDS})"),
        ("[1]", "a record is a JSON object, not an array"),
        ('"x"', "a record is a JSON object, not a string"),
        ("1", "a record is a JSON object, not a number"),
        ("1.5", "a record is a JSON object, not a number"),
        ("true", "a record is a JSON object, not a boolean"),
        ("null", "a record is a JSON object, not null"),
        ("not json", "invalid JSON: expected ident at line 1 column 2"),
        ('{"kind":"table","name":"t","service":"s","database":"d"}', "database_schema: Field required"),
        (
            "{" + TABLE + ',"columns":[{"name":"c","data_type":"BLOB2"}]}',
            "columns.0.data_type: 'BLOB2' is not one of the known values",
        ),
        # three problems are shown, the others counted
        ('{"kind":"table","name":"t","service":"s"}', "database: Field required; database_schema: Field required"),
        (
            '{"kind":"table"}',
            "name: Field required; service: Field required; database: Field required (and 1 more)",
        ),
        (
            '{"kind":"table","database_schema":"sc"}',
            "name: Field required; service: Field required; database: Field required",
        ),
    ],
)
def test_a_bad_record_says_what_is_wrong_and_where(text: str, message: str) -> None:
    with pytest.raises(RecordError) as raised:
        parse_record(text)
    assert str(raised.value) == message


def test_a_long_value_is_cut_in_the_message() -> None:
    fits = "k" * 58  # 60 characters with its quotes
    with pytest.raises(RecordError) as raised:
        parse_record('{"kind":"' + fits + '"}')
    assert str(raised.value) == f"unknown kind '{fits}' (one of {KINDS})"
    with pytest.raises(RecordError) as raised:
        parse_record('{"kind":"' + fits + 'k"}')
    assert str(raised.value).startswith("unknown kind '" + "k" * 56 + "... (one of")
    with pytest.raises(RecordError) as raised:
        parse_record("{" + TABLE + ',"columns":[{"name":"c","data_type":"' + "X" * 70 + '"}]}')
    assert str(raised.value) == "columns.0.data_type: '" + "X" * 56 + "... is not one of the known values"


def test_a_decoded_record_is_checked_the_same_way() -> None:
    record = record_from_dict({"kind": "table", "name": "t", "service": "s", "database": "d", "database_schema": "sc"})
    assert isinstance(record, Table)
    assert record.fqn == "s.d.sc.t"
    with pytest.raises(RecordError) as raised:
        record_from_dict([1])
    assert str(raised.value) == "a record is a JSON object, not an array"
    with pytest.raises(RecordError) as raised:
        record_from_dict({"kind": "nope"})
    assert str(raised.value) == f"unknown kind 'nope' (one of {KINDS})"


def test_samples_stay_out_of_a_dumped_record_unless_kept() -> None:
    table = Table(
        name="t",
        service="s",
        database="d",
        database_schema="sc",
        columns=[Column(name="c", data_type="INT", samples=["1"])],
    )
    columns = '"columns":[{"name":"c","data_type":"INT"'
    assert dump_record(table) == "{" + TABLE + "," + columns + "}]}"
    assert dump_record(table, keep_samples=True) == "{" + TABLE + "," + columns + ',"samples":["1"]}]}'
    assert parse_record(dump_record(table, keep_samples=True)) == table
    assert parse_record(dump_record(table)) != table
    assert dump_record_bytes(table) == dump_record(table).encode()  # samples stay out of the bytes too


# a staged line as an earlier writer may have put it: table_type at its default, which a dump leaves out
READ = b"{" + TABLE.encode() + b',"table_type":"table","columns":[{"name":"c","data_type":"INT","nullable":true}]}'
SAMPLED = b"{" + TABLE.encode() + b',"columns":[{"name":"c","data_type":"INT","samples":["1"]}]}'


def read(line: bytes) -> Table:
    record = parse_record(line)
    record.read_from(line)
    return record


def test_a_record_read_from_a_staged_line_is_written_again_as_that_line() -> None:
    record = read(READ)
    assert record.line_read == READ
    assert staged_line(record) == READ
    assert staged_line(record) != dump_record_bytes(record)
    assert record == parse_record(READ)  # the line read does not count in equality


@pytest.mark.parametrize(
    "line",
    [SAMPLED, READ.replace(b'"c"', b'"\\u0063"'), READ.replace(b'"c",', b'"c",\r')],
    ids=["samples", "an_escape", "a_carriage_return"],
)
def test_a_line_that_may_differ_from_its_record_is_not_kept(line: bytes) -> None:
    """A line that may hold samples (a key given twice keeps both in the line, the last in the record), escapes that
    may spell them, or a carriage return no writer writes: serialized anew wherever it is written."""
    record = read(line)
    assert record.line_read is None
    assert staged_line(record) == dump_record_bytes(record)


def test_a_record_read_with_samples_written_without_them_is_serialized_anew(tmp_path: Path) -> None:
    """The reader keeps no line that may hold samples, so a writer leaving them out serializes the record anew."""
    path = tmp_path / "in.jsonl"
    with StagedFileWriter(str(path), producer="test", keep_samples=True) as out:
        out.write_line(SAMPLED)
    (record,) = StagedFileReader(str(path)).records()
    assert record.line_read is None and record.columns[0].samples == ["1"]
    assert staged_line(record) == dump_record_bytes(record)
    assert b'"samples"' not in staged_line(record)


def test_a_record_that_may_have_changed_is_serialized_anew() -> None:
    record = read(READ)
    copy = record.model_copy(update={"description": "changed"})
    assert copy.line_read is None
    assert copy.description == "changed" and record.description is None
    assert staged_line(copy, keep_samples=True) == dump_record_bytes(copy, keep_samples=True)
    assert b'"description":"changed"' in staged_line(copy, keep_samples=True)
    record.read_from(None)  # a processor's output: it may have been changed in place
    assert record.line_read is None
    assert staged_line(record, keep_samples=True) == dump_record_bytes(record, keep_samples=True)


@pytest.mark.parametrize(
    ("fqn", "parts"),
    [
        ('"a.b".c', ["a.b", "c"]),
        ('s."say ""hi"""', ["s", 'say "hi"']),
        ('a"b".c', ['a"b"', "c"]),  # a quote inside a part is only text
        ('"a"', ["a"]),
    ],
)
def test_quoted_fqn_parts(fqn: str, parts: list[str]) -> None:
    assert fqn_.split(fqn) == parts


@pytest.mark.parametrize(
    ("fqn", "message"),
    [
        ('s."ab', "unterminated quote in FQN 's.\"ab'"),
        ('"a"b.c', "unexpected character after a quoted part in FQN '\"a\"b.c'"),
        ('"a".."b"', 'empty name part in FQN \'"a".."b"\''),
    ],
)
def test_a_bad_fqn_says_why(fqn: str, message: str) -> None:
    with pytest.raises(fqn_.FqnError) as raised:
        fqn_.split(fqn)
    assert str(raised.value) == message


def test_an_empty_part_cannot_be_quoted() -> None:
    with pytest.raises(fqn_.FqnError) as raised:
        fqn_.quote("")
    assert str(raised.value) == "an FQN part cannot be empty"


def test_a_query_is_named_by_the_md5_of_its_text() -> None:
    assert query_checksum("select 1") == "95adb6e77a0884d9e50232cb8c5c969d"
    assert query_checksum("") == "d41d8cd98f00b204e9800998ecf8427e"
