"""The sample usage workflow (dags/sample_shop_usage.yaml): from the CLI, as a generated DAG under ``dag.test()``
with one task per step, and into the strict OpenMetadata test server after the sample's catalog."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from airflow_provider_ingest.records import Lineage, TableUsage, fqn
from airflow_provider_ingest.samples import sample_query_log_path
from airflow_provider_ingest.staging import read_records
from airflow_provider_ingest.usage.parser import QueryParseError, parse_query

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / "dags" / "sample_shop_usage.yaml"
STEPS = ["source", "query_parser", "stage", "bulk_sink"]


def expected_usage() -> tuple[Counter[tuple[str, str]], set[tuple[str, str]]]:
    """From the CSV alone, with the parser: the count per (table FQN, day) and the lineage edges."""
    counts: Counter[tuple[str, str]] = Counter()
    edges: set[tuple[str, str]] = set()
    with sample_query_log_path().open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["aborted"] == "true":
                continue
            try:
                parsed = parse_query(row["query_text"], "sqlite", default_database="shop", default_schema="main")
            except QueryParseError:
                continue
            day = datetime.fromisoformat(row["start_time"]).date().isoformat()
            names = {fqn.build("sample_shop", t.database, t.schema, t.name) for t in parsed.source_tables}  # type: ignore[arg-type]
            targets = {fqn.build("sample_shop", t.database, t.schema, t.name) for t in parsed.target_tables}  # type: ignore[arg-type]
            for table in names | targets:
                counts[(table, day)] += 1
            edges |= {(source, target) for source in names for target in targets if source != target}
    return counts, edges


def published(path: Path) -> tuple[Counter[tuple[str, str]], set[tuple[str, str]]]:
    records = list(read_records(str(path)))
    counts = Counter({(r.table, r.date.isoformat()): r.count for r in records if isinstance(r, TableUsage)})
    edges = {(r.from_table, r.to_table) for r in records if isinstance(r, Lineage)}
    return counts, edges


def test_the_cli_runs_the_sample_usage_workflow_and_its_counts_match_the_query_log(tmp_path: Path) -> None:
    shutil.copytree(REPO / "dags", tmp_path / "dags")
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_ingest.cli", "run", "dags/sample_shop_usage.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "run succeeded" in done.stderr + done.stdout
    counts, edges = published(tmp_path / "output" / "sample_shop_usage.jsonl")
    expected_counts, expected_edges = expected_usage()
    assert counts == expected_counts
    assert edges == expected_edges
    assert ("sample_shop.shop.main.payments", "sample_shop.shop.main.daily_sales") in edges
    assert len(counts) > 50 and sum(counts.values()) > 400


@pytest.mark.airflow
def test_the_generated_dag_has_one_task_per_step_and_publishes_the_same_file(dags_folder: Path, tmp_path: Path) -> None:
    from support.dags import run_dag, task_states, xcoms

    output = tmp_path / "usage.jsonl"
    text = WORKFLOW.read_text().replace("../output/sample_shop_usage.jsonl", str(output))
    (dags_folder / "sample_shop_usage.yaml").write_text(text + f"workflow:\n  staging_root: {tmp_path / 'staging'}\n")
    dag_run = run_dag(dags_folder, "sample_shop_usage")
    assert task_states(dag_run) == dict.fromkeys([*STEPS, "cleanup_staging"], "success")
    results = xcoms(dag_run)
    assert results["query_parser"]["summary"]["warnings"] == 3  # the log's deliberate garbage
    expected_counts, expected_edges = expected_usage()
    assert published(output) == (expected_counts, expected_edges)
    assert results["bulk_sink"]["records"] == len(expected_counts) + len(expected_edges)


@pytest.mark.airflow
def test_the_sample_usage_reaches_the_strict_openmetadata_server_after_the_catalog(
    dags_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from om_server import TOKEN, serve
    from support.dags import run_dag, task_states, xcoms
    from support.sql import extract
    from test_openmetadata_bulk import letters, om_report, run

    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    catalog, _ = extract({"sample": "shop", "include_view_lineage": True}, tmp_path / "catalog")
    with serve() as server:
        result = run(tmp_path / "catalog_run", server, catalog, "bulk_sink")
        assert result.success and om_report(result).failure_count == 0, letters(result)
        settings = f'{{server_url: "{server.url}/api", jwt_token: "${{OM_TEST_TOKEN}}", backoff_factor: 0.01}}'
        text = WORKFLOW.read_text().replace(
            "  type: file\n  config:\n    path: ../output/sample_shop_usage.jsonl",
            f"  type: openmetadata\n  config: {settings}",
        )
        (dags_folder / "sample_shop_usage.yaml").write_text(text + f"workflow:\n  staging_root: {tmp_path / 's'}\n")
        dag_run = run_dag(dags_folder, "sample_shop_usage")
        assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
        bulk = xcoms(dag_run)["bulk_sink"]
        expected_counts, expected_edges = expected_usage()
        assert bulk["failures"] == 0
        assert bulk["records"] == len(expected_counts) + len(expected_edges)
        assert server.usage == {key: count for key, count in expected_counts.items()}
        assert expected_edges <= set(server.lineage)
        assert server.queries, "the frequent queries are published"
        assert all(call.status < 400 for call in server.calls if call.method in ("PUT", "POST")), [
            (call.method, call.path, call.status) for call in server.calls if call.status >= 400
        ]
