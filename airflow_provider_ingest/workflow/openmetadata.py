"""Workflow files in OpenMetadata's own format, translated to this project's.

A PostgreSQL, MySQL/MariaDB or SQLite metadata workflow (``source.type``, ``serviceName``,
``serviceConnection.config``, ``sourceConfig.config``, ``sink: metadata-rest``,
``workflowConfig.openMetadataServerConfig``) becomes a ``sql`` source and an ``openmetadata`` sink.
Every field that cannot be translated is a problem naming it; nothing is silently dropped.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_ingest.workflow.document import Document, Location, Problem, WorkflowFileError
from airflow_provider_ingest.workflow.env import REFERENCE

SOURCES = {"postgres": "Postgres", "mysql": "Mysql", "mariadb": "MariaDB", "sqlite": "SQLite"}
"""OpenMetadata source types translated, and the ``serviceConnection.config.type`` each has."""

SCHEMES = {"Postgres": "postgresql+psycopg2", "Mysql": "mysql+pymysql", "MariaDB": "mysql+pymysql", "SQLite": "sqlite"}

CONNECTION_KEYS = {
    "Postgres": {"type", "scheme", "username", "password", "authType", "hostPort", "database", "ingestAllDatabases"},
    "Mysql": {"type", "scheme", "username", "password", "authType", "hostPort", "databaseSchema", "databaseName"},
    "MariaDB": {"type", "scheme", "username", "password", "hostPort", "databaseSchema", "databaseName"},
    "SQLite": {"type", "scheme", "databaseMode", "database"},
}
"""``serviceConnection.config`` keys translated, by connection type."""

FILTERS = {
    "databaseFilterPattern": "database_filter",
    "schemaFilterPattern": "schema_filter",
    "tableFilterPattern": "table_filter",
}

SAME_BEHAVIOUR = {
    "type": "DatabaseMetadata",
    "includeTables": True,
    "includeViews": True,
    "includeTags": False,
    "includeStoredProcedures": False,
    "markDeletedTables": False,
    "markDeletedStoredProcedures": False,
    "useFqnForFiltering": False,
}
"""``sourceConfig.config`` settings accepted when they ask for what the ``sql`` source does anyway."""

SECRET_HINT = "secrets cannot be inline: put it in an environment variable and write ${VAR_NAME} here"


def is_openmetadata_workflow(data: dict[str, Any]) -> bool:
    """OpenMetadata's files have ``workflowConfig`` and a ``source`` with ``serviceConnection``."""
    source = data.get("source")
    return "workflowConfig" in data or (isinstance(source, dict) and "serviceConnection" in source)


def translate(document: Document) -> dict[str, Any]:
    """This project's workflow for an OpenMetadata workflow document; raise listing what cannot be translated."""
    translation = _Translation(document)
    result = translation.run()
    if translation.problems:
        raise WorkflowFileError(translation.problems)
    return result


