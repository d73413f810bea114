"""What a run's ingestion tasks did, read from their XComs: per step records, filtered, failures, counters.

A task keeps its status table under ``ingest_status`` (also when it fails) and returns ``uri``, ``records``,
``failures``, ``dead_letter_uri`` and ``summary``, each also pushed under its own key. The richest of
these a page asked for is used; tasks of earlier releases, without ``ingest_status``, show their summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_ingest.api.report import Report
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.status import STATUS_XCOM_KEY, bounded_status, status_result
from airflow_provider_ingest.ui.shapes import DagShape, TaskShape

IO_COMPONENTS = ("input", "output")
"""Reports of a task's reader and writer, beside its component's own."""


@dataclass
class TaskResult:
    """One task instance's results: its own reports, every failure and record not committed (reader and writer
    included), its files."""

    task_id: str
    map_index: int
    reports: list[Report]
    failures: int
    uncommitted: int = 0
    status: RunResult | None = None
    uri: str | None = None
    dead_letter_uri: str | None = None
    problem: str | None = None
    """Why its XCom could not be read, if it could not."""


def task_result(task: TaskShape, map_index: int, values: Mapping[str, Any]) -> TaskResult | None:
    """The result in a task instance's XComs (by key), or None when it has none."""
    status = values.get(STATUS_XCOM_KEY)
    problem = None
    if status is not None:
        try:
            result = status_result(bounded_status(status))
        except ValueError as error:
            problem = str(error)
        else:
            own = [report for report in result.reports if report.component not in IO_COMPONENTS]
            return TaskResult(
                task.task_id,
                map_index,
                own or result.reports,
                result.failures,
                sum(report.uncommitted for report in result.reports),
                status=result,
                uri=result.output_uri or result.staged_uri,
                dead_letter_uri=result.dead_letter_uri,
            )
    returned = values.get("return_value")
    returned = returned if isinstance(returned, dict) else {}
    summary = returned.get("summary", values.get("summary"))
    reports = _summary_reports(summary)
    failures = _int(returned.get("failures", values.get("failures")))
    records = _int(returned.get("records", values.get("records")))
    if not reports and records is None and failures is None:
        if problem is None:
            return None
        return TaskResult(task.task_id, map_index, [], 0, problem=problem)
    if not reports:
        reports = [Report(component=task.task_id, records=records or 0, failure_count=failures or 0)]
    return TaskResult(
        task.task_id,
        map_index,
        reports,
        failures if failures is not None else sum(report.failure_count for report in reports),
        sum(report.uncommitted for report in reports),
        uri=_str(returned.get("uri", values.get("uri"))),
        dead_letter_uri=_str(returned.get("dead_letter_uri", values.get("dead_letter_uri"))),
        problem=problem,
    )


def _summary_reports(summary: Any) -> list[Report]:
    """Reports rebuilt from ``Report.summary()`` dicts (one, or a list for a whole workflow in one task)."""
    items = summary if isinstance(summary, list) else [summary] if isinstance(summary, dict) else []
    reports = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("component"), str):
            continue
        counters = item.get("counters")
        reports.append(
            Report(
                component=item["component"],
                records=_int(item.get("records")) or 0,
                filtered=_int(item.get("filtered")) or 0,
                uncommitted=_int(item.get("uncommitted")) or 0,
                failure_count=_int(item.get("failures")) or 0,
                warning_count=_int(item.get("warnings")) or 0,
                elapsed=float(item["elapsed"]) if isinstance(item.get("elapsed"), (int, float)) else 0.0,
                counters=_counters(counters),
            )
        )
    return reports


def _counters(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {key: count for key, count in value.items() if isinstance(key, str) and _int(count) is not None}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class StepCounts:
    """One step of a run, all its mapped instances together."""

    name: str
    role: str
    records: int = 0
    filtered: int = 0
    uncommitted: int = 0
    """Of ``records``, those its failed task did not commit (``Report.uncommitted``): none of them is in place."""
    failures: int = 0
    warnings: int = 0
    success_rate: float = 100.0
    elapsed: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)


