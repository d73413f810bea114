"""The UI plugin through Airflow's API app: listing, a run's report, downloads, and who may see what.

Real runs (``dag.test()``) of workflow files and of a hand-written DAG fill the metadata database; the
app is Airflow's own API app (plugins mounted, SimpleAuthManager, JWTs as the UI's cookie carries them).
Expected numbers come from the runs' own files (staged outputs, dead letters) and from ``airflow-ingest
run`` on the same workflow file, never from the plugin.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support.dags import dag_bag, prepare_dags_folder, task_states
from support.ui import api_app, api_server_config, counting_statements, team_owned, token

from airflow_provider_ingest.cli import main as cli
from airflow_provider_ingest.run.status import HEADER
from airflow_provider_ingest.staging import read_dead_letters, read_records
from airflow_provider_ingest.staging.paths import RUN_MARKER

pytestmark = pytest.mark.airflow

TAGGED = """\
description: The sample shop, filtered, tagged (payments refused) and enriched.
source:
  type: sql
  config: {{sample: shop}}
processors:
  - type: filter
    config:
      fqn: {{exclude: ['.*\\.daily_revenue']}}
  - type: support.components:TagTables
    config: {{fail_on: [payments]}}
  - type: enrich
    config:
      rules:
        - fqn: '.*\\.(orders|customers)'
          description: Described by the UI tests.
          overwrite: true
          tags: [Tier.Gold]
sink:
  type: file
  config: {{path: out/{dag_id}.jsonl}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: out/{dag_id}_published.jsonl}}
workflow:
  success_threshold: {threshold}
  staging_root: {staging}
airflow:
  dag_id: {dag_id}
  retries: 0
  tags: [ui-tests]
"""

FAILING_TAGGER = "[payments, orders, customers]"

HANDWRITTEN = """\
import datetime

from airflow.sdk import dag, task

from airflow_provider_ingest.airflow.operators import IngestSinkOperator, IngestSourceOperator


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc), catchup=False)
def ui_handwritten():
    extract = IngestSourceOperator(task_id="extract", type="sql", config={{"sample": "shop"}}, staging_root={staging!r})
    write = IngestSinkOperator(
        task_id="write",
        type="file",
        config={{"path": {out!r}}},
        input_uri=extract.output["uri"],
        staging_root={staging!r},
    )

    @task
    def done(written):
        return written["records"]

    done(write.output)


ui_handwritten()
"""

WHOLE = """\
import datetime

from airflow.sdk import DAG

from airflow_provider_ingest.airflow.operators import IngestWorkflowOperator

with DAG("ui_whole", schedule=None, start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)):
    IngestWorkflowOperator(task_id="whole", workflow_file={workflow!r})
"""

PLAIN = """\
import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc), catchup=False)
def ui_plain():
    @task
    def hello():
        return {"uri": "/etc/passwd", "records": 1}

    hello()


ui_plain()
"""


@dataclass
class Runs:
    """The runs the tests look at, and where their files are."""

    folder: Path
    staging: Path
    runs: dict[str, Any]
    cli_tables: dict[str, list[str]]


def cli_table(path: Path, staging: Path) -> list[str]:
    """What ``airflow-ingest run`` prints for a workflow file (its run kept apart in the staging root)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli(["run", str(path), "--quiet", "--run-id", "cli"])
    return out.getvalue().splitlines()


