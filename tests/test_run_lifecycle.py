"""What a run's result says: its failures summed over components, whether running again may help, and each
component's report (the failure and warning samples, the counters, the summary sent to XComs and logs)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_ingest.api import BulkSink, RunContext, Sink, Source, Stage
from airflow_provider_ingest.api.report import SAMPLE_LIMIT, Failure, Report
from airflow_provider_ingest.errors import InputError, ServiceError
from airflow_provider_ingest.records import Record, Table, dump_record
from airflow_provider_ingest.run import Interruption, RunInterrupted, RunResult, run_task, run_workflow, task_context
from airflow_provider_ingest.run.lifecycle import Step, execute
from airflow_provider_ingest.run.status import status_data
from airflow_provider_ingest.run.steps import MissingInputError
from airflow_provider_ingest.staging import StagedFileWriter, read_dead_letters, read_records
from airflow_provider_ingest.workflow.loader import load_workflow


def report(component: str, records: int = 0, failures: int = 0) -> Report:
    made = Report(component=component, records=records)
    for index in range(failures):
        made.add_failure(f"ValueError: bad {index}", fqn=f"s.d.sc.t{index}")
    return made


def test_a_result_sums_the_failures_of_every_component() -> None:
    result = RunResult(reports=[report("source", 5), report("sink", 3, 2), report("pii", 4, 1)], threshold=90.0)
    assert result.failures == 3
    assert RunResult(reports=[], threshold=90.0).failures == 0


def test_a_result_succeeds_only_without_error_and_shortfall() -> None:
    assert RunResult(reports=[], threshold=90.0).success
    assert not RunResult(reports=[], threshold=90.0, error="ValueError: x").success
    assert not RunResult(reports=[], threshold=90.0, below_threshold=["sink"]).success


@pytest.mark.parametrize(
    ("exception", "retryable"),
    [
        (None, True),  # a shortfall: the failed records may pass next time
        (ServiceError("503 from the server"), True),
        (InputError("line 3: not JSON"), False),
        (KeyError("a bug"), False),
    ],
)
def test_running_again_helps_after_a_shortfall_or_a_service_error_only(
    exception: BaseException | None, retryable: bool
) -> None:
    assert RunResult(reports=[], threshold=90.0, exception=exception).retryable is retryable


def test_a_report_keeps_a_sample_and_counts_everything() -> None:
    made = report("sink", 1, SAMPLE_LIMIT + 5)
    assert made.failure_count == SAMPLE_LIMIT + 5
    assert len(made.failures) == SAMPLE_LIMIT
    assert made.failures[0] == Failure(fqn="s.d.sc.t0", error="ValueError: bad 0")
    assert made.failures[-1].error == f"ValueError: bad {SAMPLE_LIMIT - 1}"
    for index in range(SAMPLE_LIMIT + 1):
        made.add_warning(f"warning {index}")
    assert made.warning_count == SAMPLE_LIMIT + 1
    assert made.warnings == [f"warning {index}" for index in range(SAMPLE_LIMIT)]


def test_a_report_summary() -> None:
    made = report("pii", 2, 1)
    made.filtered = 4
    made.add_warning("careful")
    assert made.summary() == {
        "component": "pii",
        "records": 2,
        "filtered": 4,
        "failures": 1,
        "warnings": 1,
        "success_rate": 66.67,
        "elapsed": 0.0,
    }
    made.count("tags")
    made.count("tags", 2)
    made.count("columns", 5)
    assert made.summary()["counters"] == {"tags": 3, "columns": 5}
    assert made.success_rate == pytest.approx(200 / 3)
    assert report("idle").success_rate == 100.0
    assert report("all failed", 0, 2).success_rate == 0.0


def test_a_report_summary_gives_the_elapsed_seconds_to_the_millisecond() -> None:
    made = report("sink")
    made.elapsed = 1.23456
    assert made.summary()["elapsed"] == 1.235


def test_elapsed_is_measured_only_once_started() -> None:
    made = report("sink")
    made.stop()
    assert made.elapsed == 0.0
    made.start()
    made.stop()
    assert 0.0 <= made.elapsed < 60.0 and made.started is not None


def test_a_task_needs_its_upstream_staged_file(tmp_path: Path) -> None:
    context = task_context(dag_id="flow", run_id="r1", task_id="tag", staging_root=str(tmp_path / "staging"))
    with pytest.raises(InputError) as raised:
        run_task("processor", "filter", {}, context)
    assert str(raised.value) == "a processor task needs input_uri: the upstream task's output"
    missing = str(tmp_path / "gone.jsonl")
    with pytest.raises(MissingInputError) as raised:
        run_task("sink", "console", {}, context, input_uri=missing)
    assert str(raised.value) == f"input staged file {missing} does not exist: run the upstream task again"
    with pytest.raises(MissingInputError) as raised:
        run_task("sink", "console", {}, context, input_uri=missing, upstream="source")
    assert str(raised.value) == (
        f"input staged file {missing} does not exist: clear the upstream task 'source' to write it again"
    )


def write_tables(path: Path, names: list[str]) -> str:
    with StagedFileWriter(str(path), producer="test") as writer:
        for name in names:
            writer.write(Table(name=name, service="s", database="d", database_schema="sc"))
    return str(path)


def test_a_task_folder_and_each_kind_of_task(tmp_path: Path) -> None:
    """Source, processor, sink and bulk sink tasks as Airflow runs them, chained by their staged files."""
    staged = write_tables(tmp_path / "in.jsonl", ["t1", "tmp_x", "t2", "tmp_y"])

    def context(task_id: str, map_index: int = -1, compression: str = "none") -> RunContext:
        made = task_context(
            dag_id="flow",
            run_id="r1",
            task_id=task_id,
            map_index=map_index,
            staging_root="staging",
            compression=compression,
            base_dir=str(tmp_path),
        )
        assert made.workflow_name == "flow" and made.base_dir == tmp_path
        return made

    source = run_task("source", "file", {"path": staged}, context("read"))
    assert source.success, source.error
    assert source.output_uri == str(tmp_path / "staging/flow/r1/read/output.jsonl")
    assert [r.component for r in source.reports] == ["source:file", "output"]
    assert [(r.records, r.failure_count) for r in source.reports] == [(4, 0), (4, 0)]
    assert source.threshold == 90.0

    kept = run_task(
        "processor",
        "filter",
        {"fqn": {"exclude": ["s.d.sc.tmp_.*"]}},
        context("keep", 2, "gzip"),
        input_uri=source.output_uri,
        success_threshold=75.0,
    )
    assert kept.success, kept.error
    assert kept.threshold == 75.0
    assert kept.output_uri == str(tmp_path / "staging/flow/r1/keep/2/output.jsonl.gz")
    assert [r.component for r in kept.reports] == ["input", "processor:filter", "output"]
    assert [(r.records, r.filtered) for r in kept.reports] == [(4, 0), (4, 2), (2, 0)]
    assert [record.name for record in read_records(kept.output_uri)] == ["t1", "t2"]

    sink = run_task("sink", "file", {"path": str(tmp_path / "out.jsonl")}, context("write"), input_uri=kept.output_uri)
    assert sink.success, sink.error
    assert sink.output_uri == (tmp_path / "out.jsonl").as_uri()  # the asset it wrote
    assert [record.name for record in read_records(sink.output_uri)] == ["t1", "t2"]

    console = run_task("sink", "console", {}, context("show"), input_uri=kept.output_uri)
    assert console.success and console.output_uri is None

    published = run_task(
        "bulk_sink",
        "file",
        {"path": str(tmp_path / "published.jsonl")},
        context("publish"),
        input_uri=source.output_uri,
    )
    assert published.success, published.error
    assert published.output_uri == (tmp_path / "published.jsonl").as_uri()
    assert [record.name for record in read_records(published.output_uri)] == ["t1", "tmp_x", "t2", "tmp_y"]


# --- the lifecycle of one step: stops, state kept on success, close ----------------------------------------------


class Events:
    """What the components of a step did, in order."""

    def __init__(self) -> None:
        self.seen: list[str] = []


class Names(Source):
    """Emits a table per name; ``on_emit(index)`` runs before each (it may request a stop or raise)."""

    events: Events
    names: list[str]
    on_emit: Callable[[int], None] = staticmethod(lambda index: None)

    def records(self) -> Iterator[Record]:
        for index, name in enumerate(self.names):
            self.on_emit(index)
            yield Table(service="s", database="d", database_schema="sc", name=name)

    def close(self) -> None:
        self.events.seen.append("source close")

    def run_succeeded(self) -> None:
        self.events.seen.append("source succeeded")


class Refusing(Sink):
    """Refuses the tables named in ``refuse`` (dead letters), writes the others."""

    events: Events
    refuse: tuple[str, ...] = ()

    def write(self, record: Record) -> None:
        if record.name in self.refuse:
            raise ValueError(f"refusing {record.name}")
        self.events.seen.append(f"write {record.name}")

    def flush(self) -> None:
        self.events.seen.append("sink flush")

    def close(self) -> None:
        self.events.seen.append("sink close")

    def run_succeeded(self) -> None:
        self.events.seen.append("sink succeeded")


class Committing(Stage):
    """Stages nothing, committing an empty file; ``on_commit`` runs when it commits (it may request a stop)."""

    events: Events
    on_commit: Callable[[], None] = staticmethod(lambda: None)

    def stage(self, record: Record) -> None:
        pass

    def commit(self) -> str:
        self.on_commit()
        self.events.seen.append("commit")
        staged = Path(self.context.staging_uri("staged.jsonl"))
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.touch()
        return str(staged)


class Publishing(BulkSink):
    """Publishes nothing; ``on_publish`` runs when it publishes (it may request a stop)."""

    events: Events
    on_publish: Callable[[], None] = staticmethod(lambda: None)

    def publish(self, uri: str) -> None:
        self.on_publish()
        self.events.seen.append(f"publish {Path(uri).name}")


def step_of(tmp_path: Path, *names: str, refuse: tuple[str, ...] = ()) -> tuple[Step, RunContext, Events]:
    """A step: a source of ``names``, a sink refusing ``refuse``, a stage and a bulk sink."""
    context = RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path))
    events = Events()
    source, sink, stage, bulk = (kind.create({}, context) for kind in (Names, Refusing, Committing, Publishing))
    source.names, sink.refuse = list(names), refuse
    for component in (source, sink, stage, bulk):
        component.events = events
    step = Step(
        name="w",
        components=[source, sink, stage, bulk],
        producer=source,
        ends=[sink, stage],
        bulk_sink=bulk,
    )
    return step, context, events


def test_a_step_stopped_mid_run_keeps_no_dead_letter_and_closes_everything(tmp_path: Path) -> None:
    step, context, events = step_of(tmp_path, "t0", "t1", "t2", refuse=("t0",))
    interruption = Interruption()
    step.producer.on_emit = lambda index: interruption.request(signal.SIGINT) if index == 2 else None
    with pytest.raises(RunInterrupted) as raised:
        execute(step, context, threshold=0, interruption=interruption)
    assert raised.value.exit_code == 130
    assert events.seen == ["write t1", "write t2", "sink close", "source close"], "nothing committed nor published"
    assert not list(tmp_path.rglob("*.jsonl*")), "the dead letter of t0 is dropped with the run"


@pytest.mark.parametrize("where", ["commit", "publish"])
def test_a_stop_requested_while_committing_or_publishing_is_still_a_stop(tmp_path: Path, where: str) -> None:
    step, context, events = step_of(tmp_path, "t0")
    interruption = Interruption()
    stage, bulk = step.components[2:]
    if where == "commit":
        stage.on_commit = interruption.request
    else:
        bulk.on_publish = interruption.request
    with pytest.raises(RunInterrupted) as raised:
        execute(step, context, threshold=90, interruption=interruption)
    assert raised.value.exit_code == 143
    assert ("publish staged.jsonl" in events.seen) is (where == "publish")
    assert "source succeeded" not in events.seen, "a stopped step keeps no state for the next run"
    assert not Path(context.staging_uri("staged.jsonl")).exists(), "the staged file committed is removed"


@pytest.mark.parametrize("stopped", [False, True])
def test_a_file_sink_is_written_last_so_a_stop_while_publishing_leaves_no_output(tmp_path: Path, stopped: bool) -> None:
    """A sink replaced whole (a file) is written after the bulk sink published: a stop while publishing leaves no
    output (it was written first, and stayed while the run said nothing was committed)."""
    from airflow_provider_ingest.components.file import FileSink

    step, context, _ = step_of(tmp_path, "t0", "t1")
    output = FileSink.create({"path": str(tmp_path / "out.jsonl")}, context)
    step.components.insert(2, output)
    step.ends.insert(0, output)
    interruption = Interruption()
    if stopped:
        step.components[-1].on_publish = interruption.request
        with pytest.raises(RunInterrupted):
            execute(step, context, threshold=90, interruption=interruption)
        assert not (tmp_path / "out.jsonl").exists() and not Path(context.staging_uri("staged.jsonl")).exists()
    else:
        assert execute(step, context, threshold=90, interruption=interruption).success
        assert [record.name for record in read_records(str(tmp_path / "out.jsonl"))] == ["t0", "t1"]


def test_ctrl_c_outside_a_stop_handler_propagates_as_it_is(tmp_path: Path) -> None:
    """Without on_signals (Python's own SIGINT handler), Ctrl-C is a KeyboardInterrupt: it is not turned into
    another error, and no dead letter is kept."""
    step, context, events = step_of(tmp_path, "t0", "t1", refuse=("t0",))

    def ctrl_c(index: int) -> None:
        if index == 1:
            raise KeyboardInterrupt

    step.producer.on_emit = ctrl_c
    with pytest.raises(KeyboardInterrupt):
        execute(step, context, threshold=0)
    assert events.seen == ["sink close", "source close"]
    assert not list(tmp_path.rglob("*.jsonl*"))


def test_an_exit_requested_mid_run_propagates_and_keeps_no_dead_letter(tmp_path: Path) -> None:
    step, context, events = step_of(tmp_path, "t0", "t1", refuse=("t0",))

    def leave(index: int) -> None:
        if index == 1:
            raise SystemExit(3)

    step.producer.on_emit = leave
    with pytest.raises(SystemExit):
        execute(step, context, threshold=0)
    assert events.seen == ["sink close", "source close"]
    assert not list(tmp_path.rglob("*.jsonl*"))


def test_a_stop_raised_by_the_signal_handler_is_a_stop(tmp_path: Path) -> None:
    """What on_signals does: request the stop and raise RunInterrupted where the run is."""
    step, context, _ = step_of(tmp_path, "t0", "t1")
    interruption = Interruption()

    def signal_handler(index: int) -> None:
        if index == 1:
            interruption.request(signal.SIGTERM)
            raise RunInterrupted(signal.SIGTERM)

    step.producer.on_emit = signal_handler
    with pytest.raises(RunInterrupted) as raised:
        execute(step, context, threshold=90, interruption=interruption)
    assert raised.value.exit_code == 143


def test_a_complete_step_tells_each_component_last_of_all(tmp_path: Path) -> None:
    step, context, events = step_of(tmp_path, "t0")
    result = execute(step, context, threshold=90)
    assert result.success, result.error
    assert events.seen == [
        "write t0",
        "sink flush",
        "commit",
        "publish staged.jsonl",
        "sink close",
        "source close",
        "source succeeded",
        "sink succeeded",
    ]
    assert result.output_uri == result.staged_uri == str(tmp_path / "w/r/staged.jsonl")


def test_a_step_below_the_threshold_keeps_no_state_and_commits_and_publishes_nothing(tmp_path: Path) -> None:
    """Judged once every record went through, before the stage commits: a run below the threshold stages and
    publishes nothing (it published, then said it failed). A sink that sends records as they come (a service's)
    still sends what it holds, so that each of its records is sent or failed."""
    step, context, events = step_of(tmp_path, "t0", "t1", refuse=("t1",))
    result = execute(step, context, threshold=90)
    assert result.below_threshold == ["sink:Refusing"] and result.error is None
    assert events.seen == ["write t0", "sink flush", "sink close", "source close"]
    assert result.staged_uri is None and result.output_uri is None
    assert [letter.fqn for letter in read_dead_letters(result.dead_letter_uri)] == ["s.d.sc.t1"]


def test_a_run_below_the_threshold_writes_no_file_and_publishes_nothing(tmp_path: Path) -> None:
    lines = [dump_record(Table(service="s", database="d", database_schema="sc", name=f"t{i}")) for i in range(4)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\nnot a record\n")
    for sink, bulk in ((("file", "out.jsonl"), None), (("console", None), ("file", "published.jsonl"))):
        workflow = {
            "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
            "sink": {"type": sink[0], "config": {"path": sink[1]} if sink[1] else {}},
            "workflow": {"staging_root": "staging", "success_threshold": 90},
        }
        if bulk is not None:
            workflow |= {"stage": {"type": "file"}, "bulk_sink": {"type": bulk[0], "config": {"path": bulk[1]}}}
        (tmp_path / "flow.yaml").write_text(json.dumps(workflow))
        result = run_workflow(load_workflow(tmp_path / "flow.yaml"))
        assert result.below_threshold == ["source:file"] and result.staged_uri is None
        assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "published.jsonl").exists()
        assert not list((tmp_path / "staging").rglob("staged.jsonl"))


def test_a_component_that_cannot_keep_its_state_fails_the_step_and_the_rest_are_not_told(tmp_path: Path) -> None:
    step, context, events = step_of(tmp_path, "t0")
    context.secrets.add("s3cr3t")

    def cannot_keep() -> None:
        raise OSError("watermark file s3cr3t is read-only")

    step.producer.run_succeeded = cannot_keep
    result = execute(step, context, threshold=90)
    assert result.error == "OSError: watermark file *** is read-only"
    assert isinstance(result.exception, OSError) and not result.success
    assert "sink succeeded" not in events.seen


def test_a_step_measures_the_time_of_each_component(tmp_path: Path) -> None:
    step, context, _ = step_of(tmp_path, "t0")
    step.producer.on_emit = lambda index: time.sleep(0.01)
    result = execute(step, context, threshold=90)
    assert all(report.started is not None and report.elapsed >= 0.01 for report in result.reports)


def test_a_step_without_a_stage_gives_the_staged_file_its_sink_writes_as_its_output(tmp_path: Path) -> None:
    """A task's output (its sink's staged file) is the result's output when no stage commits one."""
    step, context, _ = step_of(tmp_path, "t0")
    step.ends, step.bulk_sink, step.output_uri = step.ends[:1], None, "s3://b/output.jsonl"
    step.components = step.components[:2]
    result = execute(step, context, threshold=90)
    assert result.output_uri == "s3://b/output.jsonl"
    assert result.staged_uri is None, "nothing staged"


def test_a_stop_raised_for_another_run_passes_through_as_it_is(tmp_path: Path) -> None:
    """A RunInterrupted this step's interruption did not ask for (a nested run's) propagates unchanged."""
    step, context, _ = step_of(tmp_path, "t0", "t1")
    elsewhere = RunInterrupted(signal.SIGTERM)

    def nested_run_stopped(index: int) -> None:
        if index == 1:
            raise elsewhere

    step.producer.on_emit = nested_run_stopped
    with pytest.raises(RunInterrupted) as raised:
        execute(step, context, threshold=90)
    assert raised.value is elsewhere


def test_ctrl_c_after_a_stop_request_is_still_ctrl_c(tmp_path: Path) -> None:
    step, context, _ = step_of(tmp_path, "t0", "t1")
    interruption = Interruption()

    def ctrl_c(index: int) -> None:
        interruption.request(signal.SIGTERM)
        raise KeyboardInterrupt

    step.producer.on_emit = ctrl_c
    with pytest.raises(KeyboardInterrupt):
        execute(step, context, threshold=90, interruption=interruption)


def test_a_step_failed_by_bad_input_says_running_again_will_not_help(tmp_path: Path) -> None:
    step, context, _ = step_of(tmp_path, "t0", "t1")

    def bad_line(index: int) -> None:
        if index == 1:
            raise InputError("line 2: not JSON")

    step.producer.on_emit = bad_line
    result = execute(step, context, threshold=90)
    assert result.error == "InputError: line 2: not JSON"
    assert isinstance(result.exception, InputError) and not result.retryable


@pytest.mark.parametrize("spelled", ["plain", "through the run's folder"])
def test_a_stop_while_publishing_keeps_a_staged_file_the_workflow_names(tmp_path: Path, spelled: str) -> None:
    """A stage writing where the workflow names (``stage.path``) replaced the file there when it committed: a stop
    while the bulk sink publishes keeps the new file, complete, and says so (removing it left no file at all),
    however the path is spelled (one through the run's folder and back out is still the workflow's)."""
    from airflow_provider_ingest.components.file import FileStage
    from airflow_provider_ingest.staging import StagedFileWriter, verify_staged_file

    step, context, events = step_of(tmp_path, "t0", "t1")
    named = tmp_path / "published-Hunter2Secret\x1b[31m" / "catalog.jsonl"
    named.parent.mkdir()
    context.secrets.add("Hunter2Secret")  # a secret in the path (a signed URL's) is hidden where the path is shown
    path = str(named) if spelled == "plain" else f"{context.staging_uri()}/../../{named.parent.name}/{named.name}"
    with StagedFileWriter(str(named), producer="the run before") as out:
        out.write(Table(service="s", database="d", database_schema="sc", name="before"))
    stage = FileStage.create({"path": path}, context)
    step.components[2], step.ends[1] = stage, stage
    interruption = Interruption()
    step.components[3].on_publish = interruption.request
    with pytest.raises(RunInterrupted) as raised:
        execute(step, context, threshold=90, interruption=interruption)
    assert raised.value.kept == path.replace("Hunter2Secret", "***")
    assert verify_staged_file(str(named)) == 2
    assert [record.name for record in read_records(str(named))] == ["t0", "t1"]
    message = str(raised.value)
    assert message.startswith("stopped by SIGTERM; the staged file ") and "Hunter2Secret" not in message
    assert "\\x1b[31m" in message and "\x1b" not in message  # printed escaped, as every path a terminal shows
    assert message.endswith("catalog.jsonl is kept, its publishing may be incomplete")
    assert "publish catalog.jsonl" in events.seen


def test_a_failed_clean_up_of_the_staging_folder_never_hides_the_error_that_ended_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead letters' clean-up touches the staging root too, and often fails of the same cause: it raised over
    the step's own error (a bare internal error in the CLI)."""
    from airflow_provider_ingest.staging import DeadLetterFile

    def unreachable(self: DeadLetterFile) -> None:
        raise OSError("the store is gone")

    monkeypatch.setattr(DeadLetterFile, "close", unreachable)
    monkeypatch.setattr(DeadLetterFile, "abort", unreachable)
    step, context, _ = step_of(tmp_path, "t0", "t1", refuse=("t0",))
    step.producer.on_emit = lambda index: (_ for _ in ()).throw(InputError("line 2: not JSON")) if index else None

    result = execute(step, context, threshold=0)

    assert result.error == "InputError: line 2: not JSON" and isinstance(result.exception, InputError)
    assert step.producer.report.warnings == ["closing the dead letters failed too: OSError: the store is gone"]

    step, context, _ = step_of(tmp_path, "t0", "t1")
    interruption = Interruption()
    step.producer.on_emit = lambda index: interruption.request(signal.SIGTERM) if index else None
    with pytest.raises(RunInterrupted) as raised:
        execute(step, context, threshold=0, interruption=interruption)
    assert raised.value.exit_code == 143
    assert step.producer.report.warnings == ["dropping the dead letters failed too: OSError: the store is gone"]


def test_a_clean_up_failing_alone_fails_the_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dead letters that cannot be committed are records lost: the step does not succeed without them."""
    from airflow_provider_ingest.staging import DeadLetterFile

    def full(self: DeadLetterFile) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DeadLetterFile, "close", full)
    step, context, events = step_of(tmp_path, "t0")

    result = execute(step, context, threshold=0)

    assert result.error == "OSError: [Errno 28] No space left on device" and not result.success
    assert "source succeeded" not in events.seen


# --- a step that fails at its commit ----------------------------------------------------------------

FAILING_AT = ["nowhere", "prepare", "record", "commit", "publish", "file"]


def committing_step(tmp_path: Path, names: list[str], failing_at: str) -> tuple[Step, RunContext, Path]:
    """Tables through a ``file`` sink and a ``file`` stage to a bulk sink; one part raises at ``failing_at``."""
    from airflow_provider_ingest.components.file import FileSink, FileStage

    step, context, _ = step_of(tmp_path / "run", *names)
    source, _, _, bulk = step.components
    output = tmp_path / "out.jsonl"
    sink = FileSink.create({"path": str(output)}, context)
    stage = FileStage.create({}, context)

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    if failing_at == "prepare":
        stage.prepare = refuse
    if failing_at == "record":
        source.on_emit = lambda index: refuse() if index == len(names) - 1 else None
    if failing_at == "commit":
        stage.commit = refuse
    if failing_at == "publish":
        bulk.on_publish = refuse
    if failing_at == "file":
        sink.flush = refuse  # its close drops the temporary file
    step.components = [source, sink, stage, bulk]
    step.ends = [sink, stage]
    return step, context, output


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(failing_at=st.sampled_from(FAILING_AT), tables=st.integers(1, 4))
def test_a_failed_step_shows_every_record_it_did_not_commit_as_not_committed(
    failing_at: str, tables: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A failure at commit time (the file's rename, the stage's commit) showed each row 100 % done."""
    from airflow_provider_ingest.run.status import NOT_COMMITTED, status_lines, status_result

    step, context, output = committing_step(
        tmp_path_factory.mktemp("step"), [f"t{i}" for i in range(tables)], failing_at
    )
    source, sink, stage, _ = step.components

    result = execute(step, context, threshold=0)

    assert result.success is (failing_at == "nowhere")
    staged = result.staged_uri is not None and Path(result.staged_uri).exists()
    assert (sink.report.uncommitted == 0) is (output.exists() or sink.report.records == 0)
    assert (stage.report.uncommitted == 0) is (staged or stage.report.records == 0)
    assert source.report.uncommitted == 0
    for report in (sink.report, stage.report):
        assert report.uncommitted in (0, report.records)
    lines = status_lines(result)
    for report in result.reports:
        row = next(line for line in lines if line.startswith(report.component + " "))
        assert (NOT_COMMITTED in row) is (report.uncommitted > 0)
    assert status_lines(status_result(status_data(result))) == lines


def test_a_file_whose_rename_fails_at_the_end_is_shown_not_committed_and_the_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from airflow_provider_ingest.cli import main

    write_tables(tmp_path / "in.jsonl", ["t0", "t1", "t2"])
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "source: {type: file, config: {path: in.jsonl}}\n"
        "sink: {type: file, config: {path: out.jsonl}}\n"
        "workflow: {staging_root: staging}\n"
    )
    replace = os.replace

    def full(source: str, target: object) -> None:
        if str(target).endswith("out.jsonl"):
            raise OSError(28, "No space left on device")
        replace(source, target)

    monkeypatch.setattr(os, "replace", full)

    assert main(["run", "--quiet", str(flow)]) == 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["source:file", "3", "0", "0", "0", "100.0", lines[1].split()[-1]]
    assert lines[2].split()[:6] == ["sink:file", "3", "0", "0", "0", "not"] and "not committed" in lines[2]
    assert lines[3:] == [
        "  sink:file: 3 records not committed (the run failed before or while writing them out): none of them is in"
        " place",
        f"run failed: OSError: [Errno 28] No space left on device: '{tmp_path / 'out.jsonl'}'",  # which file
    ]
    assert not (tmp_path / "out.jsonl").exists()


def test_a_run_below_the_threshold_shows_the_file_it_did_not_write_as_not_committed(tmp_path: Path) -> None:
    step, context, output = committing_step(tmp_path, ["t0", "t1"], "nowhere")
    step.components[0].report.add_failure("ValueError: one bad line")
    step.components[0].report.add_failure("ValueError: another")

    result = execute(step, context, threshold=90)

    assert result.below_threshold == ["source:Names"] and not output.exists()
    assert [report.uncommitted for report in result.reports] == [0, 2, 2, 0]
    assert result.reports[1].summary()["uncommitted"] == 2 and "uncommitted" not in result.reports[0].summary()
