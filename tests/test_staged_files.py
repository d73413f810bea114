"""Staged files: streamed round trips, header and trailer, truncated and corrupted files refused, atomic writes."""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import json
import os
import subprocess
import sys
import uuid
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.components.file import FileSource
from airflow_provider_ingest.records import (
    Column,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    RecordError,
    Table,
    dump_record,
)
from airflow_provider_ingest.staging import (
    StagedFileError,
    StagedFileReader,
    StagedFileWriter,
    paths,
    read_records,
    stagedfile,
)

RECORDS = [
    DatabaseService(name="prod", service_type="Postgres"),
    Database(service="prod", name="shop"),
    DatabaseSchema(service="prod", database="shop", name="sales.eu"),
    Table(
        service="prod",
        database="shop",
        database_schema="sales.eu",
        name="Bestellungen_ü",
        description="日本語",
        columns=[Column(name="id", data_type=DataType.BIGINT, nullable=False, ordinal_position=1)],
    ),
    Table(service="prod", database="shop", database_schema="sales.eu", name="customers"),
]


def tables(count: int) -> list[Table]:
    """``count`` tables whose descriptions do not compress away, so files are a few MB."""
    return [
        Table(service="s", database="d", database_schema="x", name=f"t{i}", description=os.urandom(256).hex())
        for i in range(count)
    ]


def write(uri: str | Path, records: list, **options: object) -> str:
    with StagedFileWriter(str(uri), producer="tests", kinds={r.kind for r in records}, **options) as out:
        for record in records:
            out.write(record)
    return str(uri)


def raw_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.splitlines(keepends=True)


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["records.jsonl", "records.jsonl.gz"])
def test_round_trip_is_exact(tmp_path, name):
    uri = write(tmp_path / name, RECORDS)
    assert list(read_records(uri)) == RECORDS
    assert (Path(uri).read_bytes()[:2] == b"\x1f\x8b") is name.endswith(".gz")


def test_compression_option_overrides_the_name(tmp_path):
    packed = write(tmp_path / "packed.jsonl", RECORDS, compression="gzip")
    plain = write(tmp_path / "plain.jsonl.gz", RECORDS, compression="none")
    assert Path(packed).read_bytes()[:2] == b"\x1f\x8b"
    assert Path(plain).read_bytes()[:1] == b"{"
    assert list(read_records(packed)) == list(read_records(plain)) == RECORDS


@pytest.mark.parametrize("name", ["records.jsonl", "records.jsonl.gz"])
def test_the_same_records_give_the_same_bytes(tmp_path, name):
    first, second = tmp_path / "a" / name, tmp_path / "b" / name
    write(first, RECORDS)
    write(second, RECORDS)
    assert first.read_bytes() == second.read_bytes()


def test_a_gzip_staged_file_carries_no_file_name_and_no_time(tmp_path):
    """So a retried task writes the same bytes on another day, under another temporary name."""
    data = Path(write(tmp_path / "records.jsonl.gz", RECORDS)).read_bytes()
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert (flags, mtime) == (0, 0)


def version_1(records: list, *, checksum: str | None = None) -> bytes:
    """A staged file as releases before version 2 wrote it: a SHA-256 of the record lines, the header left out."""
    header = {"staged_file": 1, "content": "records", "producer": "old", "kinds": sorted({r.kind for r in records})}
    body = b"".join((dump_record(record) + "\n").encode() for record in records)
    trailer = {"staged_file_end": True, "count": len(records), "sha256": checksum or hashlib.sha256(body).hexdigest()}
    return json.dumps(header).encode() + b"\n" + body + json.dumps(trailer).encode() + b"\n"


def test_a_version_1_file_of_an_older_release_is_still_read(tmp_path: Path) -> None:
    """A ``file`` sink's export written by an older release stays readable: its SHA-256 is checked as before."""
    (tmp_path / "old.jsonl").write_bytes(version_1(RECORDS))
    assert list(read_records(str(tmp_path / "old.jsonl"))) == RECORDS
    (tmp_path / "damaged.jsonl").write_bytes(version_1(RECORDS, checksum="0" * 64))
    with pytest.raises(StagedFileError, match="corrupted: checksum does not match the trailer"):
        list(read_records(str(tmp_path / "damaged.jsonl")))


