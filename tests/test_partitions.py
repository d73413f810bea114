"""Partitioned workflows: the plan (balanced parts), the DAG it maps over, the merge, and ``run --workers``."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from hypothesis import given, settings
from hypothesis import strategies as st
from support.airflow_processes import AirflowProcesses, group_processes
from support.catalogs import postgres_database
from support.dags import LOADER, dag_bag, mapped_xcoms, run_dag, task_states, xcoms
from support.sql import as_model

from airflow_provider_ingest.api import ComponentConfig, RunContext, Sink
from airflow_provider_ingest.cli import main
from airflow_provider_ingest.errors import IncompleteRunError
from airflow_provider_ingest.partitions import Part, Unit, balance, plan
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.run.interrupt import signals_held
from airflow_provider_ingest.run.partitioned import _part, _portable, run_partitioned
from airflow_provider_ingest.run.steps import plan_partitions
from airflow_provider_ingest.sources.sql.partitions import scoped_filter
from airflow_provider_ingest.sources.sql.source import SqlSource
from airflow_provider_ingest.staging import StagedFileReader
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.env import MissingVariableError
from airflow_provider_ingest.workflow.loader import load_workflow

SCHEMAS = {"alpha": 7, "beta": 1, "gamma": 4, "delta": 3, "Sales": 2, "sales": 2, "x.y": 1, "empty": 0, "omega": 5}
"""Schemas of the test catalog and how many tables each holds: two differ only by case, one name holds a dot."""


def catalog_sql() -> str:
    """The schemas above, their tables (keys, comments, a foreign key across schemas), and a view across two."""
    statements = ["DROP SCHEMA public CASCADE"]
    for schema, tables in SCHEMAS.items():
        statements.append(f'CREATE SCHEMA "{schema}"')
        for number in range(1, tables + 1):
            statements.append(f'CREATE TABLE "{schema}".t_{number} (id integer PRIMARY KEY, name text NOT NULL)')
            statements.append(f"COMMENT ON TABLE \"{schema}\".t_{number} IS 'table {number} of {schema}'")
    statements.append("ALTER TABLE delta.t_1 ADD COLUMN alpha_id integer REFERENCES alpha.t_1 (id)")
    statements.append("CREATE VIEW gamma.joined AS SELECT a.id, b.name FROM alpha.t_1 a JOIN beta.t_1 b ON a.id = b.id")
    return ";\n".join(statements) + ";"


@pytest.fixture(scope="module")
def catalog(postgres_url: str) -> Iterator[str]:
    """URL of a fresh PostgreSQL database holding the test catalog (its name unique to this run)."""
    with postgres_database(postgres_url, catalog_sql()) as url:
        yield url


def workflow_text(
    url: str, out: Path, *, partitions: str | None = "{by: schema, max: 3}", dag_id: str = "parts"
) -> str:
    """A workflow over the catalog: source, a filter, a console sink, the file stage and a file bulk sink."""
    lines = [
        "source:",
        "  type: sql",
        f"  config: {{url: '{url}', service_name: pg, include_view_lineage: true}}",
        "processors:",
        "  - type: filter",
        "    config: {fqn: {exclude: ['.*\\.omega\\.t_5']}}",
        "sink: {type: console}",
        "stage: {type: file}",
        "bulk_sink:",
        "  type: file",
        f"  config: {{path: '{out / 'published.jsonl'}'}}",
        "workflow:",
        f"  staging_root: '{out / 'staging'}'",
        "airflow:",
        f"  dag_id: {dag_id}",
        "  retries: 0",
    ]
    if partitions is not None:
        lines.append(f"  partitions: {partitions}")
    return "\n".join(lines) + "\n"


def record_lines(uri: str) -> list[dict[str, Any]]:
    """Every record of a staged file, as parsed JSON, in file order."""
    return [json.loads(line) for line in StagedFileReader(uri).lines()]


def serial_staged(url: str, tmp_path: Path) -> list[dict[str, Any]]:
    """The records the unpartitioned serial run stages for the same workflow."""
    folder = tmp_path / "serial"
    folder.mkdir()
    path = folder / "serial.yaml"
    path.write_text(workflow_text(url, folder, partitions=None, dag_id="serial"))
    result = run_workflow(load_workflow(path))
    assert result.success, result.error
    return record_lines(result.staged_uri)


# --- the plan -------------------------------------------------------------------------------------------------

units_strategy = st.lists(
    st.builds(Unit, st.text(min_size=1, max_size=8), st.integers(min_value=0, max_value=10_000)),
    max_size=60,
    unique_by=lambda unit: unit.name,
)


@given(units=units_strategy, most=st.integers(min_value=1, max_value=12))
@settings(max_examples=300, deadline=None)
def test_every_unit_is_in_exactly_one_of_at_most_max_balanced_parts(units: list[Unit], most: int) -> None:
    groups = balance(units, most)
    assert 1 <= len(groups) <= most
    placed = [unit for group in groups for unit in group]
    assert sorted(placed, key=lambda unit: unit.name) == sorted(units, key=lambda unit: unit.name)
    if units:
        assert all(groups), "no part is left empty"
        loads = [sum(unit.relations for unit in group) for group in groups]
        assert max(loads) - min(loads) <= max(unit.relations for unit in units)
    assert balance(list(reversed(units)), most) == groups, "the same units in any order give the same parts"


@given(units=units_strategy, most=st.integers(min_value=1, max_value=12), new=st.text(min_size=1, max_size=8))
@settings(max_examples=300, deadline=None)
def test_the_parts_filters_keep_every_name_the_workflow_keeps_exactly_once(
    units: list[Unit], most: int, new: str
) -> None:
    """Each planned name, and one that appears after the plan, is kept by exactly one part's filter."""
    workflow_filter = NamePatterns(exclude=["tmp_.*"], ignore_case=True)
    kept_units = [unit for unit in units if workflow_filter.matches(unit.name)]
    parts = plan(kept_units, "schema", most)
    assert [part.index for part in parts] == list(range(len(parts)))
    assert [part.rest for part in parts] == [False] * (len(parts) - 1) + [True]
    filters = [scoped_filter(workflow_filter, Part.from_dict(part.as_dict())) for part in parts]
    for name in [unit.name for unit in units] + [new]:
        owners = [part.index for part, patterns in zip(parts, filters, strict=True) if patterns.matches(name)]
        assert len(owners) == (1 if workflow_filter.matches(name) else 0), (name, owners)


