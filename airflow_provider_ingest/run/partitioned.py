"""``airflow-ingest run --workers N``: a partitioned run without Airflow, as the partitioned DAG runs it.

The plan, then each part (:func:`~airflow_provider_ingest.run.steps.run_part`) in one of N worker processes,
then, only if every part succeeded, the merge (:func:`~airflow_provider_ingest.run.steps.run_merge`): the
stage and the bulk sink, once. Each step runs the one run lifecycle; a part's staged files go to
``{run_id}/part-{n}``.
"""

from __future__ import annotations

import multiprocessing
import sys
from dataclasses import dataclass
from typing import Any

from airflow_provider_ingest.partitions import Part
from airflow_provider_ingest.run.interrupt import Interruption, on_signals
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.progress import Progress
from airflow_provider_ingest.run.steps import plan_partitions, run_merge, run_part, workflow_context
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, load_workflow, partition_problems

POLL_SECONDS = 0.2
"""How often the parent looks for a stop request while the parts run."""


@dataclass
class PartitionedResult:
    """The parts planned, each part's result in part order, and the merge's (None when it did not run)."""

    parts: list[Part]
    results: list[RunResult]
    merge: RunResult | None

    @property
    def success(self) -> bool:
        return all(result.success for result in self.results) and (self.merge is None or self.merge.success)


def run_partitioned(
    workflow: LoadedWorkflow,
    *,
    workers: int,
    run_id: str | None = None,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
) -> PartitionedResult:
    """Plan the parts (``airflow.partitions``, else at most ``workers`` parts by schema), run them in ``workers``
    processes, then merge them if every one succeeded."""
    settings = workflow.spec.airflow.partitions
    by = settings.by if settings is not None else "schema"
    most = settings.max if settings is not None else workers
    problems = partition_problems(workflow.document, workflow.spec, workflow.configs[("source",)], by)
    if problems:
        raise WorkflowFileError(problems)
    interruption = interruption or Interruption()
    context = workflow_context(workflow, run_id)
    run_id = context.run_id
    source = workflow.spec.source
    parts = plan_partitions(source.type, source.config, context, by=by, most=most, workflow=workflow)
    data = _in_workers(workflow, run_id, parts, workers, interruption)
    from airflow_provider_ingest.run.status import status_result

    results = [status_result(item) for item in data]
    merge = None
    if all(result.success for result in results) and workflow.spec.stage is not None:
        inputs = [result.output_uri for result in results if result.output_uri]
        merge = run_merge(workflow, inputs, run_id=run_id, progress=progress, interruption=interruption)
    return PartitionedResult(parts, results, merge)


def _in_workers(
    workflow: LoadedWorkflow, run_id: str, parts: list[Part], workers: int, interruption: Interruption
) -> list[dict[str, Any]]:
    """Each part's status data, run in a pool of processes; a stop request terminates them (each part's files
    are written only when it completes, so nothing is committed).

    On Linux the workers are forked, modules already imported (this process holds no thread and no open
    connection by now: the plan closed its own); elsewhere they are spawned, each importing afresh.
    """
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = multiprocessing.get_context(method).Pool(min(workers, len(parts)))
    try:
        pending = [
            pool.apply_async(_part, (str(workflow.path), workflow.document.text, f"{run_id}/part-{part.index}", part))
            for part in parts
        ]
        for result in pending:
            while not result.ready():
                result.wait(POLL_SECONDS)
                interruption.check()
        pool.close()
        return [result.get() for result in pending]
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _part(path: str, text: str, run_id: str, part: Part) -> dict[str, Any]:
    """In a worker: run one part of the workflow (read from its text, as the parent read it); its status data."""
    from airflow_provider_ingest.run.status import status_data

    interruption = Interruption()
    with on_signals(interruption):
        result = run_part(load_workflow(path, text), part, run_id=run_id, interruption=interruption)
    return status_data(result)