@pytest.mark.parametrize("name", ["records.jsonl", "records.jsonl.gz"])
def test_header_and_trailer(tmp_path, name):
    path = tmp_path / name
    write(path, RECORDS)
    lines = raw_lines(path)
    header, body, trailer = json.loads(lines[0]), lines[1:-1], json.loads(lines[-1])
    assert header == {
        "staged_file": 2,
        "content": "records",
        "producer": "tests",
        "kinds": ["database", "database_schema", "database_service", "table"],
    }
    assert body == [(dump_record(record) + "\n").encode() for record in RECORDS]
    checksum = zlib.crc32(b"".join(lines[:-1]))  # every byte before the trailer, the header's too
    assert trailer == {"staged_file_end": True, "count": 5, "crc32": f"{checksum:08x}"}
    reader = StagedFileReader(str(path))
    assert len(list(reader.records())) == 5
    assert reader.header["producer"] == "tests"
    assert reader.count == 5


def test_empty_staged_file_round_trips(tmp_path):
    uri = write(tmp_path / "empty.jsonl", [])
    assert list(read_records(uri)) == []
    assert json.loads(raw_lines(Path(uri))[-1])["count"] == 0


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz"])
def test_reading_is_streamed(tmp_path, monkeypatch, name):
    records = tables(20_000)
    path = tmp_path / name
    write(path, records)
    size = path.stat().st_size
    assert size > 5_000_000
    original, opened = paths.open_read, []
    monkeypatch.setattr(paths, "open_read", lambda uri: opened.append(original(uri)) or opened[-1])
    reader = read_records(str(path))
    assert next(reader) == records[0]
    assert opened[0].raw.tell() < size / 2, "the first record should not need the whole file"
    assert list(reader) == records[1:]


def test_writing_is_streamed_and_atomic(tmp_path):
    path = tmp_path / "out.jsonl"
    with StagedFileWriter(str(path), producer="tests") as out:
        for record in tables(20_000):
            out.write(record)
        partial = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
        assert not path.exists()
        assert len(partial) == 1 and partial[0].stat().st_size > 2_000_000
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    assert sum(1 for _ in read_records(str(path))) == 20_000


# --- truncated and corrupted files ---------------------------------------------------------------


def cut_points(data: bytes) -> dict[str, int]:
    first_end = data.index(b"\n") + 1
    trailer_start = data.rindex(b"\n", 0, len(data) - 1) + 1
    return {
        "inside_header": first_end // 2,
        "after_header": first_end,
        "inside_first_record": first_end + 20,
        "between_records": data.index(b"\n", first_end) + 1,
        "before_trailer": trailer_start,
        "inside_trailer": trailer_start + 10,
        "trailer_without_newline": len(data) - 1,
    }


@pytest.mark.parametrize(
    "cut",
    [
        "inside_header",
        "after_header",
        "inside_first_record",
        "between_records",
        "before_trailer",
        "inside_trailer",
        "trailer_without_newline",
    ],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_truncated_file_is_refused(tmp_path, cut, compressed):
    """A writer killed at any point leaves a file every reader refuses, naming it."""
    whole = tmp_path / "whole.jsonl"
    write(whole, RECORDS)
    data = whole.read_bytes()
    cut_data = data[: cut_points(data)[cut]]
    path = tmp_path / "cut.jsonl"
    path.write_bytes(gzip.compress(cut_data) if compressed else cut_data)
    with pytest.raises(StagedFileError, match="truncated") as refused:
        list(read_records(str(path)))
    assert str(refused.value).startswith(f"{path}: ")


def test_truncated_plain_file_is_refused_before_any_record(tmp_path):
    whole = tmp_path / "whole.jsonl"
    write(whole, RECORDS)
    whole.write_bytes(whole.read_bytes()[:-40])
    records = read_records(str(whole))
    with pytest.raises(StagedFileError, match="does not end with a trailer"):
        next(records)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_cut_gzip_stream_is_refused(tmp_path, keep):
    """Compressed bytes cut short (writer killed while compressing): a clear error, not a gzip exception."""
    path = tmp_path / "cut.jsonl.gz"
    write(path, tables(200))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(StagedFileError, match="truncated") as refused:
        list(read_records(str(path)))
    assert str(path) in str(refused.value)


def test_flipped_byte_fails_the_checksum(tmp_path):
    path = tmp_path / "flipped.jsonl"
    write(path, RECORDS)
    data = path.read_bytes()
    at = data.index(b"customers")
    path.write_bytes(data[:at] + b"C" + data[at + 1 :])
    with pytest.raises(StagedFileError) as refused:
        list(read_records(str(path)))
    assert str(refused.value) == f"{path}: corrupted: checksum does not match the trailer"


def test_flipped_byte_in_gzip_checksum_is_refused(tmp_path):
    path = tmp_path / "flipped.jsonl.gz"
    write(path, RECORDS)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0x01  # the gzip member's CRC-32
    path.write_bytes(bytes(data))
    with pytest.raises(StagedFileError) as refused:
        list(read_records(str(path)))
    assert str(refused.value) == f"{path}: corrupted: gzip stream: incorrect data check"


def test_flipped_byte_inside_gzip_data_is_refused(tmp_path):
    path = tmp_path / "flipped.jsonl.gz"
    write(path, tables(50))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StagedFileError, match=r"corrupted|truncated") as refused:
        list(read_records(str(path)))
    assert str(refused.value).startswith(f"{path}: ")


