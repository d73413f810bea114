"""Execution: the one run lifecycle behind ``airflow-ingest run`` and every Airflow task.

A :class:`~airflow_provider_ingest.run.steps.Step` names the components of one execution (a whole
workflow, or the one component of an Airflow task with its input reader and output writer);
:func:`~airflow_provider_ingest.run.lifecycle.execute` runs it: prepare, drive the records, finish
and commit, close, dead letters, threshold, result.
"""

from airflow_provider_ingest.run.interrupt import Interruption, RunInterrupted
from airflow_provider_ingest.run.lifecycle import RunResult, execute
from airflow_provider_ingest.run.steps import instantiate, run_task, run_workflow, task_context, workflow_context

__all__ = [
    "Interruption",
    "RunInterrupted",
    "RunResult",
    "execute",
    "instantiate",
    "run_task",
    "run_workflow",
    "task_context",
    "workflow_context",
]
