"""What a run's result says: its failures summed over components, whether running again may help, and each
component's report (the failure and warning samples, the counters, the summary sent to XComs and logs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.api.report import SAMPLE_LIMIT, Failure, Report
from airflow_provider_ingest.errors import InputError, ServiceError
from airflow_provider_ingest.records import Table
from airflow_provider_ingest.run import RunResult, run_task, task_context
from airflow_provider_ingest.run.steps import MissingInputError
from airflow_provider_ingest.staging import StagedFileWriter, read_records


def report(component: str, records: int = 0, failures: int = 0) -> Report:
    made = Report(component=component, records=records)
    for index in range(failures):
        made.add_failure(f"ValueError: bad {index}", fqn=f"s.d.sc.t{index}")
    return made


def test_a_result_sums_the_failures_of_every_component() -> None:
    result = RunResult(reports=[report("source", 5), report("sink", 3, 2), report("pii", 4, 1)], threshold=90.0)
    assert result.failures == 3
    assert RunResult(reports=[], threshold=90.0).failures == 0


def test_a_result_succeeds_only_without_error_and_shortfall() -> None:
    assert RunResult(reports=[], threshold=90.0).success
    assert not RunResult(reports=[], threshold=90.0, error="ValueError: x").success
    assert not RunResult(reports=[], threshold=90.0, below_threshold=["sink"]).success


@pytest.mark.parametrize(
    ("exception", "retryable"),
    [
        (None, True),  # a shortfall: the failed records may pass next time
        (ServiceError("503 from the server"), True),
        (InputError("line 3: not JSON"), False),
        (KeyError("a bug"), False),
    ],
)
def test_running_again_helps_after_a_shortfall_or_a_service_error_only(
    exception: BaseException | None, retryable: bool
) -> None:
    assert RunResult(reports=[], threshold=90.0, exception=exception).retryable is retryable


def test_a_report_keeps_a_sample_and_counts_everything() -> None:
    made = report("sink", 1, SAMPLE_LIMIT + 5)
    assert made.failure_count == SAMPLE_LIMIT + 5
    assert len(made.failures) == SAMPLE_LIMIT
    assert made.failures[0] == Failure(fqn="s.d.sc.t0", error="ValueError: bad 0")
    assert made.failures[-1].error == f"ValueError: bad {SAMPLE_LIMIT - 1}"
    for index in range(SAMPLE_LIMIT + 1):
        made.add_warning(f"warning {index}")
    assert made.warning_count == SAMPLE_LIMIT + 1
    assert made.warnings == [f"warning {index}" for index in range(SAMPLE_LIMIT)]


def test_a_report_summary() -> None:
    made = report("pii", 2, 1)
    made.filtered = 4
    made.add_warning("careful")
    assert made.summary() == {
        "component": "pii",
        "records": 2,
        "filtered": 4,
        "failures": 1,
        "warnings": 1,
        "success_rate": 66.67,
        "elapsed": 0.0,
    }
    made.count("tags")
    made.count("tags", 2)
    made.count("columns", 5)
    assert made.summary()["counters"] == {"tags": 3, "columns": 5}
    assert made.success_rate == pytest.approx(200 / 3)
    assert report("idle").success_rate == 100.0
    assert report("all failed", 0, 2).success_rate == 0.0


def test_elapsed_is_measured_only_once_started() -> None:
    made = report("sink")
    made.stop()
    assert made.elapsed == 0.0
    made.start()
    made.stop()
    assert 0.0 <= made.elapsed < 60.0 and made.started is not None


def test_a_task_needs_its_upstream_staged_file(tmp_path: Path) -> None:
    context = task_context(dag_id="flow", run_id="r1", task_id="tag", staging_root=str(tmp_path / "staging"))
    with pytest.raises(InputError) as raised:
        run_task("processor", "filter", {}, context)
    assert str(raised.value) == "a processor task needs input_uri: the upstream task's output"
    missing = str(tmp_path / "gone.jsonl")
    with pytest.raises(MissingInputError) as raised:
        run_task("sink", "console", {}, context, input_uri=missing)
    assert str(raised.value) == f"input staged file {missing} does not exist: run the upstream task again"
    with pytest.raises(MissingInputError) as raised:
        run_task("sink", "console", {}, context, input_uri=missing, upstream="source")
    assert str(raised.value) == (
        f"input staged file {missing} does not exist: clear the upstream task 'source' to write it again"
    )


def write_tables(path: Path, names: list[str]) -> str:
    with StagedFileWriter(str(path), producer="test") as writer:
        for name in names:
            writer.write(Table(name=name, service="s", database="d", database_schema="sc"))
    return str(path)


def test_a_task_folder_and_each_kind_of_task(tmp_path: Path) -> None:
    """Source, processor, sink and bulk sink tasks as Airflow runs them, chained by their staged files."""
    staged = write_tables(tmp_path / "in.jsonl", ["t1", "tmp_x", "t2", "tmp_y"])

    def context(task_id: str, map_index: int = -1, compression: str = "none") -> RunContext:
        made = task_context(
            dag_id="flow",
            run_id="r1",
            task_id=task_id,
            map_index=map_index,
            staging_root="staging",
            compression=compression,
            base_dir=str(tmp_path),
        )
        assert made.workflow_name == "flow" and made.base_dir == tmp_path
        return made

    source = run_task("source", "file", {"path": staged}, context("read"))
    assert source.success, source.error
    assert source.output_uri == str(tmp_path / "staging/flow/r1/read/output.jsonl")
    assert [r.component for r in source.reports] == ["source:file", "output"]
    assert [(r.records, r.failure_count) for r in source.reports] == [(4, 0), (4, 0)]
    assert source.threshold == 90.0

    kept = run_task(
        "processor",
        "filter",
        {"fqn": {"exclude": ["s.d.sc.tmp_.*"]}},
        context("keep", 2, "gzip"),
        input_uri=source.output_uri,
        success_threshold=75.0,
    )
    assert kept.success, kept.error
    assert kept.threshold == 75.0
    assert kept.output_uri == str(tmp_path / "staging/flow/r1/keep/2/output.jsonl.gz")
    assert [r.component for r in kept.reports] == ["input", "processor:filter", "output"]
    assert [(r.records, r.filtered) for r in kept.reports] == [(4, 0), (4, 2), (2, 0)]
    assert [record.name for record in read_records(kept.output_uri)] == ["t1", "t2"]

    sink = run_task("sink", "file", {"path": str(tmp_path / "out.jsonl")}, context("write"), input_uri=kept.output_uri)
    assert sink.success, sink.error
    assert sink.output_uri == (tmp_path / "out.jsonl").as_uri()  # the asset it wrote
    assert [record.name for record in read_records(sink.output_uri)] == ["t1", "t2"]

    console = run_task("sink", "console", {}, context("show"), input_uri=kept.output_uri)
    assert console.success and console.output_uri is None

    published = run_task(
        "bulk_sink",
        "file",
        {"path": str(tmp_path / "published.jsonl")},
        context("publish"),
        input_uri=source.output_uri,
    )
    assert published.success, published.error
    assert published.output_uri == (tmp_path / "published.jsonl").as_uri()
    assert [record.name for record in read_records(published.output_uri)] == ["t1", "tmp_x", "t2", "tmp_y"]
