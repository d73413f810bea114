"""One workflow stage as one Airflow task: read the input staged file, run one component, write the output.

Nothing here imports Airflow; the operators are thin wrappers around :func:`run_task`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import BulkSink, Component, RunContext, Source
from airflow_provider_ingest.components.file import FileSink, FileSource
from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.staging import DeadLetterFile
from airflow_provider_ingest.staging.paths import check_segment
from airflow_provider_ingest.workflow.runner import drive, finish, instantiate
from airflow_provider_ingest.workflow.spec import ComponentSpec


class SuccessRateError(RuntimeError):
    """A component's success rate fell below the workflow's threshold."""


def task_context(
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    staging_root: str,
    compression: str = "none",
    base_dir: str | None = None,
) -> RunContext:
    """The context of one task: its staging folder is ``{root}/{dag_id}/{run_id}/{task_id}[/{map_index}]``."""
    return RunContext(
        workflow_name=dag_id,
        run_id=task_folder(run_id, task_id, map_index),
        staging_root=staging_root,
        base_dir=Path(base_dir) if base_dir else Path.cwd(),
        compression=compression,
    )


def task_folder(run_id: str, task_id: str, map_index: int = -1) -> str:
    """``{run_id}/{task_id}[/{map_index}]``: Airflow's names as they are, each checked to be one path segment.

    Names are kept unchanged (``manual__2024-01-01T00:00:00+00:00`` included) so that two runs never share
    a folder; a name that cannot be a folder (``..``, a separator) raises :class:`ConfigurationError`.
    """
    if isinstance(map_index, bool) or not isinstance(map_index, int) or map_index < -1:
        raise ConfigurationError(f"map index must be an integer of -1 or more, not {map_index!r}")
    names = [check_segment(run_id, "run id"), check_segment(task_id, "task id")]
    return "/".join(names + ([str(map_index)] if map_index >= 0 else []))


def run_task(
    role: str,
    component_type: str,
    config: dict[str, Any],
    context: RunContext,
    *,
    input_uri: str | None = None,
    success_threshold: float = 90.0,
) -> dict[str, Any]:
    """Run one component over the input file; return the small XCom: uri, counts, dead letters, summary."""
    dead_letters = DeadLetterFile(context.staging_uri("dead_letters.jsonl"), producer=f"{role}:{component_type}")
    context.dead_letters = dead_letters
    component = instantiate(role, ComponentSpec(type=component_type, config=config), context)
    helpers: list[Component] = []
    uri = input_uri
    try:
        component.report.start()
        component.prepare()
        if isinstance(component, BulkSink):
            component.publish(_required(input_uri, role))
        else:
            if isinstance(component, Source):
                producer: Component = component
            else:
                producer = FileSource.create({"path": _required(input_uri, role)}, context)
                helpers.append(producer)
            ends: list[Any] = [component]
            if role in ("source", "processor"):
                suffix = ".jsonl.gz" if context.compression == "gzip" else ".jsonl"
                output = FileSink.create(
                    {"path": context.staging_uri("output" + suffix), "keep_samples": True}, context
                )
                output.prepare()
                helpers.append(output)
                ends = [output]
                uri = output.uri
            drive(producer.records(), producer, [component] if role == "processor" else [], ends)
            uri = finish(ends) or uri
    finally:
        for part in (*helpers, component):
            part.close()
        component.report.stop()
        dead_letter_uri = dead_letters.close()
    report = component.report
    if report.success_rate < success_threshold:
        raise SuccessRateError(
            f"{report.component}: success rate {report.success_rate:.1f}% is below the threshold "
            f"{success_threshold:g}% ({report.failure_count} failed; dead letters: {dead_letter_uri})"
        )
    return {
        "uri": uri,
        "records": report.records,
        "failures": report.failure_count,
        "dead_letter_uri": dead_letter_uri,
        "summary": report.summary(),
    }


def _required(uri: str | None, role: str) -> str:
    if not uri:
        raise ValueError(f"a {role} task needs input_uri: the upstream task's output")
    return uri