@dataclass
class RunStats:
    """One DAG run with its steps' counts, from the DAG run row and its tasks' XComs."""

    run_id: str
    state: str | None
    run_type: str | None
    run_after: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    steps: list[StepCounts] = field(default_factory=list)
    has_results: bool = False

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (to now, for a run still going); None before it starts."""
        if self.start_date is None:
            return None
        end = self.end_date or datetime.now(self.start_date.tzinfo)
        return max((end - self.start_date).total_seconds(), 0.0)

    @property
    def records(self) -> int | None:
        """Records the run extracted: its source steps' (the first step's, without one); None without results."""
        if not self.has_results:
            return None
        sources = [step for step in self.steps if step.role == "source"]
        return sum(step.records for step in sources or self.steps[:1])

    @property
    def filtered(self) -> int:
        return sum(step.filtered for step in self.steps)

    @property
    def failures(self) -> int:
        return sum(step.failures for step in self.steps)

    @property
    def uncommitted(self) -> int:
        """Records its steps counted but did not commit (a failed step's file): shown as not committed, not as a
        success rate."""
        return sum(step.uncommitted for step in self.steps)

    @property
    def lowest_success_rate(self) -> float | None:
        """The lowest success rate of a step (the threshold applies per step); None without results."""
        return min((step.success_rate for step in self.steps), default=None) if self.has_results else None


def run_stats(run: Any, shape: DagShape, results: Iterable[TaskResult]) -> RunStats:
    """A run's counts: one :class:`StepCounts` per component report, in the DAG's order, mapped instances summed."""
    stats = RunStats(run.run_id, _state(run.state), run.run_type, run.run_after, run.start_date, run.end_date)
    order = {task.task_id: index for index, task in enumerate(shape.tasks)}
    steps: dict[str, StepCounts] = {}
    for result in sorted(results, key=lambda item: (order.get(item.task_id, len(order)), item.map_index)):
        task = shape.task(result.task_id)
        several = len(result.reports) > 1
        for report in result.reports:
            name = f"{result.task_id} {report.component}" if several else result.task_id
            role = _role(task, report)
            step = steps.setdefault(name, StepCounts(name, role))
            step.records += report.records
            step.filtered += report.filtered
            step.uncommitted += report.uncommitted
            step.failures += report.failure_count
            step.warnings += report.warning_count
            step.success_rate = min(step.success_rate, report.success_rate)
            step.elapsed += report.elapsed
            for counter, value in report.counters.items():
                step.counters[counter] = step.counters.get(counter, 0) + value
        if not several and result.reports:  # the reader's and writer's count against the task's step
            steps[result.task_id].failures += result.failures - sum(r.failure_count for r in result.reports)
            steps[result.task_id].uncommitted += result.uncommitted - sum(r.uncommitted for r in result.reports)
        stats.has_results = True
    stats.steps = list(steps.values())
    return stats


def _role(task: TaskShape | None, report: Report) -> str:
    """A report's role: its task's, or for a whole workflow in one task (or an unknown subclass) its component's."""
    if task is not None and task.role not in ("workflow", "step"):
        return task.role
    prefix = report.component.split(":", 1)[0]
    return prefix if ":" in report.component else (task.role if task else "step")


def _state(state: Any) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def group_values(rows: Sequence[tuple[int, str, int, str, Any]]) -> dict[tuple[int, str, int], dict[str, Any]]:
    """XCom rows ``(dag_run_pk, task_id, map_index, key, value)`` grouped by task instance."""
    grouped: dict[tuple[int, str, int], dict[str, Any]] = {}
    for run_pk, task_id, map_index, key, value in rows:
        grouped.setdefault((run_pk, task_id, map_index), {})[key] = value
    return grouped