def test_wrong_count_in_trailer(tmp_path):
    path = tmp_path / "count.jsonl"
    write(path, RECORDS)
    path.write_bytes(path.read_bytes().replace(b'"count": 5', b'"count": 6'))
    with pytest.raises(StagedFileError) as refused:
        list(read_records(str(path)))
    assert str(refused.value) == f"{path}: corrupted: trailer counts 6 records, file has 5"


def test_missing_record_line(tmp_path):
    path = tmp_path / "missing.jsonl"
    write(path, RECORDS)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + lines[3:]))
    with pytest.raises(StagedFileError, match=r"corrupted: trailer counts 5 records, file has 4"):
        list(read_records(str(path)))


def test_data_after_the_trailer(tmp_path):
    path = tmp_path / "after.jsonl"
    write(path, RECORDS)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines, lines[-1]]))
    with pytest.raises(StagedFileError, match=r"data after the trailer on line 8"):
        list(read_records(str(path)))


def test_invalid_record_line_names_file_and_line(tmp_path):
    path = tmp_path / "invalid.jsonl"
    with StagedFileWriter(str(path), producer="tests") as out:
        out.write(RECORDS[0])
        out.write_line('{"kind": "table", "name": "no parents"}')
    with pytest.raises(StagedFileError, match=rf"^{path}: line 3 is not a valid record: "):
        list(read_records(str(path)))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file, not a staged file"),
        (b'{"kind": "database_service", "name": "x"}\n', "no staged file header on line 1"),
        (b'{"kind": "database_service", "name": "x"}\n{"staged_file_end": true}\n', "no staged file header on line 1"),
        (b'{"staged_file": 3}\n{"staged_file_end": true, "count": 0}\n', "unsupported staged file version 3"),
    ],
    ids=["empty", "plain_jsonl", "plain_with_trailer", "future_version"],
)
def test_not_a_staged_file(tmp_path, content, message):
    path = tmp_path / "other.jsonl"
    path.write_bytes(content)
    with pytest.raises(StagedFileError) as refused:
        list(StagedFileReader(str(path)).lines())
    assert message in str(refused.value) and str(path) in str(refused.value)


def test_read_records_takes_only_staged_files_unless_asked_for_plain_lines(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text(dump_record(RECORDS[1]) + "\n")

    with pytest.raises(StagedFileError) as refused:
        list(read_records(str(path)))
    assert str(refused.value) == (
        f"{path}: no staged file header on line 1 "
        "(plain JSON Lines are read only by the file source, with format: jsonl)"
    )
    assert list(read_records(str(path), allow_plain=True)) == [RECORDS[1]]


# --- atomic writes -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_failing_writer_leaves_no_file(tmp_path, name):
    path = tmp_path / name
    with pytest.raises(RuntimeError, match="source broke"), StagedFileWriter(str(path), producer="tests") as out:
        out.write(RECORDS[0])
        raise RuntimeError("source broke")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_failing_writer_keeps_the_previous_file(tmp_path, name):
    path = tmp_path / name
    write(path, RECORDS[:2])
    before = path.read_bytes()
    with pytest.raises(RuntimeError), StagedFileWriter(str(path), producer="tests") as out:
        for record in tables(5_000):
            out.write(record)
        raise RuntimeError("sink broke")
    assert path.read_bytes() == before
    assert list(read_records(str(path))) == RECORDS[:2]
    assert [p.name for p in tmp_path.iterdir()] == [name]


class FullDisk:
    """A file that takes ``room`` bytes, then fails every write as a full disk does."""

    def __init__(self, handle, room: int) -> None:
        self.handle, self.room = handle, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name: str):
        return getattr(self.handle, name)


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_a_full_disk_fails_the_writer_and_keeps_the_previous_file(tmp_path, monkeypatch, name):
    path = tmp_path / name
    write(path, RECORDS[:2])
    before = path.read_bytes()
    original = paths.atomic_write

    @contextlib.contextmanager
    def filling(uri: str):
        with original(uri) as handle:
            yield FullDisk(handle, 1_500_000)

    monkeypatch.setattr(paths, "atomic_write", filling)
    with pytest.raises(OSError, match="No space left"), StagedFileWriter(str(path), producer="tests") as out:
        for record in tables(10_000):  # about 6 MB, written a megabyte at a time
            out.write(record)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [name]


