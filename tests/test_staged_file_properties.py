"""Property-based tests: mutated staged files are refused with StagedFileError or read exactly, never half-read.

Valid staged files (plain and gzip) are mutated (bytes flipped, cut, inserted; lines duplicated, deleted,
swapped; compressed bytes damaged) and read: either a :class:`StagedFileError`, or exactly the records written.
Through the CLI, a run never ends 0 with fewer records out than the trailer counts. Arbitrary record lines in
an intact file are each a record or a dead letter, never another exception.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.elasticsearch.documents import DocumentError, document
from airflow_provider_ingest.records import (
    Column,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    RecordError,
    Table,
    TagLabel,
    parse_record,
)
from airflow_provider_ingest.staging import StagedFileError, StagedFileReader, StagedFileWriter, read_records

RECORDS = [
    DatabaseService(name="shop", service_type="Postgres"),
    Database(service="shop", name="sales"),
    DatabaseSchema(service="shop", database="sales", name="public"),
    Table(
        service="shop",
        database="sales",
        database_schema="public",
        name="orders",
        tags=[TagLabel(tag_fqn="PII.Sensitive", confidence=0.5)],
        columns=[Column(name="id", data_type=DataType.BIGINT), Column(name="total", data_type=DataType.DECIMAL)],
    ),
    Table(service="shop", database="sales", database_schema="public", name="customers", row_count=12),
]
QUICK = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
CLI = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def written(compression: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "valid.jsonl"
        with StagedFileWriter(
            str(path), producer="tests", kinds={r.kind for r in RECORDS}, compression=compression
        ) as out:
            for record in RECORDS:
                out.write(record)
        return path.read_bytes()


PLAIN = written("none")
PACKED = written("gzip")
SPECIAL = [b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"{", b"}", b'"', b"\\", b"\xff", b" "]


@st.composite
def byte_edits(draw: st.DrawFn, data: bytes) -> bytes:
    """One to three edits of the bytes: a flipped byte, a cut, an insertion."""
    for _ in range(draw(st.integers(1, 3))):
        edit = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if edit == "flip" and data:
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        elif edit == "cut":
            data = data[:at]
        else:
            data = data[:at] + draw(st.one_of(st.sampled_from(SPECIAL), st.binary(min_size=1, max_size=6))) + data[at:]
    return data


@st.composite
def line_edits(draw: st.DrawFn, data: bytes) -> bytes:
    """One to three edits of whole lines: duplicated, deleted, swapped, blank or CRLF-ended."""
    lines = data.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        edit = draw(st.sampled_from(["duplicate", "delete", "swap", "blank", "crlf"]))
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        if edit == "duplicate":
            lines.insert(j, lines[i])
        elif edit == "delete":
            del lines[i]
        elif edit == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "blank":
            lines.insert(i, b"\n")
        else:
            lines[i] = lines[i].rstrip(b"\n") + b"\r\n"
    return b"".join(lines)


def mutated_files() -> st.SearchStrategy[bytes]:
    """Damaged staged files: plain ones edited, gzip ones edited before or after compression."""
    content = st.one_of(byte_edits(PLAIN), line_edits(PLAIN))
    return st.one_of(
        content,
        content.map(lambda data: gzip.compress(data, mtime=0)),
        byte_edits(PACKED),
    )


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def trailer_count() -> int:
    return json.loads(PLAIN.splitlines()[-1])["count"]


@QUICK
@given(data=mutated_files())
def test_a_mutated_file_is_refused_or_read_exactly(folder: Path, data: bytes) -> None:
    path = folder / "mutated.jsonl"
    path.write_bytes(data)
    invalid: list[str] = []
    try:
        records = list(StagedFileReader(str(path)).records(on_invalid=lambda message, *, raw: invalid.append(raw)))
    except StagedFileError as error:
        assert str(error).startswith(f"{path}: ")
        with pytest.raises(StagedFileError):
            StagedFileReader(str(path)).verify()
        return
    assert records == RECORDS and not invalid
    assert len(records) == trailer_count()
    assert StagedFileReader(str(path)).verify() == trailer_count()


@CLI
@given(data=mutated_files())
def test_a_run_never_succeeds_with_fewer_records_than_the_trailer_counts(
    folder: Path, data: bytes, capsys: Any
) -> None:
    (folder / "in.jsonl").write_bytes(data)
    out = folder / "out.jsonl"
    out.unlink(missing_ok=True)
    workflow = {
        "source": {"type": "file", "config": {"path": str(folder / "in.jsonl")}},
        "sink": {"type": "file", "config": {"path": str(out)}},
        "workflow": {"staging_root": str(folder / "staging")},
    }
    (folder / "workflow.yaml").write_text(json.dumps(workflow))
    code = main(["run", str(folder / "workflow.yaml")])
    printed = capsys.readouterr()
    assert "Traceback" not in printed.out + printed.err
    assert code in (0, 1)
    if code == 0:
        assert list(read_records(str(out))) == RECORDS
    else:
        assert "StagedFileError" in printed.out and not out.exists()


# --- blank and whitespace-only lines --------------------------------------------------------------

BLANK_LINES = st.text(alphabet=" \t\x0b\x0c", max_size=4).map(lambda text: text.encode() + b"\n")
"""An empty line, or one of spaces, tabs, vertical tabs and form feeds: no JSON text, nothing to hash as a record."""


@st.composite
def blank_lines_inserted(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A valid staged file with one to three blank lines inserted anywhere, and the line numbers they end up on."""
    lines: list[bytes | None] = list(PLAIN.splitlines(keepends=True))
    for _ in range(draw(st.integers(1, 3))):
        lines.insert(draw(st.integers(0, len(lines))), None)
    numbers = [number for number, line in enumerate(lines, 1) if line is None]
    return b"".join(draw(BLANK_LINES) if line is None else line for line in lines), numbers


