"""The "Ingestion" pages in a real browser: headless Chromium against ``airflow standalone``.

Signs in through Airflow's login form, runs ``dags/sample_shop.yaml`` (and a variant with processors and a
refused record) under the scheduler, then opens the "Ingestion" entry of the navigation bar and the
"Ingestion report" tab of a DAG run, checks what they show against the runs' own files and against
``airflow-ingest run``, downloads a dead-letter file from the page, and saves screenshots (to
``$INGEST_UI_SCREENSHOTS`` when set, else the test's temporary folder).

Opt-in: needs Chromium (Debian: ``apt-get install chromium``); skipped with the reason where it is missing.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.airflow_processes import AirflowProcesses, airflow_env
from support.browser import Browser, find_chromium
from support.dags import LOADER, REPO

from airflow_provider_ingest.cli import main as cli
from airflow_provider_ingest.staging import read_dead_letters

pytestmark = pytest.mark.airflow

BUDGET = 900.0
"""Seconds the whole test may take, start-up included."""

ENRICHED = """\
description: The sample shop, filtered, tagged (payments refused) and enriched.
source:
  type: sql
  config: {sample: shop}
processors:
  - type: filter
    config:
      fqn: {exclude: ['.*\\.daily_revenue']}
  - type: support.components:TagTables
    config: {fail_on: [payments]}
  - type: enrich
    config:
      rules:
        - fqn: '.*\\.(orders|customers)'
          description: Orders and the people who place them.
          overwrite: true
          tags: [Tier.Gold]
sink:
  type: file
  config: {path: ../output/shop_enriched.jsonl}
stage: {type: file}
bulk_sink:
  type: file
  config: {path: ../output/shop_enriched_published.jsonl}
workflow:
  success_threshold: 50
  staging_root: STAGING
airflow:
  dag_id: shop_enriched
  schedule: null
  retries: 0
  tags: [sample]
"""


@dataclass(frozen=True)
class Standalone:
    """``airflow standalone`` signed in as its admin, and its users' passwords."""

    airflow: AirflowProcesses
    passwords: dict[str, str]


def chromium_or_skip() -> str:
    found = find_chromium()
    if found is None:
        pytest.skip("opt-in: Chromium is not installed (/usr/bin/chromium; Debian: apt-get install chromium)")
    pytest.importorskip("websockets.sync.client", reason="websockets (installed with Airflow) drives Chromium")
    return found


