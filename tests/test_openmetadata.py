"""The openmetadata sink and bulk sink against the test server in ``om_server.py``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from om_rules import SCHEMAS, schema_errors
from om_server import TOKEN, FakeOpenMetadata, serve

from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, Settings, UnsupportedServerError
from airflow_provider_ingest.openmetadata.mapping import ENDPOINTS, Mapper, ServerFeatures
from airflow_provider_ingest.openmetadata.sink import OpenMetadataConfig, OpenMetadataSink
from airflow_provider_ingest.records import (
    Column,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Owner,
    Table,
    TableConstraint,
    TagLabel,
)
from airflow_provider_ingest.run import RunResult, run_workflow
from airflow_provider_ingest.staging import StagedFileWriter
from airflow_provider_ingest.staging.deadletters import read_dead_letters
from airflow_provider_ingest.workflow.loader import load_workflow

FAST = {"retries": 3, "backoff_factor": 0.01, "read_timeout": 5}


def catalog(tables: int = 3, *, bad_schema: bool = False) -> list[Any]:
    """A service, a database, a schema and tables using every feature the mapping knows."""
    schema = "bad::schema" if bad_schema else "sales"
    records: list[Any] = [
        DatabaseService(name="shop_db", service_type="SQLite", description="The shop.", owners=[Owner(name="alice")]),
        Database(service="shop_db", name="shop", tags=[TagLabel(tag_fqn="Tier.Tier1")]),
        DatabaseSchema(
            service="shop_db", database="shop", name=schema, owners=[Owner(name="data-platform", type="team")]
        ),
        Table(
            service="shop_db",
            database="shop",
            database_schema=schema,
            name="customers",
            description="People.",
            owners=[Owner(name="alice"), Owner(name="nobody")],
            tags=[TagLabel(tag_fqn="PII.Sensitive"), TagLabel(tag_fqn="Glossary.Customer", source="glossary")],
            columns=[
                Column(name="id", data_type=DataType.INT, data_type_display="INTEGER", nullable=False),
                Column(name="email", data_type=DataType.VARCHAR, data_type_display="varchar(255)", data_length=255),
                Column(name="balance", data_type=DataType.MONEY, data_type_display="money"),
                Column(name="flags", data_type=DataType.BIT, precision=8),
                Column(name="amount", data_type=DataType.NUMERIC, precision=12, scale=2, ordinal_position=5),
                Column(
                    name="ssn",
                    data_type=DataType.TEXT,
                    description="US SSN",
                    tags=[TagLabel(tag_fqn="PII.Sensitive", confidence=0.9)],
                ),
            ],
            constraints=[
                TableConstraint(constraint_type="primary_key", columns=["id"]),
                TableConstraint(constraint_type="unique", columns=["email", "ssn"]),
            ],
        ),
        Table(
            service="shop_db",
            database="shop",
            database_schema=schema,
            name="customer_view",
            table_type="view",
            view_definition="select id, email from customers",
            columns=[Column(name="id", data_type=DataType.INT)],
        ),
    ]
    for index in range(tables):
        records.append(
            Table(
                service="shop_db",
                database="shop",
                database_schema=schema,
                name=f"orders_{index}",
                columns=[
                    Column(name="order_id", data_type=DataType.BIGINT, nullable=False),
                    Column(name="customer_id", data_type=DataType.INT),
                ],
                constraints=[
                    TableConstraint(constraint_type="primary_key", columns=["order_id"]),
                    TableConstraint(
                        constraint_type="foreign_key",
                        columns=["customer_id"],
                        referred_table=f"shop_db.shop.{schema}.customers",
                        referred_columns=["id"],
                    ),
                ],
            )
        )
    return records


def write_records(path: Path, records: list[Any]) -> Path:
    with StagedFileWriter(str(path), producer="test") as out:
        for record in records:
            out.write(record)
    return path


def run(
    tmp_path: Path,
    server: FakeOpenMetadata,
    records: list[Any],
    *,
    bulk: bool = False,
    run_id: str = "run1",
    **settings: Any,
) -> RunResult:
    """Run file source → openmetadata sink (or → file stage → openmetadata bulk sink) in this process."""
    source = write_records(tmp_path / "records.jsonl", records)
    config = {"server_url": server.url + "/api", "jwt_token": "${OM_TEST_TOKEN}", **FAST, **settings}
    workflow: dict[str, Any] = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "workflow": {"staging_root": str(tmp_path / "staging"), "success_threshold": 0},
    }
    if bulk:
        workflow["stage"] = {"type": "file"}
        workflow["bulk_sink"] = {"type": "openmetadata", "config": config}
    else:
        workflow["sink"] = {"type": "openmetadata", "config": config}
    path = tmp_path / "workflow.yaml"
    path.write_text(json.dumps(workflow))
    return run_workflow(load_workflow(path), run_id=run_id)


def om_report(result: RunResult) -> Any:
    return next(r for r in result.reports if r.component.endswith(":openmetadata"))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve(FakeOpenMetadata(glossary_terms={"Glossary.Customer"})) as state:
        yield state


def test_every_data_type_is_in_openmetadatas_enum() -> None:
    table = json.loads((SCHEMAS / "entity/data/table.json").read_text())
    allowed = set(table["definitions"]["dataType"]["enum"])
    assert {ServerFeatures.of("1.5.4").data_type(value) for value in DataType} <= allowed


def test_request_bodies_are_valid_against_the_schemas() -> None:
    refs = [{"id": "6f1c2f4e-5d1b-4a57-9d1d-6c9b0f3f1a11", "type": "user"}]
    request_body = Mapper(ServerFeatures.of("1.5.4")).body
    for record in catalog():
        body = request_body(record, refs)
        assert schema_errors(ENDPOINTS[record.kind], body) == [], record.fqn
    table = request_body(catalog()[3])
    columns = {column["name"]: column for column in table["columns"]}
    assert columns["id"]["constraint"] == "PRIMARY_KEY"
    assert columns["email"] == {
        "name": "email",
        "dataType": "VARCHAR",
        "dataTypeDisplay": "varchar(255)",
        "constraint": "NULL",
        "dataLength": 255,
    }
    assert columns["balance"]["dataType"] == "MONEY" and columns["balance"]["dataTypeDisplay"] == "money"
    assert columns["flags"]["dataType"] == "BIT" and columns["flags"]["dataLength"] == 1
    assert columns["amount"]["precision"] == 12 and columns["amount"]["scale"] == 2
    assert table["tableConstraints"] == [{"constraintType": "UNIQUE", "columns": ["email", "ssn"]}]
    assert table["databaseSchema"] == "shop_db.shop.sales"
    assert {tag["source"] for tag in table["tags"]} == {"Classification", "Glossary"}
    view = request_body(catalog()[4])
    assert view["tableType"] == "View" and view["schemaDefinition"] == "select id, email from customers"
    fk = request_body(catalog()[5])["tableConstraints"]
    assert fk == [
        {
            "constraintType": "FOREIGN_KEY",
            "columns": ["customer_id"],
            "referredColumns": ["shop_db.shop.sales.customers.id"],
        }
    ]


def test_schema_validation_catches_an_invalid_body() -> None:
    assert schema_errors(ENDPOINTS["table"], {"name": "t", "databaseSchema": "a.b.c", "columns": [{"name": "x"}]})
    assert schema_errors(ENDPOINTS["database"], {"name": "d", "service": "s", "owner": {"id": "x", "type": "user"}})


def test_sink_creates_parents_first_then_updates_on_rerun(tmp_path: Path, server: FakeOpenMetadata) -> None:
    records = catalog()
    first = run(tmp_path, server, records)
    assert first.success, first.error
    report = om_report(first)
    assert report.records == len(records) and report.failure_count == 0
    assert report.counters == {"created": len(records)}
    puts = server.puts()
    assert all(call.status in (200, 201) for call in puts)
    assert all(call.authorization == f"Bearer {TOKEN}" for call in server.calls)
    bulk = "/bulk?async=false&overrideMetadata=false"
    assert [call.path for call in puts] == [
        ENDPOINTS["database_service"],
        ENDPOINTS["database"] + bulk,
        ENDPOINTS["database_schema"] + bulk,
        ENDPOINTS["table"] + bulk,  # every table, without its foreign keys
        ENDPOINTS["table"] + bulk,  # the tables with foreign keys, in full
    ]
    assert [table["name"] for table in puts[4].body] == ["orders_0", "orders_1", "orders_2"]
    assert all("tableConstraints" not in table for table in puts[3].body if table["name"].startswith("orders"))
    assert all(table["tableConstraints"][0]["constraintType"] == "FOREIGN_KEY" for table in puts[4].body)
    customers = next(body for body in server.bodies(ENDPOINTS["table"]) if body["name"] == "customers")
    assert [ref["type"] for ref in customers["owners"]] == ["user"]
    assert any("'nobody' not found" in warning for warning in report.warnings)

    second = run(tmp_path, server, records, run_id="run2")
    assert om_report(second).counters == {"updated": len(records)}
    assert len(server.entities) == len(records)


def test_a_4xx_is_a_counted_failure_with_the_servers_message(tmp_path: Path, server: FakeOpenMetadata) -> None:
    records = [*catalog(tables=2), DatabaseService(name="other_db", service_type="NoSuchEngine")]
    result = run(tmp_path, server, records)
    report = om_report(result)
    assert report.failure_count == 1 and report.records == len(records) - 1
    failure = report.failures[0]
    assert failure.fqn == "other_db"
    assert failure.error.startswith("400: serviceType: 'NoSuchEngine' is not one of ['BigQuery',")
    letters = list(read_dead_letters(result.dead_letter_uri))
    assert letters[0].record["name"] == "other_db" and "400:" in letters[0].error


def test_children_of_a_failed_parent_fail_naming_it(tmp_path: Path, server: FakeOpenMetadata) -> None:
    records = catalog(tables=1, bad_schema=True)
    result = om_report(run(tmp_path, server, records, bulk=True))
    assert result.records == 2 and result.failure_count == 4
    errors = [failure.error for failure in result.failures]
    assert errors[0] == "name: 'bad::schema' contains '::', which OpenMetadata cannot represent"
    assert errors[1:] == ["parent shop_db.shop.bad::schema failed"] * 3
    assert all(call.path != ENDPOINTS["table"] for call in server.puts())


def test_a_missing_parent_is_the_servers_404(tmp_path: Path, server: FakeOpenMetadata) -> None:
    orphan = catalog()[5]
    result = om_report(run(tmp_path, server, [orphan], bulk=True))
    assert result.failure_count == 1
    assert result.failures[0].error == "404: databaseSchema instance for shop_db.shop.sales not found"


def test_429_500_and_a_dropped_connection_are_retried(tmp_path: Path, server: FakeOpenMetadata) -> None:
    server.inject("429", 2, path=ENDPOINTS["table"])
    server.inject("500", 2, path=ENDPOINTS["database"])
    server.inject("drop", 1, path=ENDPOINTS["database_schema"])
    records = catalog()
    report = om_report(run(tmp_path, server, records))
    assert report.failure_count == 0 and report.records == len(records)
    statuses = [call.status for call in server.puts()]
    assert statuses.count(429) == 2 and statuses.count(500) == 2 and statuses.count(0) == 1
    assert not server.faults


def test_a_timeout_is_retried(tmp_path: Path, server: FakeOpenMetadata, caplog: pytest.LogCaptureFixture) -> None:
    server.slow_seconds = 1.0
    server.inject("slow", 1, path=ENDPOINTS["database"])
    report = om_report(run(tmp_path, server, catalog(tables=1), read_timeout=0.3))
    assert report.failure_count == 0 and report.records == 6
    assert "Read timed out" in caplog.text and "/api/v1/databases" in caplog.text


def test_retries_are_bounded(tmp_path: Path, server: FakeOpenMetadata) -> None:
    server.inject("500", 10, path=ENDPOINTS["table"])
    records = catalog(tables=0)
    report = om_report(run(tmp_path, server, records, retries=2))
    assert report.failure_count == 2 and report.records == 3
    assert [call.status for call in server.puts()].count(500) == 9  # the batch, then each table alone: 3 times each
    assert report.failures[0].error.startswith("PUT http://127.0.0.1:")
    assert report.failures[0].error.endswith("/api/v1/tables: 500 after 3 attempts: injected 500")


def test_bulk_sink_publishes_in_order_concurrently_and_resumes(tmp_path: Path, server: FakeOpenMetadata) -> None:
    records = catalog(tables=20)
    server.inject("500", 2, path=ENDPOINTS["table"])
    server.inject("drop", 1, path=ENDPOINTS["table"])
    first = run(tmp_path, server, records, bulk=True, max_workers=4, batch_size=4)
    assert first.success, first.error
    report = om_report(first)
    assert report.records == len(records) and report.counters == {"created": len(records)}
    kinds = [call.path.split("/bulk")[0] for call in server.puts() if call.status in (200, 201)]
    assert kinds[:3] == list(ENDPOINTS.values())[:3] and set(kinds[3:]) == {ENDPOINTS["table"]}
    assert len(kinds) == 3 + 6 + 5  # tables: 22 in batches of 4, then the 20 with a foreign key
    second = om_report(run(tmp_path, server, records, bulk=True, run_id="run2", max_workers=4))
    assert second.counters == {"updated": len(records)}
    assert len(server.entities) == len(records)


def test_bulk_sink_rerun_after_a_failure_creates_only_what_was_missing(
    tmp_path: Path, server: FakeOpenMetadata
) -> None:
    records = catalog(tables=4)
    server.inject("500", 40, path=ENDPOINTS["table"])
    first = om_report(run(tmp_path, server, records, bulk=True, retries=1, max_workers=2))
    assert first.failure_count > 0 and first.counters.get("created", 0) < len(records)
    server.faults.clear()
    second = om_report(run(tmp_path, server, records, bulk=True, run_id="run2"))
    assert second.failure_count == 0
    assert second.counters["created"] == first.failure_count
    assert second.counters["updated"] == first.counters["created"]
    assert len(server.entities) == len(records)


@pytest.mark.parametrize("version", ["1.5.4", "1.13.0", "2.0.7"])
def test_servers_1x_and_2x_are_accepted(tmp_path: Path, server: FakeOpenMetadata, version: str) -> None:
    server.version = version
    assert OpenMetadataClient(Settings(server_url=server.url, token=TOKEN)).check_version() == version
    result = run(tmp_path, server, catalog())
    assert result.success, result.error
    assert om_report(result).counters == {"created": len(catalog())}


@pytest.mark.parametrize("version", ["0.13.2", "3.0.0", "unknown", ""])
def test_unsupported_server_version_is_refused(tmp_path: Path, server: FakeOpenMetadata, version: str) -> None:
    server.version = version
    shown = repr(version) if version else "'unknown'"
    with pytest.raises(UnsupportedServerError, match=rf"version {shown}; this provider supports 1\.x and 2\.x$"):
        OpenMetadataClient(Settings(server_url=server.url, token=TOKEN)).check_version()
    result = run(tmp_path, server, catalog())
    assert "UnsupportedServerError" in result.error and not server.puts()


def test_a_wrong_token_is_refused_and_the_token_never_shows(
    tmp_path: Path, server: FakeOpenMetadata, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    server.inject("500", 1)
    result = run(tmp_path, server, [*catalog(tables=1), catalog()[3].model_copy(update={"name": "x::y"})])
    server.token = "another-token"
    refused = run(tmp_path, server, catalog(), run_id="run2")
    assert "401: Not Authorized" in refused.error
    outputs = [caplog.text, *capsys.readouterr(), refused.error, repr(result.reports)]
    for folder in (tmp_path / "staging").rglob("*"):
        if folder.is_file():
            outputs.append(folder.read_text(errors="replace"))
    assert result.dead_letter_uri and len(outputs) > 4
    assert all(TOKEN not in text for text in outputs)
    assert TOKEN not in repr(Settings(server_url=server.url, token=TOKEN))


def test_asset_uris_come_from_the_settings() -> None:
    config = OpenMetadataConfig(server_url="https://om.example.com:8585/api", jwt_token="${T}", service_name="shop")
    assert OpenMetadataSink.asset_uris(config) == ["openmetadata://om.example.com:8585/shop"]
    assert OpenMetadataSink.asset_uris(OpenMetadataConfig(conn_id="om")) == ["openmetadata://om/catalog"]
    with_user = OpenMetadataConfig(
        server_url="https://admin:${OM_PW}@om.example.com:8585/api", jwt_token="${OM_TOKEN}", service_name="shop"
    )
    assert OpenMetadataSink.asset_uris(with_user) == ["openmetadata://om.example.com:8585/shop"]


def test_config_needs_one_server_and_a_token() -> None:
    with pytest.raises(ValueError, match="exactly one of conn_id or server_url"):
        OpenMetadataConfig()
    with pytest.raises(ValueError, match="needs jwt_token"):
        OpenMetadataConfig(server_url="http://x")


def test_hook_reads_an_airflow_connection(server: FakeOpenMetadata, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_ingest.openmetadata.hook import OpenMetadataHook

    connection = {"conn_type": "openmetadata", "host": server.url + "/api", "password": TOKEN, "extra": {"retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_OM_TEST", json.dumps(connection))
    hook = OpenMetadataHook("om_test")
    assert hook.test_connection() == (True, "connected to OpenMetadata 1.5.4")
    assert hook.get_conn().settings.retries == 1 and hook.get_conn().base_url == server.url
    assert OpenMetadataHook.get_ui_field_behaviour()["relabeling"]["password"].startswith("JWT token")
    hook.close()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"verify_ssl": None, "connect_timeout": None, "read_timeout": "", "retries": None}, {}),
        (
            {"verify_ssl": "false", "connect_timeout": "5", "read_timeout": " 7.5 ", "retries": "2"},
            {"verify": False, "connect_timeout": 5.0, "read_timeout": 7.5, "retries": 2},
        ),
        (
            {"extra__openmetadata__retries": 3, "verify_ssl": "/etc/ssl/ca.pem"},
            {"retries": 3, "verify": "/etc/ssl/ca.pem"},
        ),
    ],
)
def test_hook_reads_empty_and_text_form_fields(
    server: FakeOpenMetadata, monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any], expected: dict[str, Any]
) -> None:
    """What the UI saves for an empty field (null, ""), text typed in the Extra JSON, and older prefixed names."""
    from airflow_provider_ingest.openmetadata.client import Settings
    from airflow_provider_ingest.openmetadata.hook import OpenMetadataHook

    connection = {"conn_type": "openmetadata", "host": server.url, "password": TOKEN, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_OM_FORM", json.dumps(connection))
    settings = OpenMetadataHook("om_form").settings()
    defaults = Settings(server_url=server.url)
    for name in ("verify", "connect_timeout", "read_timeout", "retries", "backoff_factor"):
        assert getattr(settings, name) == expected.get(name, getattr(defaults, name)), name
    if "verify" not in expected:
        assert OpenMetadataHook("om_form").test_connection() == (True, "connected to OpenMetadata 1.5.4")


def test_hook_refuses_a_form_field_that_is_not_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_ingest.errors import ConfigurationError
    from airflow_provider_ingest.openmetadata.hook import OpenMetadataHook

    connection = {"conn_type": "openmetadata", "host": "http://om:8585", "password": TOKEN, "extra": {"retries": "x"}}
    monkeypatch.setenv("AIRFLOW_CONN_OM_FORM", json.dumps(connection))
    with pytest.raises(ConfigurationError, match="openmetadata connection field 'retries': 'x' is not of type integer"):
        OpenMetadataHook("om_form").settings()
    ok, message = OpenMetadataHook("om_form").test_connection()
    assert not ok and "'retries'" in message and TOKEN not in message


SAMPLE_DAG = """\
source:
  type: sql
  config:
    sample: shop
