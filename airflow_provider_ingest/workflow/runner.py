"""The serial runner: source, then each processor in order, then the sink, record after record.

Then, if configured, the stage's file goes to the bulk sink. A record that fails anywhere is counted
against its component and kept in the dead-letter file beside the output. The runner keeps no
process-global state: the Airflow operators run the same code, one stage per task.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field

from airflow_provider_ingest.api import (
    BulkSink,
    Component,
    Processor,
    Report,
    RunContext,
    Sink,
    Source,
    Stage,
)
from airflow_provider_ingest.records import Entity, Record
from airflow_provider_ingest.registry import resolve
from airflow_provider_ingest.staging import DeadLetterFile
from airflow_provider_ingest.staging.paths import is_local, local_path
from airflow_provider_ingest.workflow.document import Location, WorkflowFileError
from airflow_provider_ingest.workflow.env import MissingVariableError, substitute
from airflow_provider_ingest.workflow.loader import LoadedWorkflow
from airflow_provider_ingest.workflow.spec import ComponentSpec

Progress = Callable[[int, Report], None]
PROGRESS_EVERY = 1000


@dataclass
class RunResult:
    """What a run did: a report per component, the staged file and the dead letters."""

    reports: list[Report]
    threshold: float
    staged_uri: str | None = None
    dead_letter_uri: str | None = None
    error: str | None = None
    below_threshold: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.error is None and not self.below_threshold


def instantiate(
    role: str,
    spec: ComponentSpec,
    context: RunContext,
    *,
    workflow: LoadedWorkflow | None = None,
    where: Location = (),
) -> Component:
    """Create a component from its spec, resolving ``${ENV}`` references now."""
    try:
        config = substitute(spec.config, location=(*where, "config"), secrets=context.secrets)
    except MissingVariableError as error:
        if workflow is None:
            raise
        raise WorkflowFileError([workflow.document.problem(error.location, str(error))]) from None
    return resolve(role, spec.type).create(config, context)


def run_context(workflow: LoadedWorkflow, run_id: str | None = None, name: str | None = None) -> RunContext:
    """The context of one serial run of a workflow file; staged files go under ``name`` (default: the workflow's)."""
    settings = workflow.spec.workflow
    context = RunContext(
        workflow_name=name or workflow.name,
        run_id=run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6],
        staging_root=settings.staging_root,
        base_dir=workflow.path.parent.resolve(),
        compression=settings.compression,
    )
    if is_local(context.staging_root):
        context.staging_root = context.resolve_path(str(local_path(context.staging_root)))
    return context


def run_workflow(
    workflow: LoadedWorkflow,
    *,
    run_id: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run a whole workflow in this process; ``name`` and ``run_id`` place its staged files."""
    spec = workflow.spec
    context = run_context(workflow, run_id, name)
    dead_letters = DeadLetterFile(context.staging_uri("dead_letters.jsonl"), producer=workflow.name)
    context.dead_letters = dead_letters
    components = [
        instantiate(role, component, context, workflow=workflow, where=where)
        for role, where, component in spec.components()
    ]
    source = components[0]
    processors = [c for c in components if isinstance(c, Processor)]
    ends = [c for c in components if isinstance(c, (Sink, Stage))]
    bulk_sink = next((c for c in components if isinstance(c, BulkSink)), None)
    assert isinstance(source, Source)
    result = RunResult(reports=[c.report for c in components], threshold=spec.workflow.success_threshold)
    try:
        with ExitStack() as closing:
            for component in components:
                component.report.start()
                closing.callback(_close, component)  # close runs also when prepare raises
                component.prepare()
            drive(source.records(), source, processors, ends, progress=progress)
            result.staged_uri = finish(ends)
            if bulk_sink is not None and result.staged_uri is not None:
                bulk_sink.publish(result.staged_uri)
    except Exception as error:  # the run stops; what happened is in the result
        result.error = f"{type(error).__name__}: {error}"
    finally:
        for component in components:
            component.report.stop()
        result.dead_letter_uri = dead_letters.close()
    result.below_threshold = [
        report.component for report in result.reports if report.success_rate < spec.workflow.success_threshold
    ]
    return result


def drive(
    records: Iterable[Record],
    producer: Component,
    processors: list[Processor],
    ends: list[Sink | Stage],
    *,
    progress: Progress | None = None,
) -> None:
    """Push every record through the processors into the sinks and stages; count what happens."""
    push = _pusher(processors, ends)
    report = producer.report
    iterator = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            break
        except Exception as error:
            producer.fail(error)
            raise
        report.records += 1
        push(record)
        if progress is not None and report.records % PROGRESS_EVERY == 0:
            progress(report.records, report)


def finish(ends: list[Sink | Stage]) -> str | None:
    """Flush the sinks and commit the stage; return the staged file's URI, if any."""
    staged = None
    for end in ends:
        if isinstance(end, Stage):
            staged = end.commit()
        else:
            end.flush()
    return staged


def _pusher(processors: list[Processor], ends: list[Sink | Stage]) -> Callable[[Record], None]:
    writers = [(end, end.write if isinstance(end, Sink) else end.stage) for end in ends]

    def to_ends(record: Record) -> None:
        for end, write in writers:
            try:
                write(record)
            except Exception as error:
                end.fail(error, record=record)
            else:
                end.report.records += 1

    def through(index: int) -> Callable[[Record], None]:
        if index == len(processors):
            return to_ends
        processor = processors[index]
        downstream = through(index + 1)

        def step(record: Record) -> None:
            try:
                output = processor.process(record)
                outputs = [] if output is None else [output] if isinstance(output, Entity) else list(output)
            except Exception as error:
                processor.fail(error, record=record)
                return
            processor.report.records += 1
            if not outputs:
                processor.report.filtered += 1
            for item in outputs:
                downstream(item)

        return step

    return through(0)


def _close(component: Component) -> None:
    try:
        component.close()
    except Exception as error:
        component.warn(f"close failed: {type(error).__name__}: {error}")
