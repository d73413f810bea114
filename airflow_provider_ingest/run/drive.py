"""The record loop: each record from the producer through the processors, in order, into the sinks and stages."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from airflow_provider_ingest.api import Component, Processor, Sink, Stage
from airflow_provider_ingest.records import BaseRecord, Record, RecordError
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.run.interrupt import Interruption


def drive(
    records: Iterable[Record | RecordLine],
    producer: Component,
    processors: list[Processor],
    ends: list[Sink | Stage],
    interruption: Interruption,
    carried: frozenset[str] = frozenset(),
) -> None:
    """Push every record through; a record that fails is counted against the component that failed it. Records
    of the ``carried`` kinds (a part's copies of records every part carries) are also counted as carried.

    A record given as its line (:class:`RecordLine`) is built as a model, so validated, unless its producer
    ``gives_lines`` and every end ``takes_lines``; one that is not valid fails in the producer. An exception out of
    the producer ends the step; it is kept, with its traceback, in the dead letters.
    """
    push = _pusher(processors, ends, carried)
    models = not producer.gives_lines or bool(processors) or not all(end.takes_lines for end in ends)
    report = producer.report
    iterator = iter(records)
    while True:
        interruption.check()
        try:
            record = next(iterator)
        except StopIteration:
            return
        except Exception as error:
            producer.fail(error)
            raise
        if models and isinstance(record, RecordLine):
            try:
                record = record.model()
            except RecordError as error:
                producer.fail(error, fqn=record.fqn, raw=record.line_read.decode())
                continue
        report.records += 1
        if carried and record.kind in carried:  # a report's field is set only when it changes (a model's setattr)
            report.carried += 1
        push(record)


def send(ends: list[Sink | Stage]) -> None:
    """Flush the sinks that send records as they come (a service's), so that each record they hold is sent or
    failed: first of the step's end, and also when it is below the threshold."""
    for end in ends:
        if isinstance(end, Sink) and not end.replaced_whole:
            end.flush()


def stage(ends: list[Sink | Stage], committed: list[Sink | Stage]) -> str | None:
    """Commit the stage (added to ``committed`` once it did); return the staged file's URI, if any."""
    staged = None
    for end in ends:
        if isinstance(end, Stage):
            staged = end.commit()
            committed.append(end)
    return staged


def write_files(ends: list[Sink | Stage], committed: list[Sink | Stage]) -> None:
    """Flush the sinks replaced whole (a file), last of a complete step: a failed or stopped one writes none. Each
    one written is added to ``committed``."""
    for end in ends:
        if isinstance(end, Sink) and end.replaced_whole:
            end.flush()
            committed.append(end)


def commits_at_end(end: Sink | Stage) -> bool:
    """Whether the records of ``end`` are in place only once the step commits them whole (a stage, a file)."""
    return isinstance(end, Stage) or end.replaced_whole


def _pusher(
    processors: list[Processor], ends: list[Sink | Stage], carried: frozenset[str]
) -> Callable[[Record | RecordLine], None]:
    writers = [(end, end.write if isinstance(end, Sink) else end.stage) for end in ends]

    def to_ends(record: Record | RecordLine) -> None:
        for end, write in writers:
            try:
                write(record)
            except Exception as error:
                _fail(end, error, record)
            else:
                end.report.records += 1
                if carried and record.kind in carried:
                    end.report.carried += 1

    def through(index: int) -> Callable[[Record], None]:
        if index == len(processors):
            return to_ends
        processor = processors[index]
        downstream = through(index + 1)

        def step(record: Record) -> None:
            try:
                output = processor.process(record)
                outputs = [] if output is None else [output] if isinstance(output, BaseRecord) else list(output)
                if not all(isinstance(item, BaseRecord) for item in outputs):
                    raise TypeError(f"process() gave {_shown(outputs)}: a record, records or None")
            except Exception as error:
                processor.fail(error, record=record)
                return
            processor.report.records += 1
            if carried and record.kind in carried:
                processor.report.carried += 1
            if not outputs:
                processor.report.filtered += 1
            for item in outputs:
                item.read_from(None)  # a processor may have changed it: serialized anew where it is written
                downstream(item)

        return step

    return through(0)


def _fail(end: Sink | Stage, error: Exception, record: Record | RecordLine) -> None:
    """Count a record an end failed; one given as its line is kept as its record, or as that line if it is none."""
    if isinstance(record, RecordLine):
        try:
            record = record.model()
        except RecordError:
            end.fail(error, fqn=record.fqn, raw=record.line_read.decode())
            return
    end.fail(error, record=record)


def _shown(outputs: list[object]) -> str:
    """What a processor gave, by type, for the failure it is counted as."""
    return "[" + ", ".join(type(item).__name__ for item in outputs[:5]) + ", ..." * (len(outputs) > 5) + "]"
