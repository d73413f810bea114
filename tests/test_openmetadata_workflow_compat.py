"""OpenMetadata-format workflow files: translated, accepted with a warning, or refused field by field."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from om_server import TOKEN, serve

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.workflow.document import WorkflowFileError
from airflow_provider_ingest.workflow.loader import LoadedWorkflow, load_workflow

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

SOURCE_CONFIG_DEFAULTS: dict[str, Any] = {
    "type": "DatabaseMetadata",
    "markDeletedTables": True,
    "markAllDeletedTables": False,
    "markDeletedStoredProcedures": True,
    "markDeletedSchemas": False,
    "markDeletedDatabases": False,
    "includeTables": True,
    "includeViews": True,
    "includeTags": True,
    "includeCustomProperties": False,
    "includeOwners": False,
    "ownerConfig": None,
    "includeStoredProcedures": True,
    "includeDDL": False,
    "overrideMetadata": False,
    "overrideViewLineage": False,
    "queryLogDuration": 1,
    "queryParsingTimeoutLimit": 300,
    "useFqnForFiltering": False,
    "schemaFilterPattern": None,
    "tableFilterPattern": None,
    "databaseFilterPattern": None,
    "storedProcedureFilterPattern": None,
    "threads": 1,
    "incremental": None,
    "extractJsonSchema": False,
    "jsonSchemaSampleSize": 10,
}
"""Every ``sourceConfig.config`` field of DatabaseServiceMetadataPipeline (OpenMetadata 1.0 to 2.0.7) at its
default, read from OpenMetadata's generated models (``includeDDL`` was true in 1.4 only)."""

WARNED_DEFAULTS = {"markDeletedTables", "markDeletedStoredProcedures", "includeTags", "includeStoredProcedures"}
"""Defaults OpenMetadata acts on and this project does not: accepted, with one warning each."""

CONNECTION_DEFAULTS: dict[str, Any] = {
    "connectionOptions": {},
    "connectionArguments": {},
    "supportsMetadataExtraction": True,
    "supportsUsageExtraction": True,
    "supportsLineageExtraction": True,
    "supportsDBTExtraction": True,
    "supportsProfiler": True,
    "supportsDatabase": True,
    "supportsQueryComment": True,
    "supportsDataDiff": True,
    "sampleDataStorageConfig": None,
    "classificationName": "PostgresPolicyTags",
    "sslMode": "disable",
    "sslConfig": None,
    "schemaFilterPattern": {"includes": [], "excludes": ["^information_schema$"]},
    "databaseFilterPattern": {"includes": [], "excludes": ["^template1$", "^template0$"]},
    "tableFilterPattern": None,
    "storedProcedureFilterPattern": None,
    "queryStatementSource": "pg_stat_statements",
}
"""``serviceConnection.config`` fields of PostgresConnection (1.0 to 2.0.7) at their defaults."""

SERVER_DEFAULTS: dict[str, Any] = {
    "clusterName": "openmetadata",
    "type": "OpenMetadata",
    "verifySSL": "no-ssl",
    "sslConfig": None,
    "secretsManagerProvider": "db",
    "secretsManagerLoader": "noop",
    "apiVersion": "v1",
    "includeTopics": True,
    "includeTables": True,
    "includeDashboards": True,
    "includePipelines": True,
    "includeMlModels": True,
    "includeUsers": True,
    "includeTeams": True,
    "includeGlossaryTerms": True,
    "includeTags": True,
    "includePolicy": True,
    "includeMessagingServices": True,
    "enableVersionValidation": True,
    "includeDatabaseServices": True,
    "includePipelineServices": True,
    "limitRecords": 1000,
    "forceEntityOverwriting": False,
    "elasticsSearch": None,
    "supportsDataInsightExtraction": True,
    "supportsElasticSearchReindexingExtraction": True,
    "extraHeaders": None,
    "schemaFilterPattern": None,
    "tableFilterPattern": None,
    "databaseFilterPattern": None,
}
"""``openMetadataServerConfig`` fields of OpenMetadataConnection (1.0 to 2.0.7) at their defaults, but
``authProvider`` (``openmetadata`` is the one translated) and ``storeServiceConnection`` (tested apart)."""


def load(tmp_path: Path, text: str) -> LoadedWorkflow:
    path = tmp_path / "om.yaml"
    path.write_text(text)
    return load_workflow(path)


