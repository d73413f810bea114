"""The ``sql`` source: a database catalog as records, schema by schema, in bulk catalog queries."""

from __future__ import annotations

import difflib
import importlib
import string
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator

from airflow_provider_ingest.api import ComponentConfig, Source
from airflow_provider_ingest.partitions import Part, Unit
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Record, Table, fqn
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.sources.sql.catalog import (
    Catalog,
    Found,
    Pending,
    SchemaInfo,
    Scope,
    Unreadable,
    error_text,
)
from airflow_provider_ingest.sources.sql.connection import (
    SqlConfigurationError,
    SqlConnectionError,
    SqlQueryError,
    SqlUnavailableError,
    create_source_engine,
    is_database_error,
    mask,
    render,
    scrub,
)
from airflow_provider_ingest.sources.sql.session import RetrySettings, Session
from airflow_provider_ingest.terminal import counted

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from airflow_provider_ingest.sources.sql.lineage import ViewLineage

CATALOGS = {
    "postgresql": "airflow_provider_ingest.sources.sql.postgres:PostgresCatalog",
    "mysql": "airflow_provider_ingest.sources.sql.mysql:MysqlCatalog",
    "mariadb": "airflow_provider_ingest.sources.sql.mysql:MysqlCatalog",
    "sqlite": "airflow_provider_ingest.sources.sql.sqlite:SqliteCatalog",
}
"""SQLAlchemy backend names the source reads, and their catalog readers."""

SAMPLE_SERVICE = "sample_shop"
_REGEX_SYNTAX = frozenset(".^$*+?{}[]|()")
_ASCII_ALNUM = frozenset(string.ascii_letters + string.digits)
FILTER_SETTINGS = ("database_filter", "schema_filter", "table_filter")