sink:
  type: openmetadata
  config: {server: SERVER}
stage:
  type: file
bulk_sink:
  type: openmetadata
  config: {server: SERVER, max_workers: 3}
workflow:
  staging_root: STAGING
airflow:
  dag_id: om_sample_shop
  retries: 0
"""


@pytest.mark.airflow
def test_generated_dag_publishes_the_sample_shop(
    dags_folder: Path, tmp_path: Path, server: FakeOpenMetadata, caplog: pytest.LogCaptureFixture
) -> None:
    from support.dags import run_dag, task_states, xcoms

    from airflow_provider_ingest.airflow.factory import build_dag

    settings = f'server_url: "{server.url}/api", jwt_token: "${{OM_TEST_TOKEN}}", backoff_factor: 0.01'
    text = SAMPLE_DAG.replace("server: SERVER", settings).replace("STAGING", str(tmp_path / "staging"))
    (dags_folder / "om_sample_shop.yaml").write_text(text)
    server.inject("500", 2, path=ENDPOINTS["table"])
    dag = build_dag(dags_folder / "om_sample_shop.yaml")
    assert [outlet.uri for outlet in dag.get_task("sink").outlets] == [f"openmetadata://{server.url[7:]}/catalog"]

    dag_run = run_dag(dags_folder, "om_sample_shop")
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    results = xcoms(dag_run)
    sink, bulk = results["sink"], results["bulk_sink"]
    tables = len(server.fqns("table"))
    assert tables >= 7 and sink["failures"] == 0 and bulk["failures"] == 0
    assert sink["records"] == bulk["records"] == tables + 3
    assert sink["summary"]["counters"] == {"created": tables + 3}
    assert bulk["summary"]["counters"] == {"updated": tables + 3}
    assert "sample_shop.shop.main.order_items" in server.fqns("table")
    assert all(call.status != 400 for call in server.puts())
    assert TOKEN not in caplog.text


def test_importing_the_sinks_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_ingest.openmetadata.sink, airflow_provider_ingest.openmetadata.bulk_sink;"
        "print(sorted(m for m in ('requests', 'urllib3', 'airflow') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
