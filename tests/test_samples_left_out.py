"""A staged file says when records of it lost their column samples (``"samples_left_out": true`` in its trailer:
left out by its writer, cleared by a processor, or lost before, in a file it was written from); a component that
uses samples (``pii``'s ``use_samples``) refuses such a file rather than judging without them: a ``pii`` task
cleared alone after ``use_samples`` was turned on, or handed another task's output by a template, read a
sample-less file and tagged by names only, saying it succeeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.errors import InputError, is_retryable
from airflow_provider_ingest.records import Column, DataType, Table
from airflow_provider_ingest.run import run_task, run_workflow, task_context
from airflow_provider_ingest.staging import StagedFileError, StagedFileReader, StagedFileWriter, read_records
from airflow_provider_ingest.staging.stagedfile import SamplesLeftOutError
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

CARDS = ["4111111111111111", "5500005555555559", "340000000000009", "6011000990139424"]
SAMPLED = {"sample": "shop", "sample_rows": 20}


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


def workflow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    (tmp_path / name).write_text(text + "workflow: {staging_root: staging}\n")
    return tmp_path / name


# --- the file ----------------------------------------------------------------------------------------------------


def test_the_trailer_says_when_the_writer_left_samples_out(tmp_path: Path) -> None:
    path = written(tmp_path / "out.jsonl", table("a", CARDS), table("b"), table("c", CARDS[:1]))
    assert trailer(path)["samples_left_out"] is True
    reader = StagedFileReader(path)
    assert [column.samples for record in reader.records() for column in record.columns] == [[], [], []]
    assert reader.samples_left_out


def test_a_file_that_left_no_samples_out_has_the_trailer_it_had(tmp_path: Path) -> None:
    kept = written(tmp_path / "kept.jsonl", table("a", CARDS), keep_samples=True)
    none = written(tmp_path / "none.jsonl", table("a"), table("b"))
    assert trailer(none) == {"staged_file_end": True, "count": 2, "crc32": trailer(none)["crc32"]}
    assert trailer(kept).keys() == trailer(none).keys()
    assert StagedFileReader(kept, samples_for="processor:pii").verify() == 1


def test_a_reader_that_uses_samples_refuses_a_file_that_left_them_out_before_its_first_record(tmp_path: Path) -> None:
    path = written(tmp_path / "out.jsonl", table("a", CARDS), table("b", CARDS))
    reader = StagedFileReader(path, samples_for="processor:pii")
    given = []
    with pytest.raises(SamplesLeftOutError) as raised:
        given.extend(reader.records(checked=True))
    assert given == []
    assert str(raised.value) == (
        f"{path}: written with the column samples of some tables left out, here or before, which processor:pii uses:"
        " have them handed on (an Airflow task keeps them for the tasks downstream of it that use them, not for one"
        " reading its output through a template: run it again once it is so; a pii processor, a file sink, with"
        " keep_samples), or turn their use off (use_samples: false)"
    )
    assert isinstance(raised.value, InputError) and not is_retryable(raised.value)


@pytest.mark.parametrize(
    "damage",
    [
        (b'"samples_left_out": true', b'"samples_left_ouT": true'),
        (b'"samples_left_out": true', b'"samples_left_out": false'),
        (b'"samples_left_out": true', b'"samples_left_out": 1'),
        (b'"samples_left_out": true', b'"samples_left_out": true, "samples_left_out": true'),
        (b'"count": 2', b'"count": 2, "note": "x"'),
    ],
)
def test_a_trailer_with_an_unknown_key_or_a_key_given_twice_is_corrupted(
    tmp_path: Path, damage: tuple[bytes, bytes]
) -> None:
    """The checksum does not cover the trailer: one changed byte must not make the file read another way."""
    path = Path(written(tmp_path / "out.jsonl", table("a", CARDS), table("b")))
    path.write_bytes(path.read_bytes().replace(*damage))
    with pytest.raises(StagedFileError, match=r"line 4 is not (a valid trailer|JSON: a key is given twice)"):
        StagedFileReader(str(path)).verify()


# --- tasks --------------------------------------------------------------------------------------------------------


def test_a_pii_task_refuses_an_input_written_without_the_samples_it_uses(tmp_path: Path) -> None:
    """The source task wrote its output for a pii task with ``use_samples: false``; the pii task, now using samples,
    is cleared alone: it fails, naming the file and what to do, and writes no output."""
    source = run_task("source", "sql", SAMPLED, context(tmp_path, "source"), keep_samples=False)
    assert source.success, source.error
    assert trailer(source.output_uri)["samples_left_out"] is True
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=source.output_uri)
    assert not pii.success
    assert f"{source.output_uri}: written with the column samples of some tables left out" in pii.error
    assert "which processor:pii uses" in pii.error
    assert not list((tmp_path / "staging" / "flow" / "r1" / "pii").rglob("output.jsonl"))

    by_names = run_task(
        "processor", "pii", {"use_samples": False}, context(tmp_path, "pii"), input_uri=source.output_uri
    )
    assert by_names.success, by_names.error


def test_a_pii_task_given_the_samples_judges_by_them(tmp_path: Path) -> None:
    source = run_task("source", "sql", SAMPLED, context(tmp_path, "source"))
    assert source.success, source.error
    assert "samples_left_out" not in trailer(source.output_uri)
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=source.output_uri)
    assert pii.success, pii.error
    tables = [record for record in read_records(source.output_uri) if isinstance(record, Table)]
    assert any(column.samples for record in tables for column in record.columns)
    assert trailer(pii.output_uri)["samples_left_out"] is True  # it cleared them (keep_samples: false)


def test_a_task_between_says_what_its_input_lacked_whatever_it_keeps(tmp_path: Path) -> None:
    """Source, then a filter keeping one table of nine (a count of what was lost would outnumber what is left),
    then pii: the filter task's output lacks what its input lacked, and says so; a sink reads it."""
    source = run_task("source", "sql", SAMPLED, context(tmp_path, "source"), keep_samples=False)
    narrow = {"fqn": {"include": [r".*\.customers"]}}
    kept = run_task("processor", "filter", narrow, context(tmp_path, "filter"), input_uri=source.output_uri)
    assert kept.success, kept.error
    assert trailer(kept.output_uri)["samples_left_out"] is True
    sink = run_task("sink", "file", {"path": "out.jsonl"}, context(tmp_path, "sink"), input_uri=kept.output_uri)
    assert sink.success, sink.error
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=kept.output_uri)
    assert not pii.success and "left out, here or before, which processor:pii uses" in pii.error


