"""Generated and hand-written DAGs run with ``dag.test()``: staged files between tasks, URIs in XCom."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from support.dags import REPO, dag_bag, mapped_xcoms, run_dag, task_states, xcoms

from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Record, Table, dump_record
from airflow_provider_ingest.staging import read_dead_letters, read_records

pytestmark = pytest.mark.airflow

TABLES = ["customers", "orders", "payments", "refunds"]
XCOM_KEYS = {"uri", "records", "failures", "dead_letter_uri", "summary"}


def catalog() -> list[Record]:
    """A service, a database, a schema and its tables."""
    parents: list[Record] = [
        DatabaseService(name="shop", service_type="Postgres"),
        Database(service="shop", name="sales"),
        DatabaseSchema(service="shop", database="sales", name="public"),
    ]
    return parents + [Table(service="shop", database="sales", database_schema="public", name=t) for t in TABLES]


@pytest.fixture
def records_file(tmp_path: Path) -> Path:
    """The catalog as plain JSON Lines, the file source's input."""
    path = tmp_path / "input" / "catalog.jsonl"
    path.parent.mkdir()
    path.write_text("".join(dump_record(record) + "\n" for record in catalog()))
    return path


def workflow_yaml(tmp_path: Path, records_file: Path, dag_id: str, *, processor: str = "{}", extra: str = "") -> str:
    """File source -> TagTables -> file sink, and stage -> file bulk sink, staged under ``tmp_path``."""
    return f"""\
source:
  type: file
  config: {{path: {records_file}, format: jsonl}}
processors:
  - type: support.components:TagTables
    config: {processor}
sink:
  type: file
  config: {{path: {tmp_path}/out/{dag_id}.jsonl}}
stage: {{type: file}}
bulk_sink:
  type: file
  config: {{path: {tmp_path}/out/{dag_id}_published.jsonl}}
workflow:
  staging_root: {tmp_path}/staging
{extra}airflow:
  dag_id: {dag_id}
  retries: 0
"""


def names(uri: str | Path) -> list[tuple[str, str, list[str]]]:
    """(kind, name, tags) of each record of a staged file, in file order."""
    return [(r.kind, r.name, [t.tag_fqn for t in r.tags]) for r in read_records(str(uri))]


def run_folder(staging: Path, dag_id: str, run_id: str) -> Path:
    """Where a run's staged files are: the run id as it is, ``manual__...+00:00`` included."""
    return staging / dag_id / run_id


def test_generated_dag_passes_staged_file_uris_through_xcom(
    dags_folder: Path, tmp_path: Path, records_file: Path
) -> None:
    (dags_folder / "copy.yaml").write_text(workflow_yaml(tmp_path, records_file, "copy", processor="{drop: [refunds]}"))

    dag_run = run_dag(dags_folder, "copy")

    assert task_states(dag_run) == dict.fromkeys(
        ["source", "tagtables", "sink", "stage", "bulk_sink", "cleanup_staging"], "success"
    )
    results = xcoms(dag_run)
    run = run_folder(tmp_path / "staging", "copy", dag_run.run_id)
    assert results["source"] == {
        "uri": str(run / "source" / "output.jsonl"),
        "records": 7,
        "failures": 0,
        "dead_letter_uri": None,
        "summary": results["source"]["summary"] | {"component": "source:file", "records": 7, "success_rate": 100.0},
    }
    assert results["tagtables"]["uri"] == str(run / "tagtables" / "output.jsonl")
    assert results["tagtables"]["records"] == 7 and results["tagtables"]["summary"]["filtered"] == 1
    assert results["stage"]["uri"] == str(run / "stage" / "staged.jsonl")
    for task_id in ("sink", "bulk_sink"):
        assert results[task_id]["records"] == 6 and results[task_id]["failures"] == 0
    for value in results.values():
        assert value == [] or set(value) == XCOM_KEYS
    assert "customers" not in json.dumps(results)  # URIs and counts only, never records

    expected = [
        ("database_service", "shop", []),
        ("database", "sales", []),
        ("database_schema", "public", []),
        *[("table", name, ["Test.Tagged"]) for name in TABLES[:3]],
    ]
    assert names(run / "source" / "output.jsonl") == [(k, n, []) for k, n, _ in expected] + [("table", "refunds", [])]
    assert names(run / "tagtables" / "output.jsonl") == expected
    assert names(tmp_path / "out" / "copy.jsonl") == expected
    assert names(tmp_path / "out" / "copy_published.jsonl") == expected


