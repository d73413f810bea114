"""The DAG factory: one DAG per workflow file under the dags folder, one task per workflow stage.

Which files are workflow files: a ``.yaml``, ``.yml`` or ``.json`` file (``.airflowignore`` honoured) that
parses and whose top level is a mapping with a ``source`` key. A file that does not parse is a broken
workflow file only when it plainly means to be one: a line starting with ``source:`` (a top-level key), or,
in a file starting with ``{``, a ``"source":`` key. Every other file (a CloudFormation template with
``!Ref``, a Kubernetes multi-document file, Latin-1 notes, a JSON array, a binary file) is left alone,
with no import error and no log line.

A broken workflow file becomes an import error of its own, keyed by its path, each problem as
``file:line:column: field: message``; every other workflow file still becomes its DAG. Nothing one file
does escapes: an unforeseen exception while reading, validating or building its DAG becomes that file's
import error (exception type and message, secrets hidden). (Airflow marks every DAG of a file with an
import error stale, so the errors are never put on the loader file.) Parsing stays cheap: no client
library, network or database; when a task runs, only the DAG being run is built.
"""

from __future__ import annotations

import codecs
import datetime
import gc
import logging
import os
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, get_parsing_context

from airflow_provider_ingest.airflow.operators import (
    IngestBulkSinkOperator,
    IngestCleanupOperator,
    IngestConnectionsOperator,
    IngestPlanOperator,
    IngestProcessorOperator,
    IngestSinkOperator,
    IngestSourceOperator,
    IngestStageOperator,
)
from airflow_provider_ingest.registry import resolve
from airflow_provider_ingest.workflow.document import Document, Problem, WorkflowFileError, read_document
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, claimed_twice, is_workflow, validate_document
from airflow_provider_ingest.workflow.spec import PLAN_TASK_ID, TEST_CONNECTIONS_TASK_ID, ComponentSpec

WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")
SNIFF_BYTES = 1 << 20
"""How much of a file that does not parse is read to tell whether it means to be a workflow."""
SHOWN_PROBLEMS = 100
"""Problems of one file its import error shows; ``airflow-ingest validate`` shows every one."""
IMPORT_ERROR_KEY = 1024
"""Characters of a file's import error key Airflow's database keeps (``import_error.filename``)."""

_KEY = r"""(?:source|"source"|'source')"""
_TOP_LEVEL_SOURCE = rf"(?m)^(?:---[ \t]+)?{_KEY}[ \t]*:(?:[ \t]|$)"
_SOURCE_KEY = rf"(?:^|[{{,\s]){_KEY}\s*:"
"""Patterns compiled (and kept by ``re``) when a file that does not parse is looked at."""

log = logging.getLogger(__name__)