@pytest.mark.parametrize(("role", "name"), [("sink", "out.jsonl"), ("stage", "staged.jsonl"), ("bulk_sink", "p.jsonl")])
def test_a_file_written_from_a_file_without_samples_says_so_and_the_next_pii_task_refuses_it(
    tmp_path: Path, role: str, name: str
) -> None:
    given = written(tmp_path / "in.jsonl", table("a", CARDS), table("b", CARDS))
    done = run_task(role, "file", {"path": name, "keep_samples": True} if role == "sink" else {"path": name},
                    context(tmp_path, role), input_uri=given)  # fmt: skip
    assert done.success, done.error
    assert trailer(tmp_path / name)["samples_left_out"] is True
    pii = run_task("processor", "pii", {}, context(tmp_path, "pii"), input_uri=str(tmp_path / name))
    assert not pii.success and "which processor:pii uses" in pii.error


def test_a_pii_task_after_a_pii_task_that_cleared_the_samples_is_refused(tmp_path: Path) -> None:
    given = written(tmp_path / "in.jsonl", table("a", CARDS), keep_samples=True)
    first = run_task("processor", "pii", {}, context(tmp_path, "pii1"), input_uri=given, keep_samples=True)
    assert first.success, first.error
    second = run_task("processor", "pii", {}, context(tmp_path, "pii2"), input_uri=first.output_uri)
    assert not second.success and "which processor:pii uses" in second.error


