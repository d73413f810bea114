"""The two kinds of step: a whole workflow run serially, and one component run as one Airflow task."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow_provider_ingest.api import BulkSink, Component, Processor, RunContext, Sink, Source, Stage
from airflow_provider_ingest.errors import ConfigurationError, InputError
from airflow_provider_ingest.partitions import CARRIED_KINDS, Part, plan
from airflow_provider_ingest.registry import resolve
from airflow_provider_ingest.run.interrupt import Interruption
from airflow_provider_ingest.run.lifecycle import RunResult, Step, execute
from airflow_provider_ingest.run.progress import Progress
from airflow_provider_ingest.staging import paths
from airflow_provider_ingest.workflow.document import Document, Location, WorkflowFileError
from airflow_provider_ingest.workflow.env import MissingVariableError, substitute
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, path_problems
from airflow_provider_ingest.workflow.spec import ComponentSpec

SecretHandler = Callable[[str], None]


class MissingInputError(InputError):
    """The upstream task's staged file is not there: that task has to run again first."""


def instantiate(
    role: str,
    spec: ComponentSpec,
    context: RunContext,
    *,
    workflow: LoadedWorkflow | None = None,
    where: Location = (),
) -> Component:
    """Create a component from its spec, resolving ``${ENV}`` references now (their secrets go to the context)."""
    try:
        config = substitute(spec.config, location=(*where, "config"), secrets=context.secrets)
    except MissingVariableError as error:
        if workflow is None:
            raise
        raise unset_variable(error, workflow.document) from None
    return resolve(role, spec.type).create(config, context)


def unset_variable(error: MissingVariableError, document: Document) -> WorkflowFileError:
    """An unset variable as a problem at its reference in the workflow file: ``file:line:column: field: ...``."""
    return WorkflowFileError([document.problem(error.location, str(error), at=error.reference)])


def workflow_context(workflow: LoadedWorkflow, run_id: str | None = None, name: str | None = None) -> RunContext:
    """The context of one serial run of a workflow file; staged files go under ``name`` (default: the workflow's)."""
    settings = workflow.spec.workflow
    base_dir = workflow.path.parent.resolve()
    try:
        staging_root = resolve_staging_root(settings.staging_root, base_dir)
    except MissingVariableError as error:
        raise unset_variable(error, workflow.document) from None
    return RunContext(
        workflow_name=name or workflow.name,
        run_id=run_id or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6],
        staging_root=staging_root,
        base_dir=base_dir,
        compression=settings.compression,
    )


def resolve_staging_root(root: str, base_dir: Path, location: Location = ("workflow", "staging_root")) -> str:
    """The staging root with ``${ENV}`` references substituted; a relative local one taken from ``base_dir``."""
    root = substitute(root, location=location)
    return str(base_dir / paths.local_path(root)) if paths.is_local(root) else root


def run_workflow(
    workflow: LoadedWorkflow,
    *,
    run_id: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
    on_secret: SecretHandler | None = None,
) -> RunResult:
    """Run a whole workflow in this process; ``name`` and ``run_id`` place its staged files. A file it would write
    where none can be is refused first, by line (:func:`path_problems`)."""
    if problems := path_problems(workflow):
        raise WorkflowFileError(problems)
    context = workflow_context(workflow, run_id, name)
    components = _instantiated(workflow, context, ("source", "processor", "sink", "stage", "bulk_sink"))
    _refuse_missing_samples(components)
    for warning in workflow.warnings:  # what the file asks for and this run does not do
        components[0].warn(str(warning))
    _announce(context, on_secret)
    step = Step(
        name=workflow.name,
        components=components,
        producer=components[0],
        processors=[c for c in components if isinstance(c, Processor)],
        ends=[c for c in components if isinstance(c, (Sink, Stage))],
        bulk_sink=next((c for c in components if isinstance(c, BulkSink)), None),
    )
    return execute(
        step,
        context,
        threshold=workflow.spec.workflow.success_threshold,
        interruption=interruption,
        progress=progress,
    )


