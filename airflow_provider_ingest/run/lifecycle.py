"""The one run lifecycle: prepare, drive, finish and commit, close, dead letters, threshold, result.

``airflow-ingest run`` runs a whole workflow through it, each Airflow task one component (with the
reader of its input and the writer of its output). A run ends complete or failed: an exception out of
a component fails the step, a success rate below the threshold fails it, and an interruption
(:class:`~airflow_provider_ingest.run.interrupt.RunInterrupted`) commits nothing and propagates. Only a
complete run calls each component's ``run_succeeded`` (where a source keeps its watermark), last of all.

The end of a step, in order: the sinks that send records to a service as they come send what they hold; the
threshold is judged (below it, nothing is staged, published or written); the stage commits, the bulk sink
publishes, the threshold is judged again (for the bulk sink's own failures); last, the sinks replaced whole (a
file, a task's output) are written. A stop after the stage committed removes its staged file from the run's
folder; one the stage wrote where the workflow names (``stage.path``) has replaced the file there before, so it is
kept, and the stop says so (its publishing may be incomplete).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from airflow_provider_ingest.api import BulkSink, Component, Processor, Report, RunContext, Sink, Stage
from airflow_provider_ingest.errors import is_retryable
from airflow_provider_ingest.run.drive import commits_at_end, drive, send, stage, write_files
from airflow_provider_ingest.run.interrupt import Interruption, RunInterrupted
from airflow_provider_ingest.run.progress import Progress
from airflow_provider_ingest.staging import DeadLetterFile, paths

T = TypeVar("T")


@dataclass
class Step:
    """What one execution runs: a producer of records, processors, sinks and stages, then a bulk sink."""

    name: str
    components: list[Component]
    producer: Component | None = None
    processors: list[Processor] = field(default_factory=list)
    ends: list[Sink | Stage] = field(default_factory=list)
    bulk_sink: BulkSink | None = None
    publish_uri: str | None = None
    """The staged file the bulk sink publishes when no stage in this step writes one."""
    output_uri: str | None = None
    """The staged file a sink of this step writes for the next step (an Airflow task's output)."""
    carried: frozenset[str] = frozenset()
    """Kinds of records every part of a partitioned run carries, when the step runs one part (see ``Report``)."""


@dataclass
class RunResult:
    """What a run did: a report per component, the files it wrote, and why it failed if it did."""

    reports: list[Report]
    threshold: float
    staged_uri: str | None = None
    output_uri: str | None = None
    dead_letter_uri: str | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)
    below_threshold: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.error is None and not self.below_threshold

    @property
    def failures(self) -> int:
        """Every failed record of the run, in every component."""
        return sum(report.failure_count for report in self.reports)

    @property
    def retryable(self) -> bool:
        """Whether running again may help: a service error or a shortfall may pass; a bad setting or input won't."""
        return self.exception is None or is_retryable(self.exception)