def test_a_retried_task_reproduces_its_output(dags_folder: Path, tmp_path: Path, records_file: Path) -> None:
    (dags_folder / "again.yaml").write_text(workflow_yaml(tmp_path, records_file, "again"))
    dag_run = run_dag(dags_folder, "again")
    results = xcoms(dag_run)
    run = run_folder(tmp_path / "staging", "again", dag_run.run_id)
    outputs = {"tagtables": run / "tagtables" / "output.jsonl", "stage": run / "stage" / "staged.jsonl"}
    outputs["bulk_sink"] = tmp_path / "out" / "again_published.jsonl"
    before = {task_id: path.read_bytes() for task_id, path in outputs.items()}
    dag = dag_bag(dags_folder).dags["again"]

    for task_id, upstream in [("tagtables", "source"), ("stage", "tagtables"), ("bulk_sink", "stage")]:
        task = dag.get_task(task_id)
        task.input_uri = results[upstream]["uri"]  # what Airflow renders the upstream XComArg to
        pushed: dict[str, Any] = {}
        ti = SimpleNamespace(dag_id="again", run_id=dag_run.run_id, task_id=task_id, map_index=-1)
        ti.xcom_push = lambda key, value, into=pushed: into.update({key: value})
        again = task.execute({"ti": ti})
        assert pushed["ingest_status"]["dead_letter_uri"] == again["dead_letter_uri"]  # the UI's status, kept too
        assert outputs[task_id].read_bytes() == before[task_id], task_id  # byte for byte
        assert _without_elapsed(again) == _without_elapsed(results[task_id])
    assert sorted(path.name for path in (run / "tagtables").iterdir()) == ["output.jsonl"]  # no partial left over


def _without_elapsed(result: dict[str, Any]) -> dict[str, Any]:
    return result | {"summary": {k: v for k, v in result["summary"].items() if k != "elapsed"}}


def test_a_task_below_the_success_threshold_fails_and_keeps_dead_letters(
    dags_folder: Path, tmp_path: Path, records_file: Path
) -> None:
    fail = "{fail_on: [orders, payments, refunds]}"
    (dags_folder / "strict.yaml").write_text(workflow_yaml(tmp_path, records_file, "strict", processor=fail))

    dag_run = run_dag(dags_folder, "strict")

    assert task_states(dag_run) == {
        "source": "success",
        "tagtables": "failed",
        "sink": "upstream_failed",
        "stage": "upstream_failed",
        "bulk_sink": "upstream_failed",
        "cleanup_staging": "success",
    }
    assert str(dag_run.state) == "failed", "the run fails with its failed step, whatever the cleanup teardown did"
    letters = list(
        read_dead_letters(
            str(run_folder(tmp_path / "staging", "strict", dag_run.run_id) / "tagtables" / "dead_letters.jsonl")
        )
    )
    assert [(letter.fqn, letter.error) for letter in letters] == [
        (f"shop.sales.public.{name}", f"ValueError: refusing {name}") for name in TABLES[1:]
    ]
    assert [letter.record["name"] for letter in letters] == TABLES[1:]
    assert not (tmp_path / "out" / "strict.jsonl").exists()


def test_a_sink_below_the_threshold_stops_the_stage_and_the_bulk_sink(
    dags_folder: Path, tmp_path: Path, records_file: Path
) -> None:
    """The sink and the stage both follow the last processor; a failed sink fails the run, so nothing is staged or
    published, as in the CLI (the stage and the bulk sink ran beside it and published)."""
    journal = tmp_path / "journal.txt"
    text = workflow_yaml(tmp_path, records_file, "sink_fails").replace(
        f"  type: file\n  config: {{path: {tmp_path}/out/sink_fails.jsonl}}",
        f"  type: support.components:JournalSink\n  config: {{journal: '{journal}', fail_on: [orders, payments]}}",
    )
    (dags_folder / "sink_fails.yaml").write_text(text)

    dag_run = run_dag(dags_folder, "sink_fails")

    assert task_states(dag_run) == {
        "source": "success",
        "tagtables": "success",
        "sink": "failed",
        "stage": "upstream_failed",
        "bulk_sink": "upstream_failed",
        "cleanup_staging": "success",
    }
    assert not (tmp_path / "out" / "sink_fails_published.jsonl").exists()


