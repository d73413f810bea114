"""What each page shows, as plain data (the JSON API returns it; the HTML templates render it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from airflow_provider_ingest.api.report import Report
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.status import HEADER, STATUS_XCOM_KEY, status_lines, status_notes, status_rows
from airflow_provider_ingest.ui import data
from airflow_provider_ingest.ui.chart import Point, runs_chart
from airflow_provider_ingest.ui.files import RunFolder, is_run_folder, run_folder
from airflow_provider_ingest.ui.results import RunStats, StepCounts, TaskResult
from airflow_provider_ingest.ui.shapes import DagShape

UNFINISHED = ("queued", "running")
RECENT_RUNS = 5
"""Runs listed under each DAG of the "Ingestion" page (its chart shows ``data.CHART_RUNS``)."""
SHOWN_REASONS = 5


@dataclass(frozen=True)
class Page:
    """Which page of a list: 1-based number and size."""

    number: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def step_dict(step: StepCounts) -> dict[str, Any]:
    return {
        "name": step.name,
        "role": step.role,
        "records": step.records,
        "filtered": step.filtered,
        "uncommitted": step.uncommitted,
        "failures": step.failures,
        "warnings": step.warnings,
        "success_rate": round(step.success_rate, 2),
        "elapsed": round(step.elapsed, 3),
        "counters": dict(sorted(step.counters.items())),
    }


def stats_dict(stats: RunStats) -> dict[str, Any]:
    """A run's counts for the pages: state, times, records (extracted), filtered, failed, lowest success rate."""
    rate = stats.lowest_success_rate
    duration = stats.duration
    return {
        "run_id": stats.run_id,
        "state": stats.state,
        "run_type": stats.run_type,
        "run_after": _iso(stats.run_after),
        "start_date": _iso(stats.start_date),
        "end_date": _iso(stats.end_date),
        "duration": round(duration, 3) if duration is not None else None,
        "has_results": stats.has_results,
        "records": stats.records,
        "filtered": stats.filtered if stats.has_results else None,
        "failures": stats.failures if stats.has_results else None,
        "uncommitted": stats.uncommitted if stats.has_results else None,
        "success_rate": round(rate, 2) if rate is not None else None,
        "steps": [step_dict(step) for step in stats.steps],
    }


def chart(stats: Sequence[RunStats], dag_id: str) -> str:
    """The SVG of the runs (given newest first), oldest on the left."""
    points = [Point(run.run_id, run.state, run.records, run.failures if run.has_results else None) for run in stats]
    return runs_chart(points[::-1], title=f"{dag_id}: records and failures of the last {len(points)} runs")


def dags_page(
    session: Session,
    readable: set[str],
    may_read_runs: Callable[[list[str]], set[str]],
    page: Page,
    search: str | None,
) -> dict[str, Any]:
    """The "Ingestion" page: a page of ingestion DAGs (by dag id) with their last run and a chart of the last 30.

    ``readable`` are the DAGs the user may read; ``may_read_runs`` tells which of a page's DAGs' runs and
    XComs they may read (the others are listed without runs).
    """
    from airflow.models.dag import DagModel
    from sqlalchemy import select

    shapes = data.ingestion_shapes(session, readable)
    needle = (search or "").strip().lower()
    dag_ids = sorted(dag_id for dag_id in shapes if needle in dag_id.lower())
    shown = dag_ids[page.offset : page.offset + page.size]
    runs_allowed = may_read_runs(shown) if shown else set()
    details = {
        row.dag_id: row
        for row in session.execute(
            select(DagModel.dag_id, DagModel.is_paused, DagModel.description).where(DagModel.dag_id.in_(shown))
        )
    }
    visible = [dag_id for dag_id in shown if dag_id in runs_allowed]
    runs_of = {dag_id: data.latest_runs(session, dag_id, data.CHART_RUNS) for dag_id in visible}
    recent_of = data.stats_for_dags(session, [(shapes[d], runs_of[d][:RECENT_RUNS]) for d in visible], data.LIGHT_KEYS)
    older_of = data.stats_for_dags(session, [(shapes[d], runs_of[d][RECENT_RUNS:]) for d in visible], data.COUNT_KEYS)
    stats_of = {dag_id: (recent, older) for dag_id, recent, older in zip(visible, recent_of, older_of, strict=True)}
    dags = []
    for dag_id in shown:
        row = details.get(dag_id)
        entry: dict[str, Any] = {
            "dag_id": dag_id,
            "description": row.description if row else None,
            "is_paused": bool(row.is_paused) if row else None,
            "steps": [task.task_id for task in shapes[dag_id].steps],
            "runs_visible": dag_id in runs_allowed,
            "last_run": None,
            "recent": [],
            "chart": None,
            "succeeded": 0,
            "finished": 0,
        }
        if dag_id in stats_of:
            recent, older = stats_of[dag_id]
            stats = recent + older
            entry["last_run"] = stats_dict(recent[0]) if recent else None
            entry["recent"] = [stats_dict(run) for run in recent]
            entry["chart"] = chart(stats, dag_id)
            finished = [run for run in stats if run.state not in UNFINISHED]
            entry["finished"] = len(finished)
            entry["succeeded"] = sum(run.state == "success" for run in finished)
        dags.append(entry)
    return {
        "dags": dags,
        "search": search or "",
        **_paging(page, len(dag_ids)),
    }