def execute(
    step: Step,
    context: RunContext,
    *,
    threshold: float,
    interruption: Interruption | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``step`` to the end; return its result, or raise :class:`RunInterrupted` with nothing committed."""
    interruption = interruption or Interruption()
    dead_letters = DeadLetterFile(context.staging_uri("dead_letters.jsonl"), producer=step.name)
    context.dead_letters = dead_letters
    result = RunResult(reports=[component.report for component in step.components], threshold=threshold)
    committed: list[Sink | Stage] = []
    try:
        with _watching(progress, result.reports), contextlib.ExitStack() as closing:
            paths.check_store(context.resolve_path(context.staging_root))  # before a record is read
            for component in step.components:
                component.report.start()
                closing.callback(_close, component)  # close runs also when prepare raises
                component.prepare()
            if step.producer is not None:
                drive(step.producer.records(), step.producer, step.processors, step.ends, interruption, step.carried)
            send(step.ends)
            interruption.check()
            if not _below(result.reports, threshold):  # else nothing is staged, published or written
                result.staged_uri = stage(step.ends, committed)
                interruption.check()
                publish_uri = result.staged_uri or step.publish_uri
                if step.bulk_sink is not None and publish_uri is not None:
                    step.bulk_sink.publish(publish_uri)
                interruption.check()
                if not _below(result.reports, threshold):  # the bulk sink's own failures count too
                    write_files(step.ends, committed)
                    result.output_uri = result.staged_uri or step.output_uri
    except BaseException as error:
        if interruption.signum is not None or isinstance(error, (RunInterrupted, KeyboardInterrupt)):
            _clean_up(dead_letters.abort, "dropping the dead letters", step, context)
            kept = _clean_up(
                lambda: _drop_staged(result.staged_uri, step, context), "removing the staged file", step, context
            )
            if isinstance(error, KeyboardInterrupt) or interruption.signum is None:
                raise
            raise RunInterrupted(interruption.signum, kept) from error
        if not isinstance(error, Exception):
            _clean_up(dead_letters.abort, "dropping the dead letters", step, context)
            raise
        _fail(result, error, context)
    finally:
        _stop(step)
    result.dead_letter_uri = _clean_up(dead_letters.close, "closing the dead letters", step, context, result)
    result.below_threshold = _below(result.reports, threshold)
    if result.success:
        _succeeded(step, context, result)
    if not result.success:
        _not_committed(step.ends, committed)
    return result


def _not_committed(ends: list[Sink | Stage], committed: list[Sink | Stage]) -> None:
    """In a failed step, each end whose records are in place only once committed, and that were not (its commit
    failed, or the step failed before it): none of its records is in place."""
    for end in ends:
        if commits_at_end(end) and end not in committed:
            end.report.uncommitted = end.report.records


def _drop_staged(uri: str | None, step: Step, context: RunContext) -> str | None:
    """Remove the staged file a stopped step committed from the run's folder; return one the stage wrote where the
    workflow names, kept (its secrets hidden): it replaced the file there, so removing it would leave none."""
    if uri is None:
        return None
    if any(isinstance(end, Stage) and end.writes_where_named for end in step.ends):
        return context.scrub(uri)
    paths.remove(uri)
    return None


def _below(reports: list[Report], threshold: float) -> list[str]:
    """The components whose success rate is below the threshold."""
    return [report.component for report in reports if report.success_rate < threshold]


def _succeeded(step: Step, context: RunContext, result: RunResult) -> None:
    """Tell each component the step succeeded; one that cannot keep its state (a watermark) fails the step."""
    for component in step.components:
        try:
            component.run_succeeded()
        except Exception as error:
            _fail(result, error, context)
            return


def _fail(result: RunResult, error: Exception, context: RunContext) -> None:
    """Make ``error`` the reason the step failed (its text scrubbed of the run's secrets)."""
    result.exception = error
    result.error = context.scrub(f"{type(error).__name__}: {error}")


def _clean_up(
    action: Callable[[], T], what: str, step: Step, context: RunContext, result: RunResult | None = None
) -> T | None:
    """``action()``, an end of the step in its staging folder; its failure fails a ``result`` that has not failed,
    else it is a warning: it never hides the error that ended the step (often of the same cause)."""
    try:
        return action()
    except Exception as error:
        if result is not None and result.error is None:
            _fail(result, error, context)
        else:
            step.components[0].warn(f"{what} failed too: {type(error).__name__}: {error}")  # warn scrubs it
        return None


def _stop(step: Step) -> None:
    for component in step.components:
        component.report.stop()


@contextlib.contextmanager
def _watching(progress: Progress | None, reports: list[Report]) -> Iterator[None]:
    if progress is None:
        yield
    else:
        with progress.watching(reports):
            yield


def _close(component: Component) -> None:
    try:
        component.close()
    except Exception as error:
        component.warn(f"close failed: {type(error).__name__}: {error}")  # warn scrubs it