def load_workflow_dags(namespace: dict[str, Any], folder: str | Path | None = None) -> dict[str, DAG]:
    """Build the DAGs of all workflow files under ``folder`` (default: the calling file's folder).

    Call it from a DAG file as ``load_workflow_dags(globals())``; the DAGs are put in that namespace.
    The cyclic garbage collector is paused meanwhile: parsing makes no garbage cycles, and a full
    collection over Airflow's heap would otherwise cost as much as building the DAGs. The heap is never
    frozen or unfrozen here: Airflow's DAG processor freezes it before forking the parsing processes, and
    an unfreeze in such a child would hand that heap back to the collector.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load(namespace, folder)
    finally:
        if paused:
            gc.enable()


def _load(namespace: dict[str, Any], folder: str | Path | None) -> dict[str, DAG]:
    loader_file = namespace.get("__file__")
    root = Path(folder) if folder is not None else Path(loader_file or ".").parent
    wanted = get_parsing_context().dag_id
    problems: list[Problem] = []
    claims: dict[str, list[tuple[Path, Document]]] = defaultdict(list)
    for path in discover(root):
        try:
            document = _read_workflow(path)
            if document is not None:
                claims[_dag_id(document, path)].append((path, document))
        except WorkflowFileError as error:
            problems += error.problems
        except Exception as error:  # whatever one file does stays that file's own import error
            problems.append(unforeseen(path, error))
    dags: dict[str, DAG] = {}
    folders: dict[Path, Path] = {}  # each folder resolved once
    for dag_id, claimants in sorted(claims.items()):
        if len({path.resolve() for path, _ in claimants}) == 1:  # a file and links to it: one file, as validate says
            claimants = sorted(claimants, key=lambda claimant: claimant[0].is_symlink())[:1]
        if len(claimants) > 1:
            problems += claimed_twice(dag_id, [document for _, document in claimants])
            continue
        if wanted and dag_id != wanted:
            continue
        path, document = claimants[0]
        try:
            folder = folders.get(path.parent) or folders.setdefault(path.parent, path.parent.resolve())
            dags[dag_id] = _build(validate_document(document, templated=True), folder, loader_file)
        except WorkflowFileError as error:
            problems += error.problems
        except Exception as error:  # a component's or Airflow's own failure: this file's import error only
            problems.append(unforeseen(path, error, document.data))
    for dag_id, dag in dags.items():
        namespace[_variable(dag_id)] = dag
    if problems and not wanted:
        _report(problems)
    elif wanted and wanted not in dags:
        others = {str(path) for dag_id, claimants in claims.items() if dag_id != wanted for path, _ in claimants}
        _explain_missing(wanted, [problem for problem in problems if problem.file not in others])
    return dags


def _read_workflow(path: Path) -> Document | None:
    """A workflow file's document; None for a file that is no workflow (nor a regular file: reading a pipe would
    wait for a writer); :class:`WorkflowFileError` if broken."""
    if not path.is_file():
        return None
    try:
        document = read_document(path)
    except Exception as error:
        if not looks_like_workflow(path):
            return None
        if isinstance(error, WorkflowFileError):
            raise
        if isinstance(error, OSError):
            raise WorkflowFileError([Problem(str(path), 1, 1, "", f"cannot read: {error.strerror or error}")]) from None
        raise WorkflowFileError([unforeseen(path, error)]) from None
    return document if is_workflow(document.data) else None


def looks_like_workflow(path: str | Path) -> bool:
    """Whether a file that does not parse means to be a workflow file (see the module's docstring).

    A file that cannot be read counts as one: nobody can tell, and the reason is worth reporting. What is no
    regular file (a link to nothing, such as an editor's lock ``.#flow.yaml``; a folder; a pipe) does not.
    """
    if not Path(path).is_file():
        return False
    try:
        with open(path, "rb") as handle:
            raw = handle.read(SNIFF_BYTES)
    except OSError:
        return True
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        text = raw.decode("utf-32", errors="replace")
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16", errors="replace")
    elif b"\0" in raw:
        return False  # binary
    else:
        text = raw.decode("utf-8", errors="replace")
    text = text.lstrip("\ufeff")
    if text.lstrip().startswith("{"):
        return re.search(_SOURCE_KEY, text) is not None
    return re.search(_TOP_LEVEL_SOURCE, text) is not None


def unforeseen(path: str | Path, error: BaseException, data: Any = None) -> Problem:
    """An exception nobody planned for, as a problem of the file: its type and message, secrets hidden.

    The position is the YAML mark the exception carries, if any, else the file's start.
    """
    mark = getattr(error, "problem_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if isinstance(getattr(mark, "line", None), int) else (1, 1)
    return Problem(str(path), line, column, "", _scrubbed(error, data))


def _scrubbed(error: BaseException, settings: Any) -> str:
    """An exception as ``Type: message``, every secret of ``settings`` (resolved or as written) hidden."""
    from airflow_provider_ingest.secrets import scrub
    from airflow_provider_ingest.workflow.env import secret_values

    return scrub(f"{type(error).__name__}: {error}", secret_values(settings))


def _report(problems: list[Problem]) -> None:
    """Add one import error per workflow file to the DagBag parsing the loader file (or log them)."""
    by_file: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        by_file[problem.file].append(str(problem))
    bag = _parsing_dag_bag()
    for file, lines in by_file.items():
        more = len(lines) - SHOWN_PROBLEMS
        message = "\n".join(lines[:SHOWN_PROBLEMS])
        if more > 0:  # rewritten on every parse: 30,000 duplicate keys made an error of megabytes
            message += f"\n... and {more:,} more problems: airflow-ingest validate {file} lists every one"
        if bag is None:
            log.error("invalid workflow file %s:\n%s", file, message)
            continue
        key = os.path.relpath(file, bag.bundle_path) if getattr(bag, "bundle_path", None) else file
        bag.import_errors[_fitted(key)] = message


def _fitted(key: str) -> str:
    """A file's import error key as Airflow's database keeps it (``import_error.filename``, at most
    :data:`IMPORT_ERROR_KEY` characters: a longer one failed saving the whole folder's DAGs, on PostgreSQL); the end
    of a longer path, which names the file."""
    return key if len(key) <= IMPORT_ERROR_KEY else "..." + key[-(IMPORT_ERROR_KEY - 3) :]


def _explain_missing(dag_id: str, problems: list[Problem]) -> None:
    """A task's DAG was not built (its file was broken or removed since the run began): say why in the task log.

    ``problems`` are those of the files that claim ``dag_id`` or whose dag id cannot be told.
    """
    if not problems:
        log.error("no workflow file defines dag id %r any more", dag_id)
    for problem in problems:
        log.error("dag %r cannot be built: invalid workflow file: %s", dag_id, problem)


def _parsing_dag_bag() -> Any:
    """The Airflow ``DagBag`` whose ``process_file`` is importing the loader file, if any."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if type(candidate).__name__.endswith("DagBag") and isinstance(getattr(candidate, "import_errors", None), dict):
            return candidate
        frame = frame.f_back
    return None


def build_dag(path: str | Path, loader_file: str | None = None) -> DAG:
    """Build the DAG of one workflow file; raise :class:`WorkflowFileError` if it is invalid.

    To run a generated DAG with ``dag.test()`` (Airflow 3.3 syncs it from the dags folder first), put
    the workflow file in the dags folder: see ``tests/support/dags.py`` and the ``dags_folder`` fixture.
    """
    return _build(validate_document(read_document(path), templated=True), Path(path).parent.resolve(), loader_file)


def discover(folder: Path) -> list[Path]:
    """Workflow-file candidates under ``folder``, recursively, honouring ``.airflowignore``."""
    try:
        from airflow._shared.module_loading import find_path_from_directory
    except ImportError:  # Airflow 3.1
        from airflow.utils.file import find_path_from_directory

    from airflow.configuration import conf

    syntax = conf.get("core", "DAG_IGNORE_FILE_SYNTAX", fallback="glob")
    found = find_path_from_directory(str(folder), ".airflowignore", syntax)
    return sorted(Path(path) for path in found if path.endswith(WORKFLOW_SUFFIXES))


def _dag_id(document: Document, path: Path) -> str:
    settings = document.data.get("airflow")
    dag_id = settings.get("dag_id") if isinstance(settings, dict) else None
    return str(dag_id) if dag_id else path.stem


def _variable(dag_id: str) -> str:
    """The name of a DAG in the loader's namespace: one for each dag id (``shop.a``, ``shop-a`` and ``shop_a`` are
    three: each character but a letter or digit is written as its code point, ``_2e_``)."""
    return "dag_" + re.sub(r"[^A-Za-z0-9]", lambda found: f"_{ord(found.group()):x}_", dag_id)


def _build(workflow: LoadedWorkflow, folder: Path, loader_file: str | None) -> DAG:
    """The DAG of a valid workflow; ``folder`` is the workflow file's, resolved.

    Its texts shown as written (description, docs, tags, owner) are redacted: a ``password=...`` or a token in free
    text is hidden (a URL carrying a password is refused by validation, wherever it is).
    """
    from airflow_provider_ingest.secrets import redact_written

    spec = workflow.spec
    settings = spec.airflow
    run = spec.workflow
    start = settings.start_date
    if not isinstance(start, datetime.datetime):
        start = datetime.datetime(start.year, start.month, start.day, tzinfo=datetime.timezone.utc)
    default_args: dict[str, Any] = {
        "owner": redact_written(settings.owner),
        "retries": settings.retries,
        "retry_delay": settings.retry_delay,
    }
    if settings.execution_timeout is not None:
        default_args["execution_timeout"] = settings.execution_timeout
    if settings.pool:
        default_args["pool"] = settings.pool
    common = {
        "staging_root": run.staging_root,
        "success_threshold": run.success_threshold,
        "compression": run.compression,
        "workflow_dir": str(folder),
        "workflow_path": str(folder / workflow.path.name),
    }
    try:
        dag = DAG(
            dag_id=workflow.name,
            description=redact_written(spec.description.strip().splitlines()[0]) if spec.description else None,
            doc_md=_documentation(workflow),
            schedule=settings.schedule,
            start_date=start,
            end_date=settings.end_date,
            catchup=settings.catchup,
            tags=[redact_written(tag) for tag in settings.tags],
            max_active_runs=settings.max_active_runs,
            params=settings.params,
            default_args=default_args,
            auto_register=False,  # only DAGs built whole reach Airflow, through the loader's namespace
        )
        if not isinstance(settings.schedule, str):  # a cron expression or preset was checked as Airflow checks it
            dag.timetable.validate()
    except Exception as error:  # an invalid schedule, start date or params
        message = _scrubbed(error, workflow.document.data)
        raise WorkflowFileError([workflow.document.problem(_setting(error), message)]) from None
    with dag:
        task_ids = spec.task_ids()
        partitions = settings.partitions
        first: Any
        if partitions is None:
            first = last = IngestSourceOperator(
                task_id=task_ids[0], type=spec.source.type, config=spec.source.config, where=("source",), **common
            )
        else:  # the plan, then per part: the source, each processor and the sink, each mapped over the parts
            first = IngestPlanOperator(
                task_id=PLAN_TASK_ID,
                type=spec.source.type,
                config=spec.source.config,
                by=partitions.by,
                most=partitions.max,
                staging_root=run.staging_root,
                workflow_dir=str(folder),
                workflow_path=common["workflow_path"],
            )
            last = IngestSourceOperator.partial(
                task_id=task_ids[0], type=spec.source.type, config=spec.source.config, where=("source",), **common
            ).expand(partition=first.output)
        if settings.test_connections:
            (
                IngestConnectionsOperator(
                    task_id=TEST_CONNECTIONS_TASK_ID,
                    components=[
                        {"role": role, "type": component.type, "config": component.config}
                        for role, _, component in spec.components()
                    ],
                    staging_root=run.staging_root,
                    workflow_dir=str(folder),
                    retries=0,
                )
                >> first
            )
        leaves = []
        for index, processor in enumerate(spec.processors, start=1):
            last = _task(
                IngestProcessorOperator,
                partitions is not None,
                last,
                task_id=task_ids[index],
                type=processor.type,
                config=processor.config,
                where=("processors", index - 1),
                **common,
            )
        position = len(spec.processors) + 1
        sink = None
        if spec.sink is not None:
            sink = _task(
                IngestSinkOperator,
                partitions is not None,
                last,
                task_id=task_ids[position],
                type=spec.sink.type,
                config=spec.sink.config,
                outlets=_assets(workflow, "sink", spec.sink, folder),
                where=("sink",),
                **common,
            )
            leaves.append(sink)
            position += 1
        if spec.stage is not None:
            stage = IngestStageOperator(  # merges the parts' files, in part order, into one
                task_id=task_ids[position],
                type=spec.stage.type,
                config=spec.stage.config,
                input_uri=last.output["uri"] if partitions is None else last.output,
                where=("stage",),
                **common,
            )
            if sink is not None:  # a failed sink fails the run: nothing is staged or published, as in the CLI
                sink >> stage
            leaves.append(stage)
            if spec.bulk_sink is not None:
                leaves.append(
                    IngestBulkSinkOperator(
                        task_id=task_ids[position + 1],
                        type=spec.bulk_sink.type,
                        config=spec.bulk_sink.config,
                        input_uri=stage.output["uri"],
                        outlets=_assets(workflow, "bulk_sink", spec.bulk_sink, folder),
                        where=("bulk_sink",),
                        **common,
                    )
                )
        cleanup = IngestCleanupOperator(
            task_id="cleanup_staging",
            staging_root=run.staging_root,
            retention_days=run.retention_days,
            workflow_dir=common["workflow_dir"],
            retries=0,
        )
        # A teardown: it runs whatever happened upstream, and the run's state stays that of the ingestion.
        leaves >> cleanup.as_teardown()
    if loader_file:
        dag.fileloc = loader_file
    return dag


def _task(operator: type[Any], mapped: bool, upstream: Any, **kwargs: Any) -> Any:
    """A task reading ``upstream``'s staged file; in a partitioned DAG, one instance per part (per upstream one)."""
    if mapped:
        return operator.partial(partitioned=True, **kwargs).expand(input_uri=upstream.output)
    return operator(input_uri=upstream.output["uri"], **kwargs)


def _setting(error: Exception) -> tuple[str, ...]:
    """The ``airflow`` setting a DAG construction error is about, as far as its type tells."""
    name = type(error).__name__
    if "Timetable" in name or "Cron" in name:
        return ("airflow", "schedule")
    if "Param" in name:
        return ("airflow", "params")
    return ("airflow",)


def _documentation(workflow: LoadedWorkflow) -> str:
    """The DAG's docs: the description, then the workflow file as written (``${ENV}`` references, never values),
    secrets in its text and comments hidden."""
    from airflow_provider_ingest.secrets import redact_workflow_text, redact_written

    text = redact_workflow_text(workflow.document.text.rstrip())
    runs = re.findall(r"`+", text) if "`" in text else []
    fence = "`" * max(3, 1 + max(map(len, runs), default=0))
    source = f"Workflow file `{workflow.document.path}`:\n\n{fence}yaml\n{text}\n{fence}\n"
    description = workflow.spec.description
    return f"{redact_written(description.rstrip())}\n\n{source}" if description else source


def _assets(workflow: LoadedWorkflow, role: str, spec: ComponentSpec, folder: Path) -> list[Asset]:
    """The Assets a sink or bulk sink declares (from its settings as validated), relative paths taken from the
    workflow file's folder, every secret its settings resolve hidden (an Asset's name and URI are stored and
    shown in the UI); none for a path holding a Jinja template (``out/{{ ds }}.jsonl``), which each run renders.

    Any failure is a problem of its ``config``, secrets hidden.
    """
    from airflow_provider_ingest.secrets import scrub
    from airflow_provider_ingest.workflow.env import secret_values

    try:
        component = resolve(role, spec.type)
        secrets = secret_values(spec.config)
        uris = component.written_uris(workflow.configs[(role,)], folder)
        return [Asset(scrub(uri, secrets)) for uri in uris if "{{" not in uri]  # a templated one is no fixed Asset
    except Exception as error:
        message = _scrubbed(error, spec.config)
        raise WorkflowFileError([workflow.document.problem((role, "config"), message)]) from None
