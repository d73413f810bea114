"""The serial runner: order, processors, thresholds, close after failures, dead letters, file stage and bulk sink."""

from __future__ import annotations

import json
import re
import signal
import threading
from pathlib import Path

import pytest

from airflow_provider_ingest.api import RunContext
from airflow_provider_ingest.components.file import FileBulkSink
from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Table, dump_record
from airflow_provider_ingest.run import Interruption, RunInterrupted, RunResult, run_workflow
from airflow_provider_ingest.run.progress import Progress
from airflow_provider_ingest.staging import StagedFileError, StagedFileWriter, read_dead_letters, read_records
from airflow_provider_ingest.workflow.loader import load_workflow

SOURCE = "support.components:JournalSource"
PROCESSOR = "support.components:JournalProcessor"
SINK = "support.components:JournalSink"


class Workflow:
    """Writes a workflow file into a temporary folder and runs it; the components log to one journal."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.journal = folder / "journal.txt"

    def component(self, type_name: str, **config: object) -> dict[str, object]:
        return {"type": type_name, "config": {"journal": str(self.journal), **config}}

    def run(self, spec: dict[str, object], *, run_id: str = "run1") -> RunResult:
        spec.setdefault("workflow", {})["staging_root"] = "staging"  # type: ignore[index]
        path = self.folder / "flow.yaml"
        path.write_text(json.dumps(spec))
        return run_workflow(load_workflow(path), run_id=run_id)

    def events(self) -> list[str]:
        return self.journal.read_text().splitlines() if self.journal.exists() else []

    def staging(self, *parts: str) -> Path:
        return self.folder.joinpath("staging", "flow", "run1", *parts)


@pytest.fixture
def flow(tmp_path: Path) -> Workflow:
    return Workflow(tmp_path)


def counts(result: RunResult) -> dict[str, tuple[int, int, int]]:
    """(records, filtered, failures) by component."""
    return {r.component: (r.records, r.filtered, r.failure_count) for r in result.reports}


def names(uri: str | Path) -> list[str]:
    return [record.name for record in read_records(str(uri))]


# --- order ---------------------------------------------------------------------------------------


def test_serial_order_record_after_record(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0", "t1"]),
            "processors": [flow.component(PROCESSOR, label="A"), flow.component(PROCESSOR, label="B")],
            "sink": flow.component(SINK),
        }
    )
    assert result.success, result.error
    assert flow.events() == [
        "source prepare",
        "A prepare",
        "B prepare",
        "sink prepare",
        "source emit t0",
        "A process t0",
        "B process t0",
        "sink write t0",
        "source emit t1",
        "A process t1",
        "B process t1",
        "sink write t1",
        "sink flush",
        "sink close",
        "B close",
        "A close",
        "source close",
    ]


def test_processors_filter_split_and_change_records(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0", "t1", "t2", "t3"]),
            "processors": [
                flow.component(PROCESSOR, label="drop", drop=["t1"]),
                flow.component(PROCESSOR, label="split", split=["t2"]),
                flow.component(PROCESSOR, label="rename", suffix="_x", empty=["t3"]),
                {"type": "support.components:TagTables", "config": {"tag": "Tier.Gold"}},
            ],
            "sink": {"type": "file", "config": {"path": "out.jsonl"}},
        }
    )
    assert result.success, result.error
    written = list(read_records(str(flow.folder / "out.jsonl")))
    assert [record.name for record in written] == ["t0_x", "t2_x", "t2_copy_x"]
    assert all([tag.tag_fqn for tag in record.tags] == ["Tier.Gold"] for record in written)
    assert [e for e in flow.events() if " process " in e] == [
        "drop process t0",
        "split process t0",
        "rename process t0",
        "drop process t1",
        "drop process t2",
        "split process t2",
        "rename process t2",
        "rename process t2_copy",
        "drop process t3",
        "split process t3",
        "rename process t3",
    ]
    drop, split, rename = result.reports[1:4]
    assert (drop.records, drop.filtered) == (4, 1)
    assert (split.records, split.filtered) == (3, 0)
    assert (rename.records, rename.filtered) == (4, 1)
    assert [(r.records, r.filtered, r.failure_count) for r in (result.reports[0], *result.reports[4:])] == [
        (4, 0, 0),
        (3, 0, 0),
        (3, 0, 0),
    ]


# --- success threshold ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "refused", "success"),
    [(90, ["t1"], True), (90, ["t1", "t2"], False), (100, [], True), (100, ["t9"], False), (0, ["t0", "t1"], True)],
)
def test_success_threshold(flow, threshold, refused, success):
    names_ = [f"t{i}" for i in range(10)]
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=names_),
            "sink": flow.component(SINK, fail_on=refused),
            "workflow": {"success_threshold": threshold},
        }
    )
    assert result.error is None
    assert result.success is success
    assert result.below_threshold == ([] if success else ["sink:JournalSink"])
    sink = result.reports[-1]
    assert (sink.records, sink.failure_count) == (10 - len(refused), len(refused))
    assert sink.success_rate == pytest.approx(100.0 * (10 - len(refused)) / 10)


def test_processor_failures_count_against_the_processor(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0", "t1", "t2", "t3"]),
            "processors": [flow.component(PROCESSOR, label="P", fail_on=["t1"])],
            "sink": flow.component(SINK),
            "workflow": {"success_threshold": 80},
        }
    )
    assert not result.success
    assert result.below_threshold == ["processor:JournalProcessor"]
    assert counts(result) == {
        "source:JournalSource": (4, 0, 0),
        "processor:JournalProcessor": (3, 0, 1),
        "sink:JournalSink": (3, 0, 0),
    }
    assert result.reports[1].failures[0].model_dump() == {"fqn": "svc.db.s.t1", "error": "ValueError: P refuses t1"}


# --- close after failures ------------------------------------------------------------------------


def test_prepare_raising_closes_what_was_prepared_and_itself(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE),
            "processors": [flow.component(PROCESSOR, label="A", fail_prepare=True)],
            "sink": flow.component(SINK),
        }
    )
    assert not result.success
    assert result.error == "RuntimeError: A cannot prepare"
    assert flow.events() == ["source prepare", "A prepare", "A close", "source close"]


def test_source_raising_mid_run_closes_everything(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0", "t1", "t2"], raise_at="t1"),
            "processors": [flow.component(PROCESSOR, label="A")],
            "sink": flow.component(SINK),
            "stage": {"type": "file"},
        }
    )
    assert result.error == "RuntimeError: source cannot read t1"
    assert not result.success
    assert flow.events() == [
        "source prepare",
        "A prepare",
        "sink prepare",
        "source emit t0",
        "A process t0",
        "sink write t0",
        "sink close",
        "A close",
        "source close",
    ]
    assert counts(result)["source:JournalSource"] == (1, 0, 1)
    assert result.staged_uri is None
    (letter,) = read_dead_letters(result.dead_letter_uri)
    assert (letter.component, letter.error, letter.fqn, letter.record) == (
        "source:JournalSource",
        "RuntimeError: source cannot read t1",
        None,
        None,
    )


def test_failed_run_leaves_no_file_sink_output(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0", "t1"], raise_at="t1"),
            "sink": {"type": "file", "config": {"path": "out.jsonl"}},
        }
    )
    assert result.error == "RuntimeError: source cannot read t1"
    assert not (flow.folder / "out.jsonl").exists()
    assert not [p for p in flow.folder.iterdir() if p.name.startswith("out.jsonl")]


def test_close_raising_is_a_warning_and_the_others_still_close(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0"]),
            "processors": [flow.component(PROCESSOR, label="A", fail_close=True)],
            "sink": flow.component(SINK),
        }
    )
    assert result.success
    assert flow.events()[-3:] == ["sink close", "A close", "source close"]
    assert result.reports[1].warnings == ["close failed: RuntimeError: cannot close"]


def test_flush_raising_fails_the_run_and_still_closes(flow, monkeypatch):
    from support.components import JournalSink

    def broken_flush(self):
        raise OSError("disk full")

    monkeypatch.setattr(JournalSink, "flush", broken_flush)
    result = flow.run({"source": flow.component(SOURCE, names=["t0"]), "sink": flow.component(SINK)})
    assert result.error == "OSError: disk full"
    assert flow.events()[-2:] == ["sink close", "source close"]


# --- dead letters --------------------------------------------------------------------------------


def test_dead_letters_beside_the_output_hold_each_failed_record(flow):
    result = flow.run(
        {
            "source": flow.component(SOURCE, names=["t0", "t1", "t2", "t3"]),
            "processors": [flow.component(PROCESSOR, label="P", fail_on=["t1"], drop=["t3"])],
            "sink": flow.component(SINK, fail_on=["t2"]),
            "stage": {"type": "file"},
            "workflow": {"success_threshold": 0},
        }
    )
    assert result.success, result.error
    assert result.staged_uri == str(flow.staging("staged.jsonl"))
    assert result.dead_letter_uri == str(flow.staging("dead_letters.jsonl"))
    letters = list(read_dead_letters(result.dead_letter_uri))
    assert [(x.component, x.error, x.fqn, x.record) for x in letters] == [
        (
            "processor:JournalProcessor",
            "ValueError: P refuses t1",
            "svc.db.s.t1",
            {"kind": "table", "name": "t1", "service": "svc", "database": "db", "database_schema": "s"},
        ),
        (
            "sink:JournalSink",
            "ValueError: sink refuses t2",
            "svc.db.s.t2",
            {"kind": "table", "name": "t2", "service": "svc", "database": "db", "database_schema": "s"},
        ),
    ]
    assert all(letter.at.endswith("+00:00") for letter in letters)
    assert [letter.error_type for letter in letters] == ["ValueError", "ValueError"]
    assert [letter.traceback[-1].rsplit(" in ", 1)[-1] for letter in letters] == ["process", "write"]
    assert all("support/components.py:" in letter.traceback[-1] for letter in letters), "where the bug is"
    # nothing dropped silently: every source record is written, filtered, or a dead letter
    assert counts(result) == {
        "source:JournalSource": (4, 0, 0),
        "processor:JournalProcessor": (3, 1, 1),
        "sink:JournalSink": (1, 0, 1),
        "stage:file": (2, 0, 0),
    }
    assert names(result.staged_uri) == ["t0", "t2"]


def test_no_dead_letter_file_when_nothing_fails(flow):
    result = flow.run({"source": flow.component(SOURCE), "sink": flow.component(SINK)})
    assert result.success and result.dead_letter_uri is None
    assert not flow.staging("dead_letters.jsonl").exists()


# --- file stage and bulk sink --------------------------------------------------------------------

SERVICE = DatabaseService(name="prod")
DATABASE = Database(service="prod", name="shop")
SCHEMA = DatabaseSchema(service="prod", database="shop", name="sales")


def table(name: str, description: str | None = None) -> Table:
    return Table(service="prod", database="shop", database_schema="sales", name=name, description=description)


def children_first(path: Path) -> None:
    """Plain JSON Lines: children before parents, some FQNs twice with different content."""
    records = [
        table("orders", "old"),
        SCHEMA,
        table("customers"),
        DATABASE,
        SERVICE,
        table("orders", "new"),
        DATABASE.model_copy(update={"description": "latest"}),
    ]
    path.write_text("".join(dump_record(record) + "\n" for record in records))


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_file_stage_dedups_by_fqn_last_wins_parents_first(flow, compression):
    children_first(flow.folder / "in.jsonl")
    result = flow.run(
        {
            "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
            "stage": {"type": "file"},
            "workflow": {"compression": compression},
        }
    )
    assert result.success, result.error
    expected_name = "staged.jsonl.gz" if compression == "gzip" else "staged.jsonl"
    assert result.staged_uri == str(flow.staging(expected_name))
    assert list(read_records(result.staged_uri)) == [
        SERVICE,
        DATABASE.model_copy(update={"description": "latest"}),
        SCHEMA,
        table("customers"),
        table("orders", "new"),
    ]
    stage = result.reports[-1]
    assert (stage.records, stage.counters) == (7, {"duplicates_dropped": 2})


def test_file_stage_header_lists_the_kinds(flow):
    (flow.folder / "in.jsonl").write_text(dump_record(table("a")) + "\n" + dump_record(SCHEMA) + "\n")
    result = flow.run(
        {"source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}}, "stage": {"type": "file"}}
    )
    header = json.loads(Path(result.staged_uri).read_text().splitlines()[0])
    assert (header["kinds"], header["producer"], header["content"]) == (
        ["database_schema", "table"],
        "stage:file",
        "records",
    )


def test_file_bulk_sink_publishes_the_staged_file(flow):
    children_first(flow.folder / "in.jsonl")
    result = flow.run(
        {
            "source": {"type": "file", "config": {"path": "in.jsonl", "format": "jsonl"}},
            "sink": {"type": "file", "config": {"path": "copy.jsonl.gz"}},
            "stage": {"type": "file", "config": {"path": "out/staged.jsonl"}},
            "bulk_sink": {"type": "file", "config": {"path": "out/published.jsonl"}},
        }
    )
    assert result.success, result.error
    assert result.staged_uri == str(flow.folder / "out" / "staged.jsonl")
    published = flow.folder / "out" / "published.jsonl"
    assert list(read_records(str(published))) == list(read_records(result.staged_uri))
    assert names(published) == ["prod", "shop", "sales", "customers", "orders"]
    assert names(flow.folder / "copy.jsonl.gz") == [
        "orders",
        "sales",
        "customers",
        "shop",
        "prod",
        "orders",
        "shop",
    ]
    assert counts(result)["bulk_sink:file"] == (5, 0, 0)
    assert json.loads(published.read_text().splitlines()[0])["producer"] == "bulk_sink:file"


def test_file_bulk_sink_refuses_a_truncated_staged_file(tmp_path):
    staged = tmp_path / "staged.jsonl"
    with StagedFileWriter(str(staged), producer="tests") as out:
        for name in ("a", "b", "c"):
            out.write(table(name))
    staged.write_bytes(staged.read_bytes()[:-20])
    context = RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path), base_dir=tmp_path)
    bulk = FileBulkSink.create({"path": "published.jsonl"}, context)
    with pytest.raises(StagedFileError, match="truncated"):
        bulk.publish(str(staged))
    assert not (tmp_path / "published.jsonl").exists()


# --- no process-global state ---------------------------------------------------------------------


def test_runs_are_independent(flow):
    spec = {"source": flow.component(SOURCE, names=["t0", "t1"]), "sink": flow.component(SINK, fail_on=["t1"])}
    first = flow.run(dict(spec), run_id="run1")
    second = flow.run(dict(spec), run_id="run2")
    assert counts(first) == counts(second) == {"source:JournalSource": (2, 0, 0), "sink:JournalSink": (1, 0, 1)}
    assert first.dead_letter_uri != second.dead_letter_uri
    assert [len(list(read_dead_letters(r.dead_letter_uri))) for r in (first, second)] == [1, 1]


def test_progress_is_reported_while_a_step_runs(flow):
    path = flow.folder / "flow.yaml"
    source = {"type": "support.components:SlowSource", "config": {"tables": 40, "seconds_each": 0.01}}
    path.write_text(json.dumps({"source": source, "sink": {"type": "file", "config": {"path": "out.jsonl"}}}))
    lines: list[str] = []
    result = run_workflow(load_workflow(path), progress=Progress(lines.append, interval=0.05))
    assert result.success, result.error
    assert len(lines) >= 3
    counts = [int(re.match(r"([\d,]+) records  [\d,]+/s  0 failed$", line)[1].replace(",", "")) for line in lines]
    assert counts == sorted(counts) and 0 < counts[-1] <= 40


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("out.jsonl", "/workflows/out.jsonl"),
        ("../out/x.jsonl", "/workflows/../out/x.jsonl"),
        ("/data/x.jsonl", "/data/x.jsonl"),
        ("~/x.jsonl", str(Path.home() / "x.jsonl")),
        ("s3://bucket/x.jsonl", "s3://bucket/x.jsonl"),
    ],
)
def test_paths_in_workflow_files_resolve_from_the_file_folder(given, expected):
    context = RunContext(workflow_name="w", run_id="r", staging_root="/s", base_dir=Path("/workflows"))
    assert context.resolve_path(given) == expected


def test_column_samples_stay_out_of_sinks_stages_and_dead_letters(tmp_path):
    from airflow_provider_ingest.records import Column, DataType
    from airflow_provider_ingest.staging.deadletters import DeadLetter

    table = Table(
        service="s",
        database="d",
        database_schema="p",
        name="cards",
        columns=[Column(name="card", data_type=DataType.VARCHAR, samples=["4111111111111111"])],
    )
    assert "4111111111111111" not in dump_record(table)
    assert "4111111111111111" in dump_record(table, keep_samples=True)

    for keep in (False, True):
        uri = str(tmp_path / f"keep-{keep}.jsonl")
        with StagedFileWriter(uri, producer="test", keep_samples=keep) as writer:
            writer.write(table)
        [read] = read_records(uri)
        assert read.columns[0].samples == (["4111111111111111"] if keep else [])

    letter = DeadLetter.of(component="sink:x", error="boom", fqn=table.fqn, record=table)
    assert letter.record["columns"] == [{"name": "card", "data_type": "VARCHAR"}]


def test_an_interruption_mid_run_commits_nothing_and_propagates(flow):
    path = flow.folder / "flow.yaml"
    source = {"type": "support.components:SlowSource", "config": {"tables": 200, "seconds_each": 0.005}}
    sink = {"type": "support.components:TagTables", "config": {"fail_on": ["t0"]}}
    spec = {"source": source, "processors": [sink], "sink": {"type": "file", "config": {"path": "out.jsonl"}}}
    path.write_text(json.dumps({**spec, "workflow": {"staging_root": "staging"}}))
    interruption = Interruption()
    threading.Timer(0.2, interruption.request).start()  # what the operator's on_kill does
    with pytest.raises(RunInterrupted) as stopped:
        run_workflow(load_workflow(path), run_id="run1", interruption=interruption)
    assert stopped.value.exit_code == 143
    written = sorted(p.name for p in flow.folder.rglob("*") if p.is_file() and p.name != ".airflow-ingest-run")
    assert written == ["flow.yaml"], "nothing committed"


def test_a_task_whose_upstream_file_is_missing_names_the_task_to_clear(tmp_path):
    from airflow_provider_ingest.errors import InputError
    from airflow_provider_ingest.run import run_task, task_context

    context = task_context(dag_id="d", run_id="r", task_id="sink", staging_root=str(tmp_path))
    with pytest.raises(InputError, match=r"output.jsonl does not exist: clear the upstream task 'tag' to write it"):
        run_task("sink", "console", {}, context, input_uri=str(tmp_path / "d/r/tag/output.jsonl"), upstream="tag")
    assert not list(tmp_path.rglob("*.jsonl"))


def test_a_stop_turned_into_an_ordinary_error_by_a_library_is_still_a_stop(tmp_path):
    from airflow_provider_ingest.api import Source
    from airflow_provider_ingest.run.lifecycle import Step, execute

    interruption = Interruption()

    class CancelledQuery(Source):
        """Like a driver that answers Ctrl-C with 'canceling statement due to user request'."""

        def records(self):
            yield table("t0")
            interruption.request(signal.SIGINT)
            raise RuntimeError("canceling statement due to user request")

    context = RunContext(workflow_name="w", run_id="r", staging_root=str(tmp_path))
    source = CancelledQuery.create({}, context)
    with pytest.raises(RunInterrupted) as stopped:
        execute(Step(name="w", components=[source], producer=source), context, threshold=90, interruption=interruption)
    assert stopped.value.exit_code == 130
    assert not list(tmp_path.rglob("dead_letters.jsonl")), "not a failed record: nothing kept, nothing committed"


def test_a_task_setting_invalid_once_resolved_is_a_config_error_without_its_value(tmp_path, monkeypatch):
    from airflow_provider_ingest.errors import ConfigurationError
    from airflow_provider_ingest.run import run_task, task_context

    monkeypatch.setenv("H13_TOKEN", "s3cr3t-token-value")
    context = task_context(dag_id="d", run_id="r", task_id="probe", staging_root=str(tmp_path))
    config = {"conn_id": "x", "token": "${H13_TOKEN}", "unknown": "${H13_TOKEN}"}
    with pytest.raises(ConfigurationError) as refused:
        run_task("processor", "support.components:ConnectionProbe", config, context, input_uri=str(tmp_path / "in"))
    assert str(refused.value) == "processor ConnectionProbe: invalid config: unknown: Extra inputs are not permitted"
    assert not isinstance(refused.value.__cause__, Exception), "no pydantic error (with its input values) attached"