def run_part(
    workflow: LoadedWorkflow,
    part: Part,
    *,
    run_id: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
) -> RunResult:
    """One part of a partitioned run: the part's records from the source, through the processors, into a staged
    file (the result's ``output_uri``) for :func:`run_part_sink` and :func:`run_merge`, as the mapped source and
    processor tasks write them."""
    context = workflow_context(workflow, run_id, name)
    components = _instantiated(workflow, context, ("source", "processor"))
    source = components[0]
    if not isinstance(source, Source):
        raise ConfigurationError(f"{workflow.spec.source.type!r} is not a source")
    source.scope(part)
    for warning in workflow.warnings if part.index == 0 else ():  # said once, by the first part
        source.warn(str(warning))
    output = _output(context, keep_samples=False)  # read by the sink and the merge's stage: no processor reads it
    components.append(output)
    step = Step(
        name=f"{workflow.name} {part.label}",
        components=components,
        producer=source,
        processors=[c for c in components if isinstance(c, Processor)],
        ends=[c for c in components if isinstance(c, Sink)],  # the output
        output_uri=output.config.path,  # type: ignore[attr-defined]
        carried=CARRIED_KINDS,
    )
    return execute(
        step, context, threshold=workflow.spec.workflow.success_threshold, interruption=interruption, progress=progress
    )


def run_part_sink(
    workflow: LoadedWorkflow,
    part: Part,
    input_uri: str,
    *,
    run_id: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
) -> RunResult:
    """A part's records, from its staged file, into the sink: once every part was extracted, as the mapped sink task
    (a sink that sends records as they come must not have sent a part's when another part fails)."""
    context = workflow_context(workflow, run_id, name)
    reader = _reader(context, [input_uri])
    components = _instantiated(workflow, context, ("sink",))
    step = Step(
        name=f"{workflow.name} {part.label} sink",
        components=[reader, *components],
        producer=reader,
        ends=[c for c in components if isinstance(c, Sink)],
        carried=CARRIED_KINDS,
    )
    return execute(
        step, context, threshold=workflow.spec.workflow.success_threshold, interruption=interruption, progress=progress
    )


def run_merge(
    workflow: LoadedWorkflow,
    inputs: list[str],
    *,
    run_id: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
) -> RunResult:
    """The end of a partitioned run: the parts' staged files, in part order, into the stage, then the bulk sink."""
    context = workflow_context(workflow, run_id, name)
    components = _instantiated(workflow, context, ("stage", "bulk_sink"))
    reader = _reader(context, inputs)
    step = Step(
        name=f"{workflow.name} merge",
        components=[reader, *components],
        producer=reader,
        ends=[c for c in components if isinstance(c, Stage)],
        bulk_sink=next((c for c in components if isinstance(c, BulkSink)), None),
    )
    return execute(
        step, context, threshold=workflow.spec.workflow.success_threshold, interruption=interruption, progress=progress
    )


def _refuse_missing_samples(components: list[Component]) -> None:
    """A ``file`` source first in ``components`` refuses a file that says records lost their column samples where a
    component after it uses them (a processor before it clearing them is a problem of the workflow file)."""
    from airflow_provider_ingest.components.file import FileSource

    users = [component for component in components[1:] if type(component).uses_samples(component.config)]
    if users and isinstance(components[0], FileSource):
        components[0].samples_for = users[0].report.component


def _instantiated(workflow: LoadedWorkflow, context: RunContext, roles: tuple[str, ...]) -> list[Component]:
    """The workflow's components of these roles, in run order."""
    return [
        instantiate(role, spec, context, workflow=workflow, where=where)
        for role, where, spec in workflow.spec.components()
        if role in roles
    ]


def _reader(context: RunContext, path: str | list[str]) -> Component:
    """The staged file or files a step reads, as a ``file`` source named ``input``."""
    from airflow_provider_ingest.components.file import FileSource

    reader = FileSource.create({"path": path}, context)
    reader.report.component = "input"
    return reader


def _output(context: RunContext, *, keep_samples: bool) -> Component:
    """The staged file a step writes for the next one, named ``output``; with column samples only if a processor
    may read them there."""
    from airflow_provider_ingest.components.file import FileSink

    suffix = ".jsonl.gz" if context.compression == "gzip" else ".jsonl"
    config = {"path": context.staging_uri("output" + suffix), "keep_samples": keep_samples}
    output = FileSink.create(config, context)
    output.report.component = "output"
    return output


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
    from airflow_provider_ingest.airflow.tasks import task_folder

    base = Path(base_dir) if base_dir else Path.cwd()
    return RunContext(
        workflow_name=dag_id,
        run_id=task_folder(run_id, task_id, map_index),
        staging_root=resolve_staging_root(staging_root, base),
        base_dir=base,
        compression=compression,
    )