@pytest.fixture(scope="module")
def ui_runs(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Runs of four ingestion DAGs (one twice) and of one DAG without ingestion tasks."""
    folder = prepare_dags_folder(Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]))
    staging = tmp_path_factory.mktemp("ui-staging")
    outside = tmp_path_factory.mktemp("ui-outside")
    for dag_id, threshold, fail_on in (
        ("ui_tagged", 50, "[payments]"),
        ("ui_failing", 95, FAILING_TAGGER),
        ("ui_secret", 50, "[payments]"),
    ):
        text = TAGGED.format(dag_id=dag_id, threshold=threshold, staging=staging).replace("[payments]", fail_on)
        (folder / f"{dag_id}.yaml").write_text(text)
    (folder / "ui_handwritten.py").write_text(
        HANDWRITTEN.format(staging=str(staging), out=str(outside / "handwritten.jsonl"))
    )
    (folder / "ui_plain.py").write_text(PLAIN)
    whole = outside / "whole.yaml"  # outside the dags folder: not a DAG of its own
    whole.write_text(TAGGED.format(dag_id="ignored", threshold=50, staging=staging).replace("out/", f"{outside}/"))
    (folder / "ui_whole.py").write_text(WHOLE.format(workflow=str(whole)))
    bag = dag_bag(folder)
    assert not bag.import_errors, bag.import_errors
    runs = {}
    for key, dag_id in (
        ("tagged", "ui_tagged"),
        ("tagged_again", "ui_tagged"),
        ("failing", "ui_failing"),
        ("secret", "ui_secret"),
        ("handwritten", "ui_handwritten"),
        ("whole", "ui_whole"),
        ("plain", "ui_plain"),
    ):
        runs[key] = bag.dags[dag_id].test()
    cli_tables = {dag_id: cli_table(folder / f"{dag_id}.yaml", staging) for dag_id in ("ui_tagged", "ui_failing")}
    yield Runs(folder, staging, runs, cli_tables)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def client(ui_runs: Runs, airflow_db: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with api_server_config(airflow_db, AIRFLOW__CORE__MULTI_TEAM="True"), TestClient(api_app()) as test_client:
        yield test_client


def as_user(username: str, role: str | None, teams: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(username, role, teams)}"}


@pytest.fixture(scope="module")
def admin(client: Any) -> dict[str, str]:
    return as_user("admin", "ADMIN")


def run_folder(runs: Runs, dag_run: Any) -> Path:
    return runs.staging / dag_run.dag_id / dag_run.run_id


def table_rows(lines: list[str]) -> list[list[str]]:
    """The rows of a printed status table (header left out), cells split on runs of spaces."""
    rows = []
    for line in lines[1:]:
        if line.startswith(" ") or not re.match(r"\S+\s+[\d,]+\s", line):
            break
        rows.append(line.split())
    return rows


# --- the plugin as Airflow loads it


def test_the_package_registers_the_plugin_by_its_entry_point(client: Any, admin: dict[str, str]) -> None:
    from importlib.metadata import entry_points

    [entry] = [point for point in entry_points(group="airflow.plugins") if point.value.startswith("airflow_provider")]
    assert entry.value == "airflow_provider_ingest.ui.plugin:IngestionPlugin"

    answer = client.get("/api/v2/plugins", headers=admin)  # what Airflow's UI reads to draw its navigation
    assert answer.status_code == 200, answer.text
    [plugin] = [plugin for plugin in answer.json()["plugins"] if plugin["name"] == "airflow_provider_ingest"]
    assert [(app["url_prefix"], app["name"]) for app in plugin["fastapi_apps"]] == [("/ingestion", "Ingestion")]
    views = {view["destination"]: view for view in plugin["external_views"]}
    assert views["nav"]["name"] == "Ingestion" and views["nav"]["href"] == "ingestion/"
    assert views["dag_run"]["name"] == "Ingestion report"
    assert views["dag_run"]["href"] == "ingestion/report?dag_id={DAG_ID}&run_id={RUN_ID}"
    assert views["dag"]["href"] == "ingestion/dag?dag_id={DAG_ID}"
    icon = client.get("/ingestion/icon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Airflow loads plugins in every process: the plugin's module adds only itself (no FastAPI, SQLAlchemy...)."""
    script = textwrap.dedent(
        """
        import sys
        import airflow.plugins_manager
        before = set(sys.modules)
        import airflow_provider_ingest.ui.plugin
        print(" ".join(sorted(set(sys.modules) - before)))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    added = set(done.stdout.split())
    assert added <= {"airflow_provider_ingest", "airflow_provider_ingest.ui", "airflow_provider_ingest.ui.plugin"}, (
        added
    )


# --- the Ingestion page


def test_the_listing_shows_every_ingestion_dag_with_its_last_runs(
    client: Any, admin: dict[str, str], ui_runs: Runs
) -> None:
    answer = client.get("/ingestion/api/dags", params={"q": "ui_", "per_page": 100}, headers=admin)
    assert answer.status_code == 200, answer.text
    listing = answer.json()
    dags = {dag["dag_id"]: dag for dag in listing["dags"]}
    assert set(dags) == {"ui_tagged", "ui_failing", "ui_secret", "ui_handwritten", "ui_whole"}  # not ui_plain
    assert listing["total"] == 5

    tagged = dags["ui_tagged"]
    assert tagged["steps"] == ["source", "filter", "tagtables", "enrich", "sink", "stage", "bulk_sink"]
    recent = tagged["recent"]
    assert [run["run_id"] for run in recent] == [ui_runs.runs["tagged_again"].run_id, ui_runs.runs["tagged"].run_id]
    last = tagged["last_run"]
    run = ui_runs.runs["tagged_again"]
    folder = run_folder(ui_runs, run)
    source_records = len(list(read_records(str(folder / "source" / "output.jsonl"))))
    dead = list(read_dead_letters(str(folder / "tagtables" / "dead_letters.jsonl")))
    assert last["state"] == "success" and last["records"] == source_records
    assert last["failures"] == len(dead) == 1
    steps = {step["name"]: step for step in last["steps"]}
    assert steps["tagtables"]["failures"] == 1
    assert steps["sink"]["records"] == len(list(read_records(str(ui_runs.folder / "out" / "ui_tagged.jsonl"))))
    assert steps["filter"]["filtered"] == last["filtered"] == 1
    assert last["success_rate"] == steps["tagtables"]["success_rate"] < 100
    assert last["duration"] == pytest.approx((run.end_date - run.start_date).total_seconds(), abs=0.01)
    assert (tagged["succeeded"], tagged["finished"]) == (2, 2)
    assert re.findall(r"<title>([^<]*)</title>", tagged["chart"])[1:] == [
        f"{r.run_id}: success, {source_records:,} records, 1 failed"
        for r in (ui_runs.runs["tagged"], ui_runs.runs["tagged_again"])
    ]

    failing = dags["ui_failing"]["last_run"]
    assert failing["state"] == "failed"
    assert {step["name"] for step in failing["steps"]} == {"source", "filter", "tagtables"}  # the rest never ran
    assert failing["failures"] == 3  # read from the failed task's ingest_status: it returned nothing

    handwritten = dags["ui_handwritten"]
    assert handwritten["steps"] == ["extract", "write"]
    assert handwritten["last_run"]["records"] == source_records

    whole = dags["ui_whole"]["last_run"]  # a whole workflow in one task: one step per component
    assert [(step["name"], step["role"]) for step in whole["steps"]] == [
        (f"whole {row[0]}", row[0].split(":")[0]) for row in table_rows(ui_runs.cli_tables["ui_tagged"])
    ]
    assert (whole["records"], whole["failures"], whole["filtered"]) == (source_records, 1, 1)


def test_the_listing_page_renders_the_same(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    page = client.get("/ingestion/", params={"q": "ui_tagged"}, headers=admin)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert 'data-dag-id="ui_tagged"' in html and "ui_failing" not in html
    run = ui_runs.runs["tagged_again"]
    assert f'href="report?dag_id=ui_tagged&amp;run_id={run.run_id.replace(":", "%3A").replace("+", "%2B")}"' in html
    assert "<svg" in html and "2 of 2 finished runs succeeded" in html
    assert "<script" not in html


def test_listing_pages_are_bounded(client: Any, admin: dict[str, str]) -> None:
    first = client.get("/ingestion/api/dags", params={"q": "ui_", "per_page": 1}, headers=admin).json()
    second = client.get("/ingestion/api/dags", params={"q": "ui_", "per_page": 1, "page": 2}, headers=admin).json()
    assert (first["total"], first["pages"], len(first["dags"])) == (5, 5, 1)
    assert first["dags"][0]["dag_id"] == "ui_failing" and second["dags"][0]["dag_id"] == "ui_handwritten"
    assert client.get("/ingestion/api/dags", params={"per_page": 1000}, headers=admin).status_code == 422
    with counting_statements() as one_dag:
        client.get("/ingestion/api/dags", params={"q": "ui_tagged", "per_page": 1}, headers=admin)
    with counting_statements() as one_of_many:
        last = client.get("/ingestion/api/dags", params={"q": "ui_", "per_page": 1, "page": 4}, headers=admin)
    assert [dag["dag_id"] for dag in last.json()["dags"]] == ["ui_tagged"]
    assert len(one_of_many) == len(one_dag)  # the queries depend on the DAGs shown, not on how many match


def test_a_dags_page_lists_its_runs_a_page_at_a_time(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    answer = client.get("/ingestion/api/dag", params={"dag_id": "ui_tagged", "per_page": 1}, headers=admin).json()
    assert (answer["total"], answer["pages"]) == (2, 2)
    assert [run["run_id"] for run in answer["runs"]] == [ui_runs.runs["tagged_again"].run_id]
    second = client.get("/ingestion/api/dag", params={"dag_id": "ui_tagged", "per_page": 1, "page": 2}, headers=admin)
    assert [run["run_id"] for run in second.json()["runs"]] == [ui_runs.runs["tagged"].run_id]
    page = client.get("/ingestion/dag", params={"dag_id": "ui_tagged", "per_page": 1}, headers=admin)
    assert page.status_code == 200 and "page 1 of 2" in page.text
    missing = client.get("/ingestion/api/dag", params={"dag_id": "ui_plain"}, headers=admin)
    assert missing.status_code == 404


def test_a_failed_steps_records_it_did_not_commit_show_as_not_committed(
    client: Any, admin: dict[str, str], ui_runs: Runs
) -> None:
    """The failed processor's task wrote its records but committed none: the runs list says so, as the task's table
    does, not a success rate over records that are not in place."""
    answer = client.get("/ingestion/api/dag", params={"dag_id": "ui_failing"}, headers=admin).json()
    [run] = answer["runs"]
    steps = {step["name"]: step for step in run["steps"]}
    assert steps["tagtables"]["uncommitted"] == steps["tagtables"]["records"] > 0
    assert steps["source"]["uncommitted"] == 0
    assert run["uncommitted"] == steps["tagtables"]["uncommitted"]
    [task] = [
        step
        for step in report(client, admin, ui_runs.runs["failing"]).json()["steps"]
        if step["task_id"] == "tagtables"
    ]
    assert "output: 8 records not committed" in task["status"]["text"]  # the task's own table, as the CLI prints it
    page = client.get("/ingestion/dag", params={"dag_id": "ui_failing"}, headers=admin).text
    assert re.search(r"tagtables <b>[\d,]+</b> <span class=\"bad\">not committed</span>", page)
    assert '<td class="num"><span class="bad">not committed</span></td>' in page


# --- the Ingestion report


def report(client: Any, headers: dict[str, str], dag_run: Any) -> Any:
    return client.get(
        "/ingestion/api/report", params={"dag_id": dag_run.dag_id, "run_id": dag_run.run_id}, headers=headers
    )


def test_the_report_shows_the_cli_table_dead_letters_files_and_changes(
    client: Any, admin: dict[str, str], ui_runs: Runs
) -> None:
    run = ui_runs.runs["tagged"]
    answer = report(client, admin, run)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["state"] == "success" and body["is_ingestion"]

    # the table of every step is the one `airflow-ingest run` prints for the same file (seconds aside)
    cli_lines = ui_runs.cli_tables["ui_tagged"]
    assert [row[:-1] for row in body["status"]["rows"]] == [row[:-1] for row in table_rows(cli_lines)]
    cli_notes = [line for line in cli_lines if line.startswith("  ")]
    assert [line for line in body["status"]["notes"] if line.startswith("  ")] == cli_notes
    assert body["status"]["notes"][-1] == cli_lines[-1] == "run succeeded"

    # each step's own table is its task log's (reader and writer rows included)
    steps = {step["task_id"]: step for step in body["steps"]}
    assert list(steps) == ["source", "filter", "tagtables", "enrich", "sink", "stage", "bulk_sink"]
    assert [row[0] for row in steps["tagtables"]["status"]["rows"]] == ["input", "processor:TagTables", "output"]
    assert steps["tagtables"]["status"]["text"].splitlines()[0].split() == " ".join(HEADER).split()

    # dead letters: the count and first reasons are the dead-letter file's; it can be downloaded
    folder = run_folder(ui_runs, run)
    dead = list(read_dead_letters(str(folder / "tagtables" / "dead_letters.jsonl")))
    assert steps["tagtables"]["failures"] == len(dead)
    assert [(r["fqn"], r["error"]) for r in steps["tagtables"]["reasons"]] == [(d.fqn, d.error) for d in dead]
    assert steps["tagtables"]["dead_letters"]["path"] == "tagtables/dead_letters.jsonl"
    assert steps["source"]["dead_letters"] is None
    for task_id in ("source", "filter", "tagtables", "enrich"):
        assert steps[task_id]["output"]["path"] == f"{task_id}/output.jsonl"
    assert steps["stage"]["output"]["path"] == "stage/staged.jsonl"
    assert steps["sink"]["output"] == {"uri": f"file://{ui_runs.folder}/out/ui_tagged.jsonl", "path": None}

    # what the processors changed, as their reports counted it
    changes = {change["task_id"]: change for change in body["changes"]}
    assert set(changes) == {"filter", "enrich"}
    assert changes["filter"]["filtered"] == 1 and changes["filter"]["counters"] == {"filtered_table": 1}
    assert changes["enrich"]["counters"]["tags_added:Tier.Gold"] == 2
    assert changes["enrich"]["counters"]["descriptions_set"] == 2
    assert [task["task_id"] for task in body["other_tasks"]] == ["cleanup_staging"]

    page = client.get("/ingestion/report", params={"dag_id": run.dag_id, "run_id": run.run_id}, headers=admin)
    assert page.status_code == 200
    for line in body["status"]["notes"]:
        assert line.strip().replace("'", "&#39;") in page.text
    assert (
        'href="files?dag_id=ui_tagged&amp;run_id=' in page.text and "path=tagtables%2Fdead_letters.jsonl" in page.text
    )


def test_the_report_of_a_failed_run_names_the_failing_step(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    run = ui_runs.runs["failing"]
    body = report(client, admin, run).json()
    states = task_states(run)
    steps = {step["task_id"]: step for step in body["steps"]}
    assert {task_id: step["state"] for task_id, step in steps.items()} == {t: states[t] for t in steps}
    assert steps["tagtables"]["state"] == "failed" and steps["enrich"]["state"] == "upstream_failed"
    assert steps["tagtables"]["status"]["text"].splitlines()[-1] == (
        "run failed: success rate below 95% in processor:TagTables"
    )
    assert body["status"]["notes"][-1] == "run failed: success rate below 95% in processor:TagTables"
    cli_rows = {row[0]: row[:-1] for row in table_rows(ui_runs.cli_tables["ui_failing"])}
    assert [row[:-1] for row in body["status"]["rows"]] == [cli_rows[row[0]] for row in body["status"]["rows"]]
    dead = list(read_dead_letters(str(run_folder(ui_runs, run) / "tagtables" / "dead_letters.jsonl")))
    assert steps["tagtables"]["failures"] == len(dead) == 3
    download = client.get(
        "/ingestion/files",
        params={"dag_id": run.dag_id, "run_id": run.run_id, "path": steps["tagtables"]["dead_letters"]["path"]},
        headers=admin,
    )
    assert download.status_code == 200
    assert download.content == (run_folder(ui_runs, run) / "tagtables" / "dead_letters.jsonl").read_bytes()


def test_the_report_of_a_whole_workflow_in_one_task(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    body = report(client, admin, ui_runs.runs["whole"]).json()
    cli_lines = ui_runs.cli_tables["ui_tagged"]
    assert [row[:-1] for row in body["status"]["rows"]] == [row[:-1] for row in table_rows(cli_lines)]
    assert [line for line in body["status"]["notes"] if line.startswith("  ")] == [
        line for line in cli_lines if line.startswith("  ")
    ]
    [step] = body["steps"]
    assert step["task_id"] == "whole" and step["role"] == "workflow" and step["failures"] == 1
    assert {change["component"] for change in body["changes"]} == {"processor:filter", "processor:enrich"}
    assert step["dead_letters"]["path"] == "whole/dead_letters.jsonl"
    answer = download(client, admin, ui_runs.runs["whole"], step["dead_letters"]["path"])
    assert answer.status_code == 200 and [
        letter["error"] for letter in map(json.loads, answer.text.splitlines()[1:-1])
    ] == [reason["error"] for reason in step["reasons"]]


def test_the_report_of_a_dag_without_ingestion_tasks_says_so(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    body = report(client, admin, ui_runs.runs["plain"]).json()
    assert body["is_ingestion"] is False and body["status"] is None and body["steps"] == []
    page = client.get(
        "/ingestion/report",
        params={"dag_id": "ui_plain", "run_id": ui_runs.runs["plain"].run_id},
        headers=admin,
    )
    assert "no ingestion task" in page.text


def test_unknown_runs_and_dags_are_not_found(client: Any, admin: dict[str, str]) -> None:
    assert (
        client.get("/ingestion/api/report", params={"dag_id": "ui_tagged", "run_id": "nope"}, headers=admin).status_code
        == 404
    )
    page = client.get("/ingestion/report", params={"dag_id": "no_such_dag", "run_id": "nope"}, headers=admin)
    assert page.status_code == 404 and "has no run" in page.text
    assert client.get("/ingestion/api/report", params={"dag_id": "ui_tagged"}, headers=admin).status_code == 422


# --- downloads


def download(client: Any, headers: dict[str, str], dag_run: Any, path: str) -> Any:
    return client.get(
        "/ingestion/files", params={"dag_id": dag_run.dag_id, "run_id": dag_run.run_id, "path": path}, headers=headers
    )


def test_every_linked_file_downloads_as_written(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    for key in ("tagged", "handwritten"):
        run = ui_runs.runs[key]
        body = report(client, admin, run).json()
        paths = [step[kind]["path"] for step in body["steps"] for kind in ("output", "dead_letters") if step[kind]]
        paths = [path for path in paths if path]
        assert paths, body
        for path in paths:
            answer = download(client, admin, run, path)
            assert answer.status_code == 200, (path, answer.text)
            assert answer.headers["content-disposition"].startswith("attachment")
            assert answer.content == (run_folder(ui_runs, run) / path).read_bytes()


TRAVERSALS = [
    "../ui_failing",
    "../../../etc/passwd",
    "source/../../other/source/output.jsonl",
    "source/./output.jsonl",
    "source//output.jsonl",
    "/etc/passwd",
    "//etc/passwd",
    "file:///etc/passwd",
    "s3://bucket/key",
    "..\\..\\secret",
    "source\\..\\..\\secret",
    "source/output.jsonl\x00.png",
    ".",
    "..",
    "",
    RUN_MARKER,
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_out_of_the_run_folder_are_refused(client: Any, admin: dict[str, str], ui_runs: Runs, path: str) -> None:
    answer = download(client, admin, ui_runs.runs["tagged"], path)
    assert answer.status_code in (400, 404, 422), (path, answer.status_code)
    assert b"staged_file" not in answer.content and b"root:" not in answer.content


@pytest.mark.parametrize(
    "encoded", ["..%2F..%2Fetc%2Fpasswd", "%2E%2E/%2E%2E/x", "%252e%252e%252fetc", "source%2F..%2F..%2Fx", "%00"]
)
def test_encoded_traversals_are_refused(client: Any, admin: dict[str, str], ui_runs: Runs, encoded: str) -> None:
    run = ui_runs.runs["tagged"]
    query = f"dag_id=ui_tagged&run_id={run.run_id.replace(':', '%3A').replace('+', '%2B')}&path={encoded}"
    answer = client.get(f"/ingestion/files?{query}", headers=admin)
    assert answer.status_code in (400, 404), (encoded, answer.status_code)
    assert b"staged_file" not in answer.content


def test_a_symbolic_link_out_of_the_run_folder_is_refused(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    run = ui_runs.runs["tagged"]
    folder = run_folder(ui_runs, run)
    secret = ui_runs.staging.parent / "secret.txt"
    secret.write_text("not for the UI\n")
    (folder / "source" / "leak.jsonl").symlink_to(secret)
    (folder / "source" / "alias.jsonl").symlink_to(folder / "source" / "output.jsonl")
    (folder / "escape").symlink_to(secret.parent, target_is_directory=True)
    try:
        for path in ("source/leak.jsonl", f"escape/{secret.name}"):
            answer = download(client, admin, run, path)
            assert answer.status_code == 400 and b"not for the UI" not in answer.content, path
        inside = download(client, admin, run, "source/alias.jsonl")  # a link that stays inside is a file of the run
        assert inside.status_code == 200 and inside.content == (folder / "source" / "output.jsonl").read_bytes()
    finally:
        for name in ("source/leak.jsonl", "source/alias.jsonl", "escape"):
            (folder / name).unlink()


def test_a_uri_put_in_xcom_cannot_point_downloads_elsewhere(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    """A run folder counts only if it holds the run marker: an XCom naming another folder (or scheme) gives nothing."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    run = ui_runs.runs["tagged_again"]
    decoy = ui_runs.staging.parent / "decoy" / run.dag_id / run.run_id / "source"
    decoy.mkdir(parents=True)
    (decoy / "output.jsonl").write_text("decoy\n")
    where = (XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id, XComModel.task_id == "source")
    with create_session() as session:
        for row in session.query(XComModel).filter(*where, XComModel.key.in_(["ingest_status", "return_value"])):
            value = json.loads(
                json.dumps(XComModel.deserialize_value(row)).replace(str(ui_runs.staging), str(decoy.parents[2]))
            )
            session.execute(update(XComModel).filter(*where, XComModel.key == row.key).values(value=json.dumps(value)))
    body = report(client, admin, run).json()
    source = next(step for step in body["steps"] if step["task_id"] == "source")
    assert source["output"] == {"uri": str(decoy / "output.jsonl"), "path": None}  # shown, not linked
    answer = download(client, admin, run, "source/output.jsonl")
    assert answer.status_code == 200 and answer.content != b"decoy\n"  # the real run folder's file
    assert answer.content == (run_folder(ui_runs, run) / "source" / "output.jsonl").read_bytes()


@contextlib.contextmanager
def xcom_replaced(dag_run: Any, task_id: str, key: str, value: Any) -> Iterator[None]:
    """A task's XCom ``key`` holds ``value`` (as one written through Airflow's API would), then its own again."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    where = (XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.task_id == task_id)
    with create_session() as session:
        [row] = session.query(XComModel).filter(*where, XComModel.key == key)
        before = row.value
        session.execute(update(XComModel).filter(*where, XComModel.key == key).values(value=json.dumps(value)))
    try:
        yield
    finally:
        with create_session() as session:
            session.execute(update(XComModel).filter(*where, XComModel.key == key).values(value=before))


def test_a_huge_status_in_xcom_gives_a_page_of_bounded_size(client: Any, admin: dict[str, str], ui_runs: Runs) -> None:
    run = ui_runs.runs["tagged"]
    small = {
        "component": "processor:x",
        "records": 1,
        "failure_count": 50,
        "failures": [{"fqn": "t", "error": "e"}] * 50,
    }
    large = {"component": "processor:" + "n" * 300_000, "counters": {f"tags_added:{n}": n for n in range(10_000)}}
    status = {"version": 1, "reports": [large] + [small] * 299, "threshold": 50.0}  # 0.6 MB: 92 MB of page before

    with xcom_replaced(run, "source", "ingest_status", status):
        page = client.get("/ingestion/report", params={"dag_id": run.dag_id, "run_id": run.run_id}, headers=admin)

    assert page.status_code == 200 and len(page.content) < 3_000_000
    assert "n" * 300 not in page.text and "tags_added:9999" not in page.text


# --- who may see what


def test_anonymous_requests_are_refused(client: Any, ui_runs: Runs) -> None:
    run = ui_runs.runs["tagged"]
    query = {"dag_id": run.dag_id, "run_id": run.run_id}
    client.cookies.clear()
    for page, params in (("/ingestion/", {}), ("/ingestion/dag", {"dag_id": run.dag_id}), ("/ingestion/report", query)):
        answer = client.get(page, params=params, follow_redirects=False)
        assert answer.status_code == 302, page
        assert answer.headers["location"].startswith("/auth/login?next=")
        assert run.run_id not in answer.text
    for api, params in (
        ("/ingestion/api/dags", {}),
        ("/ingestion/api/report", query),
        ("/ingestion/files", {**query, "path": "source/output.jsonl"}),
    ):
        answer = client.get(api, params=params)
        assert answer.status_code == 401 and "staged_file" not in answer.text, api
    forged = {"Authorization": "Bearer " + "e30." * 2 + "x"}
    assert client.get("/ingestion/api/dags", headers=forged).status_code in (401, 403)


def test_the_ui_cookie_signs_in(client: Any, ui_runs: Runs) -> None:
    client.cookies.set("_token", token("viewer", "VIEWER"))
    try:
        answer = client.get("/ingestion/", params={"q": "ui_tagged"})
        assert answer.status_code == 200 and 'data-dag-id="ui_tagged"' in answer.text
    finally:
        client.cookies.clear()


def test_a_user_without_a_role_sees_nothing(client: Any, ui_runs: Runs) -> None:
    nobody = as_user("nobody", None)
    run = ui_runs.runs["tagged"]
    listing = client.get("/ingestion/api/dags", headers=nobody).json()
    assert (listing["total"], listing["dags"]) == (0, [])
    for answer in (
        report(client, nobody, run),
        client.get("/ingestion/api/dag", params={"dag_id": run.dag_id}, headers=nobody),
        download(client, nobody, run, "source/output.jsonl"),
        client.get("/ingestion/report", params={"dag_id": run.dag_id, "run_id": run.run_id}, headers=nobody),
    ):
        assert answer.status_code == 403
        assert run.run_id not in answer.text and "staged_file" not in answer.text


def test_a_user_of_another_team_sees_nothing_of_its_dag(client: Any, ui_runs: Runs) -> None:
    secret = ui_runs.runs["secret"]
    with team_owned("ui_secret", team="finance", bundle="ui_finance_bundle", other_teams=("ingest",)):
        alice = as_user("alice", "VIEWER", ["ingest"])
        bob = as_user("bob", "VIEWER", ["finance"])
        listed = {
            dag["dag_id"]
            for dag in client.get("/ingestion/api/dags", params={"q": "ui_"}, headers=alice).json()["dags"]
        }
        assert listed == {"ui_tagged", "ui_failing", "ui_handwritten", "ui_whole"}
        for answer in (
            report(client, alice, secret),
            client.get("/ingestion/api/dag", params={"dag_id": "ui_secret"}, headers=alice),
            client.get("/ingestion/dag", params={"dag_id": "ui_secret"}, headers=alice),
            download(client, alice, secret, "source/output.jsonl"),
        ):
            assert answer.status_code == 403
            assert secret.run_id not in answer.text and "staged_file" not in answer.text
        assert report(client, alice, ui_runs.runs["tagged"]).status_code == 200  # her other DAGs stay readable

        bobs = client.get("/ingestion/api/dags", params={"q": "ui_"}, headers=bob).json()["dags"]
        assert "ui_secret" in {dag["dag_id"] for dag in bobs}
        assert report(client, bob, secret).status_code == 200
        assert download(client, bob, secret, "source/output.jsonl").status_code == 200
