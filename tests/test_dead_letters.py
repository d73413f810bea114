"""Dead letters: what a failed record keeps (component, error, type, where it was raised, the record or its raw
line), and the dead-letter file: created at the first letter, committed on close, dropped on abort."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.records import Table, dump_record
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.staging import (
    DeadLetter,
    DeadLetterFile,
    StagedFileReader,
    read_dead_letters,
    read_records,
    stagedfile,
)
from airflow_provider_ingest.staging.deadletters import TRACEBACK_FRAMES
from airflow_provider_ingest.workflow.loader import load_workflow

TABLE = Table(service="s", database="d", database_schema="p", name="orders")


def _raise_after(depth: int, error: BaseException) -> None:
    if depth:
        _raise_after(depth - 1, error)
    raise error


def caught(error: BaseException, depth: int = 0) -> BaseException:
    try:
        _raise_after(depth, error)
    except BaseException as raised:
        return raised
    raise AssertionError("not raised")


def letter(**given: object) -> DeadLetter:
    return DeadLetter.of(**{"component": "sink:x", "error": "boom", "fqn": None, "record": None, **given})  # type: ignore[arg-type]


def test_a_builtin_exception_is_named_by_its_class_alone() -> None:
    assert letter(exception=caught(ValueError("bad"))).error_type == "ValueError"


def test_a_package_exception_is_named_with_its_module() -> None:
    made = letter(exception=caught(ConfigurationError("bad")))
    assert made.error_type == "airflow_provider_ingest.errors.ConfigurationError"


def test_a_failure_without_an_exception_has_no_type_and_no_traceback() -> None:
    made = letter()
    assert (made.error_type, made.traceback) == (None, [])


def test_an_exception_never_raised_has_its_type_but_no_traceback() -> None:
    made = letter(exception=KeyError("k"))
    assert (made.error_type, made.traceback) == ("KeyError", [])


def test_the_traceback_keeps_the_innermost_frames_ending_where_it_was_raised() -> None:
    made = letter(exception=caught(RuntimeError("deep"), depth=10))

    assert len(made.traceback) == TRACEBACK_FRAMES == 5
    assert all(frame.startswith(f"{__file__}:") for frame in made.traceback)
    assert [frame.rsplit(" in ", 1)[1] for frame in made.traceback] == ["_raise_after"] * 5
    innermost_line = int(made.traceback[-1].split(":")[-1].split(" ")[0])
    assert innermost_line == _raise_after.__code__.co_firstlineno + 3, "the raise statement"


def test_a_shallow_traceback_is_kept_whole() -> None:
    made = letter(exception=caught(RuntimeError("shallow")))
    assert [frame.rsplit(" in ", 1)[1] for frame in made.traceback] == ["caught", "_raise_after"]


def test_a_record_is_kept_as_json_and_a_raw_line_as_text() -> None:
    with_record = letter(fqn=TABLE.fqn, record=TABLE)
    raw = letter(raw='{"kind": "table", "name": ')

    assert with_record.fqn == "s.d.p.orders"
    assert with_record.record == {
        "kind": "table",
        "service": "s",
        "database": "d",
        "database_schema": "p",
        "name": "orders",
    }
    assert raw.record == '{"kind": "table", "name": '
    assert letter(record=TABLE, raw="ignored").record == with_record.record, "the record wins over its raw line"


def test_a_letter_is_stamped_with_a_utc_time() -> None:
    assert letter().at.endswith("+00:00")


def test_nothing_failed_means_no_file_and_an_earlier_attempts_file_removed(tmp_path: Path) -> None:
    uri = str(tmp_path / "dead_letters.jsonl")
    earlier = DeadLetterFile(uri, producer="first attempt")
    earlier.add(letter())
    assert earlier.close() == uri

    retry = DeadLetterFile(uri, producer="second attempt")
    assert retry.close() is None
    assert retry.count == 0
    assert not Path(uri).exists()


def test_letters_are_committed_on_close_in_order_in_a_dead_letters_file(tmp_path: Path) -> None:
    uri = str(tmp_path / "dead_letters.jsonl")
    letters = DeadLetterFile(uri, producer="task source")
    letters.add(letter(error="first"))
    assert not Path(uri).exists(), "written atomically: nothing in place before close"
    letters.add(letter(error="second", exception=caught(ValueError("v"))))

    assert letters.close() == uri

    assert letters.count == 2
    assert [(x.error, x.error_type) for x in read_dead_letters(uri)] == [("first", None), ("second", "ValueError")]
    reader = StagedFileReader(uri)
    assert reader.verify() == 2
    assert reader.header == {"staged_file": 2, "content": "dead_letters", "producer": "task source", "kinds": []}


def test_an_aborted_run_commits_no_letters_and_keeps_the_earlier_file(tmp_path: Path) -> None:
    uri = str(tmp_path / "dead_letters.jsonl")
    earlier = DeadLetterFile(uri, producer="t")
    earlier.add(letter(error="earlier"))
    earlier.close()

    interrupted = DeadLetterFile(uri, producer="t")
    interrupted.add(letter(error="lost"))
    interrupted.abort()
    interrupted.abort()  # a second abort has nothing left to drop

    assert [x.error for x in read_dead_letters(uri)] == ["earlier"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dead_letters.jsonl"], "no temporary file left"


def test_abort_before_any_letter_leaves_nothing(tmp_path: Path) -> None:
    letters = DeadLetterFile(str(tmp_path / "dead_letters.jsonl"), producer="t")
    letters.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_dead_letter_file_is_read_back_as_written(tmp_path: Path) -> None:
    uri = str(tmp_path / "dead_letters.jsonl")
    written = [letter(error=f"e{i}", fqn=TABLE.fqn, record=TABLE, exception=caught(OSError(i))) for i in range(3)]
    letters = DeadLetterFile(uri, producer="t")
    for item in written:
        letters.add(item)
    letters.close()

    assert list(read_dead_letters(uri)) == written


@pytest.mark.parametrize(("character", "characters", "size"), [("x", 5000, "5,097"), ("\u6771", 1500, "4,597")])
def test_a_record_too_large_for_a_staged_line_fails_alone_and_its_letter_keeps_all_but_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, character: str, characters: int, size: str
) -> None:
    """A record longer than a staged file line may be (64 MiB; 4 KiB here) was written, and every reader then
    refused the whole file as corrupted; now the writer refuses that record, which fails alone, its dead letter
    keeping its FQN and error (its JSON would not fit a line either: measured in bytes, which a text of three-byte
    characters has three times as many of)."""
    monkeypatch.setattr(stagedfile, "MAX_LINE_BYTES", 4096)
    tables = [Table(service="s", database="d", database_schema="sc", name=f"t{i}") for i in range(3)]
    (tmp_path / "in.jsonl").write_text("".join(dump_record(table) + "\n" for table in tables))
    workflow = {
        "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
        "processors": [
            {
                "type": "support.components:Pad",
                "config": {"names": ["t1"], "characters": characters, "character": character},
            }
        ],
        "sink": {"type": "console"},
        "stage": {"type": "file"},
        "workflow": {"staging_root": "staging", "success_threshold": 50},
    }
    (tmp_path / "flow.yaml").write_text(json.dumps(workflow))
    result = run_workflow(load_workflow(tmp_path / "flow.yaml"))
    assert result.success, result.error
    stage = next(report for report in result.reports if report.component == "stage:file")
    assert (stage.records, stage.failure_count) == (2, 1)
    error = f"RecordError: the record is {size} bytes of JSON, more than the 4,096 a staged file line holds"
    assert stage.failures[0].error == error
    assert [record.name for record in read_records(result.staged_uri)] == ["t0", "t2"]
    (letter,) = read_dead_letters(result.dead_letter_uri)
    assert letter.fqn == "s.d.sc.t1" and letter.record is None
    assert letter.error.startswith(error + " (the record is left out: ")