KILLED_WRITER = """
import os, signal, sys
from airflow_provider_ingest.records import Table
from airflow_provider_ingest.staging import StagedFileWriter
with StagedFileWriter(sys.argv[1], producer="killed") as out:
    for i in range(50_000):
        out.write(Table(service="s", database="d", database_schema="x", name=f"t{i}"))
        if i == 40_000:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def test_killed_writer_leaves_the_previous_file(tmp_path):
    path = tmp_path / "out.jsonl"
    write(path, RECORDS)
    before = path.read_bytes()
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert done.returncode == -9
    assert path.read_bytes() == before
    (partial,) = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert partial.name.startswith("out.jsonl.") and partial.stat().st_size > 0
    with pytest.raises(StagedFileError, match="truncated"):
        list(read_records(str(partial)))


# --- plain JSON Lines through the file source ----------------------------------------------------


def context(tmp_path: Path) -> RunContext:
    return RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path / "staging"), base_dir=tmp_path)


def test_file_source_reads_plain_json_lines(tmp_path):
    rows = [
        {"name": "prod", "kind": "database_service", "service_type": "Postgres", "description": None},
        {"kind": "database", "service": "prod", "name": "shop", "tags": []},
        {
            "kind": "table",
            "service": "prod",
            "database": "shop",
            "database_schema": "sales.eu",
            "name": "Bestellungen_ü",
            "description": "日本語",
            "columns": [{"name": "id", "data_type": "BIGINT", "nullable": False, "ordinal_position": 1}],
        },
    ]
    text = "\n".join(json.dumps(row, ensure_ascii=False) for row in rows[:2]) + "\n\n" + json.dumps(rows[2]) + "\n"
    (tmp_path / "plain.jsonl").write_text(text, encoding="utf-8")
    source = FileSource.create({"path": "plain.jsonl", "format": "jsonl"}, context(tmp_path))
    assert list(source.records()) == [RECORDS[0], RECORDS[1], RECORDS[3]]


def test_file_source_accepts_plain_json_lines_without_final_newline(tmp_path):
    (tmp_path / "plain.jsonl").write_text(dump_record(RECORDS[0]) + "\n" + dump_record(RECORDS[1]))
    source = FileSource.create({"path": str(tmp_path / "plain.jsonl"), "format": "jsonl"}, context(tmp_path))
    assert list(source.records()) == RECORDS[:2]


def test_file_source_reads_staged_files_and_checks_them(tmp_path):
    write(tmp_path / "staged.jsonl.gz", RECORDS)
    assert list(FileSource.create({"path": "staged.jsonl.gz"}, context(tmp_path)).records()) == RECORDS
    path = tmp_path / "cut.jsonl"
    write(path, RECORDS)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(StagedFileError, match="truncated"):
        list(FileSource.create({"path": "cut.jsonl"}, context(tmp_path)).records())


def test_file_source_counts_and_keeps_a_bad_plain_line_and_goes_on(tmp_path):
    path = tmp_path / "plain.jsonl"
    bad = '{"kind": "table", "name": "t"}'
    path.write_text(dump_record(RECORDS[0]) + "\n" + bad + "\n" + dump_record(RECORDS[1]) + "\n")
    letters = []
    run = context(tmp_path)
    run.dead_letters = SimpleNamespace(add=letters.append)
    source = FileSource.create({"path": "plain.jsonl", "format": "jsonl"}, run)

    assert list(source.records()) == RECORDS[:2]
    assert source.report.failure_count == 1
    [letter] = letters
    assert letter.error.startswith(f"{path}: line 2 is not a valid record")
    assert letter.record == bad


def test_staged_file_reader_names_the_bad_line(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_text(dump_record(RECORDS[0]) + "\n" + '{"kind": "table", "name": "t"}\n')
    with pytest.raises(StagedFileError, match=rf"^{path}: line 2 is not a valid record"):
        list(StagedFileReader(str(path), allow_plain=True).records())


def test_plain_json_lines_are_each_non_blank_line_ending_with_a_newline(tmp_path):
    path = tmp_path / "plain.jsonl"
    path.write_bytes(b'{"a": 1}\n\n   \n{"b": 2}')  # blank lines skipped, the last line without its newline
    reader = StagedFileReader(str(path), allow_plain=True)

    assert list(reader.lines()) == [b'{"a": 1}\n', b'{"b": 2}\n']
    assert (reader.count, reader.line_number) == (2, 4)
    assert reader.verify() == 2


@pytest.mark.parametrize("staged", [False, True], ids=["plain", "staged"])
def test_a_line_of_the_longest_length_is_read_and_one_byte_more_is_refused(tmp_path, monkeypatch, staged):
    """The longest line a reader takes (``MAX_LINE_BYTES``, here 128) counts its bytes without the newline."""
    monkeypatch.setattr(stagedfile, "MAX_LINE_BYTES", 128)
    longest = b'{"kind": "table", "name": "' + b"x" * 99 + b'"}'
    path = tmp_path / "lines.jsonl"

    def read(lines: list[bytes]) -> list[bytes]:
        if staged:
            with monkeypatch.context() as writing:  # a file written where lines may be longer
                writing.setattr(stagedfile, "MAX_LINE_BYTES", 256)
                with StagedFileWriter(str(path), producer="tests") as out:
                    for line in lines:
                        out.write_line(line)
        else:
            path.write_bytes(b"\n".join(lines))  # the last line without its newline
        return list(StagedFileReader(str(path), allow_plain=True).lines())

    assert len(longest) == 128
    assert read([longest, longest]) == [longest + b"\n"] * 2
    if not staged:  # a first line too long, with its newline
        with pytest.raises(StagedFileError, match=r": line 1 is longer than 128 bytes$"):
            read([longest[:-2] + b'x"}', longest])
    with pytest.raises(StagedFileError) as refused:
        read([longest, longest[:-2] + b'x"}'])
    assert str(refused.value) == f"{path}: {'corrupted: line 3' if staged else 'line 2'} is longer than 128 bytes"


def test_the_writer_refuses_a_line_longer_than_a_reader_takes_as_that_records_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(stagedfile, "MAX_LINE_BYTES", 128)
    with StagedFileWriter(str(tmp_path / "staged.jsonl"), producer="tests") as out:
        out.write_line(b'{"kind": "table", "name": "' + b"x" * 99 + b'"}')
        with pytest.raises(RecordError, match=r"^the record is 129 bytes of JSON, more than the 128 a staged file"):
            out.write_line(b'{"kind": "table", "name": "' + b"x" * 100 + b'"}')
    assert out.count == 1 and StagedFileReader(str(tmp_path / "staged.jsonl")).verify() == 1


def test_a_header_whose_producer_is_not_a_name_is_refused(tmp_path):
    path = tmp_path / "staged.jsonl"
    write(path, RECORDS[:1])
    path.write_bytes(path.read_bytes().replace(b'"producer": "tests"', b'"producer": 7', 1))
    with pytest.raises(StagedFileError, match="corrupted: line 1 is not a valid staged file header"):
        StagedFileReader(str(path)).verify()


def test_an_invalid_line_is_given_as_its_whole_text_without_the_line_end(tmp_path):
    path = tmp_path / "staged.jsonl"
    with StagedFileWriter(str(path), producer="tests") as out:
        out.write_line(b'{"kind": "table", "name": "X')
    given: list[str] = []
    assert list(StagedFileReader(str(path)).records(on_invalid=lambda message, *, raw: given.append(raw))) == []
    assert given == ['{"kind": "table", "name": "X']


def test_a_staged_file_trailer_after_a_line_that_is_no_header_means_a_damaged_header(tmp_path):
    path = tmp_path / "damaged.jsonl"
    write(path, RECORDS[:1])
    path.write_bytes(b'{"staged_fi' + path.read_bytes()[len(b'{"staged_file') :])

    with pytest.raises(StagedFileError) as refused:
        StagedFileReader(str(path), allow_plain=True).verify()

    assert str(refused.value) == (
        f"{path}: line 3 is a staged file trailer, but line 1 is no staged file header: the header is damaged"
    )


# --- ObjectStoragePath URIs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_file_uri_round_trip_through_object_storage_path(tmp_path, name):
    from airflow.sdk import ObjectStoragePath

    uri = f"file://{tmp_path}/nested/{name}"
    write(uri, RECORDS)
    assert (tmp_path / "nested" / name).exists()
    assert list(read_records(uri)) == RECORDS
    copy = ObjectStoragePath(f"file://{tmp_path}/copy/{name}")
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(ObjectStoragePath(uri).read_bytes())
    assert list(read_records(str(copy))) == RECORDS
    source = FileSource.create({"path": str(copy)}, context(tmp_path))
    assert list(source.records()) == RECORDS


@pytest.fixture
def memory_store():
    """An fsspec in-memory filesystem attached to Airflow's ObjectStoragePath as ``memory://``."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    root = f"memory://h3-{uuid.uuid4().hex}"
    yield root
    MemoryFileSystem().rm(root.removeprefix("memory://"), recursive=True)


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_object_storage_round_trip_and_atomic_write(memory_store, name):
    """The non-local path: written through ObjectStoragePath to a temporary name, then renamed."""
    from airflow.sdk import ObjectStoragePath

    uri = f"{memory_store}/run/{name}"
    write(uri, RECORDS)
    assert list(read_records(uri)) == RECORDS
    with pytest.raises(RuntimeError), StagedFileWriter(uri, producer="tests") as out:
        out.write(RECORDS[0])
        raise RuntimeError("broke")
    assert list(read_records(uri)) == RECORDS
    assert [p.name for p in ObjectStoragePath(f"{memory_store}/run").iterdir()] == [name]