def test_the_plan_is_deterministic_largest_first_onto_the_lightest_part() -> None:
    units = [Unit(name, relations) for name, relations in SCHEMAS.items()]
    parts = plan(units, "schema", 3)
    # alpha 7, omega 5, gamma 4 open the parts; delta 3 joins gamma (4), Sales 2 omega (5); at 7 each, sales 2
    # goes to alpha (fewest units), beta 1 and empty 0 to omega's part, x.y 1 to gamma's
    assert [(part.names, part.relations) for part in parts] == [
        (("alpha", "sales"), 9),
        (("Sales", "beta", "empty", "omega"), 8),
        (("delta", "gamma", "x.y"), 8),
    ]
    assert parts[-1].excluded == ("Sales", "alpha", "beta", "empty", "omega", "sales")
    assert plan([], "schema", 4) == [Part("schema", 0, 1, (), 0, excluded=())]


def test_a_part_that_is_not_one_is_refused() -> None:
    from airflow_provider_ingest.errors import InputError

    for value in (None, [], {"by": "schema"}, {"by": "schema", "index": 3, "count": 2, "names": []}):
        with pytest.raises(InputError, match="not a partition"):
            Part.from_dict(value)


# --- the DAG --------------------------------------------------------------------------------------------------


@pytest.mark.airflow
def test_the_dag_plans_then_maps_source_processors_and_sink_then_merges(dags_folder: Path, tmp_path: Path) -> None:
    (dags_folder / "parts.yaml").write_text(workflow_text("postgresql://nobody@127.0.0.1:1/none", tmp_path))
    bag = dag_bag(dags_folder)
    assert not bag.import_errors
    dag = bag.dags["parts"]
    tasks = {task.task_id: task for task in dag.tasks}
    assert sorted(tasks) == ["bulk_sink", "cleanup_staging", "filter", "plan_partitions", "sink", "source", "stage"]
    mapped = sorted(task_id for task_id, task in tasks.items() if type(task).__name__ == "MappedOperator")
    assert mapped == ["filter", "sink", "source"]
    assert tasks["source"].upstream_task_ids == {"plan_partitions"}
    assert tasks["filter"].upstream_task_ids == {"source"}
    assert tasks["sink"].upstream_task_ids == {"filter"}
    assert tasks["stage"].upstream_task_ids == {"filter", "sink"}  # the stage waits for every part's sink
    assert tasks["bulk_sink"].upstream_task_ids == {"stage"}
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_provider_ingest.ui.shapes import dag_shape

    shape = dag_shape("parts", DagSerialization.to_dict(dag))
    assert [(task.task_id, task.role, task.mapped) for task in shape.tasks if task.role != "cleanup"] == [
        ("plan_partitions", "plan", False),
        ("source", "source", True),
        ("filter", "processor", True),
        ("sink", "sink", True),
        ("stage", "stage", False),
        ("bulk_sink", "bulk_sink", False),
    ]
    assert [task.task_id for task in shape.steps] == ["source", "filter", "sink", "stage", "bulk_sink"]


@pytest.mark.airflow
def test_the_partitioned_dag_stages_what_the_unpartitioned_run_stages(
    dags_folder: Path, tmp_path: Path, catalog: str
) -> None:
    (dags_folder / "parts.yaml").write_text(workflow_text(catalog, tmp_path))
    dag_run = run_dag(dags_folder, "parts")
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    values = xcoms(dag_run)
    parts = values["plan_partitions"]
    # as planned from the relation counts, gamma's view included (gamma 5)
    assert [part["names"] for part in parts] == [
        ["alpha", "sales"],
        ["delta", "gamma", "x.y"],
        ["Sales", "beta", "empty", "omega"],
    ]
    sources = mapped_xcoms(dag_run, "source")
    assert sorted(sources) == [0, 1, 2]
    assert [sources[index]["uri"].endswith(f"/source/{index}/output.jsonl") for index in range(3)] == [True] * 3

    merged = record_lines(values["stage"]["uri"])
    assert merged == serial_staged(catalog, tmp_path)
    assert record_lines(str(tmp_path / "published.jsonl")) == merged
    kinds = [record["kind"] for record in merged]
    assert kinds.count("database_service") == 1 and kinds.count("database") == 1
    assert kinds.count("database_schema") == len(SCHEMAS)
    assert kinds.count("table") == sum(SCHEMAS.values()) + 1 - 1  # the view, less the table filtered out
    assert kinds.count("lineage") >= 1


# --- airflow-ingest run --workers -----------------------------------------------------------------------------


