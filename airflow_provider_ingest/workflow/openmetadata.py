"""Workflow files in OpenMetadata's own format, translated to this project's.

A PostgreSQL, MySQL, MariaDB or SQLite metadata workflow of OpenMetadata 1.x or 2.x (``source.type``,
``serviceName``, ``serviceConnection.config``, ``sourceConfig.config``, ``sink: metadata-rest``,
``workflowConfig``) becomes a ``sql`` source and an ``openmetadata`` sink. Every field is translated,
accepted as asking for what this project does anyway, accepted with a warning saying what this project
does instead, or refused as a problem naming it: nothing is dropped without a word. The rules are
written out in ``docs/openmetadata-workflows.md``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from airflow_provider_ingest.patterns import NamePatterns, PatternError, compile_pattern
from airflow_provider_ingest.records import fqn
from airflow_provider_ingest.workflow.document import Document, Location, Problem
from airflow_provider_ingest.workflow.env import REFERENCE, is_secret_location

SOURCES = {"postgres": "Postgres", "mysql": "Mysql", "mariadb": "MariaDB", "sqlite": "SQLite"}
"""OpenMetadata source types translated, and the ``serviceConnection.config.type`` each has."""

SCHEMES = {"Postgres": "postgresql+psycopg2", "Mysql": "mysql+pymysql", "MariaDB": "mysql+pymysql", "SQLite": "sqlite"}

FILTERS = {
    "databaseFilterPattern": "database_filter",
    "schemaFilterPattern": "schema_filter",
    "tableFilterPattern": "table_filter",
}

ANY: tuple[Any, ...] = (object(),)
"""Stands for every value in a :class:`Rule`."""


@dataclass(frozen=True)
class Rule:
    """How a setting with no counterpart here is taken.

    A value in ``same`` asks for what this project does anyway: accepted. A value in ``warned`` asks for
    something OpenMetadata does and this project does not: accepted with a warning saying ``instead``. Any
    other value is a problem saying ``instead``.
    """

    same: tuple[Any, ...]
    warned: tuple[Any, ...] = ()
    instead: str = ""


IGNORED = Rule(ANY)
"""Settings that change nothing in a database metadata run, in OpenMetadata either."""

NEVER_DELETES = "the openmetadata sink creates and updates entities, it never deletes one"
NO_OWNERS = "owners are not read from the database (the enrich processor can set them)"
NO_PROCEDURES = "stored procedures are not read"
PUT_ONLY = "entities are created or updated with PUT, as OpenMetadata does without overrideMetadata"

SOURCE_CONFIG_RULES = {
    "type": Rule(("DatabaseMetadata",), (), "only metadata workflows (type: DatabaseMetadata) are translated"),
    "markDeletedTables": Rule((False, None), (True,), f"tables dropped from the database stay: {NEVER_DELETES}"),
    "markAllDeletedTables": Rule((False, None), (), f"tables dropped from the database stay: {NEVER_DELETES}"),
    "markDeletedSchemas": Rule((False, None), (), f"schemas dropped from the database stay: {NEVER_DELETES}"),
    "markDeletedDatabases": Rule((False, None), (), f"databases dropped from the server stay: {NEVER_DELETES}"),
    "markDeletedStoredProcedures": Rule((False, None), (True,), f"{NO_PROCEDURES}, so none is marked deleted"),
    "includeTables": Rule(
        (True,), (), "the sql source reads tables and views together: leave tables out by name with tableFilterPattern"
    ),
    "includeViews": Rule(
        (True,), (), "the sql source reads tables and views together: leave views out by name with tableFilterPattern"
    ),
    "includeTags": Rule(
        (False, None),
        (True,),
        "no tags are read from the database (OpenMetadata's connectors read them where the database has some,"
        " PostgreSQL's row-level security policies for one); tags come from processors such as pii",
    ),
    "includeCustomProperties": Rule((False, None), (), "custom properties are not read from the database"),
    "includeOwners": Rule((False, None), (), NO_OWNERS),
    "ownerConfig": Rule((None, {}), (), NO_OWNERS),
    "includeStoredProcedures": Rule((False, None), (True,), NO_PROCEDURES),
    "storedProcedureFilterPattern": Rule((None, {}), ANY, f"{NO_PROCEDURES}: there is nothing to filter"),
    "includeDDL": Rule(
        (False, None), (True,), "tables' DDL is not read; a view's definition is sent as its schemaDefinition"
    ),
    "overrideMetadata": Rule((False, None), (), PUT_ONLY),
    "overrideViewLineage": Rule((False, None), (), "lineage is not read"),
    "queryLogDuration": Rule((1, None), (), "query logs are not read"),
    "queryParsingTimeoutLimit": Rule((300, None), (), "queries are not parsed"),
    "threads": Rule((1, None), ANY, "the sql source reads many tables per catalog query, without threads"),
    "incremental": Rule((None, {}, {"enabled": False}), ANY, "every run reads the whole catalog"),
    "extractJsonSchema": Rule((False, None), (), "JSON columns are sent without an inferred JSON schema"),
    "jsonSchemaSampleSize": Rule((10, None), ANY, "JSON schemas are not inferred"),
}
"""``sourceConfig.config`` settings other than the filters, with OpenMetadata's defaults (1.0 to 2.0)."""