# --- workflows in one process -------------------------------------------------------------------------------------


def test_a_workflow_reading_a_file_without_its_samples_fails_where_a_processor_uses_them(tmp_path: Path) -> None:
    written(tmp_path / "catalog.jsonl", table("a", CARDS), table("b"))
    text = "source: {type: file, config: {path: catalog.jsonl}}\nprocessors: [{type: pii%s}]\n"
    text += "sink: {type: file, config: {path: out.jsonl}}\n"
    result = run_workflow(load_workflow(workflow(tmp_path, text % "", "uses.yaml")))
    assert not result.success and "which processor:pii uses" in result.error
    assert not (tmp_path / "out.jsonl").exists()
    result = run_workflow(load_workflow(workflow(tmp_path, text % ", config: {use_samples: false}", "names.yaml")))
    assert result.success, result.error
    assert trailer(tmp_path / "out.jsonl")["samples_left_out"] is True


def test_a_workflow_whose_pii_clears_the_samples_a_later_pii_uses_is_refused_where_the_later_one_is(
    tmp_path: Path,
) -> None:
    """Refused as the file is validated: by ``validate``, the DAG factory, ``run`` and ``run --workers`` alike."""
    text = "source: {type: sql, config: {sample: shop, sample_rows: 5}}\n"
    text += (
        "processors:\n  - type: pii\n  - type: filter\n  - type: pii\n    config: {rules: {}}\nsink: {type: console}\n"
    )
    path = workflow(tmp_path, text)
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    assert str(raised.value) == (
        f"{path}:5:5: processors.2.type: it uses column samples, which processors.0 (pii) before it clears: give"
        " that one keep_samples: true"
    )
    assert main(["run", str(path), "--workers", "2", "--quiet"]) == 1
    kept = text.replace(
        "  - type: pii\n  - type: filter", "  - type: pii\n    config: {keep_samples: true}\n  - type: filter"
    )
    assert run_workflow(load_workflow(workflow(tmp_path, kept))).success
    by_names = text.replace("config: {rules: {}}", "config: {rules: {}, use_samples: false}")
    load_workflow(workflow(tmp_path, by_names))


def test_a_stage_of_two_snapshots_of_one_table_is_read_by_its_bulk_sink(tmp_path: Path) -> None:
    """Two records of one table, the first replaced by the second: the stage's file is whole and readable."""
    written(tmp_path / "monday.jsonl", table("a", CARDS), keep_samples=True)
    written(tmp_path / "tuesday.jsonl", table("a", CARDS), keep_samples=True)
    text = "source: {type: file, config: {path: [monday.jsonl, tuesday.jsonl]}}\n"
    text += "stage: {type: file, config: {path: staged.jsonl}}\nbulk_sink: {type: file, config: {path: p.jsonl}}\n"
    result = run_workflow(load_workflow(workflow(tmp_path, text)))
    assert result.success, result.error
    assert trailer(tmp_path / "staged.jsonl") == {**trailer(tmp_path / "staged.jsonl"), "count": 1}
    assert trailer(tmp_path / "p.jsonl")["samples_left_out"] is True


def test_a_serial_and_a_partitioned_run_stage_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(
        "source: {type: sql, config: {sample: shop, sample_rows: 5}}\nstage: {type: file}\n"
        f"workflow: {{staging_root: '{tmp_path / 'staging'}'}}\n"
    )
    assert main(["run", str(path), "--run-id", "serial", "--quiet"]) == 0
    assert main(["run", str(path), "--workers", "2", "--run-id", "parts", "--quiet"]) == 0
    serial, parts = (tmp_path / "staging" / "shop" / run / "staged.jsonl" for run in ("serial", "parts"))
    assert serial.read_bytes() == parts.read_bytes()
    assert trailer(serial)["samples_left_out"] is True