@QUICK
@given(edited=blank_lines_inserted(), packed=st.booleans(), allow_plain=st.booleans())
def test_a_blank_line_anywhere_is_refused_naming_the_file_and_line(
    folder: Path, edited: tuple[bytes, list[int]], packed: bool, allow_plain: bool
) -> None:
    data, blanks = edited
    trailer_line = len(data.splitlines())
    while trailer_line in blanks:
        trailer_line -= 1
    path = folder / ("blank.jsonl.gz" if packed else "blank.jsonl")
    path.write_bytes(gzip.compress(data, mtime=0) if packed else data)
    with pytest.raises(StagedFileError) as raised:
        StagedFileReader(str(path), allow_plain=allow_plain).verify()
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    first = blanks[0]
    if first == 1:  # before the header: no staged file, or (read as plain JSON Lines) a trailer without a header
        assert "line 1 " in message + " "
    elif first > trailer_line or (not packed and blanks[-1] > trailer_line):  # the tail is checked first
        assert "after the trailer" in message
    else:
        assert f"corrupted: line {first} is blank" in message
    with pytest.raises(StagedFileError):
        list(StagedFileReader(str(path), allow_plain=allow_plain).records(on_invalid=lambda message, *, raw: None))


@pytest.mark.parametrize("line", ["", " ", "\t", " \x0c ", b"", b"  "], ids=repr)
def test_the_writer_refuses_a_blank_line(folder: Path, line: str | bytes) -> None:
    path = folder / "refused.jsonl"
    refused = pytest.raises(StagedFileError, match=f"^{re.escape(str(path))}: a record line must be one line of text")
    with refused, StagedFileWriter(str(path), producer="tests") as out:
        out.write_line(line)
    assert not path.exists()


# --- arbitrary record lines in an intact file --------------------------------------------------------

KEYS = ["kind", "name", "service", "database", "database_schema", "columns", "data_type", "tags", "tag_fqn"]
KEYS += ["constraints", "constraint_type", "row_count", "owners", "custom_properties", "table_type", "confidence"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.sampled_from(["table", "database", "database_schema", "database_service", "INT", "foreign_key", "x"])
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=12,
)
record_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(["table", "database", "database_schema", "database_service"])},
    optional={key: json_values for key in KEYS[1:]},
)
any_line = st.one_of(
    record_like.map(lambda value: json.dumps(value).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40).filter(lambda raw: b"\n" not in raw and b"\r" not in raw),
)


def staged(lines: list[bytes]) -> bytes:
    header = {"staged_file": 2, "content": "records", "producer": "tests", "kinds": []}
    written = json.dumps(header).encode() + b"\n" + b"".join(line + b"\n" for line in lines)
    trailer = {"staged_file_end": True, "count": len(lines), "crc32": f"{zlib.crc32(written):08x}"}
    return written + json.dumps(trailer).encode() + b"\n"


@QUICK
@given(lines=st.lists(any_line, min_size=1, max_size=4))
def test_every_line_of_an_intact_file_is_a_record_or_a_dead_letter(folder: Path, lines: list[bytes]) -> None:
    path = folder / "intact.jsonl"
    path.write_bytes(staged(lines))
    invalid: list[str] = []
    reader = StagedFileReader(str(path))
    try:
        records = list(reader.records(on_invalid=lambda message, *, raw: invalid.append(message)))
    except StagedFileError as error:
        assert any(line.isspace() or not line or line.startswith(b'{"staged_file_end"') for line in lines), error
        return
    assert len(records) + len(invalid) == len(lines)
    assert all(message.startswith(f"{path}: line ") for message in invalid)
    for line in lines:  # what the Elasticsearch bulk sink does with each line
        try:
            parse_record(line)
        except RecordError:
            continue
        with contextlib.suppress(DocumentError):
            document(json.loads(line))