def test_a_typed_setting_given_as_a_template_is_rendered_by_its_task(dags_folder: Path, tmp_path: Path) -> None:
    """``sample_rows: "{{ params.n }}"`` is a number only once the task renders it: the DAG is built (it was an
    import error, "Input should be a valid integer"), and the task samples ``n`` rows."""
    out = tmp_path / "out" / "sampled.jsonl"
    (dags_folder / "sampled.yaml").write_text(
        "source: {type: sql, config: {sample: shop, sample_rows: '{{ params.n }}',"
        " table_filter: {include: [orders]}}}\n"
        f"sink: {{type: file, config: {{path: '{out}', keep_samples: true}}}}\n"
        f"workflow: {{staging_root: '{tmp_path / 'staging'}'}}\n"
        "airflow: {retries: 0, params: {n: 2}}\n"
    )
    dag_run = run_dag(dags_folder, "sampled")
    assert task_states(dag_run) == {"source": "success", "sink": "success", "cleanup_staging": "success"}
    [orders] = [record for record in read_records(str(out)) if record.kind == "table"]
    assert max(len(column.samples) for column in orders.columns) == 2  # distinct values of 2 rows
    handed_over = [r for r in read_records(xcoms(dag_run)["source"]["uri"]) if r.kind == "table"]
    assert any(column.samples for table in handed_over for column in table.columns)  # the sink keeps them


def test_a_task_hands_column_samples_only_to_a_task_that_reads_them(dags_folder: Path, tmp_path: Path) -> None:
    """Samples are raw values of the user's tables: outputs that no ``pii`` processor reads, here a source's read by
    a ``filter`` and the filter's by a sink, are written without them (the run folder is served for download);
    those on the way to a ``pii`` keep them (test_processors_dag.py; every shape: test_sample_handoff.py)."""
    out = tmp_path / "out" / "unsampled.jsonl"
    (dags_folder / "unsampled.yaml").write_text(
        "source: {type: sql, config: {sample: shop, sample_rows: 5, table_filter: {include: [customers]}}}\n"
        "processors: [{type: filter}]\n"
        f"sink: {{type: file, config: {{path: '{out}'}}}}\n"
        f"workflow: {{staging_root: '{tmp_path / 'staging'}'}}\n"
        "airflow: {retries: 0}\n"
    )
    dag_run = run_dag(dags_folder, "unsampled")
    assert task_states(dag_run) == dict.fromkeys(["source", "filter", "sink", "cleanup_staging"], "success")
    for task_id in ("source", "filter"):
        *lines, end = Path(xcoms(dag_run)[task_id]["uri"]).read_bytes().splitlines()
        assert b'"customers"' in b"".join(lines) and b"samples" not in b"".join(lines), task_id
        assert json.loads(end)["samples_left_out"] is True, task_id  # the customers table's, left out by the source
    *lines, end = out.read_bytes().splitlines()
    assert b"samples" not in b"".join(lines) and json.loads(end)["samples_left_out"] is True


def test_a_generated_dag_filtering_a_sampled_source_writes_files_its_tasks_read(
    dags_folder: Path, tmp_path: Path
) -> None:
    """The source's output lost the samples of nine tables and the filter kept one table: its output says samples
    were lost (a count of them outnumbered its records, a trailer the sink task refused; outside review)."""
    (dags_folder / "narrowed.yaml").write_text(
        "source: {type: sql, config: {sample: shop, sample_rows: 5}}\n"
        "processors: [{type: filter, config: {fqn: {include: ['.*\\.customers']}}}]\n"
        f"sink: {{type: file, config: {{path: '{tmp_path / 'out.jsonl'}'}}}}\n"
        f"workflow: {{staging_root: '{tmp_path / 'staging'}'}}\n"
        "airflow: {retries: 0}\n"
    )
    dag_run = run_dag(dags_folder, "narrowed")
    assert task_states(dag_run) == dict.fromkeys(["source", "filter", "sink", "cleanup_staging"], "success")
    assert [name for _, name, _ in names(tmp_path / "out.jsonl")][-1] == "customers"