UI_FILTER_DEFAULTS: tuple[Any, ...] = (
    None,
    {},
    {"includes": [], "excludes": ["^information_schema$"]},
    {"includes": [], "excludes": ["^template1$", "^template0$"]},
    {"includes": [], "excludes": ["^information_schema$", "^performance_schema$"]},
)
"""The connection-level filter patterns OpenMetadata (1.7+) writes by default."""

UI_FILTER = Rule(
    UI_FILTER_DEFAULTS,
    ANY,
    "OpenMetadata's UI takes it as the default of sourceConfig.config's filter of the same name; a workflow"
    " file's run, OpenMetadata's too, filters with sourceConfig.config only",
)
CERTIFICATE_FILES = (
    "certificates written in the file are not used: give certificate files in connectionOptions (PostgreSQL:"
    " sslrootcert, sslcert, sslkey; MySQL: ssl_ca, ssl_cert, ssl_key)"
)

CONNECTION_RULES = {
    "connectionArguments": Rule(
        (None, {}), (), "driver arguments are not translated: give them as connectionOptions (URL query parameters)"
    ),
    "sslConfig": Rule((None, {}), (), CERTIFICATE_FILES),
    "sslCA": Rule((None, ""), (), CERTIFICATE_FILES),
    "sslCert": Rule((None, ""), (), CERTIFICATE_FILES),
    "sslKey": Rule((None, ""), (), CERTIFICATE_FILES),
    "schemaFilterPattern": UI_FILTER,
    "tableFilterPattern": UI_FILTER,
    "databaseFilterPattern": UI_FILTER,
    "storedProcedureFilterPattern": UI_FILTER,
    **dict.fromkeys(
        (
            "supportsMetadataExtraction",
            "supportsUsageExtraction",
            "supportsLineageExtraction",
            "supportsViewLineageExtraction",
            "supportsDBTExtraction",
            "supportsProfiler",
            "supportsDatabase",
            "supportsQueryComment",
            "supportsDataDiff",
            "sampleDataStorageConfig",
            "classificationName",
            "queryStatementSource",
            "useSlowLogs",
            "queryHistoryTable",
        ),
        IGNORED,
    ),
}
"""``serviceConnection.config`` settings not translated: capabilities, and what other workflows use."""

NO_SERVER = Rule((None, ""), (), "SQLite has no server: databaseMode names the database file")
SQLITE_RULES = {
    **CONNECTION_RULES,
    "username": NO_SERVER,
    "password": NO_SERVER,
    "hostPort": NO_SERVER,
    "connectionOptions": Rule((None, {}), ANY, "OpenMetadata's SQLite connector does not use them either"),
}

TRANSLATED_CONNECTION = {
    "Postgres": {"type", "scheme", "username", "password", "authType", "hostPort", "database", "ingestAllDatabases"}
    | {"sslMode", "connectionOptions"},
    "Mysql": {"type", "scheme", "username", "password", "authType", "hostPort", "databaseSchema", "databaseName"}
    | {"connectionOptions"},
    "MariaDB": {"type", "scheme", "username", "password", "hostPort", "databaseSchema", "databaseName"}
    | {"connectionOptions"},
    "SQLite": {"type", "scheme", "databaseMode", "database"},
}
"""``serviceConnection.config`` keys translated, by connection type."""

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

