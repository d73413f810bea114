"""A real Airflow: API server, scheduler and DAG processor run a generated DAG, driven through ``/api/v2``."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from support.dags import LOADER
from support.servers import START_ATTEMPTS, address_in_use, unused_port

from airflow_provider_ingest.staging import read_records

pytestmark = pytest.mark.airflow

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
BUDGET = 900.0
"""Seconds the whole test may take, start-up included: generous, for a busy 2-core machine."""
REQUEST_TIMEOUT = 120.0
"""The longest a single REST call may take (a busy API server with one worker answers late, not never)."""
RESENT = ("GET", "PATCH")
"""Calls sent again when they time out, cannot connect or get a 5xx: reads, and changes that may be repeated."""

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


class Airflow:
    """The processes of one Airflow installation, a client of its REST API, and its secret connection's password."""

    def __init__(self, home: Path, port: int, env: dict[str, str]) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env | {
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(unused_port()),
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.session = requests.Session()
        self.password = ""
        self.deadline = time.monotonic() + BUDGET

    def remaining(self, what: str) -> float:
        """Seconds left before the test's deadline; fail with the process logs once it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"out of time ({BUDGET:.0f} s in all) while {what}\n{self.logs()}")
        return left

    def start(self, *command: str) -> None:
        """Start ``airflow <command>`` in its own process group, its output in ``<home>/<command>.log``."""
        log = open(self.home / f"{command[0]}.log", "wb")
        self.processes.append(
            subprocess.Popen(
                [AIRFLOW, *command], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        log.close()

    def stop(self) -> None:
        """Terminate every process group started, then kill what is left."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call, given as long as it needs within the test's deadline; the JSON answer.

        A busy machine's API server may answer late, drop the connection or answer 5xx: a call in :data:`RESENT`
        is then sent again (while every process runs) until it gets an answer or the deadline passes.
        """
        pause = 0.5
        while True:
            timeout = min(REQUEST_TIMEOUT, self.remaining(f"calling {method} {path}"))
            try:
                response = self.session.request(method, self.url + path, timeout=timeout, **kwargs)
            except requests.RequestException:
                if method not in RESENT:
                    raise
            else:
                if response.status_code < 500 or method not in RESENT:
                    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
                    return response.json() if response.content else None
            self.check_running(f"calling {method} {path}")
            time.sleep(min(pause, max(0.0, self.deadline - time.monotonic())))
            pause = min(pause * 1.5, 5.0)

    def check_running(self, what: str) -> None:
        """Fail, with the logs, if a process has exited."""
        for process in self.processes:
            assert process.poll() is None, f"{process.args[1]} exited while {what}\n{self.logs()}"

    def wait_for(self, what: str, probe: Callable[[], Any]) -> Any:
        """Call ``probe`` until it returns something true, polling less often as time goes; fail at the deadline.

        Any failed request (refused, timed out, dropped, an error status) or an answer not yet right is "not yet".
        """
        pause = 0.2
        while True:
            self.remaining(f"waiting for {what}")
            self.check_running(f"waiting for {what}")
            try:
                found = probe()
            except (requests.RequestException, AssertionError):
                found = None
            if found:
                return found
            time.sleep(min(pause, max(0.0, self.deadline - time.monotonic())))
            pause = min(pause * 1.5, 3.0)

    def serving(self) -> bool:
        """Wait for the API server to answer; False if it exited because its port was taken before it bound it."""
        api_server = self.processes[0]
        try:
            self.wait_for("the API server", lambda: self.call("GET", "/api/v2/monitor/health"))
        except AssertionError:
            if api_server.poll() is not None and address_in_use((self.home / "api-server.log").read_text()):
                return False
            raise
        return True

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.home.glob("*.log")))


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[Airflow]:
    """API server, scheduler and DAG processor on 127.0.0.1, SQLite and a temporary AIRFLOW_HOME.

    Airflow's API server is told its port before it binds it: a port another process took meanwhile makes it
    exit, and everything starts again on another port.
    """
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    password = "h4-e2e-" + secrets.token_hex(6)
    for attempt in range(START_ATTEMPTS):
        installation = Airflow(home, unused_port(), environment(home, password))
        if attempt == 0:
            subprocess.run(
                [AIRFLOW, "db", "migrate"],
                env=installation.env,
                check=True,
                capture_output=True,
                timeout=installation.remaining("migrating"),
            )
        installation.password = password
        try:
            api_server = ["api-server", "--host", "127.0.0.1", "--port", str(installation.port)]
            for command in (api_server, ["scheduler"], ["dag-processor"]):
                installation.start(*command)
            if not installation.serving():
                continue  # stopped below, started again on another port
            token = installation.call("GET", "/auth/token")["access_token"]
            installation.session.headers["Authorization"] = f"Bearer {token}"
            yield installation
            return
        finally:
            installation.stop()
    pytest.fail(f"Airflow's API server found each of {START_ATTEMPTS} ports taken")


def environment(home: Path, password: str) -> dict[str, str]:
    """Airflow's settings for an installation in ``home`` (its ports are added by :class:`Airflow`)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__STALE_DAG_THRESHOLD": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__WORKERS__MISSING_DAG_RETRIES": "0",  # a task whose DAG is gone fails at once, not in minutes
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONPATH": str(Path(__file__).parent),
        "AIRFLOW_CONN_H4_E2E_SECRET": json.dumps({"conn_type": "generic", "login": "probe", "password": password}),
    }
    return env