TEMPLATED_PII = """\
import datetime

from airflow.sdk import DAG

from airflow_provider_ingest.airflow.operators import IngestProcessorOperator, IngestSinkOperator, IngestSourceOperator

with DAG("templated_pii", schedule=None, start_date=datetime.datetime(2025, 1, 1)):
    source = IngestSourceOperator(
        task_id="source", type="sql", config={"sample": "shop", "sample_rows": 5}, staging_root="ROOT", retries=0
    )
    sink = IngestSinkOperator(
        task_id="sink", type="file", config={"path": "OUT"}, input_uri=source.output["uri"], staging_root="ROOT"
    )
    pii = IngestProcessorOperator(
        task_id="pii",
        type="pii",
        input_uri="{{ ti.xcom_pull(task_ids='source')['uri'] }}",
        staging_root="ROOT",
        retries=0,
    )
    sink >> pii
"""


def test_a_pii_task_handed_an_output_without_samples_by_a_template_fails(dags_folder: Path, tmp_path: Path) -> None:
    """The pii task reads the source's output through a template, not as its downstream: the source wrote it without
    samples (its only downstream task, a file sink, uses none), so the pii task fails rather than tag by names only."""
    text = TEMPLATED_PII.replace("ROOT", str(tmp_path / "staging")).replace("OUT", str(tmp_path / "out.jsonl"))
    (dags_folder / "templated_pii.py").write_text(text)
    dag_run = run_dag(dags_folder, "templated_pii")
    assert task_states(dag_run) == {"source": "success", "sink": "success", "pii": "failed"}
    handed_over = Path(xcoms(dag_run)["source"]["uri"])
    assert json.loads(handed_over.read_text().splitlines()[-1])["samples_left_out"] is True
    assert "pii" not in xcoms(dag_run)


def test_failures_above_the_threshold_are_reported_not_fatal(
    dags_folder: Path, tmp_path: Path, records_file: Path
) -> None:
    text = workflow_yaml(tmp_path, records_file, "lenient", processor="{fail_on: [refunds]}")
    (dags_folder / "lenient.yaml").write_text(
        text.replace("  staging_root:", "  success_threshold: 80\n  staging_root:")
    )

    dag_run = run_dag(dags_folder, "lenient")

    assert set(task_states(dag_run).values()) == {"success"}
    result = xcoms(dag_run)["tagtables"]
    assert (result["records"], result["failures"]) == (6, 1)
    assert result["summary"]["success_rate"] == 85.71
    assert [letter.fqn for letter in read_dead_letters(result["dead_letter_uri"])] == ["shop.sales.public.refunds"]
    assert len(names(tmp_path / "out" / "lenient.jsonl")) == 6


HAND_WRITTEN = """\
import datetime

from airflow.sdk import DAG

from airflow_provider_ingest.airflow.operators import (
    IngestProcessorOperator,
    IngestSinkOperator,
    IngestSourceOperator,
    IngestWorkflowOperator,
)

with DAG(
    "hand_written",
    schedule=None,
    start_date=datetime.datetime(2025, 1, 1),
    params={"out": "OUT", "root": "ROOT"},
):
    source = IngestSourceOperator(
        task_id="extract", type="file", config={"path": "INPUT", "format": "jsonl"}, staging_root="{{ params.root }}"
    )
    tag = IngestProcessorOperator(
        task_id="tag",
        type="support.components:TagTables",
        config={"tag": "Run.{{ dag_run.dag_id }}"},
        input_uri=source.output["uri"],
        staging_root="{{ params.root }}",
    )
    IngestSinkOperator(
        task_id="write",
        type="file",
        config={"path": "{{ params.out }}/tagged.jsonl"},
        input_uri=tag.output,
        staging_root="{{ params.root }}",
    )
    each = IngestProcessorOperator.partial(
        task_id="tag_each", type="support.components:TagTables", input_uri=source.output["uri"], staging_root="ROOT"
    ).expand(config=[{"tag": "Map.A"}, {"tag": "Map.B", "drop": ["orders"]}])
    IngestWorkflowOperator(task_id="whole", workflow_file="WORKFLOW")
"""


