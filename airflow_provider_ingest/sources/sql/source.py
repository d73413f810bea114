"""The ``sql`` source: a database catalog as records, schema by schema, in bulk catalog queries."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from airflow_provider_ingest.api import ComponentConfig, Source
from airflow_provider_ingest.patterns import NamePatterns
from airflow_provider_ingest.records import Database, DatabaseSchema, DatabaseService, Record, Table, fqn
from airflow_provider_ingest.sources.sql.catalog import Catalog, Pending, SchemaInfo, Scope, Unreadable, error_text
from airflow_provider_ingest.sources.sql.connection import SqlConnectionError, mask, render, scrub

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

CATALOGS = {
    "postgresql": "airflow_provider_ingest.sources.sql.postgres:PostgresCatalog",
    "mysql": "airflow_provider_ingest.sources.sql.mysql:MysqlCatalog",
    "mariadb": "airflow_provider_ingest.sources.sql.mysql:MysqlCatalog",
    "sqlite": "airflow_provider_ingest.sources.sql.sqlite:SqliteCatalog",
}
"""SQLAlchemy backend names the source reads, and their catalog readers."""

EXTRAS = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
SAMPLE_SERVICE = "sample_shop"


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
    include_system_schemas: bool = Field(default=False, description="also read pg_catalog, mysql...")
    include_row_counts: bool = Field(default=False, description="row counts from catalog statistics")
    batch_size: int = Field(default=5000, ge=1, description="relations read per catalog query; bounds the memory used")
    sample_rows: int = Field(
        default=0, ge=0, le=10_000, description="fill Column.samples with the distinct values of up to this many rows"
    )

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

    def prepare(self) -> None:
        self.url = self._resolve_url()
        mask(self.url, self.context.secrets)
        backend = self.url.get_backend_name()
        if backend not in CATALOGS:
            raise SqlConnectionError(
                f"the sql source reads {', '.join(sorted(CATALOGS))}, not {backend!r} ({render(self.url)})"
            )
        module_name, _, class_name = CATALOGS[backend].partition(":")
        self.catalog_class: type[Catalog] = getattr(importlib.import_module(module_name), class_name)
        self.service = self.config.service_name or self.config.conn_id or SAMPLE_SERVICE
        self.engine = self._engine(self.url)
        self.connection = self._connect(self.engine)  # checked now, then read over: one connection, not three

    def close(self) -> None:
        if hasattr(self, "connection"):
            self.connection.close()
        if hasattr(self, "engine"):
            self.engine.dispose()

    def records(self) -> Iterator[Record]:
        try:
            yield from self._records()
        except SqlConnectionError:
            raise
        except Exception as error:  # raised again without the driver's text, which may hold a DSN
            raise SqlConnectionError(f"reading {render(self.url)} failed: {self._text(error)}") from None

    def _records(self) -> Iterator[Record]:
        yield DatabaseService(name=self.service, service_type=self.catalog_class.service_type)
        for name, comment, url in self._databases(self.connection):
            if not self.config.database_filter.matches(name):
                self.report.filtered += 1
                continue
            yield from self._database(name, comment, url)

    def _databases(self, connection: Connection) -> list[tuple[str, str | None, URL]]:
        """(name, comment, URL to read it) of each database: several only with ``all_databases``."""
        current = self.catalog_class.default_database(connection, self._database_name())
        listed = self.catalog_class.list_databases(connection)
        if listed is None:
            return [(current, None, self.url)]
        if not self.config.all_databases:
            listed = [(name, comment) for name, comment in listed if name == current]
        return [(name, comment, self.url.set(database=name)) for name, comment in listed]

    def _database(self, name: str, comment: str | None, url: URL) -> Iterator[Record]:
        engine = self.engine if url == self.url else self._engine(url)
        try:
            with nullcontext(self.connection) if engine is self.engine else self._connect(engine) as connection:
                yield Database(service=self.service, name=name, description=comment or None)
                catalog = self.catalog_class(
                    connection, Scope(self.service, name, row_counts=self.config.include_row_counts)
                )
                kept = [schema for schema in catalog.schemas() if self._keep_schema(catalog, schema.name)]
                for batch in batches(kept, self.config.batch_size):
                    yield from self._batch(catalog, connection, batch)
        except SqlConnectionError as error:
            self.fail(str(error), fqn=fqn.build(self.service, name))
        except Exception as error:  # e.g. the schemas cannot be listed: this database fails, others go on
            self.fail(f"cannot read database {name!r}: {self._text(error)}", fqn=fqn.build(self.service, name))
        finally:
            if engine is not self.engine:
                engine.dispose()

    def _keep_schema(self, catalog: Catalog, schema: str) -> bool:
        keep = self.config.schema_filter.matches(schema) and (
            self.config.include_system_schemas or not catalog.is_system(schema)
        )
        self.report.filtered += not keep
        return keep

    def _batch(self, catalog: Catalog, connection: Connection, batch: list[SchemaInfo]) -> Iterator[Record]:
        """Schemas read together; if that fails, each alone, so only the unreadable one fails."""
        filtered = self.report.filtered
        try:
            found = catalog.read([schema.name for schema in batch], self._keep_table)
        except Exception as error:
            self.report.filtered = filtered
            if len(batch) > 1:
                for schema in batch:
                    yield from self._batch(catalog, connection, [schema])
                return
            where = fqn.build(self.service, catalog.scope.database, batch[0].name)
            self.fail(f"cannot read schema {batch[0].name!r}: {self._text(error)}", fqn=where)
            return
        for schema in batch:
            record = DatabaseSchema(
                service=self.service,
                database=catalog.scope.database,
                name=schema.name,
                description=schema.comment or None,
            )
            yield record
            for item in found.get(schema.name, []):
                table = self._build(record, item)
                if table is None:
                    continue
                if self.config.sample_rows and table.columns:
                    self._sample(connection, table)
                yield table

    def _build(self, schema: DatabaseSchema, item: Pending | Unreadable) -> Table | None:
        """The table's record; or None, counted as a failure naming the table."""
        if isinstance(item, Pending):
            try:
                return item.build()
            except Exception as error:  # a record that does not validate fails alone
                item = Unreadable(item.name, error_text(error))
        self.fail(f"cannot read {item.name!r}: {self._text(item.error)}", fqn=fqn.build(*schema.name_parts, item.name))
        return None

    def _keep_table(self, name: str) -> bool:
        keep = self.config.table_filter.matches(name)
        self.report.filtered += not keep
        return keep

    def _sample(self, connection: Connection, table: Table) -> None:
        """Fill ``samples`` (see :mod:`.sampling`); a failure is a warning."""
        from airflow_provider_ingest.sources.sql.sampling import sample_table

        try:
            sample_table(connection, table, self.config.sample_rows)
        except Exception as error:
            self.warn(f"cannot sample {table.fqn} ({table.table_type.value}): {self._text(error)}")

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
                raise SqlConnectionError(f"no SQLite database file at {url.database}")
        return url

    def _database_name(self) -> str | None:
        return self.config.database_name or ("shop" if self.config.sample else None)

    def _engine(self, url: URL) -> Engine:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        try:
            return create_engine(url, poolclass=NullPool)
        except Exception as error:
            extra = EXTRAS.get(url.get_backend_name())
            hint = f"; install airflow-provider-ingest[{extra}]" if extra else ""
            raise SqlConnectionError(f"cannot use {render(url)}: {self._text(error)}{hint}") from None

    def _connect(self, engine: Engine) -> Connection:
        """An autocommit connection: a failed catalog query does not spoil the next one."""
        try:
            return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as error:
            raise SqlConnectionError(f"cannot connect to {render(engine.url)}: {self._text(error)}") from None

    def _text(self, error: BaseException | str) -> str:
        """An error's message with every password removed: the URL's, and every secret the run resolved."""
        secrets = [*self.context.secrets, self.config.password or ""]
        return scrub(error if isinstance(error, str) else error_text(error), getattr(self, "url", None), secrets)


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