class SqlSourceConfig(ComponentConfig):
    url: str | None = Field(default=None, description="SQLAlchemy URL, without its password (see password)")
    password: str | None = Field(default=None, description="the url's password, as ${ENV_VAR}; used as is, unescaped")
    conn_id: str | None = Field(default=None, description="Airflow connection id (postgres, mysql, sqlite)")
    sample: Literal["shop"] | None = Field(default=None, description="the bundled SQLite sample database")
    service_name: str | None = Field(
        default=None,
        min_length=1,
        description=f"name of the database service; default: the conn_id, or {SAMPLE_SERVICE!r}",
    )
    database_name: str | None = Field(
        default=None,
        min_length=1,
        description="database name for MySQL (default 'default') and SQLite (default: file stem)",
    )
    all_databases: bool = Field(
        default=False, description="PostgreSQL: every database the filter keeps, not only the URL's"
    )
    database_filter: NamePatterns = Field(default_factory=NamePatterns)
    schema_filter: NamePatterns = Field(default_factory=NamePatterns)
    table_filter: NamePatterns = Field(default_factory=NamePatterns)
    filter_by_fqn: bool = Field(
        default=False, description="the filters match FQNs (service.database.schema.table), not names"
    )
    include_system_schemas: bool = Field(default=False, description="also read pg_catalog, mysql...")
    include_row_counts: bool = Field(default=False, description="row counts from catalog statistics")
    include_view_lineage: bool = Field(
        default=False,
        description="lineage records from each view's definition: its source tables and columns -> the view",
    )
    batch_size: int = Field(default=5000, ge=1, description="relations read per catalog query; bounds the memory used")
    sample_rows: int = Field(
        default=0, ge=0, le=10_000, description="fill Column.samples with the distinct values of up to this many rows"
    )
    retry: RetrySettings = Field(
        default_factory=RetrySettings, description="retries of a query whose connection was lost or that timed out"
    )

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, url: str | None) -> str | None:
        """The URL's ``dialect+driver`` is one the source reads, and a driver SQLAlchemy knows; a typo is named with
        the close match. (A value holding a ``${NAME}`` reference or a template is checked once resolved.)"""
        if url is None or "${" in url or "{{" in url or "://" not in url:
            return url  # no URL at all: parse_url says what one looks like
        dialect, _, driver = url.partition("://")[0].lower().partition("+")
        if dialect not in CATALOGS:
            close = difflib.get_close_matches(dialect, [*CATALOGS, "postgres"], n=1)
            hint = f"; did you mean {'postgresql' if close == ['postgres'] else close[0]!r}?" if close else ""
            raise ValueError(f"the sql source reads {', '.join(CATALOGS)}, not {dialect!r}{hint}")
        if driver:
            from sqlalchemy.dialects import registry
            from sqlalchemy.exc import NoSuchModuleError

            try:
                registry.load(f"{dialect}.{driver}")
            except NoSuchModuleError:
                raise ValueError(f"SQLAlchemy has no driver {driver!r} for {dialect}") from None
        return url

    @model_validator(mode="after")
    def _one_connection(self) -> SqlSourceConfig:
        given = [name for name in ("url", "conn_id", "sample") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of url, conn_id or sample (got {', '.join(given) or 'none'})")
        if self.url is not None and self.service_name is None:
            raise ValueError("service_name is required with url")
        if self.password is not None and self.url is None:
            raise ValueError("password goes with url (a conn_id holds its own)")
        return self


class SqlSource(Source):
    """Reads the catalog of a PostgreSQL, MySQL/MariaDB or SQLite database."""

    type_name = "sql"
    config_class = SqlSourceConfig
    config: SqlSourceConfig
    partition_by = frozenset({"schema", "database"})
    gives_lines = True  # each table its reader checked valid as it built it (Catalog.table)
    _part: Part | None = None

    @classmethod
    def partition_problem(cls, config: ComponentConfig, by: str) -> str | None:
        """By database needs PostgreSQL with ``all_databases``: MySQL and SQLite give the source one database."""
        problem = super().partition_problem(config, by)
        if problem is not None or by != "database" or not isinstance(config, SqlSourceConfig):
            return problem
        scheme = (config.url or "").split(":", 1)[0].split("+", 1)[0].lower()
        if config.sample is not None or scheme in ("sqlite", "mysql", "mariadb"):
            server = "SQLite" if config.sample is not None or scheme == "sqlite" else "MySQL/MariaDB"
            return f"{server} gives the sql source one database: partition by schema"
        if not config.all_databases:
            return "by database needs source.config.all_databases: true (else the sql source reads one database)"
        return None

    def scope(self, part: Part) -> None:
        """Read only ``part``: its schemas or databases (see :mod:`.partitions`); before prepare. Those of other
        parts are skipped, not counted as filtered: the workflow's filters count as in an unpartitioned run."""
        from airflow_provider_ingest.sources.sql.partitions import FILTER_OF, scoped_filter

        if part.by not in FILTER_OF:
            raise SqlConfigurationError(f"the sql source is partitioned by schema or database, not {part.by!r}")
        self._part_filter = scoped_filter(getattr(self.config, FILTER_OF[part.by]), part)
        self._part = part
        self._listed: set[str] = set()

    def _speaks_for_all(self, by: str) -> bool:
        """Whether this run counts and warns about every database or schema (``by``) it lists but does not read
        (filtered out, not readable by the role, not listed). Every part lists every database, and every part by
        schema every schema of them, so of those parts only the rest part does; a part by database lists the
        schemas of its own databases alone."""
        if self._part is None or self._part.rest:
            return True
        return by == "schema" and self._part.by == "database"

    def _in_part(self, by: str, *names: str) -> bool:
        """Whether a database or schema (by its names from the database down) is in this run's part; every one
        is, unpartitioned."""
        return self._part is None or self._part.by != by or self._kept(self._part_filter, *names)

    def partition_units(self, by: str) -> list[Unit]:
        """The schemas (of every database read) or the databases the filters keep, with their relation counts,
        each named as the filter sees it (its name, or its FQN with filter_by_fqn)."""
        relations: dict[str, int] = {}
        for name, _, url, may_connect in self.session.run("listing the databases", self._databases):
            if not self._kept(self.config.database_filter, name) or not may_connect:
                continue
            session = self.session if url == self.url else self._session(self._engine(url))
            scope = Scope(self.service, name, wants=partial(self._schema_wanted, name))
            try:
                listed = session.run(
                    f"listing the schemas of database {name!r}",
                    lambda connection, scope=scope: self._catalog(connection, scope).schemas(),
                )
            finally:
                if session is not self.session:
                    session.close()
                    session.engine.dispose()
            kept = [schema for schema in listed if scope.wants(schema.name)]
            if by == "database":
                key = self._key(name)
                relations[key] = sum(schema.relations for schema in kept)
            else:
                for schema in kept:
                    key = self._key(name, schema.name)
                    relations[key] = relations.get(key, 0) + schema.relations
        return [Unit(name, count) for name, count in relations.items()]

    def _key(self, *names: str) -> str:
        """A database or schema as its filter sees it: its name, or its FQN with filter_by_fqn."""
        return fqn.build(self.service, *names) if self.config.filter_by_fqn else names[-1]

    def prepare(self) -> None:
        self.url = self._resolve_url()
        mask(self.url, self.context.secrets)
        backend = self.url.get_backend_name()
        if backend not in CATALOGS:
            raise SqlConfigurationError(
                f"the sql source reads {', '.join(sorted(CATALOGS))}, not {backend!r} ({render(self.url)})"
            )
        module_name, _, class_name = CATALOGS[backend].partition(":")
        self.catalog_class: type[Catalog] = getattr(importlib.import_module(module_name), class_name)
        self.service = self.config.service_name or self.config.conn_id or SAMPLE_SERVICE
        self.engine = self._engine(self.url)
        self.session = self._session(self.engine)
        self.session.open()  # checked now, then read over: one connection, not three

    @property
    def connection(self) -> Connection:
        """The connection the source reads its URL's database over (a new one after a loss)."""
        return self.session.open()

    def close(self) -> None:
        if hasattr(self, "session"):
            self.session.close()
        if hasattr(self, "engine"):
            self.engine.dispose()

    def records(self) -> Iterator[Record | RecordLine]:
        """Every record, or an error: a lost connection is retried, then fails the step (never a partial success)."""
        try:
            yield from self._records()
        except SqlConnectionError:
            raise
        except Exception as error:
            if not self._is_database_error(error):
                raise
            # raised again without the driver's text, which may hold a DSN
            raise SqlQueryError(f"reading {render(self.url)} failed: {self._text(error)}") from None

    def _records(self) -> Iterator[Record | RecordLine]:
        yield DatabaseService(name=self.service, service_type=self.catalog_class.service_type)
        tables = 0
        for name, comment, url, may_connect in self.session.run("listing the databases", self._databases):
            self._seen(self._key(name), "database")
            if not self._kept(self.config.database_filter, name):
                self.report.filtered += self._speaks_for_all("database")
            elif not self._in_part("database", name):
                continue
            elif not may_connect:
                if self._speaks_for_all("schema"):
                    self.warn(
                        f"database {fqn.build(self.service, name)} skipped: the role has no CONNECT privilege on it"
                        " (grant it, or leave the database out with database_filter)"
                    )
            else:
                for record in self._database(name, comment, url):
                    tables += record.kind == "table"
                    yield record
        self._warn_vanished()
        filters = [getattr(self.config, name).described(name) for name in FILTER_SETTINGS]
        whole = self._part is None or self._part.count == 1  # a plan of one part: nothing matched the filters
        if tables == 0 and self.report.failure_count == 0 and whole:
            if any(filters):
                on = " (matched on FQNs)" if self.config.filter_by_fqn else ""
                self.warn(f"0 tables matched; check the filters{on}: {'; '.join(filter(None, filters))}")
            else:  # an empty file where a database was meant, a URL naming the wrong database
                where = "the databases of " if self.config.all_databases else ""
                self.warn(f"0 tables: {where}{render(self.url)} hold no table or view the role can read")

    def _seen(self, key: str, by: str) -> None:
        if self._part is not None and self._part.by == by:
            self._listed.add(key)

    def _warn_vanished(self) -> None:
        """A unit planned for this part that the server no longer lists: dropped since the plan (or hidden)."""
        if self._part is None:
            return
        for name in sorted(set(self._part.names) - self._listed):
            self.warn(
                f"{self._part.by} {name!r} was planned for {self._part.label} but is no longer listed: dropped"
                " since the plan, or hidden from the role; nothing of it is in this run"
            )

    def _kept(self, patterns: NamePatterns, *names: str) -> bool:
        """Whether a filter keeps a database, schema or table given by its names from the database down."""
        return patterns.matches(self._key(*names))

    def _databases(self, connection: Connection) -> list[tuple[str, str | None, URL, bool]]:
        """(name, comment, URL to read it, whether the role may connect) of each database: several only with
        ``all_databases``."""
        current = self.catalog_class.default_database(connection, self._database_name())
        listed = self.catalog_class.list_databases(connection)
        if listed is None:
            return [(current, None, self.url, True)]
        if not self.config.all_databases:
            listed = [database for database in listed if database[0] == current]
        return [(name, comment, self.url.set(database=name), may_connect) for name, comment, may_connect in listed]

    def _database(self, name: str, comment: str | None, url: URL) -> Iterator[Record | RecordLine]:
        """One database's records. A connection lost past the retries fails the step, and each schema not
        read yet is dead-lettered first, as itself and its relations, so the dead letters say what is missing."""
        session = self.session if url == self.url else self._session(self._engine(url))
        scope = Scope(
            self.service,
            name,
            row_counts=self.config.include_row_counts,
            wants=partial(self._schema_wanted, name),
        )
        try:
            try:
                listed = session.run(
                    f"listing the schemas of database {name!r}",
                    lambda connection: self._catalog(connection, scope).schemas(),
                )
            except SqlConfigurationError:
                if session is self.session or self._still_listed(name):
                    raise
                self.warn(
                    f"database {fqn.build(self.service, name)} was listed but is gone: dropped since the listing;"
                    " nothing of it is in this run"
                )
                return
            yield Database(service=self.service, name=name, description=comment or None)
            if self._speaks_for_all("schema"):
                self._warn_unlisted(scope, {schema.name for schema in listed})
            for schema in listed:
                self._seen(self._key(name, schema.name), "schema")
            kept = [schema for schema in listed if self._keep_schema(scope, schema) and self._readable(scope, schema)]
            started: set[str] = set()
            lineage = self._view_lineage(name) if self.config.include_view_lineage else None
            try:
                for batch in batches(kept, self.config.batch_size):
                    for record in self._batch(session, scope, batch, started):
                        if lineage is not None and isinstance(record, Table):
                            lineage.add(record)
                        yield record
            except SqlUnavailableError as error:
                for schema in kept:
                    if schema.name not in started:
                        self._fail_schema(scope, schema, f"the step stopped: {error}")
                raise
            if lineage is not None and lineage.views:
                yield from self._lineage_records(session, lineage)
        finally:
            if session is not self.session:
                session.close()
                session.engine.dispose()

    def _still_listed(self, database: str) -> bool:
        """Whether the server lists ``database`` (a database it has no more was dropped since the listing)."""
        listed = self.session.run("listing the databases", self.catalog_class.list_databases)
        return any(name == database for name, _, _ in listed or [])

    def _view_lineage(self, database: str) -> ViewLineage:
        from airflow_provider_ingest.sources.sql.lineage import ViewLineage

        return ViewLineage(self.service, database, self.url.get_backend_name())

    def _lineage_records(self, session: Session, lineage: ViewLineage) -> Iterator[Record]:
        """The database's view lineage, after its catalog records; a view the parser cannot read is a warning."""
        visible = session.run(
            f"listing the relations visible by name in database {lineage.database!r}",
            self.catalog_class.visible_relations,
        )
        yield from lineage.records(visible, self.warn)
        self.report.count("lineage_records", lineage.emitted)
        if lineage.unparsed:
            self.report.count("views_without_lineage", lineage.unparsed)

    def _catalog(self, connection: Connection, scope: Scope) -> Catalog:
        return self.catalog_class(connection, scope)

    def _keep_schema(self, scope: Scope, schema: SchemaInfo) -> bool:
        if not scope.wants(schema.name):
            self.report.filtered += self._speaks_for_all("schema")
            return False
        return self._in_part("schema", scope.database, schema.name)

    def _schema_wanted(self, database: str, schema: str) -> bool:
        """Whether the filters keep a schema of a database (system schemas only with include_system_schemas)."""
        return self._kept(self.config.schema_filter, database, schema) and (
            self.config.include_system_schemas or not self.catalog_class.is_system(schema)
        )

    def _readable(self, scope: Scope, schema: SchemaInfo) -> bool:
        """Whether the role may read the schema; if not, a warning naming it and the privilege it lacks."""
        if schema.missing_privilege is None:
            return True
        self.warn(
            f"schema {fqn.build(scope.service, scope.database, schema.name)} skipped: the role has no"
            f" {schema.missing_privilege} privilege on it (grant it, or leave the schema out with schema_filter)"
        )
        return False

    def _warn_unlisted(self, scope: Scope, listed: set[str]) -> None:
        """A schema the filter names literally but the server does not list: missing, or hidden from the role."""
        for pattern in self.config.schema_filter.include:
            name = literal(pattern)
            if name is None or self.config.schema_filter.ignore_case or self.config.filter_by_fqn or name in listed:
                continue
            if self.config.schema_filter.matches(name):
                self.warn(
                    f"schema {fqn.build(scope.service, scope.database, name)} is not listed by the server:"
                    f" {self.catalog_class.unlisted}"
                )

    def _batch(
        self, session: Session, scope: Scope, batch: list[SchemaInfo], started: set[str]
    ) -> Iterator[Record | RecordLine]:
        """Schemas read together; if that fails, each alone, so only the unreadable one fails, counted as
        itself and each of its relations. A lost connection is retried and then fails the step. The name of
        each schema whose record is emitted goes into ``started``."""
        names = [schema.name for schema in batch]
        what = f"reading schema{'s' * (len(names) > 1)} {', '.join(map(repr, names))} of database {scope.database!r}"
        try:
            found, filtered = session.run(what, lambda connection: self._read(connection, scope, names))
        except SqlConnectionError:
            raise
        except Exception as error:
            if len(batch) > 1:
                for schema in batch:
                    yield from self._batch(session, scope, [schema], started)
                return
            self._fail_schema(scope, batch[0], self._text(error))
            return
        self.report.filtered += filtered
        for schema in batch:
            record = DatabaseSchema(
                service=self.service,
                database=scope.database,
                name=schema.name,
                description=schema.comment or None,
            )
            started.add(schema.name)
            yield record
            items = found.get(schema.name, [])
            for position, item in enumerate(items):
                table = self._build(record, item)
                if table is None:
                    continue
                if isinstance(table, Table) and self.config.sample_rows and table.columns:
                    table.read_from(None)  # its columns get samples: serialized anew where it is written
                    try:
                        self._sample(session, table, item)
                    except SqlUnavailableError as error:
                        for unread in items[position:]:
                            where = table_fqn(record, unread.name)
                            self.fail(f"cannot read {unread.name!r}: the step stopped: {error}", fqn=where)
                        raise
                yield table

    def _read(self, connection: Connection, scope: Scope, schemas: list[str]) -> tuple[Found, int]:
        """One try at a batch's catalog queries: what was found, and how many tables the filter left out (each once,
        though a catalog read again asks again)."""
        filtered: set[tuple[str, str]] = set()

        def keep(schema: str, name: str) -> bool:
            kept = self._kept(self.config.table_filter, scope.database, schema, name)
            if not kept:
                filtered.add((schema, name))
            return kept

        return self._catalog(connection, scope).read(schemas, keep), len(filtered)

    def _fail_schema(self, scope: Scope, schema: SchemaInfo, error: str) -> None:
        """A schema that cannot be read fails as many records as it would have given: itself and its relations."""
        where = fqn.build(self.service, scope.database, schema.name)
        relations = f" nor its {counted(schema.relations, 'relation')}" if schema.relations else ""
        message = f"cannot read schema {schema.name!r}{relations}: {error}"
        for _ in range(1 + schema.relations):
            self.fail(message, fqn=where)

    def _build(self, schema: DatabaseSchema, item: Pending | Unreadable) -> Table | RecordLine | None:
        """The table's record: its line where the class says :attr:`gives_lines` (a subclass, which may read the
        records, gets models) and the source does not read it again (for samples, for view lineage); or None,
        counted as a failure naming the table."""
        if isinstance(item, Pending):
            try:
                table = item.build()
                models = not self.gives_lines or self.config.sample_rows or self.config.include_view_lineage
                return table.model() if models and isinstance(table, RecordLine) else table
            except Exception as error:  # a record that does not validate fails alone
                item = Unreadable(item.name, error_text(error))
        self.fail(f"cannot read {item.name!r}: {self._text(item.error)}", fqn=table_fqn(schema, item.name))
        return None

    def _sample(self, session: Session, table: Table, item: Pending) -> None:
        """Fill ``samples`` (see :mod:`.sampling`); a failure, or a missing privilege, is a warning; a lost
        connection is retried and then fails the step."""
        where = f"{table.fqn} ({table.table_type.value})"
        if item.missing_privilege is not None:
            self.warn(f"cannot sample {where}: the role has no {item.missing_privilege} privilege on it")
            return
        try:
            session.run(
                f"sampling {table.fqn}",
                lambda connection: self._sample_locked(connection, table),
                retry_timeouts=False,  # a slow view or a locked table loses its samples, not the step
            )
        except SqlConnectionError:
            raise
        except Exception as error:
            self.warn(f"cannot sample {where}: {self._text(error)}")

    def _sample_locked(self, connection: Connection, table: Table) -> None:
        from airflow_provider_ingest.sources.sql.sampling import sample_table

        with self.catalog_class.lock_waits_bounded(connection):
            sample_table(connection, table, self.config.sample_rows)

    def _resolve_url(self) -> URL:
        from airflow_provider_ingest.sources.sql.connection import parse_url, url_from_connection

        if self.config.sample is not None:
            from sqlalchemy.engine import URL

            from airflow_provider_ingest.samples import sample_database_path

            return URL.create("sqlite", database=str(sample_database_path()))
        if self.config.conn_id is not None:
            return url_from_connection(self.config.conn_id)
        url = parse_url(self.config.url or "")
        if self.config.password is not None:
            url = url.set(password=self.config.password)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            url = url.set(database=self.context.resolve_path(url.database))
            if not Path(url.database).is_file():
                raise SqlConfigurationError(f"no SQLite database file at {url.database}")
        return url

    def _database_name(self) -> str | None:
        return self.config.database_name or ("shop" if self.config.sample else None)

    def _engine(self, url: URL) -> Engine:
        return create_source_engine(url, self._text)

    def _session(self, engine: Engine) -> Session:
        return Session(engine, self.config.retry, text=self._text, warn=self.warn)

    def _is_database_error(self, error: Exception) -> bool:
        return is_database_error(getattr(self, "engine", None), error)

    def _text(self, error: BaseException | str) -> str:
        """An error's message with every password removed: the URL's, and every secret the run resolved."""
        secrets = [*self.context.secrets, self.config.password or ""]
        return scrub(error if isinstance(error, str) else error_text(error), getattr(self, "url", None), secrets)


def table_fqn(schema: DatabaseSchema, name: str) -> str:
    """The FQN a failure names a table by: its schema's when its name is empty (SQLite allows ``""``), since no
    FQN part may be."""
    return fqn.build(*schema.name_parts, name) if name else schema.fqn


def literal(pattern: str) -> str | None:
    """The one name a filter pattern matches when it is a plain name (``sales``, ``v\\.daily``); else None."""
    name = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "")
            if not char or char in _ASCII_ALNUM:  # \d, \1, \b...: a class, a reference or an anchor
                return None
        elif char in _REGEX_SYNTAX:
            return None
        name.append(char)
    return "".join(name)


def batches(schemas: list[SchemaInfo], size: int) -> Iterator[list[SchemaInfo]]:
    """Consecutive groups of schemas holding at most ``size`` relations (or one bigger schema)."""
    batch: list[SchemaInfo] = []
    total = 0
    for schema in schemas:
        if batch and total + schema.relations > size:
            yield batch
            batch, total = [], 0
        batch.append(schema)
        total += schema.relations
    if batch:
        yield batch
