"""``airflow-ingest run --workers N``: a partitioned run without Airflow, as the partitioned DAG runs it.

The plan, then each part (:func:`~airflow_provider_ingest.run.steps.run_part`: source and processors) in one of N
worker processes; only if every part succeeded, each part's sink (:func:`~airflow_provider_ingest.run.steps.
run_part_sink`) in those processes; then, only if every sink succeeded, the merge
(:func:`~airflow_provider_ingest.run.steps.run_merge`): the stage and the bulk sink, once. Each step runs the one run
lifecycle; a part's staged files go to ``{run_id}/part-{n}``, its sink's to ``{run_id}/part-{n}-sink``.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import os
import pickle
import signal
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from airflow_provider_ingest.errors import IncompleteRunError
from airflow_provider_ingest.partitions import Part
from airflow_provider_ingest.run.interrupt import Interruption, RunInterrupted, hold, on_signals, release, signals_held
from airflow_provider_ingest.run.lifecycle import RunResult
from airflow_provider_ingest.run.progress import Progress
from airflow_provider_ingest.run.steps import plan_partitions, run_merge, run_part, run_part_sink, workflow_context
from airflow_provider_ingest.staging import paths
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, load_workflow, partition_problems

POLL_SECONDS = 0.2
"""How often the parent looks for a stop request while the parts run."""
STOP_GRACE_SECONDS = 30.0
"""How long a stopped part may take to clean up before its process is killed."""


@dataclass
class PartitionedResult:
    """The parts planned, each part's result in part order, each part's sink's (none when they did not run), and the
    merge's (None when it did not run)."""

    parts: list[Part]
    results: list[RunResult]
    sinks: list[RunResult]
    merge: RunResult | None

    @property
    def success(self) -> bool:
        steps = [*self.results, *self.sinks, *([self.merge] if self.merge else [])]
        return all(result.success for result in steps)


def run_partitioned(
    workflow: LoadedWorkflow,
    *,
    workers: int,
    run_id: str | None = None,
    progress: Progress | None = None,
    interruption: Interruption | None = None,
) -> PartitionedResult:
    """Plan the parts (``airflow.partitions``, else at most ``workers`` parts by schema), run them in ``workers``
    processes, then, if every one succeeded, their sinks, then, if every sink succeeded, merge them."""
    settings = workflow.spec.airflow.partitions
    by = settings.by if settings is not None else "schema"
    most = settings.max if settings is not None else workers
    asked_by = "--workers" if settings is None else None
    problems = partition_problems(workflow.document, workflow.spec, workflow.configs[("source",)], by, asked_by)
    if problems:
        raise WorkflowFileError(problems)
    interruption = interruption or Interruption()
    context = workflow_context(workflow, run_id)
    run_id = context.run_id
    source = workflow.spec.source
    parts = plan_partitions(source.type, source.config, context, by=by, most=most, workflow=workflow)
    from airflow_provider_ingest.run.status import status_result

    try:
        results = [status_result(item) for item in _in_workers(workflow, run_id, parts, workers, interruption)]
        sinks: list[RunResult] = []
        if all(result.success for result in results) and workflow.spec.sink is not None:
            staged = {part.index: result.output_uri for part, result in zip(parts, results, strict=True)}
            outcomes = _in_workers(workflow, run_id, parts, workers, interruption, staged)
            sinks = [status_result(item) for item in outcomes]
        merge = None
        if all(result.success for result in [*results, *sinks]) and workflow.spec.stage is not None:
            inputs = [result.output_uri for result in results if result.output_uri]
            merge = run_merge(workflow, inputs, run_id=run_id, progress=progress, interruption=interruption)
    except (RunInterrupted, KeyboardInterrupt):  # parts that completed before the stop committed their files
        for part in parts:
            _discard_part(workflow, f"{run_id}/part-{part.index}")
            _discard_part(workflow, f"{run_id}/part-{part.index}-sink")
        raise
    return PartitionedResult(parts, results, sinks, merge)