def problems(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(WorkflowFileError) as raised:
        load(tmp_path, text)
    return {problem.field: f"{problem.line}:{problem.message}" for problem in raised.value.problems}


def warnings(workflow: LoadedWorkflow) -> dict[str, str]:
    return {warning.field: warning.message for warning in workflow.warnings}


def with_settings(text: str, line: str, settings: dict[str, Any]) -> str:
    """``text`` with ``settings`` added after ``line``, at its indentation (as flow-style YAML, one a line)."""
    indent = " " * (len(line) - len(line.lstrip()))
    lines = "".join(f"{indent}{key}: {json.dumps(value)}\n" for key, value in settings.items())
    assert text.count(line + "\n") == 1, line
    return text.replace(line + "\n", line + "\n" + lines)


def test_postgres_file_is_translated(tmp_path: Path) -> None:
    workflow = load(tmp_path, POSTGRES)
    spec = workflow.spec
    assert spec.source.type == "sql" and spec.sink.type == "openmetadata"
    assert spec.source.config == {
        "service_name": "local_pg",
        "url": "postgresql+psycopg2://ingest@db.example.com:5432/sales",
        "password": "${PG_PASSWORD}",
        "all_databases": True,
        "database_filter": {"include": ["(?:sales)(?s:.*)"], "ignore_case": True},
        "schema_filter": {
            "include": ["(?:public)(?s:.*)", "(?:crm)(?s:.*)"],
            "exclude": ["(?:tmp_.*)(?s:.*)"],
            "ignore_case": True,
        },
        "table_filter": {"exclude": ["(?:.*_bak)(?s:.*)"], "ignore_case": True},
    }
    assert spec.sink.config == {
        "server_url": "https://om.example.com/api",
        "jwt_token": "${OM_JWT_TOKEN}",
        "verify_ssl": False,
        "service_name": "local_pg",
    }
    assert warnings(workflow) == {
        "workflowConfig.loggerLevel": '"DEBUG" does nothing here: log levels come from Airflow\'s logging settings'
    }


def test_mysql_file_is_translated(tmp_path: Path) -> None:
    workflow = load(tmp_path, MYSQL)
    config = workflow.spec.source.config
    assert config["url"] == "mysql+pymysql://reader@localhost:3306/"
    assert config["password"] == "${MYSQL_PASSWORD}"
    assert config["schema_filter"] == {"include": ["shop"]}
    assert workflow.warnings == []


def test_every_source_config_default_is_accepted_with_one_warning_per_field_it_does_not_honour(tmp_path: Path) -> None:
    text = re.sub(r"      (markDeletedTables|\w+FilterPattern):.*\n(        .*\n)*", "", POSTGRES)
    defaults = {key: value for key, value in SOURCE_CONFIG_DEFAULTS.items() if key != "type"}
    workflow = load(tmp_path, with_settings(text, "      type: DatabaseMetadata", defaults))
    found = warnings(workflow)
    assert {field.rsplit(".", 1)[-1] for field in found} == WARNED_DEFAULTS | {"loggerLevel"}
    for name in WARNED_DEFAULTS:
        message = found[f"source.sourceConfig.config.{name}"]
        assert message.startswith("true does nothing here: "), message
    assert "stay" in found["source.sourceConfig.config.markDeletedTables"]
    assert [warning.line for warning in workflow.warnings] == sorted(warning.line for warning in workflow.warnings)


def test_includeddl_true_the_default_of_openmetadata_1_4_is_a_warning(tmp_path: Path) -> None:
    workflow = load(tmp_path, with_settings(POSTGRES, "      type: DatabaseMetadata", {"includeDDL": True}))
    assert "view's definition" in warnings(workflow)["source.sourceConfig.config.includeDDL"]


def test_every_connection_and_server_default_is_accepted_silently(tmp_path: Path) -> None:
    text = with_settings(POSTGRES, "      ingestAllDatabases: true", CONNECTION_DEFAULTS)
    text = with_settings(text, "    verifySSL: ignore", {k: v for k, v in SERVER_DEFAULTS.items() if k != "verifySSL"})
    text = text.replace("  loggerLevel: DEBUG\n", "  loggerLevel: INFO\n  raiseOnError: true\n  successThreshold: 90\n")
    text = text.replace("  config: {}\n", "  config:\n    bulk_sink_batch_size: 100\n    override_metadata: false\n")
    workflow = load(tmp_path, text + "ingestionPipelineFQN: null\nenableStreamableLogs: false\n")
    assert workflow.warnings == []
    assert (
        workflow.spec.source.config["url"] == "postgresql+psycopg2://ingest@db.example.com:5432/sales?sslmode=disable"
    )
    assert workflow.spec.workflow.success_threshold == 90


def test_bulk_sink_batch_size_is_the_sinks_batch_size(tmp_path: Path) -> None:
    text = POSTGRES.replace("  config: {}\n", "  config:\n    bulk_sink_batch_size: 250\n")
    assert load(tmp_path, text).spec.sink.config["batch_size"] == 250
    found = problems(tmp_path, POSTGRES.replace("  config: {}\n", "  config:\n    bulk_sink_batch_size: 5000\n"))
    assert list(found) == ["sink.config.bulk_sink_batch_size"], found
    assert "1000" in found["sink.config.bulk_sink_batch_size"]


def test_settings_that_do_nothing_here_are_accepted_with_one_warning_each(tmp_path: Path) -> None:
    text = with_settings(POSTGRES, "      type: DatabaseMetadata", {"threads": 8, "incremental": {"enabled": True}})
    text = with_settings(
        text, "    verifySSL: ignore", {"storeServiceConnection": True, "enableVersionValidation": False}
    )
    text = with_settings(text, "      ingestAllDatabases: true", {"schemaFilterPattern": {"includes": ["x"]}})
    workflow = load(tmp_path, text + "ingestionPipelineFQN: local_pg.metadata_pipeline\n")
    found = warnings(workflow)
    assert set(found) == {
        "source.sourceConfig.config.threads",
        "source.sourceConfig.config.incremental",
        "source.serviceConnection.config.schemaFilterPattern",
        "workflowConfig.openMetadataServerConfig.storeServiceConnection",
        "workflowConfig.openMetadataServerConfig.enableVersionValidation",
        "workflowConfig.loggerLevel",
        "ingestionPipelineFQN",
    }
    assert found["source.sourceConfig.config.threads"].startswith("8 does nothing here")
    assert (
        found["source.sourceConfig.config.incremental"]
        == "this value does nothing here: every run reads the whole catalog"
    )
    assert "no database credentials" in found["workflowConfig.openMetadataServerConfig.storeServiceConnection"]
    assert "sourceConfig.config" in found["source.serviceConnection.config.schemaFilterPattern"]
    assert "Asked for in the file and not done here:" in (workflow.spec.description or "")


def test_non_default_values_that_cannot_be_honoured_are_problems_naming_the_field(tmp_path: Path) -> None:
    text = with_settings(
        POSTGRES,
        "      type: DatabaseMetadata",
        {"includeViews": False, "markDeletedSchemas": True, "includeOwners": True, "queryLogDuration": 7},
    )
    text = with_settings(text, "      ingestAllDatabases: true", {"connectionArguments": {"sslrootcert": "/ca.pem"}})
    text = text.replace("authProvider: openmetadata", "authProvider: google").replace(
        "  loggerLevel: DEBUG\n", "  loggerLevel: DEBUG\n  raiseOnError: false\n"
    )
    found = problems(tmp_path, text + "processor:\n  type: orm-profiler\n")
    assert set(found) == {
        "source.sourceConfig.config.includeViews",
        "source.sourceConfig.config.markDeletedSchemas",
        "source.sourceConfig.config.includeOwners",
        "source.sourceConfig.config.queryLogDuration",
        "source.serviceConnection.config.connectionArguments",
        "workflowConfig.openMetadataServerConfig.authProvider",
        "workflowConfig.raiseOnError",
        "processor",
    }
    assert (
        "false cannot be honoured: the sql source reads tables and views together"
        in (found["source.sourceConfig.config.includeViews"])
    )
    assert "this value cannot be honoured" in found["source.serviceConnection.config.connectionArguments"]
    assert "/ca.pem" not in str(found)


def test_inline_secrets_are_reported_at_their_fields(tmp_path: Path) -> None:
    text = POSTGRES.replace("${PG_PASSWORD}", "hunter2").replace("${OM_JWT_TOKEN}", "eyJraWQiOi.secret")
    found = problems(tmp_path, text)
    assert found["source.serviceConnection.config.authType.password"].startswith("9:secrets cannot be inline")
    assert found["workflowConfig.openMetadataServerConfig.securityConfig.jwtToken"].startswith("34:secrets")
    assert "hunter2" not in str(found) and "eyJraWQiOi" not in str(found)


def test_a_token_is_checked_even_without_a_sink(tmp_path: Path) -> None:
    text = POSTGRES.replace("${OM_JWT_TOKEN}", "eyJraWQiOi.secret").replace(
        "sink:\n  type: metadata-rest\n  config: {}\n", ""
    )
    found = problems(tmp_path, text)
    assert found[""] == "1:an OpenMetadata workflow needs a sink (type metadata-rest)"
    assert found["workflowConfig.openMetadataServerConfig.securityConfig.jwtToken"].startswith("31:secrets")


def test_unsupported_source_and_sink_types(tmp_path: Path) -> None:
    text = MYSQL.replace("type: mysql", "type: snowflake").replace("type: metadata-rest", "type: file")
    found = problems(tmp_path, text)
    assert "source type 'snowflake' cannot be translated" in found["source.type"]
    assert "sink type 'file'" in found["sink.type"]


def test_connection_options_and_ssl_mode_become_the_urls_query(tmp_path: Path) -> None:
    text = with_settings(
        POSTGRES,
        "      ingestAllDatabases: true",
        {"sslMode": "verify-full", "connectionOptions": {"sslrootcert": "/etc/ssl/ca.pem", "options": "-c x=1 y"}},
    )
    url = load(tmp_path, text).spec.source.config["url"]
    assert url.endswith("/sales?sslrootcert=%2Fetc%2Fssl%2Fca.pem&options=-c%20x%3D1%20y&sslmode=verify-full")
    bad = problems(tmp_path, with_settings(POSTGRES, "      ingestAllDatabases: true", {"sslMode": "on"}))
    assert bad == {
        "source.serviceConnection.config.sslMode": "13:should be one of disable, allow, prefer, require,"
        " verify-ca, verify-full"
    }


def test_database_filter_applies_only_with_ingest_all_databases(tmp_path: Path) -> None:
    alone = load(tmp_path, POSTGRES.replace("ingestAllDatabases: true", "ingestAllDatabases: false"))
    assert "database_filter" not in alone.spec.source.config and "all_databases" not in alone.spec.source.config
    message = warnings(alone)["source.sourceConfig.config.databaseFilterPattern"]
    assert message.startswith("does nothing here, as in OpenMetadata: databases are filtered only with ingestAllDat")
    mysql = with_settings(MYSQL, "      type: DatabaseMetadata", {"databaseFilterPattern": {"includes": ["x"]}})
    assert (
        "reads one database, named by databaseName"
        in warnings(load(tmp_path, mysql))["source.sourceConfig.config.databaseFilterPattern"]
    )


def test_use_fqn_for_filtering_matches_fqns(tmp_path: Path) -> None:
    text = with_settings(POSTGRES, "      type: DatabaseMetadata", {"useFqnForFiltering": True})
    assert load(tmp_path, text).spec.source.config["filter_by_fqn"] is True
    mysql = with_settings(MYSQL, "      type: DatabaseMetadata", {"useFqnForFiltering": True})
    assert load(tmp_path, mysql).spec.source.config["schema_filter"] == {"include": [r"local_mysql\.default\.shop"]}


def test_database_schema_is_read_only_if_the_schema_filter_keeps_it(tmp_path: Path) -> None:
    kept = with_settings(MYSQL, "      type: DatabaseMetadata", {"schemaFilterPattern": {"includes": ["SH"]}})
    assert load(tmp_path, kept).spec.source.config["schema_filter"] == {"include": ["shop"]}
    left_out = with_settings(MYSQL, "      type: DatabaseMetadata", {"schemaFilterPattern": {"excludes": ["sho"]}})
    assert problems(tmp_path, left_out) == {
        "source.serviceConnection.config.databaseSchema": "10:schema 'shop' is left out by schemaFilterPattern:"
        " nothing would be read"
    }


def test_patterns_re2_cannot_read_are_problems_at_the_pattern(tmp_path: Path) -> None:
    text = POSTGRES.replace('excludes: [".*_bak"]', 'excludes: [".*_bak", "(?!keep).*"]')
    found = problems(tmp_path, text)
    assert found == {
        "source.sourceConfig.config.tableFilterPattern.excludes.1": "23:invalid regular expression '(?!keep).*':"
        " negative lookahead (?!...) is not supported (patterns are matched by RE2, in linear time) (OpenMetadata's"
        " patterns are read with RE2 here)"
    }


def test_document_positions_follow_the_file(tmp_path: Path) -> None:
    text = textwrap.dedent(MYSQL).replace(
        "      databaseSchema: shop\n", "      databaseSchema: shop\n      poolSize: 3\n"
    )
    assert problems(tmp_path, text) == {
        "source.serviceConnection.config.poolSize": "11:cannot be translated: the sql source for Mysql has no "
        "equivalent of 'poolSize'"
    }


def test_problems_of_translation_and_validation_come_sorted_by_line(tmp_path: Path) -> None:
    text = (
        POSTGRES.replace("serviceName: local_pg", "serviceName: local_pg\n  extra: 1")
        .replace("hostPort: db.example.com:5432", "hostPort: ${1DB}")
        .replace("  loggerLevel: DEBUG\n", "  loggerLevel: DEBUG\n  successThreshold: 150\n")
        .replace("verifySSL: ignore", "verifySSL: maybe")
    )
    with pytest.raises(WorkflowFileError) as raised:
        load(tmp_path, text)
    found = [(problem.line, problem.field) for problem in raised.value.problems]
    assert found == [
        (4, "source.extra"),
        (11, "source.serviceConnection.config.hostPort"),
        (30, "workflowConfig.successThreshold"),
        (34, "workflowConfig.openMetadataServerConfig.verifySSL"),
    ]
    messages = str(raised.value)
    assert "malformed reference '${1DB}'" in messages and "less than or equal to 100" in messages


@pytest.mark.parametrize(
    "legacy",
    [
        {
            "source": {"type": "postgres", "config": {"username": "u", "host_port": "h:5432", "service_name": "pg"}},
            "sink": {"type": "metadata-rest", "config": {}},
            "metadata_server": {"type": "metadata-server", "config": {"api_endpoint": "http://h:8585/api"}},
        },
        {
            "source": {"type": "mysql", "config": {"service_name": "my", "database": "shop"}},
            "processor": {"type": "orm-profiler", "config": {}},
            "sink": {"type": "metadata-rest", "config": {}},
        },
        {"source": {"type": "mysql", "config": {"service_name": "my"}}, "sink": {"type": "metadata-rest"}},
    ],
    ids=["metadata_server", "processor", "service_name"],
)
def test_an_openmetadata_0_x_file_gets_one_message_naming_the_format(tmp_path: Path, legacy: dict) -> None:
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(legacy, indent=2))
    with pytest.raises(WorkflowFileError) as raised:
        load_workflow(path)
    [problem] = raised.value.problems
    assert "OpenMetadata 0.9-or-older workflow file" in problem.message
    assert "docs/openmetadata-workflows.md" in problem.message
    assert "https://docs.open-metadata.org/latest/connectors/database/postgres/yaml" in problem.message