def test_a_yaml_dropped_in_the_dags_folder_runs_under_a_real_airflow(airflow: Airflow, tmp_path: Path) -> None:
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

    airflow.call("PATCH", "/api/v2/dags/h4_e2e_shop", json={"is_paused": False})
    run_id = airflow.call("POST", "/api/v2/dags/h4_e2e_shop/dagRuns", json={"logical_date": None})["dag_run_id"]
    path = f"/api/v2/dags/h4_e2e_shop/dagRuns/{run_id}"
    state = airflow.wait_for(
        "the run to finish",
        lambda: (state := airflow.call("GET", path)["state"]) in ("success", "failed") and state,
    )

    tasks = {ti["task_id"]: ti["state"] for ti in airflow.call("GET", f"{path}/taskInstances")["task_instances"]}
    assert (state, tasks) == ("success", dict.fromkeys(tasks, "success")), airflow.logs()
    assert sorted(tasks) == ["bulk_sink", "cleanup_staging", "connectionprobe", "sink", "source", "stage"]
    values = {
        task_id: airflow.call("GET", f"{path}/taskInstances/{task_id}/xcomEntries/return_value")["value"]
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
    assert airflow.password not in text and airflow.password not in json.dumps(values)


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
    airflow: Airflow, tmp_path: Path
) -> None:
    dags = airflow.home / "dags"
    workflow = dags / "slow.yaml"
    text = SLOW.replace("OUT", str(tmp_path / "out")).replace("STAGING", str(tmp_path / "staging"))
    workflow.write_text(text)
    shutil.copy(LOADER, dags / LOADER.name)
    airflow.wait_for("the generated DAG", lambda: airflow.call("GET", "/api/v2/dags/h15_e2e_slow"))
    airflow.call("PATCH", "/api/v2/dags/h15_e2e_slow", json={"is_paused": False})
    run_id = airflow.call("POST", "/api/v2/dags/h15_e2e_slow/dagRuns", json={"logical_date": None})["dag_run_id"]
    path = f"/api/v2/dags/h15_e2e_slow/dagRuns/{run_id}"
    airflow.wait_for(
        "the source task to run", lambda: airflow.call("GET", f"{path}/taskInstances/source")["state"] == "running"
    )

    workflow.write_text(text.replace("retries: 0", "retries: often"))  # broken while the source runs
    state = airflow.wait_for(
        "the run to finish",
        lambda: (state := airflow.call("GET", path)["state"]) in ("success", "failed") and state,
    )

    tasks = {ti["task_id"]: ti["state"] for ti in airflow.call("GET", f"{path}/taskInstances")["task_instances"]}
    assert (state, tasks["source"], tasks["sink"]) == ("failed", "success", "failed"), airflow.logs()
    source_log = airflow.call("GET", f"{path}/taskInstances/source/logs/1", params={"full_content": True})
    events = [line.get("event", "") for line in source_log["content"] if isinstance(line, dict)]
    assert any(re.fullmatch(r"progress: \d+ records  [\d,.]+/s  0 failed", event) for event in events), events
    sink_log = json.dumps(airflow.call("GET", f"{path}/taskInstances/sink/logs/1", params={"full_content": True}))
    problem = f"{workflow}:11:3: airflow.retries: Input should be a valid integer"
    assert f"dag 'h15_e2e_slow' cannot be built: invalid workflow file: {problem}" in sink_log, sink_log
