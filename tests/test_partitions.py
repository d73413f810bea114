"""Partitioned workflows: the plan (balanced parts), the DAG it maps over, the merge, and ``run --workers``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_airflow_e2e
from hypothesis import given, settings
from hypothesis import strategies as st
from support.catalogs import postgres_database
from support.dags import LOADER, dag_bag, mapped_xcoms, run_dag, task_states, xcoms
from test_airflow_e2e import Airflow

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.partitions import Part, Unit, balance, plan
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.run import run_workflow
from airflow_provider_ingest.sources.sql.partitions import scoped_filter
from airflow_provider_ingest.staging import StagedFileReader
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


scheduler = test_airflow_e2e.airflow
"""The fixture of a real Airflow: API server, scheduler (LocalExecutor) and DAG processor."""

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
    assert tasks["stage"].upstream_task_ids == {"filter"}
    assert tasks["bulk_sink"].upstream_task_ids == {"stage"}


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
    assert "run failed: a part failed, so nothing was staged or published" in out
    assert "attempt 1 refuses pg." in out
    assert not (tmp_path / "published.jsonl").exists()
    assert not list((tmp_path / "staging").rglob("staged.jsonl"))


# --- under the scheduler --------------------------------------------------------------------------------------


@pytest.mark.airflow
def test_under_the_local_executor_a_part_that_fails_once_is_retried_alone(
    scheduler: Airflow, tmp_path: Path, catalog: str
) -> None:
    """The partitioned DAG run by a real scheduler: the parts run as mapped task instances, the one part whose
    processor fails once is retried (that map index alone), and the run stages what the unpartitioned run does."""
    dags = scheduler.home / "dags"
    (dags / "parts.yaml").write_text(failing_workflow(catalog, tmp_path, failing_attempts=1, retries=1))
    shutil.copy(LOADER, dags / LOADER.name)
    scheduler.wait_for("the generated DAG", lambda: scheduler.call("GET", "/api/v2/dags/parts"))
    scheduler.call("PATCH", "/api/v2/dags/parts", json={"is_paused": False})
    run_id = scheduler.call("POST", "/api/v2/dags/parts/dagRuns", json={"logical_date": None})["dag_run_id"]
    path = f"/api/v2/dags/parts/dagRuns/{run_id}"
    state = scheduler.wait_for(
        "the run to finish",
        lambda: (state := scheduler.call("GET", path)["state"]) in ("success", "failed") and state,
    )
    instances = scheduler.call("GET", f"{path}/taskInstances", params={"limit": 100})["task_instances"]
    tries = {(ti["task_id"], ti["map_index"]): (ti["state"], ti["try_number"]) for ti in instances}
    assert state == "success", (tries, scheduler.logs())
    gamma = 1
    assert {key: value for key, value in tries.items() if value[1] != 1} == {("failschema", gamma): ("success", 2)}
    assert sorted(index for task_id, index in tries if task_id == "source") == [0, 1, 2]
    assert {value[0] for value in tries.values()} == {"success"}
    assert (tmp_path / "attempts").read_text().count("\n") == 2  # gamma's part, tried twice
    stage = scheduler.call("GET", f"{path}/taskInstances/stage/xcomEntries/return_value")["value"]
    merged = record_lines(stage["uri"])
    assert record_lines(str(tmp_path / "published.jsonl")) == merged
    assert merged == serial_staged(catalog, tmp_path)
