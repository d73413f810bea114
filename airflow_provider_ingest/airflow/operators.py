"""Operators, one per workflow stage, thin over the run lifecycle; records travel as staged files.

Each operator returns a small XCom (``uri``, ``records``, ``failures``, ``dead_letter_uri``,
``summary``), pushed also key by key, so a downstream task takes ``upstream.output["uri"]`` (or, to map
over a mapped upstream, ``.expand(input_uri=upstream.output)``: an input given as the whole XCom is read
from its ``uri``). ``uri`` is the staged file written for the next task, or, for a sink or bulk sink,
the first place it wrote to. Its status table is kept under the XCom key ``ingest_status``, also when
the task fails (``airflow_provider_ingest.run.status.status_data``; the UI's report reads it). The task
log shows a progress line every ``progress_every`` seconds (10) while the step runs and ends with the
same status table as ``airflow-ingest run``. A bad setting or input fails the task without retries; a
service error or a shortfall is retried as the DAG says. Relative paths (``staging_root``, a workflow
file) are taken from ``workflow_dir``, by default the folder of the DAG's file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, Context

from airflow_provider_ingest.workflow.spec import DEFAULT_STAGING_ROOT

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from airflow_provider_ingest.partitions import Part
    from airflow_provider_ingest.run import Interruption, RunResult


class _Interruptible(BaseOperator):
    """An operator whose ``on_kill`` stops the run at the next record, committing nothing."""

    progress_every: float = 10.0
    """Seconds between two progress lines in the task log."""
    workflow_path: str | None = None
    """The workflow file the DAG factory made the task from: an unset variable is named at its place in it."""
    _interruption: Interruption | None = None

    def _start(self) -> Interruption:
        from airflow_provider_ingest.run import Interruption

        self._interruption = Interruption()
        return self._interruption

    def on_kill(self) -> None:
        if self._interruption is not None:
            self._interruption.request()

    def _conclude(self, result: RunResult, context: Context) -> None:
        """Log the status table and keep it in XCom (``ingest_status``, for the UI's report); raise if the step
        did not complete."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_ingest.errors import IncompleteRunError
        from airflow_provider_ingest.run.status import STATUS_XCOM_KEY, outcome, status_data, status_lines

        for line in status_lines(result):
            self.log.info("%s", line)
        context["ti"].xcom_push(key=STATUS_XCOM_KEY, value=status_data(result))
        if result.success:
            return
        message = outcome(result).removeprefix("run failed: ")
        if result.dead_letter_uri and result.dead_letter_uri not in message:
            message += f" (dead letters: {result.dead_letter_uri})"
        if not result.retryable:
            raise AirflowFailException(message) from result.exception
        raise IncompleteRunError(message) from result.exception

    @contextlib.contextmanager
    def _no_retry_for_bad_input(self) -> Iterator[None]:
        """A bad setting or a missing or corrupt input fails the task at once: retrying cannot help."""
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_ingest.errors import IngestError

        try:
            yield
        except IngestError as error:
            if error.retryable:
                raise
            shown = self._placed(error)
            raise AirflowFailException(f"{type(shown).__name__}: {shown}") from error

    def _placed(self, error: Exception) -> Exception:
        """An unset variable as a problem at its place in the task's workflow file, as ``airflow-ingest`` names it;
        any other error (or a file that cannot be read again) as it is."""
        from airflow_provider_ingest.errors import IngestError
        from airflow_provider_ingest.run.steps import unset_variable
        from airflow_provider_ingest.workflow.document import read_document
        from airflow_provider_ingest.workflow.env import MissingVariableError

        if not isinstance(error, MissingVariableError) or self.workflow_path is None:
            return error
        try:
            return unset_variable(error, read_document(self.workflow_path))
        except (OSError, IngestError):
            return error

    def _progress(self) -> Any:
        from airflow_provider_ingest.run.progress import Progress

        return Progress(lambda line: self.log.info("progress: %s", line), self.progress_every)


class _IngestOperator(_Interruptible):
    """Runs one component of a workflow as one task."""

    role: ClassVar[str]
    template_fields: Sequence[str] = ("config", "input_uri", "staging_root")
    template_fields_renderers: ClassVar[dict[str, str]] = {"config": "json"}

    def __init__(
        self,
        *,
        type: str,
        config: dict[str, Any] | None = None,
        input_uri: Any = None,
        staging_root: str = DEFAULT_STAGING_ROOT,
        success_threshold: float = 90.0,
        compression: str = "none",
        workflow_dir: str | None = None,
        partitioned: bool = False,
        workflow_path: str | None = None,
        where: Sequence[str | int] = (),
        **kwargs: Any,
    ) -> None:
        """``partitioned``: each instance of this (mapped) task runs one part of a partitioned run, whose service
        and database records every part carries (they count toward no part's success rate); ``workflow_path`` and
        ``where``: the workflow file the component is written in, and its place there (``("processors", 0)``)."""
        kwargs.setdefault("multiple_outputs", True)
        super().__init__(**kwargs)
        self.type = type
        self.config = config or {}
        self.input_uri = input_uri
        self.staging_root = staging_root
        self.success_threshold = success_threshold
        self.compression = compression
        self.workflow_dir = workflow_dir
        self.partitioned = partitioned
        self.workflow_path = workflow_path
        self.where = tuple(where)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.log import mask_secret

        from airflow_provider_ingest.run import run_task, task_context

        ti = context["ti"]
        with self._no_retry_for_bad_input():
            run_context = task_context(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index if ti.map_index is not None else -1,
                staging_root=self.staging_root,
                compression=self.compression,
                base_dir=str(_folder(self, self.workflow_dir)),
            )
            result = run_task(
                self.role,
                self.type,
                self.config,
                run_context,
                input_uri=_uri(self.input_uri),
                upstream=", ".join(sorted(self.upstream_task_ids)) or None,
                success_threshold=self.success_threshold,
                progress=self._progress(),
                interruption=self._start(),
                on_secret=mask_secret,
                partition=self._partition(),
                in_part=self.partitioned,
                keep_samples=_keeps_samples(self),
                where=self.where,
            )
        self._conclude(result, context)
        own = next(report for report in result.reports if report.component not in ("input", "output"))
        return {
            "uri": result.output_uri,
            "records": own.records,
            "failures": result.failures,
            "dead_letter_uri": result.dead_letter_uri,
            "summary": own.summary(),
        }

    def _partition(self) -> Part | None:
        """The part of a partitioned run this task reads; only a source reads one."""
        return None


def _keeps_samples(task: Any) -> bool:
    """Whether a task's output keeps column samples: a task reading it may need them (:func:`_needs_samples`)."""
    known: dict[str, bool] = {}
    return any(_needs_samples(downstream, known) for downstream in task.downstream_list)


def _needs_samples(task: Any, known: dict[str, bool]) -> bool:
    """Whether a task reading this task's output may need its column samples (raw values of the user's tables; the
    run folder is served for download): one whose component may read them (``pii``, a ``file`` sink keeping them,
    any component not of this package: ``Component.reads_samples``), a processor handing them on to such a task, or a
    task this package does not know (it may hand the file on). Settings given at run time (mapped over, an XCom, a
    template) and a component that cannot answer count as may; ``known`` holds the tasks already judged."""
    if task.task_id not in known:
        try:
            known[task.task_id] = _may_read_samples(task, known)
        except RecursionError:  # a chain of hundreds of processors
            known[task.task_id] = True
    return known[task.task_id]


def _may_read_samples(task: Any, known: dict[str, bool]) -> bool:
    operator = task.operator_class
    if not isinstance(operator, type) or not issubclass(operator, (_IngestOperator, IngestCleanupOperator)):
        return True
    if not issubclass(operator, _IngestOperator) or operator.role == "source":
        return False
    config, component_type = _argument(task, "config", {}), _argument(task, "type")
    if not isinstance(config, dict) or not isinstance(component_type, str):
        return True
    from airflow_provider_ingest.registry import resolve

    try:
        component = resolve(operator.role, component_type)
        if component.reads_samples(config):
            return True
        hands_on = operator.role == "processor" and component.passes_samples(config)  # type: ignore[attr-defined]
    except Exception as error:  # not loadable here, or its answer fails: its own task reports that
        log.warning("task %s may read column samples (%s): they are kept for it", task.task_id, type(error).__name__)
        return True
    return hands_on and any(_needs_samples(downstream, known) for downstream in task.downstream_list)


def _argument(task: Any, name: str, default: Any = None) -> Any:
    """An operator argument as the DAG gives it (``default`` if not given); for a mapped task, None when it is
    mapped over."""
    if not hasattr(task, "partial_kwargs"):
        return getattr(task, name, default)
    expanded = getattr(task.expand_input, "value", None)
    return None if not isinstance(expanded, dict) or name in expanded else task.partial_kwargs.get(name, default)


def _uri(value: Any) -> str | list[str] | None:
    """An input given as an upstream XCom (the whole dict) or as a URI string; or, from the instances of a
    mapped upstream, a list of them, in map index order."""
    if isinstance(value, dict):
        return value.get("uri")
    if isinstance(value, Sequence) and not isinstance(value, str):  # sliced: one request, no probing past the end
        return [uri for item in value[:] if isinstance(uri := _uri(item), str)]
    return value or None


class IngestSourceOperator(_IngestOperator):
    """Extracts records with a source into a staged file; given a ``partition`` (a part planned by
    :class:`IngestPlanOperator`, mapped over), only that part."""

    role = "source"
    template_fields: Sequence[str] = ("config", "staging_root")

    def __init__(
        self, *, type: str, config: dict[str, Any] | None = None, partition: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(type=type, config=config, **kwargs)
        self.partition = partition

    def _partition(self) -> Part | None:
        from airflow_provider_ingest.partitions import Part

        return None if self.partition is None else Part.from_dict(self.partition)


class IngestPlanOperator(_Interruptible):
    """Plans a partitioned run: the source lists its schemas or databases, balanced into at most ``most`` parts.

    Returns the parts (plain JSON, names only, never settings), which the source task is mapped over.
    """

    template_fields: Sequence[str] = ("config", "staging_root")
    template_fields_renderers: ClassVar[dict[str, str]] = {"config": "json"}

    def __init__(
        self,
        *,
        type: str,
        config: dict[str, Any] | None = None,
        by: str,
        most: int,
        staging_root: str = DEFAULT_STAGING_ROOT,
        workflow_dir: str | None = None,
        workflow_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.type = type
        self.config = config or {}
        self.by = by
        self.most = most
        self.staging_root = staging_root
        self.workflow_dir = workflow_dir
        self.workflow_path = workflow_path

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow.sdk.log import mask_secret

        from airflow_provider_ingest.run import task_context
        from airflow_provider_ingest.run.steps import plan_partitions

        ti = context["ti"]
        with self._no_retry_for_bad_input():
            run_context = task_context(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                staging_root=self.staging_root,
                base_dir=str(_folder(self, self.workflow_dir)),
            )
            parts = plan_partitions(
                self.type, self.config, run_context, by=self.by, most=self.most, on_secret=mask_secret
            )
        for part in parts:
            rest = " and any new one" if part.rest else ""
            self.log.info("%s: %d %ss%s, %d relations", part.label, len(part.names), part.by, rest, part.relations)
        return [part.as_dict() for part in parts]


class IngestProcessorOperator(_IngestOperator):
    """Passes the records of a staged file through one processor into a new staged file."""

    role = "processor"


class IngestSinkOperator(_IngestOperator):
    """Writes the records of a staged file to a sink."""

    role = "sink"


class IngestStageOperator(_IngestOperator):
    """Collects the records of a staged file into the stage's file for a bulk sink."""

    role = "stage"


class IngestBulkSinkOperator(_IngestOperator):
    """Publishes a staged file with a bulk sink."""

    role = "bulk_sink"


class IngestWorkflowOperator(_Interruptible):
    """Runs a whole workflow file serially in one task (a relative path is taken from the DAG file's folder).

    Staged files go to ``{staging_root}/{dag_id}/{run_id}/{task_id}``; the XCom counts the source's
    records and the failures of all components.
    """

    template_fields: Sequence[str] = ("workflow_file",)

    def __init__(self, *, workflow_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow_file = workflow_file

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.log import mask_secret

        from airflow_provider_ingest.airflow.tasks import task_folder
        from airflow_provider_ingest.run import run_workflow
        from airflow_provider_ingest.workflow.loader import load_workflow

        ti = context["ti"]
        map_index = ti.map_index if ti.map_index is not None else -1
        with self._no_retry_for_bad_input():
            result = run_workflow(
                load_workflow(_folder(self, None) / self.workflow_file),
                run_id=task_folder(ti.run_id, ti.task_id, map_index),
                name=ti.dag_id,
                progress=self._progress(),
                interruption=self._start(),
                on_secret=mask_secret,
            )
        self._conclude(result, context)
        return {
            "uri": result.staged_uri,
            "records": result.reports[0].records,
            "failures": result.failures,
            "dead_letter_uri": result.dead_letter_uri,
            "summary": [report.summary() for report in result.reports],
        }


class IngestConnectionsOperator(BaseOperator):
    """Checks every connection of a workflow's components and that the staging root is writable; fails if one fails.

    ``components`` holds ``{"role", "type", "config"}`` per component, as in a workflow file. The task log
    shows the table of ``airflow-ingest test-connection``; the XCom holds its rows (secrets hidden).
    """

    template_fields: Sequence[str] = ("components", "staging_root")

    def __init__(
        self,
        *,
        components: list[dict[str, Any]],
        staging_root: str = DEFAULT_STAGING_ROOT,
        workflow_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.components = components
        self.staging_root = staging_root
        self.workflow_dir = workflow_dir

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowFailException
        from airflow.sdk.log import mask_secret

        from airflow_provider_ingest.run.connections import check_connections, check_lines
        from airflow_provider_ingest.workflow.spec import ComponentSpec

        specs = [
            (item["role"], ComponentSpec(type=item["type"], config=item.get("config") or {}))
            for item in self.components
        ]
        checks = check_connections(specs, self.staging_root, _folder(self, self.workflow_dir), on_secret=mask_secret)
        for line in check_lines(checks):
            self.log.info("%s", line)
        failed = [check for check in checks if not check.ok]
        if failed:
            names = ", ".join(f"{check.component} ({check.target})" for check in failed)
            raise AirflowFailException(f"connection test failed: {names}")
        return [check.as_dict() for check in checks]


class IngestCleanupOperator(BaseOperator):
    """Deletes a DAG's staged run folders older than the retention."""

    template_fields: Sequence[str] = ("staging_root",)

    def __init__(
        self, *, staging_root: str, retention_days: int, workflow_dir: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.staging_root = staging_root
        self.retention_days = retention_days
        self.workflow_dir = workflow_dir

    def execute(self, context: Context) -> list[str]:
        from airflow_provider_ingest.run.steps import resolve_staging_root
        from airflow_provider_ingest.staging.retention import remove_expired_runs

        root = resolve_staging_root(self.staging_root, _folder(self, self.workflow_dir))
        removed = remove_expired_runs(root, context["ti"].dag_id, self.retention_days, warn=self.log.warning)
        self.log.info("removed %d expired staging folders", len(removed))
        return removed


def _folder(task: BaseOperator, given: str | None) -> Path:
    """Where a task's relative paths are taken from: ``given``, else the folder of its DAG's file."""
    if given:
        return Path(given)
    fileloc = task.dag.fileloc if task.has_dag() else None
    return Path(fileloc).parent if fileloc else Path.cwd()
