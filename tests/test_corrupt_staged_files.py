"""Corrupted staged files and malformed records, each consumed through the CLI by every reader of staged files.

A damaged file (truncated, flipped, reordered, converted to CRLF, wrapped in broken gzip, or no staged file at
all) is refused whole: exit 1, the file and, where there is one, the line named, no traceback, nothing written
and nothing sent to Elasticsearch or OpenMetadata. An intact file holding malformed records is read: each bad
record is dead-lettered with its line number, reason and raw text, and records in = published + failed.

Consumers: the ``file`` source (into a ``file`` sink), and the ``file``, ``elasticsearch`` (``upsert`` and
``replace``) and ``openmetadata`` bulk sinks, handed the file by a stage (``support.components:HandOverStage``).
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from es_server import FakeElasticsearch
from om_server import TOKEN, FakeOpenMetadata, serve

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.records import (
    Column,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Table,
    dump_record,
)
from airflow_provider_ingest.staging import (
    StagedFileError,
    StagedFileWriter,
    read_dead_letters,
    read_records,
    verify_staged_file,
)

RECORDS = [
    DatabaseService(name="shop", service_type="Postgres"),
    Database(service="shop", name="sales"),
    DatabaseSchema(service="shop", database="sales", name="public"),
    Table(
        service="shop",
        database="sales",
        database_schema="public",
        name="orders",
        columns=[Column(name="id", data_type=DataType.BIGINT), Column(name="total", data_type=DataType.DECIMAL)],
    ),
    Table(service="shop", database="sales", database_schema="public", name="customers"),
    Table(service="shop", database="sales", database_schema="public", name="invoices"),
]
GOOD_LINES = [dump_record(record).encode() for record in RECORDS]
HEADER = json.dumps(
    {"staged_file": 2, "content": "records", "producer": "tests", "kinds": sorted({r.kind for r in RECORDS})}
).encode()
TRAILER_LINE = len(RECORDS) + 2
CONSUMERS = ["file_source", "file_bulk_sink", "es_upsert", "es_replace", "openmetadata"]
COMPONENTS = {
    "file_source": "source:file",
    "file_bulk_sink": "bulk_sink:file",
    "es_upsert": "bulk_sink:elasticsearch",
    "es_replace": "bulk_sink:elasticsearch",
    "openmetadata": "bulk_sink:openmetadata",
}
ES_KINDS = ("services", "databases", "schemas", "tables")


def staged(lines: list[bytes], header: bytes = HEADER) -> bytes:
    """A staged file holding ``lines`` as its records, with a true count and checksum."""
    written = header + b"\n" + b"".join(line + b"\n" for line in lines)
    trailer = {"staged_file_end": True, "count": len(lines), "crc32": f"{zlib.crc32(written):08x}"}
    return written + json.dumps(trailer).encode() + b"\n"


VALID = staged(GOOD_LINES)


def _other_end(digit: bytes) -> bytes:
    """Another hex digit than the checksum's last, and the trailer's end: a flipped checksum."""
    return (b"1" if digit == b"0" else b"0") + b'"}\n'


def test_the_builder_writes_what_the_writer_writes(tmp_path: Path) -> None:
    with StagedFileWriter(str(tmp_path / "w.jsonl"), producer="tests", kinds={r.kind for r in RECORDS}) as out:
        for record in RECORDS:
            out.write(record)
    assert (tmp_path / "w.jsonl").read_bytes() == VALID
    assert list(read_records(str(tmp_path / "w.jsonl"))) == RECORDS


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "gzip"])
def test_verify_reads_the_whole_file_and_returns_its_count(tmp_path: Path, packed: bool) -> None:
    path = tmp_path / "valid.jsonl"
    path.write_bytes(gzip.compress(VALID) if packed else VALID)
    assert verify_staged_file(str(path)) == len(RECORDS)
    path.write_bytes(gzip.compress(VALID[:-1]) if packed else VALID + VALID)
    with pytest.raises(StagedFileError):
        verify_staged_file(str(path))


@pytest.mark.parametrize("line", ["", "two\nlines", "ends with CR\r"])
def test_the_writer_refuses_what_no_reader_would_take(tmp_path: Path, line: str) -> None:
    refused = pytest.raises(StagedFileError, match="a record line must be one line of text")
    with refused, StagedFileWriter(str(tmp_path / "w.jsonl"), producer="tests") as out:
        out.write_line(line)
    assert not (tmp_path / "w.jsonl").exists()


# --- how files are damaged --------------------------------------------------------------------------


def lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def edit_line(number: int, change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Change line ``number`` (1-based) of the file."""

    def edit(data: bytes) -> bytes:
        parts = lines(data)
        parts[number - 1] = change(parts[number - 1])
        return b"".join(parts)

    return edit


def replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        assert old in data
        return data.replace(old, new, 1)

    return edit


def cut_at(where: Callable[[bytes], int]) -> Callable[[bytes], bytes]:
    return lambda data: data[: where(data)]


def line_start(number: int) -> Callable[[bytes], int]:
    return lambda data: sum(len(line) for line in lines(data)[: number - 1])


def gzipped(change: Callable[[bytes], bytes] = lambda data: data) -> Callable[[bytes], bytes]:
    """Change the plain bytes, then compress them (as the writer does: no name, no time)."""
    return lambda data: gzip.compress(change(data), compresslevel=5, mtime=0)


def then(first: Callable[[bytes], bytes], second: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    return lambda data: second(first(data))


def flip_byte(at: Callable[[bytes], int]) -> Callable[[bytes], bytes]:
    def edit(data: bytes) -> bytes:
        changed = bytearray(data)
        changed[at(data)] ^= 0x01
        return bytes(changed)

    return edit


@dataclass(frozen=True)
class Corruption:
    """A damaged file: how to make it from the valid one, what the refusal says, and on which line."""

    id: str
    make: Callable[[bytes], bytes]
    message: str
    line: int | None = None


TRUNCATED = "truncated: the file does not end with a trailer"
CHECKSUM = "corrupted: checksum does not match the trailer"
NO_HEADER = "no staged file header on line 1"
AFTER_TRAILER = "corrupted: data after the trailer"
GZIP_CUT = "truncated: the gzip stream ends early"

CORRUPTIONS = [
    Corruption("empty", lambda data: b"", "empty file, not a staged file"),
    Corruption("header_only", lambda data: lines(data)[0], TRUNCATED),
    Corruption("cut_inside_header", cut_at(lambda data: 20), "truncated: line 1 is incomplete", 1),
    Corruption("header_without_newline", cut_at(lambda data: len(lines(data)[0]) - 1), "line 1 is incomplete", 1),
    Corruption("cut_inside_first_record", cut_at(lambda data: line_start(2)(data) + 15), TRUNCATED),
    Corruption("cut_between_records", cut_at(line_start(4)), TRUNCATED),
    Corruption("cut_before_trailer", cut_at(line_start(TRAILER_LINE)), TRUNCATED),
    Corruption("cut_inside_trailer", cut_at(lambda data: line_start(TRAILER_LINE)(data) + 30), TRUNCATED),
    Corruption("trailer_without_newline", lambda data: data[:-1], TRUNCATED),
    Corruption("trailer_duplicated", lambda data: data + lines(data)[-1], AFTER_TRAILER),
    Corruption(
        "trailer_in_the_middle",
        lambda data: b"".join([*lines(data)[:3], lines(data)[-1], *lines(data)[3:]]),
        "corrupted: data after the trailer on line 5",
        5,
    ),
    Corruption("record_after_trailer", lambda data: data + lines(data)[2], AFTER_TRAILER),
    Corruption("garbage_after_trailer", lambda data: data + b"garbage\n", AFTER_TRAILER),
    Corruption(
        "count_one_more", replace(b'"count": 6', b'"count": 7'), "corrupted: trailer counts 7 records, file has 6"
    ),
    Corruption("count_one_less", replace(b'"count": 6', b'"count": 5'), "trailer counts 5 records, file has 6"),
    Corruption("count_as_text", replace(b'"count": 6', b'"count": "6"'), "line 8 is not a valid trailer", 8),
    Corruption("count_as_float", replace(b'"count": 6', b'"count": 6.0'), "line 8 is not a valid trailer", 8),
    Corruption("checksum_missing", replace(b', "crc32"', b', "crc33"'), "line 8 is not a valid trailer", 8),
    # the header counts in the checksum: a producer or kinds changed after writing
    Corruption("header_producer_changed", replace(b'"producer": "tests"', b'"producer": "tasks"'), CHECKSUM),
    Corruption("header_kind_dropped", replace(b'"kinds": ["database", ', b'"kinds": ['), CHECKSUM),
    Corruption("checksum_flipped", edit_line(TRAILER_LINE, lambda line: line[:-4] + _other_end(line[-4:-3])), CHECKSUM),
    Corruption(
        "trailer_not_json", replace(b'"staged_file_end": true', b'"staged_file_end": trve'), "line 8 is not JSON"
    ),
    Corruption("trailer_key_flipped", replace(b'"staged_file_end"', b'"staged_filf_end"'), TRUNCATED),
    Corruption(
        "header_version_3", replace(b'"staged_file": 2', b'"staged_file": 3'), "unsupported staged file version 3"
    ),
    Corruption(
        "header_version_1",
        replace(b'"staged_file": 2', b'"staged_file": 1'),
        "line 8 is not a valid trailer",  # version 1's trailer holds a SHA-256
        8,
    ),
    Corruption("header_version_text", replace(b'"staged_file": 2', b'"staged_file": "2"'), "unsupported staged file"),
    Corruption("header_version_true", replace(b'"staged_file": 2', b'"staged_file": true'), "version True"),
    Corruption("header_not_json", replace(b'"content": ', b'"content"; '), "corrupted: line 1 is not JSON", 1),
    Corruption("header_key_flipped", replace(b'"producer"', b'"producez"'), "line 1 is not a valid staged file header"),
    Corruption(
        "header_content_flipped", replace(b'"records"', b'"recordr"'), "line 1 is not a valid staged file header"
    ),
    Corruption(
        "header_kind_flipped", replace(b'"database"', b'"databasf"'), "line 1 is not a valid staged file header"
    ),
    Corruption("header_first_byte_flipped", flip_byte(lambda data: 0), NO_HEADER, 1),
    Corruption("byte_flipped_in_a_record", replace(b"customers", b"customerr"), CHECKSUM),
    Corruption(
        "byte_flipped_in_a_key", replace(b'"database_schema":"public"', b'"database_schema":"publid"'), CHECKSUM
    ),
    Corruption(
        "record_deleted", lambda data: b"".join(lines(data)[:3] + lines(data)[4:]), "counts 6 records, file has 5"
    ),
    Corruption(
        "record_duplicated",
        lambda data: b"".join([*lines(data)[:4], lines(data)[3], *lines(data)[4:]]),
        "counts 6 records, file has 7",
    ),
    Corruption(
        "records_swapped",
        lambda data: b"".join([lines(data)[0], lines(data)[2], lines(data)[1], *lines(data)[3:]]),
        CHECKSUM,
    ),
    Corruption(
        "blank_line_inserted",
        lambda data: b"".join([*lines(data)[:3], b"\n", *lines(data)[3:]]),
        "corrupted: line 4 is blank",
        4,
    ),
    Corruption(
        "blank_line_before_trailer",
        lambda data: b"".join([*lines(data)[:-1], b"\n", lines(data)[-1]]),
        "line 8 is blank",
        8,
    ),
    Corruption("bom_in_front", lambda data: b"\xef\xbb\xbf" + data, "line 1 starts with a UTF-8 byte order mark", 1),
    Corruption("crlf_everywhere", lambda data: data.replace(b"\n", b"\r\n"), "line 1 ends with CRLF", 1),
    Corruption("crlf_on_one_record", edit_line(3, lambda line: line[:-1] + b"\r\n"), "line 3 ends with CRLF", 3),
    Corruption("nul_byte_in_a_record", replace(b"orders", b"ord\x00rs"), CHECKSUM),
    Corruption("nul_bytes_only", lambda data: b"\x00" * 4096, NO_HEADER, 1),
    Corruption("latin1_byte_in_a_record", replace(b"invoices", b"invo\xefces"), CHECKSUM),
    Corruption("latin1_byte_in_header", replace(b'"tests"', b'"t\xe9sts"'), "line 1 is not JSON", 1),
    Corruption("plain_json_lines", lambda data: b"".join(line + b"\n" for line in GOOD_LINES), NO_HEADER, 1),
    Corruption("a_json_array", lambda data: b'[{"staged_file": 1}]\n', NO_HEADER, 1),
    Corruption("gzip_cut_in_half", then(gzipped(), lambda packed: packed[: len(packed) // 2]), GZIP_CUT),
    Corruption("gzip_cut_before_its_crc", then(gzipped(), lambda packed: packed[:-6]), GZIP_CUT),
    Corruption("gzip_magic_only", lambda data: b"\x1f\x8b", GZIP_CUT),
    Corruption(
        "gzip_trailing_garbage",
        then(gzipped(), lambda packed: packed + b"garbage"),
        "corrupted: data after the end of the gzip stream",
    ),
    Corruption(
        "gzip_zero_padding", then(gzipped(), lambda packed: packed + b"\x00" * 16), "data after the end of the gzip"
    ),
    Corruption("gzip_second_member", then(gzipped(), lambda packed: packed + packed), "data after the end of the gzip"),
    Corruption("gzip_crc_flipped", then(gzipped(), flip_byte(lambda packed: len(packed) - 8)), "incorrect data check"),
    Corruption(
        "gzip_length_flipped", then(gzipped(), flip_byte(lambda packed: len(packed) - 2)), "incorrect length check"
    ),
    Corruption("gzip_header_flipped", then(gzipped(), flip_byte(lambda packed: 2)), "corrupted: gzip stream: "),
    Corruption(
        "gzip_of_plain_json_lines", lambda data: gzip.compress(b"".join(x + b"\n" for x in GOOD_LINES)), NO_HEADER
    ),
    Corruption("gzip_header_only", gzipped(lambda data: lines(data)[0]), "truncated: no trailer after 0 records"),
    Corruption("gzip_record_deleted", gzipped(lambda data: b"".join(lines(data)[:2] + lines(data)[3:])), "file has 5"),
    Corruption("gzip_crlf", gzipped(lambda data: data.replace(b"\n", b"\r\n")), "line 1 ends with CRLF", 1),
    Corruption(
        "gzip_blank_line",
        gzipped(lambda data: b"".join([*lines(data)[:5], b"\n", *lines(data)[5:]])),
        "line 6 is blank",
        6,
    ),
    Corruption(
        "gzip_bomb_one_endless_line",
        lambda data: gzip.compress(HEADER + b"\n" + b"[" * (65 << 20), compresslevel=1),
        "corrupted: line 2 is longer than 67,108,864 bytes",
        2,
    ),
]


# --- running a consumer through the CLI -------------------------------------------------------------


@dataclass
class Services:
    es: FakeElasticsearch
    om: FakeOpenMetadata


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    es = FakeElasticsearch()
    with pytest.MonkeyPatch.context() as patch, serve() as om:
        patch.setenv("OM_TEST_TOKEN", TOKEN)
        yield Services(es, om)
    es.close()


@dataclass
class Run:
    """One CLI run: exit code, everything printed, and what each consumer published."""

    code: int
    output: str
    folder: Path
    consumer: str
    services: Services
    prefix: str
    puts_before: int
    bulk_before: int

    def row(self) -> tuple[int, int]:
        """(records, failed) of the consumer in the printed status table."""
        for line in self.output.splitlines():
            cells = line.split()
            if cells and cells[0] == COMPONENTS[self.consumer]:
                return int(cells[1].replace(",", "")), int(cells[3].replace(",", ""))
        raise AssertionError(f"no row for {COMPONENTS[self.consumer]} in:\n{self.output}")

    def published(self) -> int | None:
        """How many records reached the destination; None when nothing was written (no file, no index)."""
        if self.consumer in ("file_source", "file_bulk_sink"):
            out = self.folder / ("out.jsonl" if self.consumer == "file_source" else "published.jsonl")
            return len(list(read_records(str(out)))) if out.exists() else None
        if self.consumer == "openmetadata":
            puts = self.services.om.puts()[self.puts_before :]
            return sum(call.published for call in puts) if puts else None
        es = self.services.es
        if not any(name.startswith(self.prefix) for name in es.indexes):
            return None
        return sum(len(es.docs(f"{self.prefix}-{kind}")) for kind in ES_KINDS)

    def dead_letters(self) -> list[Any]:
        found = sorted((self.folder / "staging").rglob("dead_letters.jsonl"))
        return [letter for path in found for letter in read_dead_letters(str(path))]


def run_cli(
    tmp_path: Path,
    services: Services,
    consumer: str,
    data: bytes | None,
    capsys: Any,
    name: str = "in.jsonl",
    max_failures: int = 100,
) -> Run:
    """Write ``data`` to a file (None: no file) and run the workflow in which ``consumer`` reads it, in this process."""
    given = tmp_path / name
    if data is not None:
        given.write_bytes(data)
    prefix = f"c{uuid.uuid4().hex[:10]}"
    workflow: dict[str, Any] = {"workflow": {"staging_root": str(tmp_path / "staging"), "success_threshold": 0}}
    if consumer == "file_source":
        workflow["source"] = {"type": "file", "config": {"path": str(given)}}
        workflow["sink"] = {"type": "file", "config": {"path": str(tmp_path / "out.jsonl")}}
    else:
        seed = tmp_path / "seed.jsonl"
        seed.write_bytes(staged(GOOD_LINES[:1]))
        workflow["source"] = {"type": "file", "config": {"path": str(seed)}}
        workflow["stage"] = {"type": "support.components:HandOverStage", "config": {"path": str(given)}}
        workflow["bulk_sink"] = bulk_sink(consumer, services, tmp_path, prefix)
        if consumer == "es_replace":
            workflow["bulk_sink"]["config"]["max_failures"] = max_failures
    path = tmp_path / "workflow.yaml"
    path.write_text(json.dumps(workflow))
    puts_before = len(services.om.puts())
    bulk_before = services.es.bulk_requests
    code = main(["run", str(path), "--run-id", "r1"])
    printed = capsys.readouterr()
    return Run(code, printed.out + printed.err, tmp_path, consumer, services, prefix, puts_before, bulk_before)


def bulk_sink(consumer: str, services: Services, tmp_path: Path, prefix: str) -> dict[str, Any]:
    if consumer == "file_bulk_sink":
        return {"type": "file", "config": {"path": str(tmp_path / "published.jsonl")}}
    if consumer == "openmetadata":
        config = {"server_url": services.om.url + "/api", "jwt_token": "${OM_TEST_TOKEN}", "retries": 0}
        return {"type": "openmetadata", "config": config}
    mode = consumer.removeprefix("es_")
    config = {"hosts": [services.es.url], "index_prefix": prefix, "mode": mode, "initial_backoff": 0.001}
    return {"type": "elasticsearch", "config": config}


# --- damaged files are refused whole ----------------------------------------------------------------


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=[c.id for c in CORRUPTIONS])
def test_a_damaged_file_is_refused_whole(
    tmp_path: Path, services: Services, capsys: Any, corruption: Corruption, consumer: str
) -> None:
    data = corruption.make(VALID)
    assert data != VALID
    name = "in.jsonl.gz" if corruption.id.startswith("gzip") else "in.jsonl"
    run = run_cli(tmp_path, services, consumer, data, capsys, name)

    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    assert f"run failed: StagedFileError: {tmp_path / name}: " in run.output
    assert corruption.message in run.output
    if corruption.line is not None:
        assert f"line {corruption.line}" in run.output
    assert run.published() is None, "nothing of a damaged file may be written or sent"
    assert run.services.es.bulk_requests == run.bulk_before


def test_there_are_enough_corruptions() -> None:
    assert len(CORRUPTIONS) >= 30
    assert len({corruption.id for corruption in CORRUPTIONS}) == len(CORRUPTIONS)


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_a_missing_file_is_refused(tmp_path: Path, services: Services, capsys: Any, consumer: str) -> None:
    run = run_cli(tmp_path, services, consumer, None, capsys)
    assert run.code == 1 and "Traceback" not in run.output
    assert f"{tmp_path / 'in.jsonl'}: cannot be read: No such file or directory" in run.output
    assert run.published() is None


# --- plain JSON Lines only where asked for ----------------------------------------------------------


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_plain_json_lines_are_refused_unless_the_file_source_asks_for_them(
    tmp_path: Path, services: Services, capsys: Any, consumer: str
) -> None:
    plain = b"".join(line + b"\n" for line in GOOD_LINES)
    run = run_cli(tmp_path, services, consumer, plain, capsys)
    assert run.code == 1 and NO_HEADER in run.output and "format: jsonl" in run.output
    assert run.published() is None


@pytest.mark.parametrize(
    "text",
    [
        b"\n".join(GOOD_LINES) + b"\n",
        b"\n".join(GOOD_LINES),  # no final newline
        b"\xef\xbb\xbf" + b"\r\n".join(GOOD_LINES) + b"\r\n",  # Windows: BOM and CRLF
        b"\n\n".join(GOOD_LINES) + b"\n  \n",  # blank lines
    ],
    ids=["lf", "no_final_newline", "bom_and_crlf", "blank_lines"],
)
def test_the_file_source_reads_plain_json_lines_with_format_jsonl(
    tmp_path: Path, services: Services, capsys: Any, text: bytes
) -> None:
    (tmp_path / "in.jsonl").write_bytes(text)
    workflow = {
        "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
        "sink": {"type": "file", "config": {"path": "out.jsonl"}},
        "workflow": {"staging_root": "staging"},
    }
    (tmp_path / "workflow.yaml").write_text(json.dumps(workflow))
    assert main(["run", str(tmp_path / "workflow.yaml")]) == 0
    assert list(read_records(str(tmp_path / "out.jsonl"))) == RECORDS


@pytest.mark.parametrize("corruption", ["cut_before_trailer", "byte_flipped_in_a_record", "crlf_everywhere"])
def test_format_jsonl_still_checks_a_staged_file(
    tmp_path: Path, services: Services, capsys: Any, corruption: str
) -> None:
    damaged = next(c for c in CORRUPTIONS if c.id == corruption)
    (tmp_path / "in.jsonl").write_bytes(damaged.make(VALID))
    workflow = {
        "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
        "sink": {"type": "file", "config": {"path": "out.jsonl"}},
        "workflow": {"staging_root": "staging"},
    }
    (tmp_path / "workflow.yaml").write_text(json.dumps(workflow))
    assert main(["run", str(tmp_path / "workflow.yaml")]) == 1
    assert damaged.message in capsys.readouterr().out
    assert not (tmp_path / "out.jsonl").exists()


# --- malformed records in an intact file are dead-lettered, never abort a publish ----------------------


def table_with(**fields: Any) -> bytes:
    record = {"kind": "table", "service": "shop", "database": "sales", "database_schema": "public", "name": "bad"}
    return json.dumps({**record, **fields}).encode()


MALFORMED = [
    ("invalid_json", b'{"kind": "table", "name": ', "invalid JSON: EOF while parsing"),
    ("not_json", b"hello world", "invalid JSON: expected value"),
    ("trailing_comma", b'{"kind": "database_service", "name": "x",}', "invalid JSON: trailing comma"),
    ("unknown_kind", b'{"kind": "dashboard", "name": "d"}', "unknown kind 'dashboard' (one of database_service"),
    (
        "no_kind",
        b'{"name": "x"}',
        "no kind (one of database_service, database, database_schema, table, lineage, query, table_usage)",
    ),
    ("kind_a_number", b'{"kind": 5, "name": "x"}', "unknown kind '5'"),
    ("no_name", b'{"kind": "database_service"}', "name: Field required"),
    ("empty_name", b'{"kind": "database_service", "name": ""}', "name: String should have at least 1 character"),
    ("name_a_number", b'{"kind": "database_service", "name": 7}', "name: Input should be a valid string"),
    ("no_parent", b'{"kind": "table", "name": "t"}', "service: Field required"),
    ("column_without_type", table_with(columns=[{"name": "c"}]), "columns.0.data_type: Field required"),
    ("column_unknown_type", table_with(columns=[{"name": "c", "data_type": "NOPE"}]), "'NOPE' is not one of the known"),
    ("columns_an_object", table_with(columns={"name": "c"}), "columns: Input should be a valid array"),
    ("row_count_text", table_with(row_count="many"), "row_count: Input should be a valid integer"),
    ("row_count_negative", table_with(row_count=-1), "row_count: Input should be greater than or equal to 0"),
    # read as written, strictly: values a lax reading would convert while the line, sent on, kept the text
    ("row_count_numeric_text", table_with(row_count="5"), "row_count: Input should be a valid integer"),
    ("row_count_a_float", table_with(row_count=5.0), "row_count: Input should be a valid integer"),
    (
        "usage_date_in_seconds",
        b'{"kind": "table_usage", "table": "shop.sales.public.customers", "date": "1704067200", "count": 5}',
        "date: Value error, a date is written YYYY-MM-DD",
    ),
    (
        "query_time_in_seconds",
        b'{"kind": "query", "service": "shop", "dialect": "postgres", "text": "SELECT 1", "start_time": "1704067200"}',
        "start_time: Value error, a time is written YYYY-MM-DDTHH:MM:SS",
    ),
    (
        "query_time_before_year_one_in_utc",
        b'{"kind": "query", "service": "shop", "dialect": "postgres", "text": "SELECT 1",'
        b' "start_time": "0001-01-01T00:00:00+01:00"}',
        "start_time: Value error, a time is between years 1 and 9999 in UTC",
    ),
    (
        "custom_property_nan",
        table_with(custom_properties={"x": [1.5]}).replace(b"1.5", b"NaN"),
        "custom_properties: Value error, a number is finite (not NaN or Infinity)",
    ),
    (
        "nullable_as_text",
        table_with(columns=[{"name": "c", "data_type": "INT", "nullable": "no"}]),
        "columns.0.nullable: Input should be a valid boolean",
    ),
    ("row_count_huge", table_with(row_count=0)[:-2] + b"1" + b"0" * 5000 + b"}", "number out of range"),
    ("row_count_infinite", table_with(row_count=0)[:-2] + b"1e400}", "row_count: Input should be a valid integer"),
    (
        "confidence_infinite",
        table_with(tags=[{"tag_fqn": "PII.Sensitive", "confidence": 0.5}]).replace(b"0.5", b"1e400"),
        "tags.0.confidence: Input should be a finite number",
    ),
    (
        "deep_nesting",
        table_with(custom_properties={})[:-3] + b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
        "recursion limit",
    ),
    ("unknown_field", table_with(colour="red"), "colour: Extra inputs are not permitted"),
    (
        "foreign_key_nowhere",
        table_with(constraints=[{"constraint_type": "foreign_key", "columns": ["a"]}]),
        "referred_table",
    ),
    (
        "confidence_above_one",
        table_with(tags=[{"tag_fqn": "PII.Sensitive", "confidence": 2}]),
        "less than or equal to 1",
    ),
    ("a_json_array", b'[{"kind": "database_service", "name": "x"}]', "a record is a JSON object, not an array"),
    ("a_json_number", b"42", "a record is a JSON object, not a number"),
    ("a_json_string", b'"database_service"', "a record is a JSON object, not a string"),
    ("json_null", b"null", "a record is a JSON object, not null"),
    ("raw_nul_byte", b'{"kind": "database_service", "name": "x\x00y"}', "control character"),
    ("invalid_utf8", b'{"kind": "database_service", "name": "caf\xe9"}', "invalid unicode code point"),
    ("lone_surrogate", b'{"kind": "database_service", "name": "\\ud800"}', "invalid JSON"),
]


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize(("bad", "reason"), [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_a_malformed_record_is_dead_lettered_with_its_line(
    tmp_path: Path, services: Services, capsys: Any, consumer: str, bad: bytes, reason: str
) -> None:
    records = [*GOOD_LINES[:3], bad, *GOOD_LINES[3:]]  # the bad record is on line 5
    run = run_cli(tmp_path, services, consumer, staged(records), capsys)

    assert run.code == 0, run.output
    assert "Traceback" not in run.output
    assert run.row() == (len(GOOD_LINES), 1), "records in = published + failed"
    assert run.published() == len(GOOD_LINES)
    [letter] = [letter for letter in run.dead_letters() if letter.component == COMPONENTS[consumer]]
    assert letter.error.startswith(f"{tmp_path / 'in.jsonl'}: line 5 is not a valid record: ")
    assert reason in letter.error
    assert letter.record == bad.decode("utf-8", "backslashreplace")


def test_a_malformed_record_keeps_the_live_index_in_replace_mode_by_default(
    tmp_path: Path, services: Services, capsys: Any
) -> None:
    records = [*GOOD_LINES[:3], MALFORMED[0][1], *GOOD_LINES[3:]]
    run = run_cli(tmp_path, services, "es_replace", staged(records), capsys, max_failures=0)
    assert run.code == 1, run.output
    assert "records failed: 1 (max_failures 0)" in run.output and "Traceback" not in run.output
    assert run.row() == (len(GOOD_LINES), 1)


def test_several_malformed_records_are_each_counted(tmp_path: Path, services: Services, capsys: Any) -> None:
    bad = [case[1] for case in MALFORMED[:6]]
    records = [line for pair in zip(bad, GOOD_LINES, strict=True) for line in pair]
    for consumer in CONSUMERS:
        folder = tmp_path / consumer
        folder.mkdir()
        run = run_cli(folder, services, consumer, staged(records), capsys)
        assert run.code == 0 and run.row() == (6, 6) and run.published() == 6
        letters = [letter for letter in run.dead_letters() if letter.component == COMPONENTS[consumer]]
        assert [re.search(r": line (\d+) is not a valid record: ", letter.error)[1] for letter in letters] == [
            str(number) for number in (2, 4, 6, 8, 10, 12)
        ]
