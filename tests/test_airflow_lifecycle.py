"""Airflow tasks share the CLI's run lifecycle: every failure counts, bad input fails without retries."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.dags import run_dag, xcoms

from airflow_provider_ingest.records import Table, dump_record
from airflow_provider_ingest.staging import StagedFileWriter, read_dead_letters

pytestmark = pytest.mark.airflow

DAG_FILE = """\
import datetime

from airflow.sdk import DAG

from airflow_provider_ingest.airflow.operators import IngestProcessorOperator, IngestSinkOperator

with DAG(
    "lifecycle",
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    default_args={"retries": 2, "retry_delay": datetime.timedelta(0)},
):
    IngestSinkOperator(
        task_id="missing_input", type="file", config={"path": "OUT/never.jsonl"}, input_uri="ROOT/gone/output.jsonl",
        staging_root="ROOT",
    )
    for name, threshold in (("strict", 90), ("lenient", 40)):
        IngestProcessorOperator(
            task_id=name, type="support.components:TagTables", input_uri="HALF", staging_root="ROOT",
            success_threshold=threshold,
        )
"""
VALID, INVALID = 6, 4


@pytest.fixture
def half_invalid(tmp_path: Path) -> Path:
    """An intact staged file (header, count, checksum) whose lines are 6 tables and 4 lines that are no record."""
    path = tmp_path / "half.jsonl"
    bad = ['{"kind": "nothing"}', "not json", '{"kind": "table"}', "[1, 2]"]
    with StagedFileWriter(str(path), producer="test") as out:
        for index in range(VALID):
            out.write_line(dump_record(Table(service="s", database="d", database_schema="p", name=f"t{index}")))
            if index < INVALID:
                out.write_line(bad[index])
    return path


@pytest.fixture
def dag_run(dags_folder: Path, tmp_path: Path, half_invalid: Path):  # type: ignore[no-untyped-def]
    text = DAG_FILE.replace("OUT", str(tmp_path / "out")).replace("ROOT", str(tmp_path / "staging"))
    (dags_folder / "lifecycle.py").write_text(text.replace("HALF", str(half_invalid)))
    return run_dag(dags_folder, "lifecycle")


def instances(dag_run):  # type: ignore[no-untyped-def]
    return {ti.task_id: ti for ti in dag_run.get_task_instances()}


def test_a_missing_upstream_file_fails_at_once_without_retries(dag_run) -> None:  # type: ignore[no-untyped-def]
    task = instances(dag_run)["missing_input"]
    assert (str(task.state), task.try_number) == ("failed", 1)


def test_invalid_input_lines_count_against_the_threshold_and_are_retried(dag_run) -> None:  # type: ignore[no-untyped-def]
    task = instances(dag_run)["strict"]
    assert (str(task.state), task.try_number) == ("failed", 3), "a shortfall is retried as the DAG says"


def test_the_xcom_carries_every_failure_of_the_task(dag_run) -> None:  # type: ignore[no-untyped-def]
    assert str(instances(dag_run)["lenient"].state) == "success"
    result = xcoms(dag_run)["lenient"]
    assert (result["records"], result["failures"]) == (VALID, INVALID)
    letters = list(read_dead_letters(result["dead_letter_uri"]))
    assert [letter.component for letter in letters] == ["input"] * INVALID
    assert [letter.record for letter in letters] == ['{"kind": "nothing"}', "not json", '{"kind": "table"}', "[1, 2]"]
    assert all("line " in letter.error for letter in letters)
