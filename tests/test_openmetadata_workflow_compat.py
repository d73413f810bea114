"""OpenMetadata-format workflow files: translated to this project's workflow, or refused field by field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from om_server import TOKEN, serve

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import load_workflow

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "docs" / "examples" / "openmetadata_sample_shop.yaml"

POSTGRES = """\
source:
  type: postgres
  serviceName: local_pg
  serviceConnection:
    config:
      type: Postgres
      username: ingest
      authType:
        password: ${PG_PASSWORD}
      hostPort: db.example.com:5432
      database: sales
      ingestAllDatabases: true
  sourceConfig:
    config:
      type: DatabaseMetadata
      markDeletedTables: false
      databaseFilterPattern:
        includes: [sales]
      schemaFilterPattern:
        includes: ["public", "crm"]
        excludes: ["tmp_.*"]
      tableFilterPattern:
        excludes: [".*_bak"]
sink:
  type: metadata-rest
  config: {}
workflowConfig:
  loggerLevel: DEBUG
  openMetadataServerConfig:
    hostPort: https://om.example.com/api
    authProvider: openmetadata
    verifySSL: ignore
    securityConfig:
      jwtToken: ${OM_JWT_TOKEN}
"""

MYSQL = """\
source:
  type: mysql
  serviceName: local_mysql
  serviceConnection:
    config:
      type: Mysql
      username: reader
      password: ${MYSQL_PASSWORD}
      hostPort: localhost:3306
      databaseSchema: shop
  sourceConfig:
    config:
      type: DatabaseMetadata
sink:
  type: metadata-rest
  config: {}
workflowConfig:
  openMetadataServerConfig:
    hostPort: http://localhost:8585/api
    authProvider: openmetadata
    securityConfig:
      jwtToken: ${OM_JWT_TOKEN}
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "om.yaml"
    path.write_text(text)
    return load_workflow(path)


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(WorkflowFileError) as raised:
        load(tmp_path, text)
    return {problem.field: f"{problem.line}:{problem.message}" for problem in raised.value.problems}


def test_postgres_file_is_translated(tmp_path: Path) -> None:
    spec = load(tmp_path, POSTGRES).spec
    assert spec.source.type == "sql" and spec.sink.type == "openmetadata"
    assert spec.source.config == {
        "service_name": "local_pg",
        "url": "postgresql+psycopg2://ingest@db.example.com:5432/sales",
        "password": "${PG_PASSWORD}",
        "all_databases": True,
        "database_filter": {"include": ["(?:sales).*"], "ignore_case": True},
        "schema_filter": {"include": ["(?:public).*", "(?:crm).*"], "exclude": ["(?:tmp_.*).*"], "ignore_case": True},
        "table_filter": {"exclude": ["(?:.*_bak).*"], "ignore_case": True},
    }
    assert spec.sink.config == {
        "server_url": "https://om.example.com/api",
        "jwt_token": "${OM_JWT_TOKEN}",
        "verify_ssl": False,
        "service_name": "local_pg",
    }


def test_mysql_file_is_translated(tmp_path: Path) -> None:
    config = load(tmp_path, MYSQL).spec.source.config
    assert config["url"] == "mysql+pymysql://reader@localhost:3306/"
    assert config["password"] == "${MYSQL_PASSWORD}"
    assert config["schema_filter"] == {"include": ["shop"]}


def test_inline_secrets_are_reported_at_their_fields(tmp_path: Path) -> None:
    text = POSTGRES.replace("${PG_PASSWORD}", "hunter2").replace("${OM_JWT_TOKEN}", "eyJraWQiOi.secret")
    found = problems(tmp_path, text)
    assert found["source.serviceConnection.config.authType.password"].startswith("9:secrets cannot be inline")
    assert found["workflowConfig.openMetadataServerConfig.securityConfig.jwtToken"].startswith("34:secrets")
    assert "hunter2" not in str(found) and "eyJraWQiOi" not in str(found)


def test_untranslatable_fields_are_reported_by_field(tmp_path: Path) -> None:
    text = (
        POSTGRES.replace("      markDeletedTables: false\n", "      markDeletedTables: true\n      includeDDL: true\n")
        .replace("      ingestAllDatabases: true\n", "      ingestAllDatabases: true\n      sslMode: require\n")
        .replace("authProvider: openmetadata", "authProvider: google")
        + "processor:\n  type: orm-profiler\n"
    )
    found = problems(tmp_path, text)
    assert set(found) == {
        "source.sourceConfig.config.markDeletedTables",
        "source.sourceConfig.config.includeDDL",
        "source.serviceConnection.config.sslMode",
        "workflowConfig.openMetadataServerConfig.authProvider",
        "processor",
    }
    assert found["source.serviceConnection.config.sslMode"].startswith("13:cannot be translated")


def test_unsupported_source_and_sink_types(tmp_path: Path) -> None:
    text = MYSQL.replace("type: mysql", "type: snowflake").replace("type: metadata-rest", "type: file")
    found = problems(tmp_path, text)
    assert "source type 'snowflake' cannot be translated" in found["source.type"]
    assert "sink type 'file'" in found["sink.type"]


def test_example_file_runs_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_ingest.samples import sample_database_path

    monkeypatch.setenv("SAMPLE_SHOP_DB", str(sample_database_path()))
    monkeypatch.setenv("OM_JWT_TOKEN", TOKEN)
    example = tmp_path / EXAMPLE.name
    example.write_text(EXAMPLE.read_text())
    with serve() as server:
        monkeypatch.setenv("OM_SERVER_URL", server.url + "/api")
        assert main(["validate", str(example)]) == 0
        code = main(["run", "--quiet", "--run-id", "om", str(example)])
        output = capsys.readouterr().out
        assert code == 0, output
        assert "sink:openmetadata created:" in output
        tables = server.fqns("table")
    assert "sample_shop.shop.main.customers" in tables and "sample_shop.shop.main.daily_revenue" in tables
    assert server.fqns("databaseService") == {"sample_shop"}
    assert TOKEN not in output


def test_document_positions_follow_the_file(tmp_path: Path) -> None:
    text = textwrap.dedent(MYSQL).replace(
        "      databaseSchema: shop\n", "      databaseSchema: shop\n      poolSize: 3\n"
    )
    assert problems(tmp_path, text) == {
        "source.serviceConnection.config.poolSize": "11:cannot be translated: the sql source for Mysql has no "
        "equivalent of 'poolSize'"
    }


@pytest.mark.airflow
def test_example_file_becomes_a_dag(airflow_db: Path) -> None:
    from airflow_provider_ingest.airflow.factory import build_dag

    dag = build_dag(EXAMPLE)
    assert dag.dag_id == "openmetadata_sample_shop"
    assert sorted(dag.task_ids) == ["cleanup_staging", "sink", "source"]
    assert [outlet.uri for outlet in dag.get_task("sink").outlets] == ["openmetadata://openmetadata/sample_shop"]