def test_operators_in_a_hand_written_dag(dags_folder: Path, tmp_path: Path, records_file: Path) -> None:
    workflow = tmp_path / "whole.yaml"
    workflow.write_text(workflow_yaml(tmp_path, records_file, "whole"))
    text = HAND_WRITTEN.replace("OUT", str(tmp_path / "out")).replace("ROOT", str(tmp_path / "staging"))
    (dags_folder / "hand_written.py").write_text(
        text.replace("INPUT", str(records_file)).replace("WORKFLOW", str(workflow))
    )

    dag_run = run_dag(dags_folder, "hand_written")

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    run = run_folder(tmp_path / "staging", "hand_written", dag_run.run_id)
    results = xcoms(dag_run)
    assert results["tag"]["uri"] == str(run / "tag" / "output.jsonl")
    assert names(tmp_path / "out" / "tagged.jsonl")[-1] == ("table", "refunds", ["Run.hand_written"])
    mapped = mapped_xcoms(dag_run, "tag_each")
    assert {index: result["uri"] for index, result in mapped.items()} == {
        0: str(run / "tag_each" / "0" / "output.jsonl"),
        1: str(run / "tag_each" / "1" / "output.jsonl"),
    }
    assert [tags for _, name, tags in names(mapped[0]["uri"]) if name == "orders"] == [["Map.A"]]
    assert [name for _, name, _ in names(mapped[1]["uri"])] == [
        "shop",
        "sales",
        "public",
        "customers",
        "payments",
        "refunds",
    ]
    whole = results["whole"]
    assert whole["uri"] == str(run / "whole" / "staged.jsonl")
    assert (whole["records"], whole["failures"], whole["dead_letter_uri"]) == (7, 0, None)
    assert [summary["component"] for summary in whole["summary"]][1:3] == ["processor:TagTables", "sink:file"]
    assert len(names(tmp_path / "out" / "whole_published.jsonl")) == 7


SECRET_WORKFLOW = """\
source:
  type: sql
  config: {conn_id: h4_pg_secret, table_filter: {include: [accounts]}}
processors:
  - type: support.components:ConnectionProbe
    config: {conn_id: h4_pg_secret, token: "${H4_SECRET_TOKEN}"}
sink:
  type: file
  config: {path: OUT}
stage: {type: file}
bulk_sink:
  type: file
  config: {path: OUT.published}
workflow:
  staging_root: STAGING
airflow:
  dag_id: secrets
  retries: 0
"""


@pytest.mark.postgres
def test_secrets_stay_out_of_xcom_and_files_and_are_masked(
    dags_folder: Path,
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sqlalchemy

    password, token = "h4-Pa55-" + os.urandom(6).hex(), "h4-t0ken-" + os.urandom(6).hex()
    monkeypatch.setenv("H4_SECRET_TOKEN", token)
    database = f"h4_secrets_{uuid.uuid4().hex[:12]}"  # the server is shared: a name of this run's own
    engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {database}"))
    url = sqlalchemy.engine.make_url(postgres_url).set(database=database)
    table_engine = sqlalchemy.create_engine(url)
    with table_engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE TABLE accounts (id int primary key, note text)"))
    table_engine.dispose()
    monkeypatch.setenv(
        "AIRFLOW_CONN_H4_PG_SECRET",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": url.host,
                "port": url.port,
                "login": url.username,
                "password": password,
                "schema": database,
            }
        ),
    )
    text = SECRET_WORKFLOW.replace("OUT", str(tmp_path / "out" / "secrets.jsonl"))
    (dags_folder / "secrets.yaml").write_text(text.replace("STAGING", str(tmp_path / "staging")))

    try:
        dag_run = run_dag(dags_folder, "secrets")
    finally:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        engine.dispose()

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    results = xcoms(dag_run)
    assert results["sink"]["records"] == 4  # service, database, schema, accounts
    assert password not in json.dumps(results) and token not in json.dumps(results)
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 6  # three staged files, the run folder's marker, the sink's and the bulk sink's
    assert not [path for path in files if password.encode() in path.read_bytes() or token.encode() in path.read_bytes()]
    from airflow.sdk._shared.secrets_masker import redact

    assert redact(f"connecting with {password} and {token}") == "connecting with *** and ***"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto S3 server on the port it bound (port 0), and the Airflow connection ``h4_s3`` pointing at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # the port it got is read back
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    connection = {"conn_type": "aws", "login": "h4-key", "password": "h4-secret", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_H4_S3", json.dumps(connection))
    try:
        yield endpoint
    finally:
        server.stop()


def test_staging_on_s3_goes_through_object_storage(
    dags_folder: Path, tmp_path: Path, records_file: Path, s3_endpoint: str
) -> None:
    import boto3

    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    s3.create_bucket(Bucket="h4-staging")
    text = workflow_yaml(tmp_path, records_file, "on_s3").replace(
        f"staging_root: {tmp_path}/staging", "staging_root: s3://h4_s3@h4-staging/root"
    )
    text = text.replace(f"{tmp_path}/out/on_s3_published.jsonl", "s3://h4_s3@h4-staging/published/catalog.jsonl")
    (dags_folder / "on_s3.yaml").write_text(text)

    dag_run = run_dag(dags_folder, "on_s3")

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    results = xcoms(dag_run)
    run = "/".join(run_folder(Path("root"), "on_s3", dag_run.run_id).parts)
    assert results["tagtables"]["uri"] == f"s3://h4_s3@h4-staging/{run}/tagtables/output.jsonl"
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="h4-staging")["Contents"])
    assert keys == [
        "published/catalog.jsonl",
        f"{run}/.airflow-ingest-run",
        f"{run}/source/output.jsonl",
        f"{run}/stage/staged.jsonl",
        f"{run}/tagtables/output.jsonl",
    ]
    published = s3.get_object(Bucket="h4-staging", Key="published/catalog.jsonl")["Body"].read().decode()
    local = tmp_path / "published.jsonl"
    local.write_text(published)
    assert names(local) == names(tmp_path / "out" / "on_s3.jsonl") == names(results["stage"]["uri"])
    assert len(names(local)) == 7

    from airflow_provider_ingest.staging.retention import remove_expired_runs

    assert remove_expired_runs("s3://h4_s3@h4-staging/root", "on_s3", 7) == []
    removed = remove_expired_runs("s3://h4_s3@h4-staging/root", "on_s3", 7, now=time.time() + 8 * 86400)
    assert [uri.rstrip("/").rsplit("/", 1)[-1] for uri in removed] == [run.rsplit("/", 1)[-1]]
    keys = sorted(item["Key"] for item in s3.list_objects_v2(Bucket="h4-staging")["Contents"])
    assert keys == ["published/catalog.jsonl"]