def _paging(page: Page, total: int) -> dict[str, int]:
    return {
        "page": page.number,
        "per_page": page.size,
        "total": total,
        "pages": max((total + page.size - 1) // page.size, 1),
    }


def dag_page(session: Session, dag_id: str, shape: DagShape, page: Page) -> dict[str, Any]:
    """One DAG's page: the chart of its last 30 runs, and its runs (newest first) a page at a time."""
    chart_runs = data.latest_runs(session, dag_id, data.CHART_RUNS)
    chart_stats = data.stats_for_runs(session, shape, chart_runs, data.COUNT_KEYS)
    runs = data.latest_runs(session, dag_id, page.size, page.offset)
    stats = data.stats_for_runs(session, shape, runs, data.LIGHT_KEYS)
    return {
        "dag_id": dag_id,
        "steps": [task.task_id for task in shape.steps],
        "chart": chart(chart_stats, dag_id),
        "runs": [stats_dict(run) for run in stats],
        **_paging(page, data.count_runs(session, dag_id)),
    }


def _table(result: RunResult) -> dict[str, Any]:
    """The status table as the CLI and the task log print it: cells, the notes below them, and the text."""
    return {
        "header": list(HEADER),
        "rows": [list(row) for row in status_rows(result)[1:]],
        "notes": status_notes(result),
        "text": "\n".join(status_lines(result)),
    }


def report_page(session: Session, run: data.RunRow, shape: DagShape | None) -> dict[str, Any]:
    """A run's "Ingestion report": the status table of every step, each task's own table, dead letters per step
    with the first reasons, links to the run's staged files and dead letters, and what processors changed."""
    tasks, more = data.task_rows(session, run.dag_id, run.run_id)
    page: dict[str, Any] = {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state,
        "run_type": run.run_type,
        "run_after": _iso(run.run_after),
        "start_date": _iso(run.start_date),
        "end_date": _iso(run.end_date),
        "duration": RunStats(run.run_id, run.state, run.run_type, run.run_after, run.start_date, run.end_date).duration,
        "is_ingestion": shape is not None and bool(shape.steps),
        "more_tasks": more,
        "status": None,
        "steps": [],
        "other_tasks": [],
        "changes": [],
    }
    if shape is None or not shape.steps:
        return page
    steps = {task.task_id for task in shape.steps}
    values = data.xcom_values(session, [run.pk], steps, (STATUS_XCOM_KEY, "return_value"))
    results = {
        (task_id, map_index): result
        for (_, task_id, map_index), by_key in values.items()
        if (result := data.task_result_of(shape, task_id, map_index, by_key)) is not None
    }
    folders = _verified_folders(results.values(), run.dag_id, run.run_id)
    order = {task.task_id: index for index, task in enumerate(shape.tasks)}
    instances = sorted(tasks, key=lambda ti: (order.get(ti.task_id, len(order)), ti.task_id, ti.map_index))
    combined: list[Report] = []
    thresholds: list[float] = []
    errors: list[str] = []
    below: list[str] = []
    for ti in instances:
        task = shape.task(ti.task_id)
        if task is None:
            page["other_tasks"].append(_task_dict(ti))
            continue
        if not task.is_step:
            page["other_tasks"].append(_task_dict(ti) | {"role": task.role})
            continue
        result = results.get((ti.task_id, ti.map_index))
        entry = _task_dict(ti) | {"role": task.role}
        entry |= _step_detail(result, folders)
        page["steps"].append(entry)
        label = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        if result is None:
            if ti.state == "failed":
                errors.append(f"task {label} failed before its step ran (see its log)")
            continue
        combined += result.reports
        if result.status is not None:
            thresholds.append(result.status.threshold)
            below += [name for name in result.status.below_threshold if name not in below]
            if result.status.error:
                errors.append(f"{label}: {result.status.error}")
        for report in result.reports:
            processor = task.role == "processor" or report.component.startswith("processor:")
            if processor and (report.filtered or report.counters):
                page["changes"].append(
                    {
                        "task_id": ti.task_id,
                        "map_index": ti.map_index,
                        "component": report.component,
                        "filtered": report.filtered,
                        "counters": dict(sorted(report.counters.items())),
                    }
                )
    total = RunResult(
        reports=combined,
        threshold=min(thresholds, default=0.0),
        error="; ".join(errors) or None,
        below_threshold=below,
    )
    table = _table(total)
    if run.state in UNFINISHED:
        done = sum(1 for step in page["steps"] if step["state"] in ("success", "failed", "skipped", "upstream_failed"))
        table["notes"][-1] = f"run {run.state}: {done} of {len(page['steps'])} steps done"
        table["text"] = "\n".join([*table["text"].splitlines()[:-1], table["notes"][-1]])
    page["status"] = table
    return page


def _task_dict(ti: data.TaskRow) -> dict[str, Any]:
    return {
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state,
        "try_number": ti.try_number,
        "start_date": _iso(ti.start_date),
        "end_date": _iso(ti.end_date),
        "duration": ti.duration,
    }


def _step_detail(result: TaskResult | None, folders: list[RunFolder]) -> dict[str, Any]:
    """A step's own status table, dead letters with the first reasons, its files (linked when in the run's folder)."""
    if result is None:
        return {"status": None, "failures": None, "reasons": [], "dead_letters": None, "output": None, "problem": None}
    reports = result.status.reports if result.status is not None else result.reports
    reasons = [
        {"component": report.component, "fqn": failure.fqn, "error": failure.error}
        for report in reports
        for failure in report.failures
    ][:SHOWN_REASONS]
    if result.status is not None:
        table = _table(result.status)
    else:  # an earlier release's task: the summary of its own report only
        table = _table(RunResult(reports=result.reports, threshold=0.0))
        table["notes"] = table["notes"][:-1]
        table["text"] = "\n".join(table["text"].splitlines()[:-1])
    staged = result.status.staged_uri if result.status is not None else None
    output = result.uri
    return {
        "status": table,
        "failures": result.failures,
        "reasons": reasons,
        "dead_letters": _file(result.dead_letter_uri, folders),
        "output": _file(staged or output, folders),
        "problem": result.problem,
    }


def _file(uri: str | None, folders: list[RunFolder]) -> dict[str, Any] | None:
    """A file a task wrote: its URI, and its path in the run's folder when it can be downloaded."""
    if not uri:
        return None
    relative = next((path for folder in folders if (path := folder.relative(uri)) is not None), None)
    return {"uri": uri, "path": relative}


def _verified_folders(results: Any, dag_id: str, run_id: str) -> list[RunFolder]:
    """The run's folders named by its tasks' XCom URIs that hold the run marker."""
    found: list[RunFolder] = []
    for result in results:
        uris = [result.uri, result.dead_letter_uri]
        if result.status is not None:
            uris += [result.status.staged_uri, result.status.dead_letter_uri]
        for uri in uris:
            folder = run_folder(uri, dag_id, run_id)
            if folder is not None and folder not in found:
                found.append(folder)
    return [folder for folder in found if is_run_folder(folder)]


def run_folders(session: Session, run: data.RunRow, shape: DagShape) -> list[RunFolder]:
    """The verified folders of a run's staged files (for downloads)."""
    steps = {task.task_id for task in shape.steps}
    values = data.xcom_values(session, [run.pk], steps, (STATUS_XCOM_KEY, "return_value"))
    results = [
        result
        for (_, task_id, map_index), by_key in values.items()
        if (result := data.task_result_of(shape, task_id, map_index, by_key)) is not None
    ]
    return _verified_folders(results, run.dag_id, run.run_id)