def test_object_storage_truncated_file_is_refused(memory_store):
    from airflow.sdk import ObjectStoragePath

    uri = f"{memory_store}/cut.jsonl"
    write(uri, RECORDS)
    path = ObjectStoragePath(uri)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(StagedFileError, match="truncated") as refused:
        list(read_records(uri))
    assert uri in str(refused.value)


def test_local_paths_do_not_import_airflow(tmp_path):
    script = (
        "import sys\n"
        "from airflow_provider_ingest.staging import read_records\n"
        f"from airflow_provider_ingest.staging import StagedFileWriter\n"
        f"with StagedFileWriter({str(tmp_path / 'x.jsonl')!r}, producer='t'): pass\n"
        f"assert list(read_records({'file://' + str(tmp_path / 'x.jsonl')!r})) == []\n"
        "from airflow_provider_ingest.staging import paths\n"
        f"assert paths.exists({str(tmp_path / 'x.jsonl')!r})\n"
        f"assert paths.exists({'file://' + str(tmp_path / 'x.jsonl')!r})\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "[]"
    assert os.path.exists(tmp_path / "x.jsonl")


@pytest.mark.parametrize("name", ["staged.jsonl", "staged.jsonl.gz"])
def test_checked_lines_give_nothing_of_a_damaged_file_and_everything_of_a_whole_one(tmp_path, name):
    """The whole file is checked before its first line is given, from one open file hashed once."""
    path = tmp_path / name
    write(path, RECORDS)
    reader = StagedFileReader(str(path))
    assert list(reader.checked_lines()) == list(StagedFileReader(str(path)).lines())
    assert reader.count == len(RECORDS)
    if name.endswith(".gz"):
        return
    data = path.read_bytes()
    last = data.rindex(b'"name":"') + len(b'"name":"')
    path.write_bytes(data[:last] + b"X" + data[last + 1 :])  # the last record changed: the checksum no longer holds
    given = []
    with pytest.raises(StagedFileError, match="checksum does not match"):
        given.extend(StagedFileReader(str(path)).checked_lines())
    assert given == []
