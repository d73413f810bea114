"""The pages' queries on Airflow's metadata database: every one bounded (a page of DAGs, a page of runs).

Nothing is written, and there is no table of this package: DAGs and runs come from ``dag``, ``dag_run``,
``serialized_dag`` and ``task_instance``, results from ``xcom``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airflow_provider_ingest.run.status import STATUS_XCOM_KEY
from airflow_provider_ingest.ui.results import RunStats, TaskResult, group_values, run_stats, task_result
from airflow_provider_ingest.ui.shapes import DagShape, ShapeCache, dag_shape

CHART_RUNS = 30
"""Runs in a DAG's chart."""
MAX_TASK_INSTANCES = 2000
"""Task instances a run's report shows (a mapped task may have many more)."""
_BATCH = 200
"""Rows of ``IN (...)`` per query."""

_shapes = ShapeCache()


@dataclass
class RunRow:
    """A DAG run as the pages show it."""

    pk: int
    dag_id: str
    run_id: str
    state: str | None
    run_type: str | None
    run_after: datetime | None
    start_date: datetime | None
    end_date: datetime | None


@dataclass
class TaskRow:
    """A task instance as the report shows it."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None


def ingestion_shapes(
    session: Session, readable: Collection[str] | None = None, *, only: str | None = None
) -> dict[str, DagShape]:
    """Every DAG (not stale) with an ingestion task, by dag id, among ``readable`` when given; or the DAG
    ``only``, stale or not.

    Serialized DAGs are read only for DAG versions this process has not looked at yet.
    """
    from airflow.models.dag import DagModel
    from airflow.models.dag_version import DagVersion
    from airflow.models.serialized_dag import SerializedDagModel

    versions = select(DagVersion.dag_id, func.max(DagVersion.version_number).label("latest")).join(
        SerializedDagModel, SerializedDagModel.dag_version_id == DagVersion.id
    )
    if only is not None:
        versions = versions.where(DagVersion.dag_id == only)
    latest = versions.group_by(DagVersion.dag_id).subquery()
    statement = (
        select(SerializedDagModel.id, SerializedDagModel.dag_id, SerializedDagModel.dag_hash)
        .join(DagVersion, SerializedDagModel.dag_version_id == DagVersion.id)
        .join(latest, (DagVersion.dag_id == latest.c.dag_id) & (DagVersion.version_number == latest.c.latest))
    )
    if only is not None:
        statement = statement.where(SerializedDagModel.dag_id == only)
    else:
        statement = statement.join(DagModel, DagModel.dag_id == SerializedDagModel.dag_id).where(
            DagModel.is_stale.is_(False)
        )
    rows = session.execute(statement).all()
    if readable is not None:
        allowed = set(readable)
        rows = [row for row in rows if row.dag_id in allowed]
    shapes: dict[str, DagShape] = {}
    unknown = []
    for row in rows:
        known, shape = _shapes.get((row.dag_id, row.dag_hash))
        if not known:
            unknown.append(row)
        elif shape is not None:
            shapes[row.dag_id] = shape
    for start in range(0, len(unknown), _BATCH):
        batch = {row.id: row for row in unknown[start : start + _BATCH]}
        for pk, data, compressed in session.execute(
            select(SerializedDagModel.id, SerializedDagModel._data, SerializedDagModel._data_compressed).where(
                SerializedDagModel.id.in_(list(batch))
            )
        ):
            row = batch[pk]
            shape = dag_shape(row.dag_id, _serialized(data, compressed))
            _shapes.put((row.dag_id, row.dag_hash), shape)
            if shape is not None:
                shapes[row.dag_id] = shape
    return shapes


def _serialized(data: Any, compressed: bytes | None) -> Any:
    try:
        if compressed:
            return json.loads(zlib.decompress(compressed))
        return json.loads(data) if isinstance(data, (str, bytes)) else data
    except (ValueError, zlib.error):
        return None


def dag_shape_of(session: Session, dag_id: str) -> DagShape | None:
    """The ingestion shape of one DAG (its latest version, also when its file is gone), or None."""
    return ingestion_shapes(session, only=dag_id).get(dag_id)


def _run_columns() -> tuple[Any, ...]:
    from airflow.models.dagrun import DagRun

    return (
        DagRun.id,
        DagRun.dag_id,
        DagRun.run_id,
        DagRun._state,
        DagRun.run_type,
        DagRun.run_after,
        DagRun.start_date,
        DagRun.end_date,
    )


def _run_row(row: Sequence[Any]) -> RunRow:
    return RunRow(*row)


def latest_runs(session: Session, dag_id: str, limit: int, offset: int = 0) -> list[RunRow]:
    """A DAG's runs, newest first (by ``run_after``), one page of them."""
    from airflow.models.dagrun import DagRun

    statement = (
        select(*_run_columns())
        .where(DagRun.dag_id == dag_id)
        .order_by(DagRun.run_after.desc(), DagRun.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_run_row(row) for row in session.execute(statement)]


def count_runs(session: Session, dag_id: str) -> int:
    from airflow.models.dagrun import DagRun

    return session.scalar(select(func.count()).select_from(DagRun).where(DagRun.dag_id == dag_id)) or 0


def find_run(session: Session, dag_id: str, run_id: str) -> RunRow | None:
    from airflow.models.dagrun import DagRun

    row = session.execute(select(*_run_columns()).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
    return _run_row(row) if row is not None else None


def task_rows(session: Session, dag_id: str, run_id: str) -> tuple[list[TaskRow], bool]:
    """A run's task instances (at most :data:`MAX_TASK_INSTANCES`) and whether there were more."""
    from airflow.models.taskinstance import TaskInstance

    rows = session.execute(
        select(
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.state,
            TaskInstance.try_number,
            TaskInstance.start_date,
            TaskInstance.end_date,
            TaskInstance.duration,
        )
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        .order_by(TaskInstance.task_id, TaskInstance.map_index)
        .limit(MAX_TASK_INSTANCES + 1)
    ).all()
    tasks = [
        TaskRow(row[0], row[1], None if row[2] is None else str(getattr(row[2], "value", row[2])), *row[3:])
        for row in rows[:MAX_TASK_INSTANCES]
    ]
    return tasks, len(rows) > MAX_TASK_INSTANCES


def xcom_values(
    session: Session, run_pks: Sequence[int], task_ids: Collection[str], keys: Collection[str]
) -> dict[tuple[int, str, int], dict[str, Any]]:
    """The XComs ``keys`` of ``task_ids`` in the runs ``run_pks``, by ``(run pk, task id, map index)``."""
    from airflow.models.xcom import XComModel

    rows = []
    tasks = list(task_ids)
    for start in range(0, len(run_pks), _BATCH):
        statement = select(
            XComModel.dag_run_id, XComModel.task_id, XComModel.map_index, XComModel.key, XComModel.value
        ).where(
            XComModel.dag_run_id.in_(list(run_pks[start : start + _BATCH])),
            # ``key || ''``: no index on key alone for the planner to prefer over the primary key's
            # (dag_run_id, task_id) prefix (SQLite takes idx_xcom_key and reads every row with that key)
            (XComModel.key + "").in_(list(keys)),
            XComModel.task_id.in_(tasks),
        )
        for row in session.execute(statement):
            rows.append((row[0], row[1], row[2], row[3], XComModel.deserialize_value(row)))
    return group_values(rows)


COUNT_KEYS = ("records", "failures")
"""XCom keys of a run's record and failure counts (for charts)."""
LIGHT_KEYS = ("records", "failures", "summary")
"""XCom keys of a run's counts per step, without the status tables."""


def stats_for_runs(session: Session, shape: DagShape, runs: Sequence[RunRow], keys: Sequence[str]) -> list[RunStats]:
    """Each run's counts from its steps' XComs ``keys`` (see :func:`stats_for_dags`)."""
    return stats_for_dags(session, [(shape, runs)], keys)[0]


def stats_for_dags(
    session: Session, dags: Sequence[tuple[DagShape, Sequence[RunRow]]], keys: Sequence[str]
) -> list[list[RunStats]]:
    """The counts of the runs of several DAGs, their XComs ``keys`` read together (a few queries for a page).

    A failed run's failed steps returned nothing: their counts come from their ``ingest_status``. A whole
    workflow in one task returns its counts in one XCom (``return_value``), read for such tasks.
    """
    pks = [run.pk for _, runs in dags for run in runs]
    steps = sorted({task.task_id for shape, _ in dags for task in shape.steps})
    values = xcom_values(session, pks, steps, keys) if pks and steps else {}
    whole = sorted({task.task_id for shape, _ in dags for task in shape.steps if task.role in ("workflow", "step")})
    if pks and whole and "return_value" not in keys:
        for key, by_key in xcom_values(session, pks, whole, ["return_value"]).items():
            values.setdefault(key, {}).update(by_key)
    if STATUS_XCOM_KEY not in keys:
        failed = [run.pk for _, runs in dags for run in runs if run.state == "failed"]
        if failed and steps:
            for key, by_key in xcom_values(session, failed, steps, [STATUS_XCOM_KEY]).items():
                values.setdefault(key, {}).update(by_key)
    by_run: dict[int, list[tuple[str, int, dict[str, Any]]]] = {}
    for (run_pk, task_id, map_index), by_key in values.items():
        by_run.setdefault(run_pk, []).append((task_id, map_index, by_key))
    answer = []
    for shape, runs in dags:
        stats = []
        for run in runs:
            found = (task_result_of(shape, task_id, index, by_key) for task_id, index, by_key in by_run.get(run.pk, []))
            stats.append(run_stats(run, shape, [result for result in found if result is not None]))
        answer.append(stats)
    return answer


def team_names(session: Session, dag_ids: Collection[str]) -> dict[str, str | None]:
    """The team of each DAG (multi-team mode), for the auth manager; empty where Airflow has no teams."""
    from airflow.models.dag import DagModel

    mapping = getattr(DagModel, "get_dag_id_to_team_name_mapping", None)
    if mapping is None or not dag_ids:
        return {}
    return mapping(list(dag_ids), session=session)


def task_result_of(shape: DagShape, task_id: str, map_index: int, values: dict[str, Any]) -> TaskResult | None:
    """The result in one task instance's XComs, if the task is a step of ``shape`` and has one."""
    task = shape.task(task_id)
    return task_result(task, map_index, values) if task is not None and task.is_step else None