def test_the_cleanup_task_removes_expired_staged_runs(dags_folder: Path, tmp_path: Path, records_file: Path) -> None:
    staging = tmp_path / "staging" / "tidy"
    now = time.time()
    for run, age_days in [("old_run", 10), ("recent_run", 2)]:
        staged = staging / run / "source" / "output.jsonl"
        staged.parent.mkdir(parents=True)
        staged.write_text("{}\n")
        (staging / run / ".airflow-ingest-run").write_text("")
        for path in (staged, staging / run / ".airflow-ingest-run"):
            os.utime(path, (now - age_days * 86400, now - age_days * 86400))
    extra = "  retention_days: 7\n"
    (dags_folder / "tidy.yaml").write_text(
        workflow_yaml(tmp_path, records_file, "tidy").replace("workflow:\n", "workflow:\n" + extra)
    )

    dag_run = run_dag(dags_folder, "tidy")

    assert task_states(dag_run)["cleanup_staging"] == "success"
    assert xcoms(dag_run)["cleanup_staging"] == [str(staging / "old_run")]
    current = run_folder(tmp_path / "staging", "tidy", dag_run.run_id).name
    assert sorted(path.name for path in staging.iterdir()) == sorted(["recent_run", current])


def test_the_taskflow_example_dag_runs(dags_folder: Path, tmp_path: Path) -> None:
    shutil.copy(REPO / "dags" / "example_taskflow_ingest.py", dags_folder)
    conf = {"tables": ["orders", "payments"], "output_dir": str(tmp_path / "out"), "staging_root": str(tmp_path)}

    dag_run = run_dag(dags_folder, "example_taskflow_ingest", run_conf=conf)

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    results = xcoms(dag_run)
    assert results["pick_tables"] == {"sample": "shop", "table_filter": {"include": ["orders", "payments"]}}
    assert results["report"] == "5 of 5 records written, 0 failed"
    [output] = (tmp_path / "out").iterdir()
    assert [(kind, name) for kind, name, _ in names(output)] == [
        ("database_service", "sample_shop"),
        ("database", "shop"),
        ("database_schema", "main"),
        ("table", "orders"),
        ("table", "payments"),
    ]