SERVER_RULES = {
    "type": Rule(("OpenMetadata",)),
    "apiVersion": Rule(("v1",), (), "requests go to /api/v1"),
    "forceEntityOverwriting": Rule((False, None), (), PUT_ONLY),
    "enableVersionValidation": Rule((True, None), (False,), "the server's major version is checked all the same"),
    "extraHeaders": Rule((None, {}), (), "no extra headers are sent"),
    "secretsManagerProvider": Rule(("db", "noop", None), (), "secrets come from ${ENV_VAR} references"),
    "secretsManagerLoader": Rule(("noop", None), (), "secrets come from ${ENV_VAR} references"),
    "secretsManagerCredentials": Rule((None, {}), (), "secrets come from ${ENV_VAR} references"),
    "storeServiceConnection": Rule(
        (False,),
        (True, None),
        "the database service is created without its connection: no database credentials are sent to OpenMetadata",
    ),
    **dict.fromkeys(
        (
            "clusterName",
            "includeTopics",
            "includeTables",
            "includeDashboards",
            "includePipelines",
            "includeMlModels",
            "includeUsers",
            "includeTeams",
            "includeGlossaryTerms",
            "includeTags",
            "includePolicy",
            "includeMessagingServices",
            "includeDatabaseServices",
            "includePipelineServices",
            "limitRecords",
            "elasticsSearch",
            "supportsDataInsightExtraction",
            "supportsElasticSearchReindexingExtraction",
            "schemaFilterPattern",
            "tableFilterPattern",
            "databaseFilterPattern",
        ),
        IGNORED,
    ),
}
"""``openMetadataServerConfig`` settings not translated; the ``include...`` ones choose what OpenMetadata's own
``metadata`` source reads from a server, not what a sink sends."""

WORKFLOW_RULES = {
    "loggerLevel": Rule(("INFO", None), ("DEBUG", "WARN", "ERROR"), "log levels come from Airflow's logging settings"),
    "raiseOnError": Rule((True, None), (), "a run whose success rate is below successThreshold fails"),
    "config": Rule((None, {}), (), "this project's workflow has no component settings here"),
}

NOT_REPORTED = "the run's status is not sent to OpenMetadata: it is in the run's status table and the task's XCom"
TOP_RULES = {
    "ingestionPipelineFQN": Rule((None,), ANY, NOT_REPORTED),
    "pipelineRunId": Rule((None,), ANY, NOT_REPORTED),
    "ingestionRunnerName": Rule((None,), ANY, NOT_REPORTED),
    "enableStreamableLogs": Rule((False, None), (), "logs are not streamed to OpenMetadata"),
}

SINK_RULES = {
    "api_endpoint": IGNORED,
    "enable_async_pipeline": Rule((True, None), ANY, "not translated: the openmetadata sink's own settings apply"),
    "async_pipeline_workers": Rule((2, None), ANY, "not translated: the openmetadata sink's own settings apply"),
    "override_metadata": Rule((False, None), (), PUT_ONLY),
}
"""``sink.config`` settings of OpenMetadata's ``metadata-rest`` sink."""

SECRET_HINT = "secrets cannot be inline: put it in an environment variable and write ${VAR_NAME} here"


@dataclass
class TranslatedDocument(Document):
    """This project's workflow translated from an OpenMetadata file: a problem of a translated setting is
    reported at the OpenMetadata setting it comes from."""

    original: Document = field(kw_only=True)
    origins: dict[Location, tuple[Location, ...]] = field(default_factory=dict)

    def origin(self, location: Location) -> tuple[Location, ...]:
        """The OpenMetadata settings a translated location comes from (of its nearest translated ancestor)."""
        for end in range(len(location), -1, -1):
            found = self.origins.get(tuple(location[:end]))
            if found:
                return found
        return ((),)

    def problem(self, location: Location, message: str, *, at: str | None = None) -> Problem:
        candidates = self.origin(location)
        if at:
            for candidate in candidates:
                if self.original.find(candidate, at):
                    return self.original.problem(candidate, message, at=at)
        return self.original.problem(candidates[0], message)