def run_dag(airflow: AirflowProcesses, dag_id: str, runs: int = 1) -> str:
    """Unpause ``dag_id`` and trigger it ``runs`` times; wait for every run to succeed; the last run's id."""
    airflow.unpause(dag_id)
    run_ids = [airflow.trigger(dag_id) for _ in range(runs)]

    def states() -> list[str] | None:  # a scheduled run that unpausing started included
        found = [run["state"] for run in airflow.call("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]]
        return found if all(state in ("success", "failed") for state in found) else None

    assert set(airflow.wait_for(f"every run of {dag_id} to end", states)) == {"success"}, airflow.logs()
    return run_ids[-1]


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Standalone]:
    """``airflow standalone`` (SQLite, LocalExecutor, SimpleAuthManager with two users) on a free port."""
    home = tmp_path / "home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    shutil.copy(LOADER, dags / LOADER.name)
    shutil.copy(REPO / "dags" / "sample_shop.yaml", dags / "sample_shop.yaml")
    (dags / "shop_enriched.yaml").write_text(ENRICHED.replace("STAGING", str(tmp_path / "staging")))
    passwords = {"admin": "admin-" + secrets.token_hex(6), "viewer": "viewer-" + secrets.token_hex(6)}
    (home / "passwords.json").write_text(json.dumps(passwords))
    env = airflow_env(
        home,
        f"sqlite:///{home}/airflow.db",
        "LocalExecutor",
        HOME=str(home),  # the sample's default staging root, ~/.airflow-ingest/staging, lands here
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="False",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__CORE__PARALLELISM="4",
    )
    with AirflowProcesses(home, env, BUDGET, stop_timeout=30.0) as airflow:
        airflow.start("standalone", "standalone", cwd=home)
        airflow.wait_until_serving("standalone")
        airflow.sign_in(airflow.call("POST", "/auth/token", json={"username": "admin", "password": passwords["admin"]}))
        yield Standalone(airflow, passwords)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium = chromium_or_skip()
    opened = Browser(chromium, tmp_path / "chromium")
    try:
        yield opened
    finally:
        opened.close()


def screenshots(tmp_path: Path) -> Path:
    return Path(os.environ.get("INGEST_UI_SCREENSHOTS") or tmp_path / "screenshots")


FRAME = "document.querySelector('iframe')"
FRAME_TEXT = f"(f => f && f.contentDocument && f.contentDocument.body ? f.contentDocument.body.innerText : '')({FRAME})"


def frame(expression: str) -> str:
    """A JavaScript expression evaluated on the plugin's iframe document (``doc``)."""
    return f"(doc => {expression})({FRAME}.contentDocument)"


def cli_lines(workflow: Path, staging: Path) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli(["run", str(workflow), "--quiet", "--run-id", "cli"])
    return out.getvalue().splitlines()


def test_the_ingestion_pages_in_a_browser(browser: Browser, standalone: Standalone, tmp_path: Path) -> None:
    chromium_or_skip()
    shots = screenshots(tmp_path)
    url = standalone.airflow.url

    # anonymous: the page sends the browser to Airflow's login form
    browser.navigate(f"{url}/ingestion/")
    browser.wait_for("location.pathname.endsWith('/auth/login') && !!document.querySelector('input[name=password]')",
                     "the login form")  # fmt: skip
    assert "next=" in browser.evaluate("location.search")

    sample_run = run_dag(standalone.airflow, "sample_shop")
    enriched_run = run_dag(standalone.airflow, "shop_enriched", runs=3)

    # sign in as a user does; the form sends the browser back to the Ingestion page
    browser.type_into("input[name=username]", "admin")
    browser.type_into("input[name=password]", standalone.passwords["admin"])
    browser.evaluate("document.querySelector('button[type=submit]').click()")
    browser.wait_for("location.pathname === '/ingestion/'", "the Ingestion page after signing in")

    # the navigation bar's "Ingestion" entry shows the plugin's page in Airflow's UI
    browser.navigate(f"{url}/")
    link = "[...document.querySelectorAll('a')].find(a => a.innerText.trim() === 'Ingestion')"
    browser.wait_for(f"!!{link}", "the Ingestion entry of the navigation bar")
    browser.evaluate(f"{link}.click()")
    browser.wait_for(f"{FRAME_TEXT}.includes('shop_enriched') && {FRAME_TEXT}.includes('sample_shop')",
                     "the Ingestion page in Airflow's UI")  # fmt: skip
    assert browser.evaluate("location.pathname").startswith("/plugin/ingestion")
    sample_records = standalone.airflow.xcom("sample_shop", sample_run, "source", "records")
    sample_card = browser.evaluate(frame("doc.querySelector('[data-dag-id=sample_shop]').innerText"))
    assert sample_run in sample_card and "success" in sample_card
    assert re.search(rf"source {sample_records}\s+sink {sample_records}\s", sample_card), sample_card
    runs = standalone.airflow.call("GET", "/api/v2/dags/sample_shop/dagRuns")["dag_runs"]
    finished = [run for run in runs if run["state"] in ("success", "failed")]
    succeeded = sum(run["state"] == "success" for run in finished)
    assert f"{succeeded} of {len(finished)} finished runs succeeded" in sample_card
    assert browser.evaluate(frame("doc.querySelectorAll('[data-dag-id=sample_shop] svg.chart g').length")) == len(runs)
    browser.screenshot(shots / "ui-ingestion.png")

    # the DAG run page's "Ingestion report" tab: the status table of every step, as airflow-ingest run prints it
    browser.navigate(f"{url}/dags/shop_enriched/runs/{enriched_run}")
    tab = "[...document.querySelectorAll('a, button')].find(e => e.innerText.trim() === 'Ingestion report')"
    browser.wait_for(f"!!{tab}", "the Ingestion report tab of the run")
    browser.evaluate(f"{tab}.click()")
    browser.wait_for(f"{FRAME_TEXT}.includes('Status of every step')", "the run's Ingestion report")
    rows = browser.evaluate(
        frame("[...doc.querySelectorAll('table.status tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
    )
    expected = cli_lines(standalone.airflow.home / "dags" / "shop_enriched.yaml", tmp_path / "staging")
    table = [line.split() for line in expected[1 : 1 + len(rows)]]
    assert [row[:-1] for row in rows] == [row[:-1] for row in table]  # seconds differ between two runs
    text = browser.evaluate(FRAME_TEXT)
    for note in (line.strip() for line in expected if line.startswith("  ")):
        assert note in text, (note, text)
    assert expected[-1] == "run succeeded" and "run succeeded" in text

    dead_letters = tmp_path / "staging" / "shop_enriched" / enriched_run / "tagtables" / "dead_letters.jsonl"
    letters = list(read_dead_letters(str(dead_letters)))
    failed = browser.evaluate(frame("doc.querySelector('#dead-letters + table tbody tr').innerText"))
    assert str(len(letters)) in failed and all(letter.error in failed for letter in letters[:5]), failed
    fetched = browser.evaluate(
        frame(
            "fetch(doc.querySelector('#dead-letters + table a[download]').href)"
            ".then(r => r.text().then(t => [r.status, r.headers.get('content-disposition'), t]))"
        )
    )
    assert fetched[0] == 200 and fetched[1].startswith("attachment") and fetched[2] == dead_letters.read_text()
    browser.screenshot(shots / "ui-report.png")

    # the sample's own report, from its run page
    browser.navigate(f"{url}/dags/sample_shop/runs/{sample_run}/plugin/ingestion-report")
    browser.wait_for(f"{FRAME_TEXT}.includes('Status of every step')", "the sample run's Ingestion report")
    cells = "[...doc.querySelectorAll('table.status tbody tr')].map(r => [r.cells[0].innerText, r.cells[1].innerText])"
    sample_rows = [" ".join(row) for row in browser.evaluate(frame(cells))]
    assert sample_rows == [
        f"{step} {sample_records}" for step in ("source:sql", "sink:file", "stage:file", "bulk_sink:file")
    ]
    browser.screenshot(shots / "ui-report-sample.png")
    assert all((shots / name).stat().st_size > 10_000 for name in ("ui-ingestion.png", "ui-report.png"))
