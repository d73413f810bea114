"""A staged file says of how many records its writer left the column samples out; a component that uses samples
(``pii``'s ``use_samples``) refuses such a file rather than judging without them:
a ``pii`` task cleared alone after ``use_samples`` was turned on, or handed another task's output by a template,
read a sample-less file and tagged by names only, saying it succeeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_ingest.errors import InputError, is_retryable
from airflow_provider_ingest.records import Column, DataType, Table
from airflow_provider_ingest.run import run_task, run_workflow, task_context
from airflow_provider_ingest.staging import StagedFileError, StagedFileReader, StagedFileWriter, read_records
from airflow_provider_ingest.staging.stagedfile import SamplesLeftOutError
from airflow_provider_ingest.workflow.loader import load_workflow

CARDS = ["4111111111111111", "5500005555555559", "340000000000009", "6011000990139424"]


def table(name: str, samples: list[str] | None = None) -> Table:
    columns = [Column(name="card", data_type=DataType.VARCHAR, samples=samples or [])]
    return Table(service="s", database="d", database_schema="sc", name=name, columns=columns)


def written(path: Path, *records: Table, keep_samples: bool = False) -> str:
    with StagedFileWriter(str(path), producer="source:sql", keep_samples=keep_samples) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def trailer(path: str | Path) -> dict:
    return json.loads(Path(path).read_text().splitlines()[-1])


def context(tmp_path: Path, task_id: str):
    return task_context(dag_id="flow", run_id="r1", task_id=task_id, staging_root="staging", base_dir=str(tmp_path))


def test_the_trailer_counts_the_records_whose_samples_the_writer_left_out(tmp_path: Path) -> None:
    path = written(tmp_path / "out.jsonl", table("a", CARDS), table("b"), table("c", CARDS[:1]))
    assert trailer(path)["samples_dropped"] == 2
    reader = StagedFileReader(path)
    assert [column.samples for record in reader.records() for column in record.columns] == [[], [], []]
    assert reader.samples_dropped == 2


def test_a_file_that_left_no_samples_out_has_the_trailer_it_had(tmp_path: Path) -> None:
    kept = written(tmp_path / "kept.jsonl", table("a", CARDS), keep_samples=True)
    none = written(tmp_path / "none.jsonl", table("a"), table("b"))
    assert "samples_dropped" not in trailer(kept) and "samples_dropped" not in trailer(none)
    assert trailer(none) == {"staged_file_end": True, "count": 2, "crc32": trailer(none)["crc32"]}
    assert StagedFileReader(kept, samples_for="processor:pii").verify() == 1


def test_a_reader_that_uses_samples_refuses_a_file_that_left_them_out_before_its_first_record(tmp_path: Path) -> None:
    path = written(tmp_path / "out.jsonl", table("a", CARDS), table("b", CARDS))
    reader = StagedFileReader(path, samples_for="processor:pii")
    given = []
    with pytest.raises(SamplesLeftOutError) as raised:
        given.extend(reader.records(checked=True))
    assert given == []
    assert str(raised.value) == (
        f"{path}: written with the column samples of 2 tables left out, which processor:pii uses: run the task that"
        " wrote it again, so that it hands them on (an Airflow task keeps them for the tasks downstream of"
        " it that use them; a file sink, with keep_samples), or turn their use off"
    )
    assert isinstance(raised.value, InputError) and not is_retryable(raised.value)


@pytest.mark.parametrize("value", [-1, True, "2", 3.0, 5, None])
def test_a_trailer_whose_count_of_records_without_samples_is_no_count_of_its_records_is_corrupted(
    tmp_path: Path, value: object
) -> None:
    path = Path(written(tmp_path / "out.jsonl", table("a", CARDS), table("b")))
    lines = path.read_text().splitlines()
    end = json.loads(lines[-1])
    end["samples_dropped"] = value
    path.write_text("\n".join([*lines[:-1], json.dumps(end)]) + "\n")
    with pytest.raises(StagedFileError, match="line 4 is not a valid trailer"):
        StagedFileReader(str(path)).verify()


def test_a_pii_task_refuses_an_input_written_without_the_samples_it_uses(tmp_path: Path) -> None:
    """The source task wrote its output for a pii task with ``use_samples: false``; the pii task, now using samples,
    is cleared alone: it fails, naming the file and what to do, and writes no output."""
    source = run_task(
        "source", "sql", {"sample": "shop", "sample_rows": 20}, context(tmp_path, "source"), keep_samples=False
    )
    assert source.success, source.error
    assert trailer(source.output_uri)["samples_dropped"] > 0
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=source.output_uri)
    assert not pii.success
    assert f"{source.output_uri}: written with the column samples of" in pii.error
    assert "which processor:pii uses" in pii.error
    assert not list((tmp_path / "staging" / "flow" / "r1" / "pii").rglob("output.jsonl"))

    by_names = run_task(
        "processor", "pii", {"use_samples": False}, context(tmp_path, "pii"), input_uri=source.output_uri
    )
    assert by_names.success, by_names.error


def test_a_pii_task_given_the_samples_judges_by_them(tmp_path: Path) -> None:
    source = run_task("source", "sql", {"sample": "shop", "sample_rows": 20}, context(tmp_path, "source"))
    assert source.success, source.error
    assert "samples_dropped" not in trailer(source.output_uri)
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=source.output_uri)
    assert pii.success, pii.error
    tables = [record for record in read_records(source.output_uri) if isinstance(record, Table)]
    assert any(column.samples for record in tables for column in record.columns)


def test_a_task_between_hands_on_the_count_of_what_its_input_lacked(tmp_path: Path) -> None:
    """Source, then enrich, then pii: the enrich task's output lacks what its input lacked, and says so."""
    source = run_task(
        "source", "sql", {"sample": "shop", "sample_rows": 20}, context(tmp_path, "source"), keep_samples=False
    )
    lacked = trailer(source.output_uri)["samples_dropped"]
    rules = {"rules": [{"fqn": ".*", "tags": ["Tier.Gold"]}]}
    enrich = run_task("processor", "enrich", rules, context(tmp_path, "enrich"), input_uri=source.output_uri)
    assert enrich.success, enrich.error
    assert trailer(enrich.output_uri)["samples_dropped"] == lacked
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=enrich.output_uri)
    assert not pii.success and "left out, which processor:pii uses" in pii.error