class _Translation:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.problems: list[Problem] = []

    def problem(self, location: Location, message: str) -> None:
        self.problems.append(self.document.problem(location, message))

    def mapping(self, location: Location) -> dict[str, Any]:
        value: Any = self.document.data
        for part in location:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(location, "should be a mapping")
            return {}
        return value

    def unknown(self, location: Location, keys: set[str], what: str) -> None:
        for key in self.mapping(location):
            if key not in keys:
                self.problem((*location, key), f"cannot be translated: {what} has no equivalent of {key!r}")

    def run(self) -> dict[str, Any]:
        data = self.document.data
        self.unknown((), {"source", "sink", "workflowConfig"}, "this project's workflow")
        source = self.source()
        sink = self.sink()
        result: dict[str, Any] = {
            "description": f"Translated from the OpenMetadata workflow file {self.document.path}",
            "source": {"type": "sql", "config": source},
        }
        if sink is not None:
            if source.get("service_name"):
                sink["service_name"] = source["service_name"]
            result["sink"] = {"type": "openmetadata", "config": sink}
        elif "sink" not in data:
            self.problem((), "an OpenMetadata workflow needs a sink (type metadata-rest)")
        return result

    def source(self) -> dict[str, Any]:
        source = self.mapping(("source",))
        self.unknown(("source",), {"type", "serviceName", "serviceConnection", "sourceConfig"}, "the sql source")
        kind = str(source.get("type", "")).lower()
        if kind not in SOURCES:
            self.problem(
                ("source", "type"),
                f"source type {source.get('type')!r} cannot be translated; supported: {', '.join(SOURCES)}",
            )
            return {}
        config: dict[str, Any] = {}
        if source.get("serviceName"):
            config["service_name"] = str(source["serviceName"])
        else:
            self.problem(("source", "serviceName"), "field required")
        config.update(self.connection(SOURCES[kind]))
        config.update(self.source_config())
        return config

    def connection(self, expected: str) -> dict[str, Any]:
        where: Location = ("source", "serviceConnection", "config")
        self.unknown(("source", "serviceConnection"), {"config"}, "the sql source")
        connection = self.mapping(where)
        kind = connection.get("type", expected)
        if kind != expected:
            self.problem((*where, "type"), f"a {expected} source needs connection type {expected!r}, not {kind!r}")
            return {}
        self.unknown(where, CONNECTION_KEYS[expected], f"the sql source for {expected}")
        scheme = str(connection.get("scheme") or SCHEMES[expected]).replace("sqlite+pysqlite", "sqlite")
        config: dict[str, Any] = {}
        if expected == "SQLite":
            path = str(connection.get("databaseMode") or ":memory:")
            config["url"] = f"sqlite:///{path}"
            if connection.get("database"):
                config["database_name"] = str(connection["database"])
            return config
        host = connection.get("hostPort")
        if not host:
            self.problem((*where, "hostPort"), "field required")
        username = str(connection.get("username") or "")
        database = connection.get("database") if expected == "Postgres" else None
        config["url"] = f"{scheme}://{username + '@' if username else ''}{host or ''}/{database or ''}"
        password = self.password(where, connection)
        if password:
            config["password"] = password  # its own field: a password is never spliced into the URL unescaped
        if connection.get("ingestAllDatabases"):
            config["all_databases"] = True
        if connection.get("databaseName"):
            config["database_name"] = str(connection["databaseName"])
        if connection.get("databaseSchema"):
            config.setdefault("schema_filter", {})["include"] = [_literal(str(connection["databaseSchema"]))]
        return config

    def password(self, where: Location, connection: dict[str, Any]) -> str | None:
        """The password, which must be a ``${VAR}`` reference (plain, or in ``authType.password``)."""
        location: Location = (*where, "password")
        password = connection.get("password")
        auth = connection.get("authType")
        if isinstance(auth, dict):
            location = (*where, "authType", "password")
            for key in auth:
                if key != "password":
                    self.problem((*where, "authType", key), f"cannot be translated: only password auth, not {key!r}")
            password = auth.get("password", password)
        elif auth is not None:
            self.problem((*where, "authType"), "should be a mapping with a password")
        if password is None:
            return None
        if not (isinstance(password, str) and REFERENCE.fullmatch(password)):
            self.problem(location, SECRET_HINT)
            return None
        return password

    def source_config(self) -> dict[str, Any]:
        where: Location = ("source", "sourceConfig", "config")
        self.unknown(("source", "sourceConfig"), {"config"}, "the sql source")
        config: dict[str, Any] = {}
        for key, value in self.mapping(where).items():
            if key in FILTERS:
                patterns = self.filter_pattern((*where, key), value)
                if patterns:
                    config[FILTERS[key]] = patterns
            elif key in SAME_BEHAVIOUR and value == SAME_BEHAVIOUR[key]:
                continue
            elif key in SAME_BEHAVIOUR:
                self.problem(
                    (*where, key),
                    f"cannot be translated: the sql source always behaves as {key}: {SAME_BEHAVIOUR[key]!r}",
                )
            else:
                self.problem((*where, key), f"cannot be translated: the sql source has no equivalent of {key!r}")
        return config

    def filter_pattern(self, where: Location, value: Any) -> dict[str, Any]:
        """OpenMetadata's ``includes``/``excludes`` match a name's start, ignoring case: so do these."""
        if not isinstance(value, dict):
            self.problem(where, "should be a mapping with includes and excludes")
            return {}
        self.unknown(where, {"includes", "excludes"}, "a name filter")
        patterns: dict[str, Any] = {}
        for om_key, key in (("includes", "include"), ("excludes", "exclude")):
            items = value.get(om_key) or []
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                self.problem((*where, om_key), "should be a list of regular expressions")
                continue
            if items:
                patterns[key] = [f"(?:{item}).*" for item in items]
        if patterns:
            patterns["ignore_case"] = True
        return patterns

    def sink(self) -> dict[str, Any] | None:
        sink = self.mapping(("sink",))
        if not sink:
            return None
        self.unknown(("sink",), {"type", "config"}, "the openmetadata sink")
        if sink.get("type") != "metadata-rest":
            self.problem(
                ("sink", "type"), f"sink type {sink.get('type')!r} cannot be translated; supported: metadata-rest"
            )
        self.unknown(("sink", "config"), set(), "the openmetadata sink")
        return self.server()

    def server(self) -> dict[str, Any]:
        where: Location = ("workflowConfig", "openMetadataServerConfig")
        self.unknown(("workflowConfig",), {"openMetadataServerConfig", "loggerLevel"}, "this project's workflow")
        server = self.mapping(where)
        self.unknown(
            where, {"hostPort", "authProvider", "securityConfig", "verifySSL", "sslConfig"}, "the openmetadata sink"
        )
        config: dict[str, Any] = {}
        if server.get("hostPort"):
            config["server_url"] = str(server["hostPort"])
        else:
            self.problem((*where, "hostPort"), "field required")
        if server.get("authProvider", "openmetadata") != "openmetadata":
            self.problem((*where, "authProvider"), "only authProvider: openmetadata (a JWT token) can be translated")
        security = self.mapping((*where, "securityConfig"))
        self.unknown((*where, "securityConfig"), {"jwtToken"}, "the openmetadata sink")
        token = security.get("jwtToken")
        if not token:
            self.problem((*where, "securityConfig", "jwtToken"), "field required")
        elif not (isinstance(token, str) and REFERENCE.fullmatch(token)):
            self.problem((*where, "securityConfig", "jwtToken"), SECRET_HINT)
        else:
            config["jwt_token"] = token
        verify = server.get("verifySSL")
        if verify is not None:
            config.update(self.tls(where, verify))
        return config

    def tls(self, where: Location, verify: Any) -> dict[str, Any]:
        if verify == "no-ssl":
            return {}
        if verify == "ignore":
            return {"verify_ssl": False}
        if verify == "validate":
            ca = self.mapping((*where, "sslConfig")).get("caCertificate")
            return {"verify_ssl": str(ca)} if ca else {}
        self.problem((*where, "verifySSL"), f"cannot be translated: {verify!r} (no-ssl, ignore or validate)")
        return {}


def _literal(name: str) -> str:
    return re.escape(name)
