"""What the package prints for people (console sink, status table, CLI errors) is one line per line, whatever the
names in it hold: a database's or a file's control characters are escaped, never sent to the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_ingest.api import Report
from airflow_provider_ingest.records import Table, dump_record
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.status import status_lines
from airflow_provider_ingest.terminal import printable, printable_lines

TESTS = Path(__file__).resolve().parent
COMMAND = str(Path(sys.executable).parent / "airflow-ingest")
HOSTILE = [
    "two\nlines",
    "carriage\rreturn",
    "clear\x1b[2Jscreen",
    "title\x1b]0;owned\x07",
    "rtl\u202eexe.txt",
    "del\x7f",
]
"""Table names a database may hold: a line break, a carriage return, terminal escape sequences, a bidirectional
override, DEL."""


@given(st.text())
def test_printable_text_is_one_line_of_printable_characters(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable() and len(shown.splitlines()) <= 1
    assert printable(shown) == shown


@given(st.text(alphabet=st.characters(categories=["L", "M", "N", "P", "S"]) | st.just(" ")))
def test_printable_text_in_any_script_is_shown_as_it_is(text: str) -> None:
    assert printable(text) == text


def test_each_character_that_is_not_printable_is_shown_as_its_escape() -> None:
    assert [printable(name) for name in HOSTILE] == [
        "two\\nlines",
        "carriage\\rreturn",
        "clear\\x1b[2Jscreen",
        "title\\x1b]0;owned\\x07",
        "rtl\\u202eexe.txt",
        "del\\x7f",
    ]
    assert printable_lines("first problem\nsecond \x1b[31mproblem") == "first problem\nsecond \\x1b[31mproblem"


def test_the_console_sink_prints_one_line_per_record_whatever_its_names_hold(tmp_path: Path) -> None:
    tables = [Table(service="svc", database="db", database_schema="s", name=name) for name in HOSTILE]
    (tmp_path / "in.jsonl").write_text("".join(dump_record(table) + "\n" for table in tables))
    workflow = {
        "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
        "sink": {"type": "console"},
        "workflow": {"staging_root": "staging"},
    }
    (tmp_path / "flow.yaml").write_text(yaml.safe_dump(workflow))
    done = subprocess.run(
        [COMMAND, "run", "--quiet", "flow.yaml"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(TESTS)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[: len(HOSTILE)] == [f"table            {printable(table.fqn)}  [table, 0 columns]" for table in tables]
    assert lines[4] == 'table            svc.db.s."rtl\\u202eexe.txt"  [table, 0 columns]'
    assert all(line.isprintable() for line in lines)


def test_the_status_table_shows_failures_warnings_and_errors_on_one_line_each() -> None:
    report = Report(component="source:sql")
    report.add_failure("cannot read 'x\x1b[2J': broken", fqn="svc.db.s.x\x1b[2J")
    report.add_warning("schema svc.db.two\nlines skipped")
    result = RunResult(reports=[report], threshold=100, error="reading 'a\rb' failed")
    lines = status_lines(result)
    assert "  source:sql failed svc.db.s.x\\x1b[2J: cannot read 'x\\x1b[2J': broken" in lines
    assert "  source:sql warning: schema svc.db.two\\nlines skipped" in lines
    assert lines[-1] == "run failed: reading 'a\\rb' failed"
    assert all(line.isprintable() for line in lines)