def test_a_file_sink_says_what_its_input_lacked_and_the_next_pii_task_refuses_it(tmp_path: Path) -> None:
    given = written(tmp_path / "in.jsonl", table("a", CARDS), table("b", CARDS))
    sink = {"path": "out.jsonl", "keep_samples": True}
    done = run_task("sink", "file", sink, context(tmp_path, "s"), input_uri=given)
    assert done.success, done.error
    assert trailer(tmp_path / "out.jsonl")["samples_dropped"] == 2
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=str(tmp_path / "out.jsonl"))
    assert not pii.success and "the column samples of 2 tables left out, which processor:pii uses" in pii.error


def test_a_workflow_reading_a_file_without_its_samples_fails_where_a_processor_uses_them(tmp_path: Path) -> None:
    written(tmp_path / "catalog.jsonl", table("a", CARDS), table("b"))
    text = (
        "source: {type: file, config: {path: catalog.jsonl}}\n"
        "processors: [{type: pii%s}]\n"
        "sink: {type: file, config: {path: out.jsonl}}\n"
        "workflow: {staging_root: staging}\n"
    )
    (tmp_path / "uses.yaml").write_text(text % "")
    result = run_workflow(load_workflow(tmp_path / "uses.yaml"))
    assert not result.success and "which processor:pii uses" in result.error
    assert not (tmp_path / "out.jsonl").exists()
    (tmp_path / "names.yaml").write_text(text % ", config: {use_samples: false}")
    result = run_workflow(load_workflow(tmp_path / "names.yaml"))
    assert result.success, result.error
    assert trailer(tmp_path / "out.jsonl")["samples_dropped"] == 1