def _in_workers(
    workflow: LoadedWorkflow,
    run_id: str,
    parts: list[Part],
    workers: int,
    interruption: Interruption,
    inputs: dict[int, str | None] | None = None,
) -> list[dict[str, Any]]:
    """Each part's status data, each part run in a process of its own, at most ``workers`` at a time; with
    ``inputs`` (each part's staged file, by part index), each part's sink instead. A stop
    request stops them (each part's files are written only when it completes, so nothing is committed); one that
    comes while a process starts waits until that process is among those stopped. A part killed outright (by the
    grace period's end, or by anything else) leaves no temporary file: they are removed here.

    Each process hands its outcome back over a pipe of its own: nothing is shared between processes (a pool's
    queues are, and a worker stopped while holding their lock would hang the run). On Linux the processes are
    forked, modules already imported (this process holds no thread and no open connection by now: the plan closed
    its own); elsewhere they are spawned, each importing afresh.
    """
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    suffix = "-sink" if inputs is not None else ""
    waiting = list(parts)
    running: dict[int, tuple[BaseProcess, Connection]] = {}
    outcomes: dict[int, dict[str, Any]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < workers:
                part = waiting.pop(0)
                with signals_held():  # a stop is handled once the process is in ``running``, to be stopped too
                    receiver, sender = context.Pipe(duplex=False)
                    folder = f"{run_id}/part-{part.index}{suffix}"
                    arguments = (str(workflow.path), workflow.document.text, folder, part, sender, os.getpid())
                    given = inputs[part.index] if inputs is not None else None
                    process = context.Process(
                        target=_part, args=arguments, kwargs={"input_uri": given}, name=f"ingest-{part.label}"
                    )
                    process.daemon = True
                    process.start()
                    sender.close()
                    running[part.index] = (process, receiver)
            wait([receiver for _, receiver in running.values()], timeout=POLL_SECONDS)
            interruption.check()
            for index, (process, receiver) in list(running.items()):
                if not receiver.poll():
                    continue
                try:
                    kind, value = receiver.recv()
                except (EOFError, OSError):  # the process ended without a whole word: killed (out of memory), crashed
                    _discard_part(workflow, f"{run_id}/part-{index}{suffix}")
                    message = f"{parts[index].label}: its worker process ended without finishing the part"
                    raise IncompleteRunError(message) from None
                outcomes[index] = _outcome(kind, value)
                receiver.close()
                process.join()
                del running[index]
    finally:
        for index in _stop(running):
            _discard_part(workflow, f"{run_id}/part-{index}{suffix}")
    return [outcomes[part.index] for part in parts]


def _discard_part(workflow: LoadedWorkflow, run_id: str) -> None:
    """Every file of a part of a stopped run, or of a part whose process was killed outright (which could not
    remove its own temporary files): its staged output and dead letters, committed if it completed."""
    for uri in paths.files_under(workflow_context(workflow, run_id).staging_uri()):
        paths.remove(uri)


def _outcome(kind: str, value: Any) -> dict[str, Any]:
    """A part's status data, sent by its process; its stop or its error raised here, in the run's process."""
    if kind == "stopped":
        raise RunInterrupted(value)
    if kind == "error":
        raise value
    return value


def _stop(running: dict[int, tuple[BaseProcess, Connection]]) -> list[int]:
    """Stop the parts still running (SIGTERM, then SIGKILL after a grace period) and wait for their processes;
    the parts that had to be killed."""
    for process, _ in running.values():
        process.terminate()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    killed = []
    for index, (process, receiver) in running.items():
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
            killed.append(index)
        receiver.close()
    return killed


def _part(
    path: str, text: str, run_id: str, part: Part, sender: Connection, parent: int | None, input_uri: str | None = None
) -> None:
    """In a process of its own: run one part of the workflow (read from its text, as the parent read it), or with
    ``input_uri`` (the part's staged file) its sink, and send back its status data, or that a signal stopped it, or
    the error that ended it. SIGINT and SIGTERM are held from the fork (see :func:`_in_workers`) until they stop the
    part, and again once its outcome is known, so that it goes whole: the process ends right after. Its standard
    output is written a line at a time, so that the lines of parts printing at once (a console sink) are never cut
    into each other."""
    from airflow_provider_ingest.run.status import status_data

    _stops_with(parent)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    interruption = Interruption()
    outcome: tuple[str, Any]
    with on_signals(interruption, repeat=False):
        try:
            release()
            try:
                workflow = load_workflow(path, text)
                if input_uri is None:
                    result = run_part(workflow, part, run_id=run_id, interruption=interruption)
                else:
                    result = run_part_sink(workflow, part, input_uri, run_id=run_id, interruption=interruption)
                outcome = ("done", status_data(result))
            except Exception as error:
                outcome = ("error", _portable(error))
            hold()
        except RunInterrupted as stop:
            hold()
            outcome = ("stopped", stop.signum)
    with sender, contextlib.suppress(BrokenPipeError):  # the run's process ended: nobody to tell
        sender.send(outcome)


def _stops_with(parent: int | None) -> None:
    """On Linux, the part is stopped (SIGTERM, held until the part runs) when the run's process ``parent`` ends,
    killed outright too: else it ran on, orphaned, committing its files and holding the run's output open. None: the
    part runs in the run's own process."""
    if sys.platform != "linux" or parent is None:
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() != parent:  # it ended before: no signal will come
        os.kill(os.getpid(), signal.SIGTERM)


def _portable(error: Exception) -> Exception:
    """The error itself if it crosses processes intact (pickled and back, the same type and text), else an
    :class:`IncompleteRunError` with its type and text."""
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:
        copy = None
    if type(copy) is type(error) and str(copy) == str(error):
        return error
    return IncompleteRunError(f"{type(error).__name__}: {error}")
