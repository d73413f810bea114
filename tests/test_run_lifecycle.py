"""What a run's result says: its failures summed over components, whether running again may help, and each
component's report (the failure and warning samples, the counters, the summary sent to XComs and logs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_ingest.api.report import SAMPLE_LIMIT, Failure, Report
from airflow_provider_ingest.errors import InputError, ServiceError
from airflow_provider_ingest.run import RunResult, run_task, task_context
from airflow_provider_ingest.run.steps import MissingInputError


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
