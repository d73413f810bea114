"""``query_log_file``: OpenMetadata's query-log columns in CSV or JSON Lines, bad rows, filters, the watermark.

Each run goes through the run lifecycle as an Airflow task does (tests/support/querylog.py): what the source
emits is read back from its staged output, what it fails from its dead letters.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.querylog import SourceRun, run_source

from airflow_provider_ingest.api import RunContext, Sink
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.usage.querylog.common import OWN_MARKER
from airflow_provider_ingest.usage.querylog.file import COLUMNS, QueryLogFileSource
from airflow_provider_ingest.workflow.loader import load_workflow

UTC = timezone.utc
HEADER = ["query_text", "user_name", "start_time", "end_time", "duration", "database_name", "schema_name", "aborted"]
JOIN = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.amount > 100"
INSERT = "INSERT INTO big_orders SELECT id, amount FROM orders WHERE amount > 100"
ROWS = [
    [JOIN, "alice", "2024-05-01 10:00:00.250000", "2024-05-01 10:00:01.750000", "", "shop", "sales", "false"],
    [INSERT, "bob", "2024-05-01 11:30:00", "", "12.5", "shop", "sales", ""],
    ["SELECT email\nFROM crm.contacts\nWHERE id = 7", "carol", "2024-05-02T08:00:00+02:00", "", "3", "crm", "", ""],
    ["BEGIN", "alice", "2024-05-02 09:00:00", "", "", "shop", "", ""],
    ["DELETE FROM orders WHERE id = 1", "bob", "2024-05-02 09:30:00", "", "", "shop", "", "true"],
    [f"{OWN_MARKER} SELECT count(*) FROM orders", "ingest", "2024-05-02 09:45:00", "", "", "shop", "", ""],
]
"""A join with its duration from start and end, an INSERT ... SELECT with a duration, a multi-line query with an
offset, and three left out: a utility statement, an aborted query, one of this package's own."""


def write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    """The rows as a CSV file, or as JSON Lines (empty fields left out) for a .jsonl name; gzipped for .gz."""
    buffer = io.StringIO()
    if ".csv" in path.name:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    else:
        for row in rows:
            buffer.write(json.dumps({name: value for name, value in zip(header, row, strict=True) if value}) + "\n")
    data = buffer.getvalue().encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def run(folder: Path, path: str, run_id: str = "run", success_threshold: float = 50.0, **settings: Any) -> SourceRun:
    """A run of the source; the query texts are kept as written (``mask_literals`` is tested on its own)."""
    config = {"path": path, "service_name": "warehouse", "dialect": "postgresql", "mask_literals": False, **settings}
    return run_source("query_log_file", config, folder, run_id, success_threshold)


@pytest.mark.parametrize("name", ["log.csv", "log.jsonl", "log.csv.gz", "log.ndjson.gz"])
def test_each_row_becomes_a_query(tmp_path: Path, name: str) -> None:
    write(tmp_path / name, ROWS)

    result = run(tmp_path, name)

    assert result.result.success, result.result.error
    assert [(q.text, q.user, q.database, q.database_schema) for q in result.queries] == [
        (JOIN, "alice", "shop", "sales"),
        (INSERT, "bob", "shop", "sales"),
        ("SELECT email\nFROM crm.contacts\nWHERE id = 7", "carol", "crm", None),
    ]
    assert [q.start_time for q in result.queries] == [
        datetime(2024, 5, 1, 10, 0, 0, 250000, UTC),
        datetime(2024, 5, 1, 11, 30, tzinfo=UTC),
        datetime(2024, 5, 2, 6, 0, tzinfo=UTC),
    ]
    assert [q.duration_ms for q in result.queries] == [1500.0, 12.5, 3.0]
    assert {(q.service, q.dialect, q.calls) for q in result.queries} == {("warehouse", "postgresql", 1)}
    assert result.counters == {"utility_statements": 1, "aborted": 1, "own_statements": 1}
    assert result.report.filtered == 3 and result.report.failure_count == 0


def test_calls_and_unknown_columns(tmp_path: Path) -> None:
    header = ["QUERY_TEXT ", "calls", "cost", "client_host"]
    write(tmp_path / "log.csv", [[JOIN, "40", "1.5", "10.0.0.7"]], header)

    result = run(tmp_path, "log.csv")

    assert [(q.text, q.calls, q.user, q.start_time) for q in result.queries] == [(JOIN, 40, None, None)]
    assert result.report.warnings == [
        f"{tmp_path / 'log.csv'}: column(s) client_host ignored; the columns read are {', '.join(COLUMNS)}"
    ]