def plan_partitions(
    component_type: str,
    config: dict[str, Any],
    context: RunContext,
    *,
    by: str,
    most: int,
    on_secret: SecretHandler | None = None,
    workflow: LoadedWorkflow | None = None,
) -> list[Part]:
    """The parts of a partitioned run: the source lists its units (schemas or databases), balanced into parts."""
    spec = ComponentSpec(type=component_type, config=config)
    source = instantiate("source", spec, context, workflow=workflow, where=("source",))
    _announce(context, on_secret)
    if not isinstance(source, Source):
        raise ConfigurationError(f"{component_type!r} is not a source")
    problem = source.partition_problem(source.config, by)
    if problem is not None:
        raise ConfigurationError(f"airflow.partitions.by: {problem}")
    try:
        source.prepare()
        units = source.partition_units(by)
    finally:
        source.close()
    return plan(units, by, most)


def run_task(
    role: str,
    component_type: str,
    config: dict[str, Any],
    context: RunContext,
    *,
    input_uri: str | list[str] | None = None,
    upstream: str | None = None,
    success_threshold: float = 90.0,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
    on_secret: SecretHandler | None = None,
    partition: Part | None = None,
    in_part: bool = False,
    keep_samples: bool = True,
    where: Location = (),
) -> RunResult:
    """Run one component over the input staged file, or files in order (the reader's and writer's reports come
    with its own); a source given a ``partition`` reads only that part; ``in_part``: the task runs one part of a
    partitioned run (a mapped task), whose service and database records are carried (see ``Report.carried``);
    ``keep_samples``: a source's or processor's output keeps column samples (raw values) for a task that reads them;
    ``where``: the component's place in its workflow file (``("processors", 0)``), which an unset variable names.

    The result's ``output_uri`` is the staged file written for the next task, or, for a sink or bulk sink,
    the first place it wrote to (its first asset; None for a sink such as ``console``).
    """

    component = instantiate(role, ComponentSpec(type=component_type, config=config), context, where=where)
    _announce(context, on_secret)
    if partition is not None:
        if not isinstance(component, Source):
            raise ConfigurationError(f"a {role} is not partitioned: only the source reads a partition")
        component.scope(partition)
    carried = CARRIED_KINDS if partition is not None or in_part else frozenset()
    step = Step(name=f"{role}:{component_type}", components=[component], carried=carried)
    if isinstance(component, BulkSink):
        if isinstance(input_uri, list):
            raise InputError(f"a bulk sink publishes one staged file, not {len(input_uri)}")
        step.bulk_sink = component
        step.publish_uri = _input(input_uri, role, upstream)
    else:
        if isinstance(component, Source):
            step.producer = component
        else:
            inputs = input_uri if isinstance(input_uri, list) else [input_uri]
            paths = [_input(uri, role, upstream) for uri in inputs]
            reader = _reader(context, paths[0] if len(paths) == 1 else paths)
            step.producer = reader
            step.components.insert(0, reader)
        if isinstance(component, Processor):
            step.processors = [component]
        if role in ("source", "processor"):
            output = _output(context, keep_samples=keep_samples)
            step.components.append(output)
            step.ends = [output]  # type: ignore[list-item]
            step.output_uri = output.config.path  # type: ignore[attr-defined]
        else:
            step.ends = [component]  # type: ignore[list-item]
        _refuse_missing_samples(step.components)
    result = execute(step, context, threshold=success_threshold, interruption=interruption, progress=progress)
    if role in ("sink", "bulk_sink"):  # its output is what it wrote to, not a staged file
        written = type(component).written_uris(component.config, context.base_dir)
        result.output_uri = written[0] if written else None
    return result


def _input(uri: str | None, role: str, upstream: str | None) -> str:
    """The input staged file, which must exist: a missing one means the upstream task has to run again."""
    if not uri:
        raise InputError(f"a {role} task needs input_uri: the upstream task's output")
    if not paths.exists(uri):
        clear = f"clear the upstream task {upstream!r} to write it again" if upstream else "run the upstream task again"
        raise MissingInputError(f"input staged file {uri} does not exist: {clear}")
    return uri


def _announce(context: RunContext, on_secret: SecretHandler | None) -> None:
    if on_secret is not None:
        for secret in context.secrets:
            on_secret(secret)
