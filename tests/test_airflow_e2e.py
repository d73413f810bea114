"""A real Airflow: API server, scheduler and DAG processor run a generated DAG, driven through ``/api/v2``."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path

import pytest
from support.airflow_processes import AirflowProcesses
from support.dags import LOADER

from airflow_provider_ingest.staging import read_records

pytestmark = pytest.mark.airflow

WORKFLOW = """\
description: The sample shop through a processor that logs a connection's password.
source:
  type: sql
  config: {sample: shop, table_filter: {include: [orders, payments]}}
processors:
  - type: support.components:ConnectionProbe
    config: {conn_id: h4_e2e_secret}
sink:
  type: file
  config: {path: OUT/shop.jsonl}
stage: {type: file}
bulk_sink:
  type: file
  config: {path: OUT/shop_published.jsonl}
workflow:
  staging_root: STAGING
airflow:
  dag_id: h4_e2e_shop
  schedule: "@daily"
  tags: [h4, e2e]
"""


@pytest.fixture
def password() -> str:
    """The password of the secret connection the tests' processor logs."""
    return "h4-e2e-" + secrets.token_hex(6)


@pytest.fixture
def airflow_settings(password: str) -> dict[str, str]:
    """The ``airflow`` fixture's installation holds the secret connection."""
    connection = {"conn_type": "generic", "login": "probe", "password": password}
    return {"AIRFLOW_CONN_H4_E2E_SECRET": json.dumps(connection)}


def test_a_yaml_dropped_in_the_dags_folder_runs_under_a_real_airflow(
    airflow: AirflowProcesses, tmp_path: Path, password: str
) -> None:
    dags = airflow.home / "dags"
    text = WORKFLOW.replace("OUT", str(tmp_path / "out")).replace("STAGING", str(tmp_path / "staging"))
    (dags / "shop.yaml").write_text(text)
    (dags / "broken.yaml").write_text("source:\n  type: file\n  config: {path: [unclosed\n")
    shutil.copy(LOADER, dags / LOADER.name)

    dag = airflow.wait_for("the generated DAG", lambda: airflow.call("GET", "/api/v2/dags/h4_e2e_shop"))
    assert dag["is_paused"] is True and sorted(tag["name"] for tag in dag["tags"]) == ["e2e", "h4"]
    errors = airflow.wait_for("the import error", lambda: airflow.call("GET", "/api/v2/importErrors")["import_errors"])
    assert [error["filename"] for error in errors] == ["broken.yaml"]
    assert errors[0]["stack_trace"].startswith(f"{dags}/broken.yaml:4:1: invalid YAML: while parsing a flow sequence")

    run_id, state = airflow.run_dag("h4_e2e_shop")
    path = f"/api/v2/dags/h4_e2e_shop/dagRuns/{run_id}"

    tasks = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("h4_e2e_shop", run_id)}
    assert (state, tasks) == ("success", dict.fromkeys(tasks, "success")), airflow.logs()
    assert sorted(tasks) == ["bulk_sink", "cleanup_staging", "connectionprobe", "sink", "source", "stage"]
    values = {
        task_id: airflow.xcom("h4_e2e_shop", run_id, task_id)
        for task_id in ("source", "connectionprobe", "stage", "bulk_sink")
    }
    staged = [values[task_id]["uri"] for task_id in ("source", "connectionprobe", "stage")]
    assert all(uri.startswith(str(tmp_path / "staging" / "h4_e2e_shop")) for uri in staged)
    assert values["connectionprobe"]["uri"].endswith("/connectionprobe/output.jsonl")
    assert values["bulk_sink"]["uri"] == f"file://{tmp_path}/out/shop_published.jsonl"  # what it wrote
    assert [value["records"] for value in values.values()] == [5, 5, 5, 5]
    expected = [("database_service", "sample_shop"), ("database", "shop"), ("database_schema", "main")]
    expected += [("table", "orders"), ("table", "payments")]
    assert [(r.kind, r.name) for r in read_records(str(tmp_path / "out" / "shop.jsonl"))] == expected
    assert [(r.kind, r.name) for r in read_records(str(tmp_path / "out" / "shop_published.jsonl"))] == expected

    log = airflow.call("GET", f"{path}/taskInstances/connectionprobe/logs/1", params={"full_content": True})
    text = json.dumps(log)
    assert "connecting as probe with ***" in text
    events = [line.get("event", "") for line in log["content"] if isinstance(line, dict)]
    table = [event for event in events if event.startswith(("component ", "input ", "processor:", "output "))]
    assert [row.split()[0] for row in table] == ["component", "input", "processor:ConnectionProbe", "output"], events
    assert "run succeeded" in events[events.index(table[-1]) :]
    assert password not in text and password not in json.dumps(values)


SLOW = """\
source:
  type: support.components:SlowSource
  config: {tables: 14, seconds_each: 1}
sink:
  type: file
  config: {path: OUT/slow.jsonl}
workflow:
  staging_root: STAGING
airflow:
  dag_id: h15_e2e_slow
  retries: 0
"""


def test_a_long_step_logs_progress_and_a_workflow_file_broken_mid_run_is_named(
    airflow: AirflowProcesses, tmp_path: Path
) -> None:
    dags = airflow.home / "dags"
    workflow = dags / "slow.yaml"
    text = SLOW.replace("OUT", str(tmp_path / "out")).replace("STAGING", str(tmp_path / "staging"))
    workflow.write_text(text)
    shutil.copy(LOADER, dags / LOADER.name)
    airflow.unpause("h15_e2e_slow")
    run_id = airflow.trigger("h15_e2e_slow")
    path = f"/api/v2/dags/h15_e2e_slow/dagRuns/{run_id}"
    airflow.wait_for(
        "the source task to run", lambda: airflow.call("GET", f"{path}/taskInstances/source")["state"] == "running"
    )

    workflow.write_text(text.replace("retries: 0", "retries: often"))  # broken while the source runs
    state = airflow.wait_for_run("h15_e2e_slow", run_id)

    tasks = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("h15_e2e_slow", run_id)}
    assert (state, tasks["source"], tasks["sink"]) == ("failed", "success", "failed"), airflow.logs()
    source_log = airflow.call("GET", f"{path}/taskInstances/source/logs/1", params={"full_content": True})
    events = [line.get("event", "") for line in source_log["content"] if isinstance(line, dict)]
    assert any(re.fullmatch(r"progress: \d+ records  [\d,.]+/s  0 failed", event) for event in events), events
    sink_log = json.dumps(airflow.call("GET", f"{path}/taskInstances/sink/logs/1", params={"full_content": True}))
    problem = f"{workflow}:11:3: airflow.retries: Input should be a valid integer"
    assert f"dag 'h15_e2e_slow' cannot be built: invalid workflow file: {problem}" in sink_log, sink_log