def test_literals_are_masked_by_default_so_no_password_is_staged(tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55"
    rows = [
        [JOIN, "alice"],
        [f"ALTER ROLE app PASSWORD '{secret}'", "admin"],
        [f"SELECT * FROM dblink('host=db password={secret}', 'select 1') AS t(a int)", "bob"],
        [f"INSERT INTO keys VALUES ($${secret}$$, E'{secret}', 42)", "bob"],
        [f"SELECT $1 FROM t WHERE a = 'it''s {secret}'", "bob"],
    ]
    write(tmp_path / "log.csv", rows, ["query_text", "user_name"])

    result = run(tmp_path, "log.csv", mask_literals=True)

    assert [q.text for q in result.queries] == [
        JOIN.replace("100", "?"),
        "ALTER ROLE app PASSWORD ?",
        "SELECT * FROM dblink(?, ?) AS t(a int)",
        "INSERT INTO keys VALUES (?, ?, ?)",
        "SELECT $1 FROM t WHERE a = ?",
    ]
    staged = b"".join(path.read_bytes() for path in (tmp_path / "staging").rglob("*") if path.is_file())
    assert b"ALTER ROLE app PASSWORD ?" in staged and secret.encode() not in staged


def test_a_failed_row_is_kept_as_written_with_its_quoted_values_masked(tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55"
    rows = [
        [f"ALTER ROLE app PASSWORD '{secret}'", "admin", "not a time"],
        [f"SELECT a FROM t WHERE b = '{secret}'", "b", ""],
    ]
    write(tmp_path / "log.csv", rows, ["query_text", "user_name", "start_time"])
    (tmp_path / "short.csv").write_text(f"user_name,query_text\n\"SELECT '{secret}'\"\n")
    lines = [
        json.dumps({"query_text": f"SELECT '{secret}'", "user_name": "a"})[:-1] + ', "user_name": "b"}',
        json.dumps({"QUERY_TEXT": f"SELECT '{secret}'", "query_text": 5}),
        json.dumps({"query_text": f"SELECT '{secret}' FROM t"})[:-3],  # cut: not JSON
        json.dumps({"query_text": "SELECT 1 FROM t", "user_name": "\udc80"}),  # a lone surrogate, escaped
        json.dumps({"query_text": "SELECT 1 FROM t", "user_name": "ok"}),
    ]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")

    runs = {
        name: run(tmp_path, name, mask_literals=True, success_threshold=0.0)
        for name in ("log.csv", "short.csv", "log.jsonl")
    }

    assert [q.text for q in runs["log.csv"].queries] == ["SELECT a FROM t WHERE b = ?"]
    assert [letter.record for letter in runs["log.csv"].letters] == ["ALTER ROLE app PASSWORD ?,admin,not a time"]
    assert [q.text for q in runs["log.jsonl"].queries] == ["SELECT ? FROM t"]  # a bad row fails alone
    letters = [letter.record for name in runs for letter in runs[name].letters]
    assert len(letters) == 1 + 1 + 4 and not [letter for letter in letters if secret in letter]
    staged = b"".join(path.read_bytes() for path in (tmp_path / "staging").rglob("*") if path.is_file())
    assert secret.encode() not in staged


def test_a_setting_given_a_bare_word_is_masked_in_records_and_dead_letters(tmp_path: Path) -> None:
    """A setting's value may be a secret written without quotes: masked whole in the query records (a comment before
    the statement, a function's SET clause, MySQL's ``:=``), cut where the text cannot be read, and taken out of the
    dead letter of a row that failed."""
    secret = "hunter2secret"
    rows = [
        [f"/* app:web */ ALTER ROLE web SET app.secret TO {secret}", "2024-01-01T00:00:00Z"],
        [f"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET app.secret = {secret} AS 'select 1'", ""],
        [f"SELECT a FROM t; SET @k := {secret}", ""],
        [f"ALTER ROLE web SET app.secret TO {secret} /* not closed", ""],
        [f"SET app.secret TO {secret}", "not a time"],
        [f'SET app.secret TO "{secret}"', "not a time"],
    ]
    write(tmp_path / "log.csv", rows, ["query_text", "start_time"])

    result = run(tmp_path, "log.csv", mask_literals=True, success_threshold=0.0)

    assert [q.text for q in result.queries] == [
        "/* app:web */ ALTER ROLE web SET app.secret TO ?",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET app.secret = ? AS ?",
        "SELECT a FROM t; SET @k := ?",
        "ALTER ROLE web SET '?",
    ]
    assert [letter.record for letter in result.letters] == [  # the second as CSV quotes it: '"SET ... ""x""",'
        "SET app.secret TO ?,not a time",
        '"SET app.secret TO ?",not a time',
    ]
    staged = b"".join(path.read_bytes() for path in (tmp_path / "staging").rglob("*") if path.is_file())
    assert secret.encode() not in staged


def test_a_query_the_tokenizer_cannot_read_is_cut_after_its_first_quote_and_stays_unreadable(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", [["SELECT a FROM t WHERE b = 'open secret"]], ["query_text"])

    result = run(tmp_path, "log.csv", mask_literals=True)

    assert [q.text for q in result.queries] == ["SELECT a FROM t WHERE b = '?"]


def test_only_a_statement_that_starts_with_the_marker_is_this_packages_own(tmp_path: Path) -> None:
    hiding = [f"SELECT * FROM salaries {OWN_MARKER}", f"SELECT '{OWN_MARKER}' FROM salaries"]
    write(tmp_path / "log.csv", [[f"  {OWN_MARKER} SELECT 1 FROM t"], *([text] for text in hiding)], ["query_text"])

    result = run(tmp_path, "log.csv", mask_literals=True)

    assert [q.text for q in result.queries] == [hiding[0], "SELECT ? FROM salaries"]
    assert result.counters == {"own_statements": 1}


BAD_CSV = (
    "query_text,user_name,start_time,end_time,duration,aborted,calls\n"
    f'"{JOIN}",alice,2024-05-01 10:00:00,,,,\n'  # line 2: good
    "SELECT 2 FROM t,bob,yesterday,,,,\n"  # 3
    "SELECT 3 FROM t,bob,2024-05-01 10:00:00,2024-05-01 09:00:00,,,\n"  # 4
    "SELECT 4 FROM t,bob,,,-5,,\n"  # 5
    "SELECT 5 FROM t,bob,,,,maybe,\n"  # 6
    "SELECT 6 FROM t,bob,,,,,0\n"  # 7
    "SELECT 7 FROM t,bob,,,,,,,\n"  # 8: too many fields
    '"SELECT 8 FROM t"x,bob,,,,,\n'  # 9: not CSV
    ",bob,2024-05-01 10:00:00,,,,\n"  # 10: no query
    "SELECT 10 FROM t,b\xffb,,,,,\n"  # 11: not UTF-8 (written as latin-1 below)
    '"SELECT 11\nFROM t",dave,2024-05-01 12:00:00,,,,\n'  # 12-13: good, on two lines
    "SELECT 12 FROM t,erin,2024-13-01 00:00:00,,,,\n"  # 14
)


def test_a_bad_row_fails_alone_with_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_bytes(BAD_CSV.encode("latin-1"))
    where = tmp_path / "log.csv"

    result = run(tmp_path, "log.csv", success_threshold=10.0)

    assert [q.text for q in result.queries] == [JOIN, "SELECT 11\nFROM t"]
    errors = [failure.error for failure in result.report.failures]
    assert errors == [
        f"{where}:3: start_time: 'yesterday': not a time: expected YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM|Z]"
        " (or ISO 8601 with T)",
        f"{where}:4: end_time: 2024-05-01T09:00:00+00:00 is before start_time 2024-05-01T10:00:00+00:00",
        f"{where}:5: duration: '-5' is not a number of milliseconds (finite, 0 or more)",
        f"{where}:6: aborted: 'maybe' is not true or false",
        f"{where}:7: calls: 0 is less than 1",
        f"{where}:8: 9 field(s), the header has 7",
        f"{where}:9: not a CSV row: ',' expected after '\"'",
        f"{where}:10: query_text: empty",
        f"{where}:11: not valid UTF-8",
        f"{where}:14: start_time: '2024-13-01 00:00:00': not a valid time (month must be in 1..12)",
    ]
    raw = [letter.record for letter in result.letters]
    assert raw[0] == "SELECT 2 FROM t,bob,yesterday,,,,"
    assert raw[6] == '"SELECT 8 FROM t"x,bob,,,,,'
    assert raw[8] == "SELECT 10 FROM t,b\ufffdb,,,,,"
    assert [letter.error for letter in result.letters] == errors


def test_a_header_of_many_columns_is_checked_in_linear_time(tmp_path: Path) -> None:
    header = ["query_text", *(f"c{number}" for number in range(200_000)), "c7"]
    (tmp_path / "log.csv").write_text(",".join(header) + "\n")

    assert run(tmp_path, "log.csv").result.error == (
        f"InputError: {tmp_path / 'log.csv'}:1: column(s) c7 named more than once in the header"
    )


def test_a_bad_json_line_fails_alone(tmp_path: Path) -> None:
    lines = [
        json.dumps({"query_text": JOIN, "user_name": "alice"}),
        "{not json",
        "[1, 2]",
        json.dumps({"query_text": 42}),
        json.dumps({"query_text": "SELECT 1 FROM t", "start_time": 1714557600}),
        json.dumps({"user_name": "bob"}),
        "",
        json.dumps({"query_text": INSERT, "duration": 2, "calls": 3, "aborted": False}),
        json.dumps({"query_text": "SELECT 1 FROM t", "user_name": "\udfff"}),  # JSON can escape a lone surrogate
        '{"query_text": "SELECT 1 FROM t", "user_name": "alice", "user_name": "bob"}',
        json.dumps({"query_text": "SELECT 1 FROM t", "QUERY_TEXT ": "SELECT 2 FROM t"}),
        json.dumps({"query_text": "SELECT 1 FROM t", "user_name": {"first": "a"}}),
    ]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    where = tmp_path / "log.jsonl"

    result = run(tmp_path, "log.jsonl", success_threshold=10.0)

    assert [(q.text, q.calls, q.duration_ms) for q in result.queries] == [(JOIN, 1, None), (INSERT, 3, 2.0)]
    assert [failure.error for failure in result.report.failures] == [
        f"{where}:2: not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        f"{where}:3: not a JSON object but list",
        f"{where}:4: query_text: text expected, not int",
        f"{where}:5: start_time: a time is text, not int",
        f"{where}:6: query_text: missing",
        f"{where}:9: user_name: not valid Unicode: a lone surrogate '\\udfff' at 0",
        f"{where}:10: column(s) user_name named more than once",
        f"{where}:11: column(s) query_text named more than once",
        f"{where}:12: user_name: text expected, not dict",
    ]
    assert [letter.record for letter in result.letters][:2] == ["{not json", "[1, 2]"]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_line_too_long_is_read_past_never_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gzipped: bool
) -> None:
    """A line longer than the limit (64 MiB; 1,000 bytes here): in JSON Lines it fails alone, in CSV (whose rows may
    span lines) it stops the file, naming the line; it was read whole into memory (a 1 MB gzip file unpacked to a
    gigabyte line took 4 GB)."""
    from airflow_provider_ingest.usage.querylog import file

    monkeypatch.setattr(file, "LINE_LIMIT", 1000)
    lines = [json.dumps({"query_text": JOIN}), json.dumps({"query_text": "SELECT " + "x" * 3000}),
             json.dumps({"query_text": INSERT})]  # fmt: skip
    data = ("\n".join(lines) + "\n").encode()
    name = "log.jsonl.gz" if gzipped else "log.jsonl"
    (tmp_path / name).write_bytes(gzip.compress(data) if gzipped else data)
    result = run(tmp_path, name)
    assert [query.text for query in result.queries] == [JOIN, INSERT]
    assert [failure.error for failure in result.report.failures] == [
        f"{tmp_path / name}:2: longer than 1,000 bytes: not read"
    ]
    write(tmp_path / "log.csv", [[JOIN], ["SELECT " + "x" * 3000], [INSERT]], ["query_text"])
    result = run(tmp_path, "log.csv")
    assert result.result.error == (
        f"InputError: {tmp_path / 'log.csv'}:3: a line longer than 1,000 bytes: not a CSV row"
    )


def test_a_missing_required_column_fails_the_step_naming_it(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", [["alice", "SELECT 1 FROM t"]], ["user_name", "query"])

    result = run(tmp_path, "log.csv")

    assert not result.result.success and not result.result.retryable
    assert result.result.error == (
        f"InputError: {tmp_path / 'log.csv'}:1: no column 'query_text' (the header has: user_name, query)"
    )
    assert result.queries == []


def test_the_watermark_needs_start_time(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", [[JOIN]], ["query_text"])
    result = run(tmp_path, "log.csv", since="state.json")
    assert result.result.error == (
        f"InputError: {tmp_path / 'log.csv'}:1: no column 'start_time', which since need(s) (the header has:"
        " query_text)"
    )
    write(tmp_path / "log.csv", [[JOIN, ""], [INSERT, "2024-05-01 10:00:00"]], ["query_text", "start_time"])
    result = run(tmp_path, "log.csv", start="2024-01-01")
    assert [failure.error for failure in result.report.failures] == [
        f"{tmp_path / 'log.csv'}:2: start_time: empty, but start need(s) it"
    ]
    assert [q.text for q in result.queries] == [INSERT]


def test_an_empty_file_or_no_file_fails_the_step(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    assert run(tmp_path, "empty.csv").result.error == (
        f"InputError: {tmp_path / 'empty.csv'} is empty: a query-log CSV file starts with a header row"
    )
    assert (
        run(tmp_path, "gone.csv").result.error == f"InputError: query-log file {tmp_path / 'gone.csv'} does not exist"
    )
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip")
    assert "cannot be read: Not a gzipped file" in (run(tmp_path, "bad.csv.gz").result.error or "")


def test_a_file_whose_lines_end_with_a_carriage_return_alone_is_named_so(tmp_path: Path) -> None:
    """Old Mac line ends: the file fails naming what to change (not Python's hint about opening files); a bare
    carriage return inside one row of an LF file fails that row alone, kept."""
    (tmp_path / "mac.csv").write_bytes(b'query_text,user_name\r"SELECT 1",a\r"SELECT 2",b\r')
    assert run(tmp_path, "mac.csv").result.error == (
        f"InputError: {tmp_path / 'mac.csv'}:1: the header row cannot be read: a carriage return outside quotes:"
        " rows end with LF or CRLF, not CR alone (old Mac line ends)"
    )
    rows = b'"SELECT * FROM a",x\r"SELECT * FROM b",y\n"SELECT * FROM c",z\n'
    (tmp_path / "mixed.csv").write_bytes(b"query_text,user_name\n" + rows)
    outcome = run(tmp_path, "mixed.csv", success_threshold=0)
    assert [query.text for query in outcome.queries] == ["SELECT * FROM c"]
    assert [letter.error for letter in outcome.letters] == [
        f"{tmp_path / 'mixed.csv'}:2: not a CSV row: a carriage return outside quotes: rows end with LF or CRLF, not"
        " CR alone (old Mac line ends)"
    ]


def test_filters_by_user_database_and_time(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", ROWS)

    users = run(tmp_path, "log.csv", user_filter={"include": ["alice", "carol"]})
    assert [q.user for q in users.queries] == ["alice", "carol"]
    assert users.counters["filtered_user"] == 1  # bob's INSERT (his DELETE is aborted, checked first)

    databases = run(tmp_path, "log.csv", database_filter={"exclude": ["crm"]})
    assert [q.database for q in databases.queries] == ["shop", "shop"]

    write(tmp_path / "log.csv", [[*row[:5], "", *row[6:]] if row[0] == JOIN else row for row in ROWS])
    default = run(tmp_path, "log.csv", database_name="warehouse", database_filter={"include": ["warehouse"]})
    assert [(q.text, q.database) for q in default.queries] == [(JOIN, "warehouse")]  # the row without a database

    window = run(tmp_path, "log.csv", start="2024-05-01T11:00:00Z", end="2024-05-02 06:00:00")
    assert [q.text for q in window.queries] == [INSERT]  # carol's starts at 06:00 UTC: the end is excluded
    assert window.counters["outside_window"] == 5


def test_times_without_an_offset_are_in_the_time_zone_setting(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", ROWS[:3])
    result = run(tmp_path, "log.csv", time_zone="Europe/Paris")
    assert [q.start_time for q in result.queries] == [
        datetime(2024, 5, 1, 8, 0, 0, 250000, UTC),
        datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        datetime(2024, 5, 2, 6, 0, tzinfo=UTC),  # it had an offset
    ]


def rows_at(start: datetime, count: int, text: str = "SELECT {n} FROM orders") -> list[list[str]]:
    """``count`` queries, one a second from ``start`` (the last two in the same second)."""
    times = [start + timedelta(seconds=min(n, count - 2)) for n in range(count)]
    return [
        [text.format(n=n), "alice", f"{at:%Y-%m-%d %H:%M:%S}", "", "", "shop", "", ""] for n, at in enumerate(times)
    ]


def test_the_watermark_gives_the_next_run_only_new_queries(tmp_path: Path) -> None:
    start = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    first_rows = rows_at(start, 5)
    write(tmp_path / "log.csv", first_rows)
    first = run(tmp_path, "log.csv", "day-1", since="state/usage.json")
    assert len(first.queries) == 5

    # the log grows: two more in the watermark's second (one a repeat of a query already read), then later ones
    last = first_rows[-1][2]
    more = [
        ["SELECT 99 FROM orders", "bob", last, "", "", "shop", "", ""],
        first_rows[-1],
        *rows_at(start + timedelta(minutes=5), 3, "SELECT {n} FROM customers"),
    ]
    write(tmp_path / "log.csv", first_rows + more)
    second = run(tmp_path, "log.csv", "day-2", since="state/usage.json")

    assert [q.text for q in second.queries] == [
        "SELECT 99 FROM orders",
        "SELECT 4 FROM orders",  # the same query again in that second: a second call, not the one read
        "SELECT 0 FROM customers",
        "SELECT 1 FROM customers",
        "SELECT 2 FROM customers",
    ]
    assert second.counters["already_read"] == 5

    retried = run(tmp_path, "log.csv", "day-2", since="state/usage.json")  # the same run again: the same queries
    assert [q.text for q in retried.queries] == [q.text for q in second.queries]
    third = run(tmp_path, "log.csv", "day-3", since="state/usage.json")
    assert third.queries == [] and third.counters["already_read"] == 10
    state = json.loads((tmp_path / "state" / "usage.json").read_text())
    assert state["latest"]["watermark"] == "2024-05-01T10:05:01+00:00"
    assert (state["source"], state["service"]) == ("query_log_file", "warehouse")


def test_a_failed_run_leaves_the_watermark_where_it_was(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", rows_at(datetime(2024, 5, 1, tzinfo=UTC), 3))
    assert run(tmp_path, "log.csv", "day-1", since="state.json").result.success
    before = (tmp_path / "state.json").read_bytes()
    broken = [[f"SELECT {n} FROM t", "", "not a time", "", "", "", "", ""] for n in range(5)]
    write(tmp_path / "log.csv", rows_at(datetime(2024, 5, 2, tzinfo=UTC), 3) + broken)

    failed = run(tmp_path, "log.csv", "day-2", since="state.json")  # 3 good rows of 8: below the 50% threshold

    assert not failed.result.success and failed.result.below_threshold == ["source:query_log_file"]
    assert (tmp_path / "state.json").read_bytes() == before
    again = run(tmp_path, "log.csv", "day-3", since="state.json", success_threshold=10.0)
    assert [q.text for q in again.queries] == ["SELECT 0 FROM orders", "SELECT 1 FROM orders", "SELECT 2 FROM orders"]


class SinkFailingAtFlush(Sink):
    """Takes every record, then fails to write them out: the run fails after the source read everything."""

    def write(self, record: Any) -> None:
        pass

    def flush(self) -> None:
        raise RuntimeError("the disk is full")


def test_a_run_that_fails_after_the_source_leaves_the_watermark_unwritten(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", rows_at(datetime(2024, 5, 1, tzinfo=UTC), 3))
    workflow = {
        "source": {
            "type": "query_log_file",
            "config": {"path": "log.csv", "service_name": "w", "dialect": "mysql", "since": "state.json"},
        },
        "sink": {"type": "test_query_log_file:SinkFailingAtFlush"},
        "workflow": {"staging_root": "staging"},
    }
    (tmp_path / "usage.yaml").write_text(yaml.safe_dump(workflow))

    result = run_workflow(load_workflow(tmp_path / "usage.yaml"))

    assert result.error == "RuntimeError: the disk is full"
    assert result.reports[0].records == 3
    assert not (tmp_path / "state.json").exists()


def test_a_watermark_that_cannot_be_written_fails_the_run(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", rows_at(datetime(2024, 5, 1, tzinfo=UTC), 2))

    result = run(tmp_path, "log.csv", since="log.csv/state.json")  # a folder that is a file

    assert not result.result.success and result.result.retryable
    assert (result.result.error or "").startswith(
        f"WatermarkError: the queries were read, but the watermark file {tmp_path / 'log.csv/state.json'} cannot"
        " be written (FileExistsError:"
    )


def test_a_state_file_of_another_source_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "log.csv", rows_at(datetime(2024, 5, 1, tzinfo=UTC), 2))
    assert run(tmp_path, "log.csv", "day-1", since="state.json").result.success
    other = run_source(
        "query_log_file",
        {"path": "log.csv", "service_name": "elsewhere", "dialect": "mysql", "since": "state.json"},
        tmp_path,
        "day-2",
    )
    assert other.result.error == (
        f"ConfigurationError: watermark file {tmp_path / 'state.json'} belongs to query_log_file of service"
        " 'warehouse', not to this query_log_file of service 'elsewhere': give each source its own since file"
    )
    (tmp_path / "state.json").write_text("{}")
    assert "cannot be read: not a watermark of this package" in (
        run(tmp_path, "log.csv", "day-3", since="state.json").result.error or ""
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"dialect": "cobol"}, "dialect: Value error, unknown dialect 'cobol'; known: mariadb, mysql, postgres,"),
        ({"start": "last tuesday"}, "start: Value error, not a time: expected YYYY-MM-DD"),
        ({"start": "2024-05-02", "end": "2024-05-01"}, "start (2024-05-02) must be before end (2024-05-01)"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"service_name": None}, "service_name is required"),
        ({"since": ""}, "since: String should have at least 1 character"),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    config = {"path": "log.csv", "service_name": "warehouse", "dialect": "postgresql", **settings}
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(config, tmp_path)


def test_a_name_that_does_not_tell_the_format_needs_the_setting(tmp_path: Path) -> None:
    (tmp_path / "queries.log").write_text("query_text\nSELECT 1 FROM t\n")
    assert run(tmp_path, "queries.log").result.error == (
        f"ConfigurationError: cannot tell the format of {tmp_path / 'queries.log'} from its name: set format to"
        " csv or jsonl"
    )
    assert [q.text for q in run(tmp_path, "queries.log", format="csv").queries] == ["SELECT 1 FROM t"]


def test_a_templated_window_validates_and_must_be_rendered_to_run(tmp_path: Path) -> None:
    workflow = {
        "source": {
            "type": "query_log_file",
            "config": {
                "path": "log.csv",
                "service_name": "warehouse",
                "dialect": "mysql",
                "start": "{{ data_interval_start }}",
                "end": "{{ data_interval_end }}",
            },
        },
        "sink": {"type": "console"},
    }
    (tmp_path / "usage.yaml").write_text(yaml.safe_dump(workflow))
    assert load_workflow(tmp_path / "usage.yaml").spec.source.type == "query_log_file"

    write(tmp_path / "log.csv", ROWS)
    result = run(tmp_path, "log.csv", start="{{ data_interval_start }}")
    assert result.result.error == (
        "ConfigurationError: start is a template that was not rendered ('{{ data_interval_start }}'): templates are"
        " rendered by Airflow's operators; give a time when running elsewhere"
    )


# --- any content: a record or a counted failure, never a crash ----------------------------------------------------

FIELD = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "true", "false", "-1", "0", "3", "1e309", "nan", "2024-05-01 10:00:00", "2024-02-30"]),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda at: at.isoformat(sep=" ")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.fixed_dictionaries({name: FIELD for name in HEADER}), min_size=1, max_size=8))
def test_any_csv_row_is_a_query_a_failure_or_filtered(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    folder = tmp_path_factory.mktemp("any")
    buffer = io.StringIO()
    # Every field quoted: with "\n" ending its lines, the csv writer leaves a field holding a bare "\r" unquoted,
    # which a CSV reader (this one, Python's) takes for a line end: two failed rows for one (found-not-fixed).
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(HEADER)
    writer.writerows([[row[name] for name in HEADER] for row in rows])
    (folder / "log.csv").write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))

    result = run(folder, "log.csv", success_threshold=0.0)

    assert result.result.success, result.result.error
    report = result.report  # a row of empty fields is a row without query_text, not a blank line
    assert report.records + report.failure_count + report.filtered == len(rows)
    assert len(result.queries) == report.records and len(result.letters) == report.failure_count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | st.text(alphabet='ab,"\n\r\x00 \xff', max_size=300).map(str.encode))
def test_any_bytes_after_the_header_never_crash_the_source(
    tmp_path_factory: pytest.TempPathFactory, body: bytes
) -> None:
    folder = tmp_path_factory.mktemp("any")
    (folder / "log.csv").write_bytes(",".join(HEADER).encode() + b"\n" + body)

    result = run(folder, "log.csv", success_threshold=0.0)

    assert result.result.success, result.result.error
    report = result.report
    assert report.records + report.failure_count + report.filtered <= body.count(b"\n") + body.count(b"\r") + 1
    assert len(result.letters) == report.failure_count


JSON_VALUE = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | FIELD
    | st.text(st.characters(categories=["Cs", "L", "N"]), max_size=5),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(st.sampled_from([*HEADER, "calls", "other"]), JSON_VALUE).map(json.dumps),
            st.text(max_size=20).filter(lambda line: "\n" not in line and "\r" not in line),
            st.binary(max_size=20).filter(lambda line: b"\n" not in line),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_json_line_is_a_query_a_failure_or_filtered(tmp_path_factory: pytest.TempPathFactory, lines: list) -> None:
    folder = tmp_path_factory.mktemp("any")
    data = [line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass") for line in lines]
    (folder / "log.jsonl").write_bytes(b"\n".join(data) + b"\n")

    result = run(folder, "log.jsonl", success_threshold=0.0)

    assert result.result.success, result.result.error
    lines_read = [data[0].removeprefix(b"\xef\xbb\xbf"), *data[1:]]  # a BOM opening the file is not text
    blank = sum(1 for line in lines_read if not line.decode("utf-8", "replace").strip())
    report = result.report
    assert report.records + report.failure_count + report.filtered == len(data) - blank
    assert len(result.queries) == report.records


# --- object storage ---------------------------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto S3 server, the Airflow connection ``querylog_s3`` to it, and a boto3 client with bucket ``logs``."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    connection = {"conn_type": "aws", "login": "querylog-key", "password": "querylog-secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_QUERYLOG_S3", json.dumps(connection))
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    client.create_bucket(Bucket="logs")
    try:
        yield client
    finally:
        server.stop()


@pytest.mark.airflow
def test_the_file_and_the_watermark_in_object_storage(s3: Any, tmp_path: Path) -> None:
    write(tmp_path / "log.jsonl.gz", ROWS)
    s3.put_object(Bucket="logs", Key="queries/log.jsonl.gz", Body=(tmp_path / "log.jsonl.gz").read_bytes())
    settings = {"since": "s3://querylog_s3@logs/state/usage.json"}

    first = run(tmp_path, "s3://querylog_s3@logs/queries/log.jsonl.gz", "day-1", **settings)
    second = run(tmp_path, "s3://querylog_s3@logs/queries/log.jsonl.gz", "day-2", **settings)

    assert [q.user for q in first.queries] == ["alice", "bob", "carol"]
    assert second.queries == [] and second.counters["already_read"] == 6
    state = json.loads(s3.get_object(Bucket="logs", Key="state/usage.json")["Body"].read())
    assert state["latest"]["watermark"] == "2024-05-02T09:45:00+00:00"


def make(settings: dict[str, Any], folder: Path) -> QueryLogFileSource:
    context = RunContext(workflow_name="querylog", run_id="run", staging_root=str(folder), base_dir=folder)
    source = QueryLogFileSource.create(settings, context)
    assert isinstance(source, QueryLogFileSource)
    return source


def test_a_query_dated_in_the_future_fails_its_row_and_moves_no_watermark(tmp_path: Path) -> None:
    """A row dated centuries ahead (a bad clock, a typo) would end every day's usage window there and move the
    watermark past every later row: it fails alone, and the next run still reads what the log gains."""
    start = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    rows = [*rows_at(start, 2), ["SELECT 1 FROM orders", "bob", "2205-05-01T11:00:00Z", "", "", "shop", "", ""]]
    write(tmp_path / "log.csv", rows)

    first = run(tmp_path, "log.csv", "day-1", since="state/usage.json")

    assert len(first.queries) == 2 and [letter.error for letter in first.letters] == [
        f"{tmp_path / 'log.csv'}:4: start_time: 2205-05-01T11:00:00+00:00 is more than a day after this run's clock:"
        " taken, it would end every day's usage window there and move the watermark past every later row"
    ]
    write(tmp_path / "log.csv", [*rows, *rows_at(start + timedelta(minutes=5), 2, "SELECT {n} FROM customers")])
    second = run(tmp_path, "log.csv", "day-2", since="state/usage.json")
    assert [q.text for q in second.queries] == ["SELECT 0 FROM customers", "SELECT 1 FROM customers"]