def test_a_missing_variable_is_reported_where_it_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PG_PASSWORD", raising=False)
    monkeypatch.setenv("OM_JWT_TOKEN", TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / "om.yaml"
    path.write_text(POSTGRES)
    assert main(["run", "--quiet", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}:9:19: source.serviceConnection.config.authType.password: environment variable PG_PASSWORD is not set\n"
    )
    monkeypatch.setenv("PG_PASSWORD", "x")
    monkeypatch.delenv("DB_HOST", raising=False)
    path.write_text(POSTGRES.replace("hostPort: db.example.com:5432", "hostPort: '${DB_HOST}:5432'"))
    assert main(["run", "--quiet", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"{path}:10:18: source.serviceConnection.config.hostPort: environment")


def test_a_missing_variable_in_a_native_url_is_reported_where_it_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SHOP_DB_PASSWORD", raising=False)
    path = tmp_path / "native.yaml"
    path.write_text(
        "source:\n  type: sql\n  config:\n    service_name: shop\n"
        "    url: postgresql://reader:${SHOP_DB_PASSWORD}@127.0.0.1:5432/shop\n"
        "sink:\n  type: console\nworkflow:\n  staging_root: staging\n"
    )
    assert main(["run", "--quiet", str(path)]) == 1
    assert capsys.readouterr().err == (
        f"{path}:5:30: source.config.url: environment variable SHOP_DB_PASSWORD is not set\n"
    )


def test_validate_prints_the_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "om.yaml"
    path.write_text(POSTGRES.replace("markDeletedTables: false", "markDeletedTables: true"))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: ok"
    assert out[1].startswith(f"{path}:16:7: warning: source.sourceConfig.config.markDeletedTables: true does nothing")
    assert out[2].startswith(f"{path}:28:3: warning: workflowConfig.loggerLevel: ")


def test_example_file_runs_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_ingest.samples import sample_database_path

    monkeypatch.setenv("SAMPLE_SHOP_DB", str(sample_database_path()))
    monkeypatch.setenv("OM_JWT_TOKEN", TOKEN)
    monkeypatch.setenv("HOME", str(tmp_path))
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


@pytest.mark.airflow
def test_example_file_becomes_a_dag(airflow_db: Path) -> None:
    from airflow_provider_ingest.airflow.factory import build_dag

    dag = build_dag(EXAMPLE)
    assert dag.dag_id == "openmetadata_sample_shop"
    assert sorted(dag.task_ids) == ["cleanup_staging", "sink", "source"]
    assert [outlet.uri for outlet in dag.get_task("sink").outlets] == ["openmetadata://openmetadata/sample_shop"]


# OpenMetadata's rule (metadata/utils/filters.py, _filter): a name is filtered out when an exclude pattern
# re.match-es it (from its start, ignoring case), or when there are includes and none re.match-es it.
def openmetadata_keeps(includes: list[str], excludes: list[str], name: str) -> bool:
    def matches(patterns: list[str]) -> bool:
        return any(re.match(pattern, name, re.IGNORECASE) for pattern in patterns)

    return not matches(excludes) and (not includes or matches(includes))


PIECES = st.sampled_from(["a", "B", "_", "1", r"\.", ".", ".*", "[ab]", "b?", "^", "$", "(a|b)", "\\d", "x+"])
PATTERNS = st.lists(PIECES, min_size=1, max_size=4).map("".join)
NAMES = st.text(alphabet="aAbB_1.xX-", max_size=8)


@settings(max_examples=400, deadline=None)
@given(includes=st.lists(PATTERNS, max_size=3), excludes=st.lists(PATTERNS, max_size=3), name=NAMES)
def test_translated_filters_keep_what_openmetadata_keeps(includes: list[str], excludes: list[str], name: str) -> None:
    document = {
        "source": {
            "type": "postgres",
            "serviceName": "pg",
            "serviceConnection": {"config": {"type": "Postgres", "hostPort": "h:5432", "username": "u"}},
            "sourceConfig": {"config": {"tableFilterPattern": {"includes": includes, "excludes": excludes}}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "openMetadataServerConfig": {"hostPort": "http://h/api", "securityConfig": {"jwtToken": "${T}"}}
        },
    }
    from airflow_provider_ingest.workflow.document import read_document
    from airflow_provider_ingest.workflow.loader import validate_document

    workflow = validate_document(read_document("om.yaml", yaml.safe_dump(document)))
    patterns = NamePatterns.model_validate(workflow.spec.source.config.get("table_filter", {}))
    assert patterns.matches(name) == openmetadata_keeps(includes, excludes, name)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "${V}", "a.b", "[", "1"]))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab", max_size=2), inner, max_size=3),
    max_leaves=6,
)
KEYS = {
    (): ["source", "sink", "workflowConfig", "processor", "ingestionPipelineFQN"],
    ("source",): ["type", "serviceName", "serviceConnection", "sourceConfig"],
    ("source", "serviceConnection", "config"): [
        "type",
        "hostPort",
        "authType",
        "password",
        "databaseSchema",
        "sslMode",
        "connectionOptions",
        "ingestAllDatabases",
    ],
    ("source", "sourceConfig", "config"): [
        "schemaFilterPattern",
        "useFqnForFiltering",
        "markDeletedTables",
        "threads",
        "databaseFilterPattern",
    ],
    ("workflowConfig", "openMetadataServerConfig"): [
        "hostPort",
        "securityConfig",
        "verifySSL",
        "sslConfig",
        "authProvider",
    ],
}


@st.composite
def openmetadata_documents(draw: st.DrawFn) -> dict[str, Any]:
    """POSTGRES or MYSQL with some settings replaced by arbitrary values, of any shape."""
    document = yaml.safe_load(draw(st.sampled_from([POSTGRES, MYSQL])))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(sorted(KEYS)))
        parent = document
        for part in where:
            parent = parent.setdefault(part, {}) if isinstance(parent, dict) else {}
        if isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS[where]))] = draw(VALUES)
    return document


@settings(max_examples=300, deadline=None)
@given(document=openmetadata_documents())
def test_any_openmetadata_document_is_translated_or_refused_with_problems(document: dict[str, Any]) -> None:
    from airflow_provider_ingest.workflow.document import read_document
    from airflow_provider_ingest.workflow.loader import validate_document

    try:
        validate_document(read_document("om.yaml", yaml.safe_dump(document)))
    except WorkflowFileError as error:
        assert error.problems
        assert [(p.line, p.column) for p in error.problems] == sorted((p.line, p.column) for p in error.problems)