def test_run_with_workers_stages_what_the_unpartitioned_run_stages(
    tmp_path: Path, catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "parts.yaml"
    path.write_text(workflow_text(catalog, tmp_path, partitions=None))
    assert main(["run", str(path), "--workers", "3", "--run-id", "three", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "part 1/3: 2 schemas, 9 relations" in out and "part 3/3: 4 schemas and any new one" in out
    staged = tmp_path / "staging" / "parts" / "three" / "staged.jsonl"
    merged = record_lines(str(staged))
    assert merged == serial_staged(catalog, tmp_path)
    assert record_lines(str(tmp_path / "published.jsonl")) == merged
    outputs = sorted((tmp_path / "staging" / "parts" / "three").glob("part-*/output.jsonl"))
    assert [path.parent.name for path in outputs] == ["part-0", "part-1", "part-2"]


def test_run_with_workers_keeps_no_column_samples_on_disk(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Column samples (raw values of the user's tables) stay in memory: a part's output, read by the merge's stage
    alone, holds none (every part kept all of them in the run's folder)."""
    path = tmp_path / "shop.yaml"
    path.write_text(
        "source: {type: sql, config: {sample: shop, sample_rows: 5}}\n"
        "sink: {type: console}\n"
        "stage: {type: file}\n"
        f"bulk_sink: {{type: file, config: {{path: '{tmp_path / 'published.jsonl'}'}}}}\n"
        f"workflow: {{staging_root: '{tmp_path / 'staging'}'}}\n"
    )
    assert main(["run", str(path), "--workers", "2", "--run-id", "r", "--quiet"]) == 0
    capsys.readouterr()
    written = sorted(tmp_path.rglob("*.jsonl*"))
    assert tmp_path / "staging" / "shop" / "r" / "part-0" / "output.jsonl" in written
    assert [file.name for file in written if b'"samples"' in file.read_bytes()] == []


def test_run_with_workers_prints_the_parts_console_lines_whole(tmp_path: Path, postgres_url: str) -> None:
    """Parts printing at once to one pipe (a console sink) never cut each other's lines: each part's standard output
    is written a line at a time (it was written in 8 KiB blocks, cut anywhere). A slow processor keeps both parts
    printing at once."""
    long = "x" * 60
    sql = ";\n".join(
        f"CREATE SCHEMA IF NOT EXISTS s{schema}; CREATE TABLE s{schema}.t{table:03d}_{long} (id integer)"
        for schema in range(2)
        for table in range(150)
    )
    with postgres_database(postgres_url, sql) as url:
        path = tmp_path / "wide.yaml"
        path.write_text(
            f"source: {{type: sql, config: {{url: '{url}', service_name: pg}}}}\n"
            "processors: [{type: 'support.components:SlowProcessor', config: {seconds_each: 0.002}}]\n"
            "sink: {type: console}\n"
            f"workflow: {{staging_root: '{tmp_path / 'staging'}'}}\n"
        )
        command = [str(Path(sys.executable).parent / "airflow-ingest"), "run", "--quiet", str(path)]
        environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
        serial = subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout
        parallel = subprocess.run(
            [*command, "--workers", "2"], env=environment, capture_output=True, text=True, check=True
        ).stdout
    printed = [line for line in serial.splitlines() if line.startswith(("table ", "database"))]
    assert len(printed) == 2 + 3 + 300  # the service, the database, the schemas (public too) and their tables
    in_parts = [line for line in parallel.splitlines() if not line.startswith(("part ", "  "))]
    assert sorted(in_parts) == sorted(printed + printed[:2])  # each part prints the service and the database


def test_no_part_counts_the_service_and_database_records_toward_its_success_rate(
    tmp_path: Path, postgres_url: str
) -> None:
    """Four schemas, each with one table that fails: 4 of the 10 records fail (60 %), below 70 %. Each part carries
    the service and the database: counted, a part was at 75 % and the partitioned run published."""
    sql = ";\n".join(f"CREATE SCHEMA s{n}; CREATE TABLE s{n}.bad (id integer)" for n in range(4))
    with postgres_database(postgres_url, "DROP SCHEMA public CASCADE;\n" + sql) as url:
        path = tmp_path / "bad.yaml"
        path.write_text(
            f"source: {{type: sql, config: {{url: '{url}', service_name: pg}}}}\n"
            "processors: [{type: 'support.components:FailNamed', config: {names: [bad]}}]\n"
            "sink: {type: console}\n"
            "stage: {type: file}\n"
            f"bulk_sink: {{type: file, config: {{path: '{tmp_path / 'published.jsonl'}'}}}}\n"
            f"workflow: {{staging_root: '{tmp_path / 'staging'}', success_threshold: 70}}\n"
        )
        workflow = load_workflow(path)
        serial = run_workflow(workflow)
        assert serial.below_threshold == ["processor:FailNamed"]
        parts = run_partitioned(workflow, workers=4)
    assert len(parts.parts) == 4 and not parts.success and parts.merge is None
    for result in parts.results:
        processor = result.reports[1]
        assert (processor.records, processor.carried, processor.failure_count) == (3, 2, 1)
        assert processor.success_rate == 50.0 and result.below_threshold == ["processor:FailNamed"]
    assert not (tmp_path / "published.jsonl").exists()
    assert not list((tmp_path / "staging").rglob("staged.jsonl"))


def failing_workflow(url: str, out: Path, *, failing_attempts: int, retries: int) -> str:
    """The workflow, its processors refusing every record of schema gamma in the first ``failing_attempts``
    attempts, and every component required to succeed whole."""
    text = workflow_text(url, out).replace("  retries: 0", f"  retries: {retries}\n  retry_delay: 0")
    processor = (
        "  - type: support.components:FailSchema\n"
        f"    config: {{schema_name: gamma, attempts: '{out / 'attempts'}', failing_attempts: {failing_attempts}}}\n"
    )
    text = text.replace("sink: {type: console}", processor + "sink: {type: console}")
    return text.replace("workflow:\n", "workflow:\n  success_threshold: 100\n")


@pytest.mark.airflow
def test_a_failing_part_fails_the_run_and_nothing_is_staged_or_published(
    dags_folder: Path, tmp_path: Path, catalog: str
) -> None:
    (dags_folder / "parts.yaml").write_text(failing_workflow(catalog, tmp_path, failing_attempts=1, retries=0))
    dag_run = run_dag(dags_folder, "parts")
    assert str(dag_run.state) == "failed"
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in dag_run.get_task_instances()}
    gamma = 1  # part 2/3 holds gamma (see the DAG test above)
    assert [states[("failschema", index)] for index in range(3) if index != gamma] == ["success"] * 2
    assert [states[("source", index)] for index in range(3)] == ["success"] * 3
    assert states[("failschema", gamma)] == "failed", states
    # the mapped sink is expanded once every processor instance succeeded: not at all here
    assert (states[("sink", -1)], states[("stage", -1)], states[("bulk_sink", -1)]) == ("upstream_failed",) * 3
    assert states[("cleanup_staging", -1)] == "success"
    assert not (tmp_path / "published.jsonl").exists()
    assert not list((tmp_path / "staging").rglob("staged.jsonl"))


def test_run_with_workers_stops_at_a_failing_part(
    tmp_path: Path, catalog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "parts.yaml"
    path.write_text(failing_workflow(catalog, tmp_path, failing_attempts=1, retries=0))
    assert main(["run", str(path), "--workers", "2", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "run failed: a part failed, so no sink ran and nothing was staged or published" in out
    assert "attempt 1 refuses pg." in out
    assert not (tmp_path / "published.jsonl").exists()
    assert not list((tmp_path / "staging").rglob("staged.jsonl"))


def slow_workers_run(
    tmp_path: Path, catalog: str, slow: str = "{seconds_each: 0.2}"
) -> tuple[subprocess.Popen[str], list[str], dict[str, str]]:
    """``airflow-ingest run --workers 2`` over the catalog with a slow processor, started in a session of its own
    and waited for until its parts run; the process, its command and its environment."""
    path = tmp_path / "parts.yaml"
    processor = f"  - type: support.components:SlowProcessor\n    config: {slow}\nsink: {{type: console}}"
    path.write_text(workflow_text(catalog, tmp_path, partitions=None).replace("sink: {type: console}", processor))
    temp = tmp_path / "tmp"
    temp.mkdir()
    program = str(Path(sys.executable).parent / "airflow-ingest")
    command = [program, "run", "--quiet", "--workers", "2", "--run-id", "r", str(path)]
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "TMPDIR": str(temp)}
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=environment,
        start_new_session=True,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "staging" / "parts" / "r" / "part-0").exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # the parts are running their slow processor
    assert process.poll() is None, "the run ended before it could be stopped"
    return process, command, environment


def assert_nothing_committed(tmp_path: Path, process: subprocess.Popen[str]) -> None:
    """No staged, published or temporary file, and no process of the run left."""
    parts = tmp_path / "staging" / "parts" / "r"
    assert not (tmp_path / "published.jsonl").exists()
    assert not list(parts.rglob("staged.jsonl")) and not list(parts.rglob("output.jsonl"))
    assert [p.name for p in tmp_path.rglob("*") if ".partial" in p.name] == []
    assert list((tmp_path / "tmp").iterdir()) == []
    assert group_left(process.pid) == []


@pytest.mark.parametrize(
    ("signum", "to_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)], ids=["ctrl-c", "sigterm-to-the-parent"]
)
def test_run_with_workers_stopped_midway_commits_nothing_and_leaves_no_process(
    tmp_path: Path, catalog: str, signum: int, to_group: bool
) -> None:
    """Ctrl-C reaches the whole foreground group (the parent and every worker); SIGTERM, the parent alone. Either
    way: the exit code of the signal, one line saying nothing was committed, no traceback, no staged or published
    file, no temporary file, no process left; and the rerun completes."""
    process, command, environment = slow_workers_run(tmp_path, catalog)
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stdout + stderr
    assert stderr.strip().splitlines()[-1] == f"run stopped ({signal.Signals(signum).name}): nothing was committed"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert_nothing_committed(tmp_path, process)
    rerun = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert record_lines(str(tmp_path / "published.jsonl")) == serial_staged(catalog, tmp_path)


def test_a_stop_after_a_part_completed_removes_what_that_part_committed(tmp_path: Path, catalog: str) -> None:
    """A part that completed before the stop had committed its staged output (and dead letters): removed with the
    rest, so that a stopped run commits nothing."""
    process, _, _ = slow_workers_run(tmp_path, catalog, slow="{seconds_each: 0.5, schema_name: alpha}")
    parts = tmp_path / "staging" / "parts" / "r"
    deadline = time.monotonic() + 60
    while not list(parts.glob("part-*/output.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(parts.glob("part-*/output.jsonl")), "no part completed"
    assert process.poll() is None, "the run ended before it could be stopped"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stdout + stderr
    assert_nothing_committed(tmp_path, process)
    assert not [path for path in parts.glob("part-*/**/*") if path.is_file()]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_worker_stopped_or_killed_alone_ends_the_run_without_committing(
    tmp_path: Path, catalog: str, signum: int
) -> None:
    """A part's process stopped on its own (SIGTERM) stops the run as a stop of the run would; one killed
    (SIGKILL: out of memory, say) fails it, naming the part. Neither hangs the run or commits anything."""
    process, _, _ = slow_workers_run(tmp_path, catalog)
    workers = [pid for pid in group_processes(process.pid) if pid != process.pid]
    assert workers, "no worker process is running"
    os.kill(workers[0], signum)
    stdout, stderr = process.communicate(timeout=60)
    if signum == signal.SIGTERM:
        assert process.returncode == 143, stdout + stderr
        assert stderr.strip().splitlines()[-1] == "run stopped (SIGTERM): nothing was committed"
    else:
        assert process.returncode == 1, stdout + stderr
        assert "its worker process ended without finishing the part" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert_nothing_committed(tmp_path, process)


class Unpicklable(Exception):
    def __init__(self, message: str, handle: object) -> None:
        super().__init__(message)
        self.handle = handle


class Garbled(Exception):
    """Pickled as its text, it comes back as another text (as WorkflowFileError did: its problems, joined)."""

    def __init__(self, problems: list[str] | str) -> None:
        super().__init__("; ".join(problems))


def test_a_part_that_fails_outside_its_run_sends_its_error_back(tmp_path: Path) -> None:
    """The error that ends a part's process before or after its run goes to the parent, which raises it; one that
    cannot cross processes goes as its text."""
    receiver, sender = multiprocessing.Pipe(duplex=False)
    part = Part("schema", 0, 1, ("alpha",), excluded=())
    with signals_held():  # as from the fork: the part releases them, and holds them again for its outcome
        _part(str(tmp_path / "broken.yaml"), "source: [", "r/part-0", part, sender, None)
    kind, error = receiver.recv()
    assert kind == "error" and isinstance(error, WorkflowFileError)
    assert str(error).startswith(f"{tmp_path / 'broken.yaml'}:2:1: invalid YAML")
    missing = MissingVariableError("CATALOG_PASSWORD", ("source", "config", "password"))
    assert _portable(missing) is missing
    copy = pickle.loads(pickle.dumps(missing))
    assert (copy.name, copy.location, str(copy)) == (missing.name, missing.location, str(missing))
    for wrong in (Unpicklable("the catalog went away", lambda: None), Garbled(["the catalog went away"])):
        carried = _portable(wrong)
        assert isinstance(carried, IncompleteRunError)
        assert str(carried) == f"{type(wrong).__name__}: the catalog went away"


def group_left(group: int, wait: float = 10.0) -> list[int]:
    """The processes still in a process group after ``wait`` seconds at most (the stopped run's, and its
    workers', which it forked into its group)."""
    deadline = time.monotonic() + wait
    while (alive := group_processes(group)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


# --- under the scheduler --------------------------------------------------------------------------------------


@pytest.mark.airflow
def test_under_the_local_executor_a_part_that_fails_once_is_retried_alone(
    airflow: AirflowProcesses, tmp_path: Path, catalog: str
) -> None:
    """The partitioned DAG run by a real scheduler: the parts run as mapped task instances, the one part whose
    processor fails once is retried (that map index alone), and the run stages what the unpartitioned run does."""
    dags = airflow.home / "dags"
    (dags / "parts.yaml").write_text(failing_workflow(catalog, tmp_path, failing_attempts=1, retries=1))
    shutil.copy(LOADER, dags / LOADER.name)
    run_id, state = airflow.run_dag("parts")
    instances = airflow.task_instances("parts", run_id)
    tries = {(ti["task_id"], ti["map_index"]): (ti["state"], ti["try_number"]) for ti in instances}
    assert state == "success", (tries, airflow.logs())
    gamma = 1
    assert {key: value for key, value in tries.items() if value[1] != 1} == {("failschema", gamma): ("success", 2)}
    assert sorted(index for task_id, index in tries if task_id == "source") == [0, 1, 2]
    assert {value[0] for value in tries.values()} == {"success"}
    assert (tmp_path / "attempts").read_text().count("\n") == 2  # gamma's part, tried twice
    stage = airflow.xcom("parts", run_id, "stage")
    merged = record_lines(stage["uri"])
    assert record_lines(str(tmp_path / "published.jsonl")) == merged
    assert merged == serial_staged(catalog, tmp_path)


# --- the sql source's parts -----------------------------------------------------------------------------------


def read_part(config: dict[str, Any], part: Part, base_dir: Path) -> tuple[list[Any], list[str]]:
    """The records of one part of the sql source, and its warnings."""
    context = RunContext(
        workflow_name="test", run_id=f"part-{part.index}", staging_root=str(base_dir), base_dir=base_dir
    )
    source = SqlSource.create(config, context)
    source.scope(part)
    source.prepare()
    try:
        return [as_model(record) for record in source.records()], source.report.warnings
    finally:
        source.close()


def test_a_schema_created_after_the_plan_is_read_by_the_rest_part_and_a_dropped_one_is_named(
    postgres_url: str, tmp_path: Path
) -> None:
    sql = "CREATE SCHEMA a; CREATE SCHEMA b; CREATE SCHEMA c; CREATE SCHEMA d;"
    sql += "CREATE TABLE a.t1 (id int); CREATE TABLE a.t2 (id int); CREATE TABLE a.t3 (id int);"
    sql += "CREATE TABLE b.t1 (id int); CREATE TABLE b.t2 (id int);"
    sql += "CREATE TABLE c.t1 (id int); CREATE TABLE d.t1 (id int);"
    with postgres_database(postgres_url, sql) as url:
        config = {"url": url, "service_name": "pg", "schema_filter": {"exclude": ["D", "public"], "ignore_case": True}}
        context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
        parts = plan_partitions("sql", config, context, by="schema", most=2)
        assert [(part.names, part.relations) for part in parts] == [(("a",), 3), (("b", "c"), 3)]
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql("CREATE SCHEMA e; CREATE TABLE e.t1 (id int); DROP SCHEMA c CASCADE")
        engine.dispose()
        read = [read_part(config, part, tmp_path) for part in parts]
    schemas = [[record.name for record in records if record.kind == "database_schema"] for records, _ in read]
    assert schemas == [["a"], ["b", "e"]]  # e is new: the rest part reads it; c is gone; d stays filtered out
    assert read[0][1] == []
    assert read[1][1] == [
        "schema 'c' was planned for part 2/2 but is no longer listed: dropped since the plan, or hidden from the"
        " role; nothing of it is in this run"
    ]


def test_with_filter_by_fqn_the_parts_are_schema_fqns_each_read_once(postgres_url: str, tmp_path: Path) -> None:
    sql = 'CREATE SCHEMA a; CREATE SCHEMA b; CREATE SCHEMA "c.d"; CREATE SCHEMA e;'
    sql += 'CREATE TABLE a.t1 (id int); CREATE TABLE b.t1 (id int); CREATE TABLE "c.d".t1 (id int);'
    with postgres_database(postgres_url, sql) as url:
        database = sqlalchemy.make_url(url).database
        config = {
            "url": url,
            "service_name": "pg",
            "filter_by_fqn": True,
            "schema_filter": {"include": [f"pg\\.{database}\\..*"], "exclude": [".*\\.e", ".*\\.public"]},
        }
        context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
        parts = plan_partitions("sql", config, context, by="schema", most=2)
        assert sorted(name for part in parts for name in part.names) == [
            f'pg.{database}."c.d"',
            f"pg.{database}.a",
            f"pg.{database}.b",
        ]
        read = [read_part(config, part, tmp_path) for part in parts]
    schemas = sorted(record.name for records, _ in read for record in records if record.kind == "database_schema")
    assert schemas == ["a", "b", "c.d"]
    assert [warnings for _, warnings in read] == [[], []]


def source_report(config: dict[str, Any], base_dir: Path, part: Part | None = None) -> tuple[int, list[str]]:
    """The sql source's filtered count and warnings, reading ``part`` (or everything)."""
    context = RunContext(workflow_name="test", run_id="report", staging_root=str(base_dir), base_dir=base_dir)
    source = SqlSource.create(config, context)
    if part is not None:
        source.scope(part)
    source.prepare()
    try:
        for _ in source.records():
            pass
        return source.report.filtered, source.report.warnings
    finally:
        source.close()


def test_each_part_counts_only_what_the_filters_leave_out_of_its_own_schemas(postgres_url: str, tmp_path: Path) -> None:
    """Another part's schemas are not "filtered": the parts' counts add up to the unpartitioned run's, and no part
    warns that its filters matched nothing."""
    sql = "CREATE SCHEMA a; CREATE SCHEMA b; CREATE SCHEMA c; CREATE SCHEMA skipped;"
    sql += "CREATE TABLE a.t1 (id int); CREATE TABLE a.t2 (id int); CREATE TABLE a.tmp_x (id int);"
    sql += "CREATE TABLE b.t1 (id int); CREATE TABLE b.tmp_y (id int); CREATE TABLE c.t1 (id int);"
    sql += "CREATE TABLE skipped.t1 (id int);"
    with postgres_database(postgres_url, sql) as url:
        config = {
            "url": url,
            "service_name": "pg",
            "schema_filter": {"exclude": ["skipped", "public"]},
            "table_filter": {"exclude": ["tmp_.*"]},
        }
        context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
        parts = plan_partitions("sql", config, context, by="schema", most=2)
        assert sorted(name for part in parts for name in part.names) == ["a", "b", "c"]
        whole = source_report(config, tmp_path)
        each = [source_report(config, tmp_path, part) for part in parts]
    schemas_left_out = 5  # skipped, public and the three system schemas
    assert whole == (schemas_left_out + 2, [])  # and the two tmp_ tables
    assert [warnings for _, warnings in each] == [[], []]
    assert sum(filtered for filtered, _ in each) == whole[0]
    tables_left_out = {"a": 1, "b": 1, "c": 0}
    assert [filtered for filtered, _ in each] == [
        sum(tables_left_out[name] for name in part.names) + (schemas_left_out if part.rest else 0) for part in parts
    ]


def test_a_database_the_role_may_not_connect_to_is_warned_about_by_one_part(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part by schema lists the databases; the one the role may not connect to is named once, by the rest
    part, as an unpartitioned run names it once."""
    listed = SqlSource._databases

    def with_a_closed_database(self: SqlSource, connection: Any) -> list[Any]:
        databases = listed(self, connection)
        return [*databases, ("closed", None, databases[0][2].set(database="closed"), False)]

    monkeypatch.setattr(SqlSource, "_databases", with_a_closed_database)
    sql = "CREATE SCHEMA a; CREATE SCHEMA b; CREATE TABLE a.t1 (id int); CREATE TABLE b.t1 (id int);"
    with postgres_database(postgres_url, sql) as url:
        config = {"url": url, "service_name": "pg", "schema_filter": {"exclude": ["public"]}}
        context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
        parts = plan_partitions("sql", config, context, by="schema", most=2)
        assert len(parts) == 2
        whole = source_report(config, tmp_path)[1]
        each = [source_report(config, tmp_path, part)[1] for part in parts]
    closed = "database pg.closed skipped: the role has no CONNECT privilege on it"
    assert [warning.startswith(closed) for warning in whole] == [True]
    assert [[warning.startswith(closed) for warning in warnings] for warnings in each] == [
        [True] if part.rest else [] for part in parts
    ]


@pytest.fixture
def three_databases(postgres_url: str) -> Iterator[list[str]]:
    """URLs of three fresh databases of different sizes (one, two and four tables)."""
    with contextlib.ExitStack() as stack:
        urls = [
            stack.enter_context(
                postgres_database(
                    postgres_url,
                    f"CREATE SCHEMA s{size};"
                    + "".join(f"CREATE TABLE s{size}.t{n} (id int PRIMARY KEY);" for n in range(size)),
                )
            )
            for size in (1, 2, 4)
        ]
        yield urls


def reading_all(urls: list[str]) -> dict[str, Any]:
    """The sql source's settings reading the databases at ``urls`` (and no other) from the first one's server."""
    names = [sqlalchemy.make_url(url).database for url in urls]
    return {"url": urls[0], "service_name": "pg", "all_databases": True, "database_filter": {"include": names}}


def test_by_database_each_part_warns_about_a_named_schema_its_databases_do_not_list(
    tmp_path: Path, three_databases: list[str]
) -> None:
    """By database, a schema the filter names is looked for in each database by the one part that reads it."""
    config = {**reading_all(three_databases), "schema_filter": {"include": ["s1", "s2", "s4"]}}
    context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
    parts = plan_partitions("sql", config, context, by="database", most=2)
    assert len(parts) == 2
    whole = source_report(config, tmp_path)[1]
    each = [source_report(config, tmp_path, part)[1] for part in parts]
    assert len(whole) == 6  # each database lacks two of the three schemas
    assert sorted(warning for warnings in each for warning in warnings) == sorted(whole)


def test_by_schema_over_every_database_the_filtered_databases_are_counted_once(
    tmp_path: Path, three_databases: list[str]
) -> None:
    """Every part by schema lists every database: only the rest part counts those the database filter leaves out
    (each part counted them, and the parts' filtered counts added up to three times the unpartitioned run's)."""
    config = reading_all(three_databases)
    config["database_filter"]["exclude"] = [sqlalchemy.make_url(three_databases[2]).database]
    context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
    parts = plan_partitions("sql", config, context, by="schema", most=3)
    assert len(parts) == 3
    whole = source_report(config, tmp_path)[0]
    each = [source_report(config, tmp_path, part)[0] for part in parts]
    assert whole > 1 and sum(each) == whole


def test_a_partitioned_run_whose_filters_match_nothing_still_says_so(tmp_path: Path, catalog: str) -> None:
    """Nothing matched, the plan is one part (the rest): it speaks for the whole run, and warns as it would."""
    config = {"url": catalog, "service_name": "pg", "schema_filter": {"include": ["sales_eu.*"]}}
    context = RunContext(workflow_name="test", run_id="plan", staging_root=str(tmp_path), base_dir=tmp_path)
    parts = plan_partitions("sql", config, context, by="schema", most=2)
    assert [(part.names, part.rest) for part in parts] == [((), True)]
    whole = source_report(config, tmp_path)[1]
    assert [warning.startswith("0 tables matched") for warning in whole] == [True]
    assert source_report(config, tmp_path, parts[0])[1] == whole


def test_run_with_workers_by_database_stages_what_the_unpartitioned_run_stages(
    tmp_path: Path, three_databases: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = reading_all(three_databases)
    text = workflow_text("URL", tmp_path, partitions="{by: database, max: 2}")
    text = text.replace("{url: 'URL', service_name: pg, include_view_lineage: true}", json.dumps(config))
    path = tmp_path / "by_database.yaml"
    path.write_text(text)
    assert main(["run", str(path), "--workers", "2", "--run-id", "two", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "part 1/2: 1 database, 4 relations" in out and "part 2/2: 2 databases and any new one, 3 relations" in out
    merged = record_lines(str(tmp_path / "staging" / "parts" / "two" / "staged.jsonl"))
    serial = tmp_path / "serial.yaml"
    serial.write_text(text.replace("  partitions: {by: database, max: 2}\n", ""))
    result = run_workflow(load_workflow(serial))
    assert result.success, result.error
    assert merged == record_lines(result.staged_uri)
    kinds = [record["kind"] for record in merged]
    assert (kinds.count("database_service"), kinds.count("database"), kinds.count("table")) == (1, 3, 7)


# --- validation -----------------------------------------------------------------------------------------------


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    return [str(problem).replace(str(path), "bad.yaml") for problem in raised.value.problems]


SQL_WORKFLOW = """\
source:
  type: sql
  config: {url: 'postgresql://reader@db.example/catalog', service_name: pg}
stage: {type: file}
airflow:
  partitions: {by: schema, max: 4}
"""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            (
                "type: sql\n  config: {url: 'postgresql://reader@db.example/catalog', service_name: pg}",
                "type: file\n  config: {path: in.jsonl}",
            ),
            "bad.yaml:6:16: airflow.partitions.by: a file source cannot be partitioned"
            " (the sql source can, by schema or database)",
        ),
        (
            ("by: schema", "by: database"),
            "bad.yaml:6:16: airflow.partitions.by: by database needs source.config.all_databases: true"
            " (else the sql source reads one database)",
        ),
        (
            ("{url: 'postgresql://reader@db.example/catalog', service_name: pg}", "{sample: shop}"),
            None,
        ),
        (
            ("by: schema", "by: table"),
            "bad.yaml:6:16: airflow.partitions.by: Input should be 'schema' or 'database'",
        ),
        (
            ("max: 4", "max: 0"),
            "bad.yaml:6:28: airflow.partitions.max: Input should be greater than or equal to 1",
        ),
        (
            ("max: 4", "max: 5000"),
            "bad.yaml:6:28: airflow.partitions.max: Input should be less than or equal to 1024",
        ),
        (
            ("max: 4}", "max: 4, of: tables}"),
            "bad.yaml:6:36: airflow.partitions.of: unknown field 'of'; known fields: by, max",
        ),
        (
            ("stage: {type: file}", "sink: {type: file, config: {path: out.jsonl}}"),
            "bad.yaml:4:8: sink.type: a file sink is written whole by each run, and each part of a partitioned run"
            " would replace it: use a stage and bulk sink for the merged file",
        ),
        (
            ("stage: {type: file}", "stage: {type: file, task_id: plan_partitions}"),
            "bad.yaml:4:21: stage.task_id: task id 'plan_partitions' is the partition planning task's"
            " (airflow.partitions)",
        ),
    ],
)
def test_a_partitioning_the_workflow_cannot_have_is_a_problem_naming_the_field(
    tmp_path: Path, change: tuple[str, str], expected: str | None
) -> None:
    old, new = change
    assert old in SQL_WORKFLOW
    text = SQL_WORKFLOW.replace(old, new)
    if expected is None:  # sqlite by schema is fine; by database is not
        assert load_workflow_text(tmp_path, text).spec.airflow.partitions is not None
        expected = "bad.yaml:6:16: airflow.partitions.by: SQLite gives the sql source one database: partition by schema"
        text = text.replace("by: schema", "by: database")
    assert problems_of(tmp_path, text) == [expected]


def load_workflow_text(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "good.yaml"
    path.write_text(text)
    return load_workflow(path)


def test_workers_on_a_source_that_cannot_be_partitioned_names_the_source_type_and_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file asks for no partitions: the problem is not blamed on airflow.partitions.by, which it does not have."""
    path = tmp_path / "plain.yaml"
    path.write_text("source:\n  type: file\n  config: {path: in.jsonl}\nsink: {type: console}\n")
    assert main(["run", str(path), "--workers", "2", "--quiet"]) == 1
    assert capsys.readouterr().err == (
        f"{path}:2:3: source.type: --workers partitions the run by schema, and a file source cannot be partitioned"
        " (the sql source can, by schema or database)\n"
    )


def test_the_json_schema_describes_partitions() -> None:
    from airflow_provider_ingest.workflow.jsonschema import workflow_json_schema

    partitions = workflow_json_schema()["$defs"]["PartitionSettings"]
    assert partitions["properties"]["by"]["enum"] == ["schema", "database"]
    assert (partitions["properties"]["max"]["minimum"], partitions["properties"]["max"]["maximum"]) == (1, 1024)
    assert partitions["additionalProperties"] is False


def test_a_parent_killed_outright_leaves_no_worker_running(tmp_path: Path, catalog: str) -> None:
    """The run's process killed outright (out of memory, say): its workers stop too, not run on orphaned, committing
    their parts' files and holding the run's output open."""
    process, _, _ = slow_workers_run(tmp_path, catalog, slow="{seconds_each: 1.0}")
    workers = [pid for pid in group_processes(process.pid) if pid != process.pid]
    assert workers, "no worker process is running"
    process.kill()
    process.wait(timeout=60)  # not communicate(): the orphans hold its pipes open until they finish
    try:
        assert group_left(process.pid, wait=2.0) == []
    finally:
        for pid in group_processes(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


class AppendingSinkConfig(ComponentConfig):
    path: str


class AppendingSink(Sink):
    """A sink that publishes as it goes (as the elasticsearch and openmetadata sinks do): one line per record."""

    config_class = AppendingSinkConfig
    config: AppendingSinkConfig

    def write(self, record: Any) -> None:
        with open(self.config.path, "a") as published:
            published.write(f"{record.fqn}\n")


def test_a_failed_part_leaves_nothing_sent_by_the_other_parts_sinks(tmp_path: Path, catalog: str) -> None:
    """run --workers: a part fails, so the run fails, and no part's sink has run: the sinks run once every part was
    extracted, as the mapped sink task is expanded once every processor instance succeeded. Each part ran its sink
    with its source, and a sink that sends as it goes (elasticsearch, openmetadata) had sent the other parts'
    records, while the run said nothing was published."""
    published = tmp_path / "sink-published.txt"
    text = failing_workflow(catalog, tmp_path, failing_attempts=1, retries=0).replace(
        "sink: {type: console}",
        f"sink: {{type: 'test_partitions:AppendingSink', config: {{path: '{published}'}}}}",
    )
    path = tmp_path / "parts.yaml"
    path.write_text(text)
    assert main(["run", str(path), "--workers", "3", "--quiet"]) == 1
    assert not (tmp_path / "published.jsonl").exists()
    assert not published.exists(), published.read_text()