@dataclass
class Translation:
    """What a translation gives: the translated document, the problems, the warnings, and the components
    whose translation had problems (their translated settings would only repeat them)."""

    document: TranslatedDocument
    problems: list[Problem]
    warnings: list[Problem]
    incomplete: set[str]


def translate(document: Document) -> Translation:
    """This project's workflow for an OpenMetadata workflow document, with every problem and warning found."""
    translator = _Translator(document)
    data = translator.run()
    translated = TranslatedDocument(
        document.path, data, text=document.text, original=document, origins=translator.origins
    )
    return Translation(translated, translator.problems, translator.warnings, translator.incomplete)


class _Translator:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.incomplete: set[str] = set()
        self.origins: dict[Location, tuple[Location, ...]] = {}
        self.result: dict[str, Any] = {}
        self.role = "workflow"
        self.all_databases = False

    def problem(self, location: Location, message: str) -> None:
        self.problems.append(self.document.problem(location, message))
        self.incomplete.add(self.role)

    def warn(self, location: Location, message: str) -> None:
        self.warnings.append(self.document.problem(location, message))

    def put(self, target: Location, value: Any, *origins: Location) -> None:
        """Set a translated setting, remembering the OpenMetadata settings it comes from."""
        parent = self.result
        for part in target[:-1]:
            parent = parent.setdefault(part, {})
        parent[target[-1]] = value
        self.origins[target] = origins

    def value(self, location: Location) -> Any:
        value: Any = self.document.data
        for part in location:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def mapping(self, location: Location) -> dict[str, Any]:
        value = self.value(location)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(location, "should be a mapping")
            return {}
        return value

    def keys(self, location: Location, translated: set[str], rules: dict[str, Rule], what: str) -> None:
        """Every key of a mapping that is not translated: taken by its rule, or a problem."""
        for key, value in self.mapping(location).items():
            if key in translated:
                continue
            rule = rules.get(key)
            if rule is None:
                self.problem((*location, key), f"cannot be translated: {what} has no equivalent of {key!r}")
            else:
                self.apply(rule, (*location, key), value)

    def apply(self, rule: Rule, location: Location, value: Any) -> None:
        if _among(value, rule.same):
            return
        shown = _shown(location, value, rule)
        if _among(value, rule.warned):
            self.warn(location, f"{shown} does nothing here: {rule.instead}")
        else:
            reason = f": {rule.instead}" if rule.instead else f" (accepted: {', '.join(map(_json, rule.same))})"
            self.problem(location, f"{shown} cannot be honoured{reason}")

    def run(self) -> dict[str, Any]:
        data = self.document.data
        self.put(("description",), f"Translated from the OpenMetadata workflow file {self.document.path}", ())
        self.keys((), {"source", "sink", "workflowConfig"}, TOP_RULES, "this project's workflow")
        self.role = "source"
        self.source()
        self.role = "sink"
        if "sink" in data:
            self.sink()
        else:
            self.problem((), "an OpenMetadata workflow needs a sink (type metadata-rest)")
            self.put(("sink", "type"), "openmetadata", ())  # stands in, so that the problem is told once
            self.server()  # its token is checked all the same
        self.role = "workflow"
        self.workflow_settings()
        if self.warnings:  # also in the DAG's documentation
            notes = "".join(f"\n- {warning.field}: {warning.message}" for warning in self.warnings)
            self.result["description"] += f"\n\nAsked for in the file and not done here:{notes}"
        return self.result

    def source(self) -> None:
        source = self.mapping(("source",))
        self.origins[("source",)] = (("source",),)
        self.put(("source", "type"), "sql", ("source", "type"))
        self.origins[("source", "config")] = (("source", "serviceConnection", "config"), ("source",))
        self.keys(("source",), {"type", "serviceName", "serviceConnection", "sourceConfig"}, {}, "the sql source")
        kind = str(source.get("type", "")).lower()
        if kind not in SOURCES:
            self.problem(
                ("source", "type"),
                f"source type {source.get('type')!r} cannot be translated; supported: {', '.join(SOURCES)}",
            )
            self.put(("source", "config"), {}, ("source",))
            return
        if source.get("serviceName"):
            self.put(("source", "config", "service_name"), str(source["serviceName"]), ("source", "serviceName"))
        else:
            self.problem(("source", "serviceName"), "field required")
        self.connection(SOURCES[kind])
        self.source_config(SOURCES[kind])

    def connection(self, expected: str) -> None:
        where: Location = ("source", "serviceConnection", "config")
        self.keys(("source", "serviceConnection"), {"config"}, {}, "the sql source")
        connection = self.mapping(where)
        kind = connection.get("type", expected)
        if kind != expected:
            self.problem((*where, "type"), f"a {expected} source needs connection type {expected!r}, not {kind!r}")
            return
        rules = SQLITE_RULES if expected == "SQLite" else CONNECTION_RULES
        self.keys(where, TRANSLATED_CONNECTION[expected], rules, f"the sql source for {expected}")
        scheme = str(connection.get("scheme") or SCHEMES[expected]).replace("sqlite+pysqlite", "sqlite")
        if expected == "SQLite":
            path = str(connection.get("databaseMode") or ":memory:")
            self.put(("source", "config", "url"), f"sqlite:///{path}", (*where, "databaseMode"), where)
            if connection.get("database"):
                self.put(("source", "config", "database_name"), str(connection["database"]), (*where, "database"))
            return
        host = connection.get("hostPort")
        if not host:
            self.problem((*where, "hostPort"), "field required")
        username = _escaped(str(connection.get("username") or ""))
        database = _escaped(str(connection.get("database") or "")) if expected == "Postgres" else ""
        query = self.query(where, connection, expected)
        url = f"{scheme}://{username + '@' if username else ''}{host or ''}/{database}{query}"
        parts = ("hostPort", "username", "database", "scheme", "connectionOptions", "sslMode")
        self.put(("source", "config", "url"), url, *[(*where, part) for part in parts if part in connection], where)
        password = self.password(where, connection)
        if password:  # its own setting: a password is never spliced into the URL
            self.put(("source", "config", "password"), password, *self.password_origin(where, connection))
        every = connection.get("ingestAllDatabases")
        if every not in (True, False, None):
            self.problem((*where, "ingestAllDatabases"), "should be true or false")
        elif every:
            self.all_databases = True
            self.put(("source", "config", "all_databases"), True, (*where, "ingestAllDatabases"))
        if connection.get("databaseName"):
            self.put(("source", "config", "database_name"), str(connection["databaseName"]), (*where, "databaseName"))

    def query(self, where: Location, connection: dict[str, Any], kind: str) -> str:
        """``connectionOptions`` (and PostgreSQL's ``sslMode``) as the URL's query, as OpenMetadata passes them."""
        options = self.mapping((*where, "connectionOptions"))
        pairs = []
        for key, value in options.items():
            if isinstance(value, (dict, list)) or value is None:
                self.problem((*where, "connectionOptions", key), "should be a string")
                continue
            pairs.append(f"{quote(str(key), safe='')}={_escaped(str(value))}")
        mode = connection.get("sslMode")
        if kind == "Postgres" and mode is not None:
            if mode in SSL_MODES:
                pairs.append(f"sslmode={mode}")
            else:
                self.problem((*where, "sslMode"), f"should be one of {', '.join(SSL_MODES)}")
        return "?" + "&".join(pairs) if pairs else ""

    def password_origin(self, where: Location, connection: dict[str, Any]) -> tuple[Location, ...]:
        auth = connection.get("authType")
        if isinstance(auth, dict) and "password" in auth:
            return ((*where, "authType", "password"),)
        return ((*where, "password"),)

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

    def source_config(self, kind: str) -> None:
        where: Location = ("source", "sourceConfig", "config")
        self.keys(("source", "sourceConfig"), {"config"}, {}, "the sql source")
        config = self.mapping(where)
        self.keys(where, {*FILTERS, "useFqnForFiltering"}, SOURCE_CONFIG_RULES, "the sql source")
        by_fqn = config.get("useFqnForFiltering", False)
        if by_fqn not in (True, False, None):
            self.problem((*where, "useFqnForFiltering"), "should be true or false")
        elif by_fqn:
            self.put(("source", "config", "filter_by_fqn"), True, (*where, "useFqnForFiltering"))
        for om_key, key in FILTERS.items():
            if om_key not in config:
                continue
            patterns = self.filter_pattern((*where, om_key), config[om_key])
            if om_key == "databaseFilterPattern" and not self.all_databases:
                if patterns:
                    self.warn((*where, om_key), f"does nothing here, as in OpenMetadata: {_one_database(kind)}")
            elif patterns:
                self.put(("source", "config", key), patterns, (*where, om_key))
        schema = self.value(("source", "serviceConnection", "config", "databaseSchema"))
        if kind in ("Mysql", "MariaDB") and schema:
            self.only_schema(str(schema), bool(by_fqn))

    def only_schema(self, schema: str, by_fqn: bool) -> None:
        """MySQL's ``databaseSchema``: that schema alone, if ``schemaFilterPattern`` keeps it, as OpenMetadata reads."""
        where: Location = ("source", "serviceConnection", "config", "databaseSchema")
        config = self.result["source"].setdefault("config", {})
        patterns = NamePatterns.model_validate(config.get("schema_filter", {}))
        names = [config.get("service_name") or "-", config.get("database_name", "default"), schema]
        name = fqn.build(*names) if by_fqn else schema
        if "schema_filter" in config and any(REFERENCE.search(part) for part in names):
            self.problem(where, "cannot be checked against schemaFilterPattern while it holds a ${VAR} reference")
        elif not patterns.matches(name):
            self.problem(where, f"schema {schema!r} is left out by schemaFilterPattern: nothing would be read")
        self.put(("source", "config", "schema_filter"), {"include": [_literal(name)]}, where)

    def filter_pattern(self, where: Location, value: Any) -> dict[str, Any]:
        """OpenMetadata keeps a name when ``re.match`` (its start, ignoring case) finds no exclude pattern and,
        if there are includes, some include pattern: ``sales`` is kept as ``(?:sales)(?s:.*)`` over the whole name."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(where, "should be a mapping with includes and excludes")
            return {}
        self.keys(where, {"includes", "excludes"}, {}, "a name filter")
        patterns: dict[str, Any] = {}
        for om_key, key in (("includes", "include"), ("excludes", "exclude")):
            items = value.get(om_key) or []
            if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
                self.problem((*where, om_key), "should be a list of regular expressions")
                continue
            kept = []
            for index, item in enumerate(items):
                try:
                    compile_pattern(item, ignore_case=True)
                except PatternError as error:
                    self.problem((*where, om_key, index), f"{error} (OpenMetadata's patterns are read with RE2 here)")
                    continue
                kept.append(f"(?:{item})(?s:.*)")
            if kept:
                patterns[key] = kept
        if patterns:
            patterns["ignore_case"] = True
        return patterns

    def sink(self) -> None:
        self.origins[("sink",)] = (("sink",),)
        self.origins[("sink", "config")] = (("workflowConfig", "openMetadataServerConfig"), ("workflowConfig",))
        sink = self.mapping(("sink",))
        self.keys(("sink",), {"type", "config"}, {}, "the openmetadata sink")
        self.put(("sink", "type"), "openmetadata", ("sink", "type"))
        if sink.get("type") != "metadata-rest":
            self.problem(
                ("sink", "type"), f"sink type {sink.get('type')!r} cannot be translated; supported: metadata-rest"
            )
        self.keys(("sink", "config"), {"bulk_sink_batch_size"}, SINK_RULES, "the openmetadata sink")
        self.server()
        batch_size = self.value(("sink", "config", "bulk_sink_batch_size"))
        if batch_size is not None:
            where = ("sink", "config", "bulk_sink_batch_size")
            self.put(("sink", "config", "batch_size"), batch_size, where)
        service = self.result["source"].get("config", {}).get("service_name")
        if service:
            self.put(("sink", "config", "service_name"), service, ("source", "serviceName"))

    def server(self) -> None:
        where: Location = ("workflowConfig", "openMetadataServerConfig")
        server = self.mapping(where)
        translated = {"hostPort", "authProvider", "securityConfig", "verifySSL", "sslConfig"}
        self.keys(where, translated, SERVER_RULES, "the openmetadata sink")
        self.put(("sink", "config"), {}, where)
        if server.get("hostPort"):
            self.put(("sink", "config", "server_url"), str(server["hostPort"]), (*where, "hostPort"))
        else:
            self.problem((*where, "hostPort"), "field required")
        if server.get("authProvider", "openmetadata") != "openmetadata":
            self.problem((*where, "authProvider"), "only authProvider: openmetadata (a JWT token) can be translated")
        self.keys((*where, "securityConfig"), {"jwtToken"}, {}, "the openmetadata sink")
        token = self.mapping((*where, "securityConfig")).get("jwtToken")
        if not token:
            self.problem((*where, "securityConfig", "jwtToken"), "field required")
        elif not (isinstance(token, str) and REFERENCE.fullmatch(token)):
            self.problem((*where, "securityConfig", "jwtToken"), SECRET_HINT)
        else:
            self.put(("sink", "config", "jwt_token"), token, (*where, "securityConfig", "jwtToken"))
        self.tls(where, server.get("verifySSL"))

    def tls(self, where: Location, verify: Any) -> None:
        ssl_where: Location = (*where, "sslConfig")
        self.keys(ssl_where, {"caCertificate"}, {}, "the openmetadata sink (a CA bundle only)")
        ca = self.mapping(ssl_where).get("caCertificate")
        if verify in (None, "no-ssl"):
            return
        if verify == "ignore":
            self.put(("sink", "config", "verify_ssl"), False, (*where, "verifySSL"))
        elif verify == "validate":
            if ca:
                self.put(("sink", "config", "verify_ssl"), str(ca), (*ssl_where, "caCertificate"))
        else:
            self.problem((*where, "verifySSL"), f"cannot be translated: {verify!r} (no-ssl, ignore or validate)")

    def workflow_settings(self) -> None:
        where: Location = ("workflowConfig",)
        self.keys(where, {"openMetadataServerConfig", "successThreshold"}, WORKFLOW_RULES, "this project's workflow")
        threshold = self.mapping(where).get("successThreshold")
        if threshold is not None:
            self.put(("workflow", "success_threshold"), threshold, (*where, "successThreshold"))


def _among(value: Any, values: tuple[Any, ...]) -> bool:
    """Whether ``value`` is one of ``values`` (:data:`ANY`: every value), ``True`` never taken for ``1``."""
    return values is ANY or any(type(value) is type(item) and value == item for item in values)


def _shown(location: Location, value: Any, rule: Rule) -> str:
    """A value as a message may show it: booleans, numbers, and the words of a setting that takes words;
    never a secret, a certificate or a mapping."""
    if value is None or isinstance(value, (bool, int, float)):
        return _json(value)
    words = any(isinstance(item, str) for item in (*rule.same, *rule.warned))
    if isinstance(value, str) and words and not is_secret_location(location) and len(value) <= 40:
        return _json(value)
    return "this value"


def _json(value: Any) -> str:
    return json.dumps(value)


def _escaped(text: str) -> str:
    """Text for a URL's user, path or query value: percent-encoded, its ``${VAR}`` references kept as written."""
    parts = []
    position = 0
    for match in REFERENCE.finditer(text):
        parts += [quote(text[position : match.start()], safe=""), match.group(0)]
        position = match.end()
    parts.append(quote(text[position:], safe=""))
    return "".join(parts)


def _literal(name: str) -> str:
    """A pattern matching just ``name``, its ``${VAR}`` references kept to be substituted."""
    parts = REFERENCE.split(name)
    return "".join(f"${{{part}}}" if index % 2 else re.escape(part) for index, part in enumerate(parts))


def _one_database(kind: str) -> str:
    if kind == "Postgres":
        return "databases are filtered only with ingestAllDatabases: true; this run reads serviceConnection's database"
    named = "databaseMode's file" if kind == "SQLite" else "one database, named by databaseName (default 'default')"
    return f"OpenMetadata's {kind} connector reads {named}; only schemas and tables are filtered"
