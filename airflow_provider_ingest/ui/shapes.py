"""Which DAGs are ingestion DAGs, and their steps, told from the serialized DAG (no DAG file is parsed).

A task is an ingestion task when its operator is one of :mod:`airflow_provider_ingest.airflow.operators`
(DAGs of the DAG factory and hand-written DAGs alike), or a subclass that keeps their template fields
(``config`` and ``staging_root``). Steps are ordered as the DAG runs them (upstream first).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

OPERATORS_MODULE = "airflow_provider_ingest.airflow.operators"
ROLES = {
    "IngestConnectionsOperator": "connections",
    "IngestPlanOperator": "plan",
    "IngestSourceOperator": "source",
    "IngestProcessorOperator": "processor",
    "IngestSinkOperator": "sink",
    "IngestStageOperator": "stage",
    "IngestBulkSinkOperator": "bulk_sink",
    "IngestWorkflowOperator": "workflow",
    "IngestCleanupOperator": "cleanup",
}
"""The role of each operator class; a step is a task of the roles in :data:`STEP_ROLES`."""
STEP_ROLES = ("source", "processor", "sink", "stage", "bulk_sink", "workflow", "step")
"""Roles of tasks that run components and report records (``step``: a subclass whose role its XCom tells)."""


@dataclass(frozen=True)
class TaskShape:
    """One ingestion task of a DAG: its id, role and operator class name."""

    task_id: str
    role: str
    operator: str
    mapped: bool = False

    @property
    def is_step(self) -> bool:
        return self.role in STEP_ROLES


@dataclass(frozen=True)
class DagShape:
    """The ingestion tasks of one DAG version, upstream first."""

    dag_id: str
    tasks: tuple[TaskShape, ...]

    @property
    def steps(self) -> tuple[TaskShape, ...]:
        return tuple(task for task in self.tasks if task.is_step)

    def task(self, task_id: str) -> TaskShape | None:
        return next((task for task in self.tasks if task.task_id == task_id), None)


def dag_shape(dag_id: str, data: Any) -> DagShape | None:
    """The shape of a serialized DAG (``SerializedDagModel.data``); None when it has no ingestion task."""
    dag = data.get("dag") if isinstance(data, dict) else None
    tasks = dag.get("tasks") if isinstance(dag, dict) else None
    if not isinstance(tasks, list):
        return None
    found: dict[str, TaskShape] = {}
    downstream: dict[str, list[str]] = {}
    for item in tasks:
        fields = item.get("__var", item) if isinstance(item, dict) else None
        if not isinstance(fields, dict) or not isinstance(fields.get("task_id"), str):
            continue
        task_id = fields["task_id"]
        children = fields.get("downstream_task_ids") or []
        downstream[task_id] = [child for child in children if isinstance(child, str)]
        role = _role(fields)
        if role is not None:
            operator = str(fields.get("task_type") or "")
            found[task_id] = TaskShape(task_id, role, operator, bool(fields.get("_is_mapped")))
    if not found:
        return None
    return DagShape(dag_id, tuple(found[task_id] for task_id in _upstream_first(downstream) if task_id in found))


def _role(fields: dict[str, Any]) -> str | None:
    task_type = fields.get("task_type")
    if fields.get("_task_module") == OPERATORS_MODULE and task_type in ROLES:
        return ROLES[task_type]
    template_fields = fields.get("template_fields")
    if isinstance(template_fields, list) and {"config", "staging_root"} <= set(template_fields):
        return "step"
    return None


def _upstream_first(downstream: dict[str, list[str]]) -> list[str]:
    """Task ids in topological order; ties (and anything in a cycle) by task id."""
    indegree = dict.fromkeys(downstream, 0)
    for children in downstream.values():
        for child in children:
            if child in indegree:
                indegree[child] += 1
    ready = [task_id for task_id, degree in indegree.items() if degree == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        task_id = heapq.heappop(ready)
        order.append(task_id)
        for child in downstream[task_id]:
            if child in indegree:
                indegree[child] -= 1
                if indegree[child] == 0:
                    heapq.heappush(ready, child)
    seen = set(order)
    return order + sorted(task_id for task_id in downstream if task_id not in seen)


class ShapeCache:
    """Shapes by ``(dag_id, dag_hash)``: a DAG version is read and looked at once per API server process."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._shapes: OrderedDict[tuple[str, str], DagShape | None] = OrderedDict()

    def get(self, key: tuple[str, str]) -> tuple[bool, DagShape | None]:
        if key not in self._shapes:
            return False, None
        self._shapes.move_to_end(key)
        return True, self._shapes[key]

    def put(self, key: tuple[str, str], shape: DagShape | None) -> None:
        self._shapes[key] = shape
        self._shapes.move_to_end(key)
        while len(self._shapes) > self.size:
            self._shapes.popitem(last=False)
