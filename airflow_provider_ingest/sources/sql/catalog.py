"""What every dialect's catalog reader provides, and the helpers that build records from catalog rows."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic_core import to_json

from airflow_provider_ingest.errors import ServiceError
from airflow_provider_ingest.records import ConstraintType, DataType, Table, TableType, fqn, line_record
from airflow_provider_ingest.records.base import MAX_COUNT
from airflow_provider_ingest.records.lines import RecordLine
from airflow_provider_ingest.sources.sql.types import normalize

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


LOCK_TIMEOUT = 60
"""Seconds a query that locks users' tables (a sample; a PostgreSQL view's definition) waits for a lock, unless the
server, database, role or URL set a wait of their own: by default it waits for ever (a day in MariaDB, a year in
MySQL), so a table held by a migration, a ``LOCK TABLE`` or a ``REFRESH MATERIALIZED VIEW`` in a transaction left
open hung the run. A catalog query whose wait ran out is tried again; a sample is left out, with a warning."""

READS = 3
"""Reads of a batch while the catalog changes under it (a migration), before its schemas are read one by one."""


def changing_catalog() -> ServiceError:
    """The error of a batch read :data:`READS` times, the catalog changing under every read."""
    return ServiceError(f"the catalog changed while it was read, {READS} times (a migration?)")


@dataclass(frozen=True)
class SchemaInfo:
    """A schema as the catalog lists it: name, comment, how many relations it holds, and the privilege the
    role lacks to read it (None: it may)."""

    name: str
    comment: str | None = None
    relations: int = 0
    missing_privilege: str | None = None


@dataclass(frozen=True)
class Unreadable:
    """A table or view the catalog could not read, and why."""

    name: str
    error: str


@dataclass(frozen=True)
class Pending:
    """A table whose catalog rows are fetched; ``build`` makes its record when it is emitted, so a
    batch holds rows, not records."""

    name: str
    build: Callable[[], Table | RecordLine]
    missing_privilege: str | None = None
    """The privilege the role lacks to read the table's rows (for samples), if it is known."""


Found = dict[str, list[Pending | Unreadable]]
"""The tables of each schema read, by schema name, in table-name order."""


@dataclass(frozen=True)
class Scope:
    """The names a catalog reader stamps on its records, and what it was asked to read."""

    service: str
    database: str
    row_counts: bool = False
    wants: Callable[[str], bool] = lambda schema: True
    """Whether the run reads a schema (its filters keep it): a reader probes no other one."""


class Catalog(ABC):
    """Reads one database's catalog over one connection, a batch of schemas per bulk query."""

    service_type: ClassVar[str]
    system_schemas: ClassVar[frozenset[str]] = frozenset()
    unlisted: ClassVar[str] = "it does not exist"
    """Why the server does not list a schema the filter names: its catalog lists every schema there is."""

    def __init__(self, connection: Connection, scope: Scope) -> None:
        self.connection = connection
        self.scope = scope

    @classmethod
    def default_database(cls, connection: Connection, configured: str | None) -> str:
        """The database name records carry when only one database is read."""
        return configured or "default"

    @classmethod
    def list_databases(cls, connection: Connection) -> list[tuple[str, str | None, bool]] | None:
        """Every database of the server with its comment and whether the role may connect to it, where one
        connection reaches only one."""
        return None

    @classmethod
    def is_system(cls, schema: str) -> bool:
        """Whether ``schema`` belongs to the engine rather than to users."""
        return schema in cls.system_schemas

    @classmethod
    @contextlib.contextmanager
    def lock_waits_bounded(cls, connection: Connection) -> Iterator[None]:
        """Within, the connection's queries wait at most :data:`LOCK_TIMEOUT` seconds for a lock on a table or view
        (where the engine has such a wait)."""
        yield

    @classmethod
    def visible_relations(cls, connection: Connection) -> dict[str, str] | None:
        """Where view definitions leave out the schema of every relation the search path finds: each relation
        name visible unqualified, and its schema. None where an unqualified name means the view's own schema."""
        return None

    @abstractmethod
    def schemas(self) -> list[SchemaInfo]:
        """The database's schemas, in name order."""

    @abstractmethod
    def read(self, schemas: list[str], keep: Callable[[str, str], bool]) -> Found:
        """Run the catalog queries for the tables, views and materialized views of some schemas that
        ``keep(schema, name)`` keeps."""

    def rows(
        self, sql: str, *, expanding: tuple[str, ...] = (), connection: Connection | None = None, **params: Any
    ) -> list[tuple]:
        """All rows of one catalog query, as the driver's plain tuples (no SQLAlchemy ``Row`` per row);
        ``expanding`` names list parameters used as ``IN :name``; ``connection`` overrides the reader's."""
        from sqlalchemy import bindparam, text

        statement = text(sql)
        if expanding:
            statement = statement.bindparams(*(bindparam(name, expanding=True) for name in expanding))
        result = (connection or self.connection).execute(statement, params)
        try:
            return list(result.cursor.fetchall())
        finally:
            result.close()

    def referred(self, schema: str, table: str) -> str:
        """FQN of a table a foreign key refers to, in this database."""
        return fqn.build(self.scope.service, self.scope.database, schema, table)

    def table(
        self,
        schema: str,
        name: str,
        table_type: TableType,
        *,
        columns: list[dict[str, Any]],
        constraints: list[dict[str, Any]],
        description: str | None = None,
        view_definition: str | None = None,
        row_count: float | None = None,
    ) -> Table | RecordLine:
        """A table record from the dicts :func:`column` and :func:`constraint` make, validated at once, as untrusted
        input: an empty name or a negative count fails the table alone, the error naming the field.

        The fields are written as a staged file's line has them. When each one is of the type the model reads and
        valid as it is (a column :func:`column` made of such values; names not empty; constraints well formed), the
        record is that line (:class:`RecordLine`), built as a model only if something reads its fields; else the
        model validates them (:func:`line_record`), naming the field at fault."""
        fields: dict[str, Any] = {"kind": "table", "name": name}
        if description:
            fields["description"] = description
        fields["service"] = self.scope.service
        fields["database"] = self.scope.database
        fields["database_schema"] = schema
        if table_type is not TableType.TABLE:
            fields["table_type"] = table_type.value
        if columns:
            fields["columns"] = columns
        if constraints:
            fields["constraints"] = [_written(item) for item in sorted(constraints, key=_constraint_order)]
        if view_definition is not None:
            fields["view_definition"] = view_definition
        if self.scope.row_counts and table_type is not TableType.VIEW and row_count is not None and row_count >= 0:
            fields["row_count"] = int(row_count)
        names = (self.scope.service, self.scope.database, schema, name)
        if _valid_as_written(fields, names):
            try:
                return RecordLine("table", to_json(fields), names)
            except ValueError:  # text JSON cannot hold (a lone surrogate): the model says which field
                pass
        return line_record(Table, fields)


def column(
    name: str, typed: dict[str, Any], *, nullable: bool, default: str | None, position: int, comment: str | None
) -> dict[str, Any]:
    """A column's fields from catalog values and its :func:`type_fields`. As a staged line has them: in the record's
    field order, types as their values, fields at their defaults (what the catalog leaves empty) left out. Values of
    another type than the model reads, or an empty name, give an :class:`Unchecked` dict, which the model validates."""
    fields = {"name": name, **typed}
    if not nullable:
        fields["nullable"] = False
    if default is not None:
        fields["default"] = default
    fields["ordinal_position"] = position
    if comment:
        fields["description"] = comment
    if (
        type(name) is not str
        or not name
        or type(position) is not int
        or (default is not None and type(default) is not str)
        or (comment and type(comment) is not str)
    ):
        return Unchecked(fields)
    return fields


class Unchecked(dict):
    """A column's fields not known to be valid as they are: its table is validated as a model."""


def _valid_as_written(fields: dict[str, Any], names: tuple[str, ...]) -> bool:
    """Whether a table's fields, as :meth:`Catalog.table` writes them, are valid as they are: every column a plain
    dict :func:`column` made, names and texts of type ``str``, names not empty, constraints well formed."""
    if not all(type(part) is str and part for part in names):
        return False
    if any(type(fields.get(key, "")) is not str for key in ("description", "view_definition")):
        return False
    if fields.get("row_count", 0) > MAX_COUNT:
        return False
    columns, constraints = fields.get("columns", ()), fields.get("constraints", ())
    return set(map(type, columns)) <= {dict} and all(map(_valid_constraint, constraints))


def _valid_constraint(item: dict[str, Any]) -> bool:
    """Whether a constraint's fields (:func:`_written`) are valid as they are: names of its columns and of those
    it refers to not empty, as many of both, a referred table only for a foreign key."""
    if "name" in item and type(item["name"]) is not str:
        return False
    if not _names(item["columns"]) or not item["columns"]:
        return False
    if item["constraint_type"] != ConstraintType.FOREIGN_KEY.value:
        return "referred_table" not in item and "referred_columns" not in item
    referred, columns = item.get("referred_table"), item.get("referred_columns", [])
    return type(referred) is str and bool(referred) and _names(columns) and len(columns) == len(item["columns"])


def _names(values: Any) -> bool:
    """Whether ``values`` is a list of names (text, not empty)."""
    return type(values) is list and all(type(value) is str and value for value in values)


@lru_cache(maxsize=4096)
def type_fields(
    raw_type: str,
    type_text: str | None = None,
    data_type: DataType | None = None,
    array_data_type: DataType | None = None,
) -> dict[str, Any]:
    """The type fields of a column of ``raw_type`` (:func:`column`); ``data_type`` and ``array_data_type`` (an array's
    element type) override what the raw type text says, ``type_text`` (a domain's base type) is read instead of it.
    A catalog has few distinct types, each read once. Not to be changed: the dict is shared."""
    normalized = normalize(type_text or raw_type)
    fields: dict[str, Any] = {"data_type": (data_type or normalized.data_type).value}
    element = array_data_type or normalized.element
    if element is not None:
        fields["array_data_type"] = element.value
    if raw_type:
        fields["data_type_display"] = raw_type
    if normalized.length is not None:
        fields["data_length"] = normalized.length
    if normalized.precision is not None:
        fields["precision"] = normalized.precision
    if normalized.scale is not None:
        fields["scale"] = normalized.scale
    return fields


def constraint(
    kind: ConstraintType,
    name: str | None,
    columns: list[str],
    referred_table: str | None = None,
    referred_columns: list[str] | None = None,
) -> dict[str, Any]:
    """A constraint's fields; a foreign key names the referred table's FQN and columns."""
    return {
        "constraint_type": kind,
        "name": name,
        "columns": columns,
        "referred_table": referred_table,
        "referred_columns": referred_columns or [],
    }


CONSTRAINT_TYPES = {
    "p": ConstraintType.PRIMARY_KEY,
    "PRIMARY KEY": ConstraintType.PRIMARY_KEY,
    "u": ConstraintType.UNIQUE,
    "UNIQUE": ConstraintType.UNIQUE,
    "f": ConstraintType.FOREIGN_KEY,
    "FOREIGN KEY": ConstraintType.FOREIGN_KEY,
}
"""Catalog spellings of constraint kinds: PostgreSQL's ``contype`` and information_schema's."""

_ORDER = {ConstraintType.PRIMARY_KEY: 0, ConstraintType.UNIQUE: 1, ConstraintType.FOREIGN_KEY: 2}


def _constraint_order(item: dict[str, Any]) -> tuple:
    """Primary key first, then unique keys, then foreign keys, each by name, then columns."""
    return (_ORDER[item["constraint_type"]], item["name"] or "", item["columns"])


def _written(item: dict[str, Any]) -> dict[str, Any]:
    """A constraint's fields as a staged line has them (see :func:`column`)."""
    fields: dict[str, Any] = {"constraint_type": item["constraint_type"].value}
    if item["name"] is not None:
        fields["name"] = item["name"]
    fields["columns"] = item["columns"]
    if item["referred_table"] is not None:
        fields["referred_table"] = item["referred_table"]
    if item["referred_columns"]:
        fields["referred_columns"] = item["referred_columns"]
    return fields


@contextlib.contextmanager
def transaction(
    connection: Connection, begin: str, commit: str = "COMMIT", rollback: str = "ROLLBACK"
) -> Iterator[None]:
    """Within, one transaction opened by ``begin`` on an autocommit connection: committed, or rolled back on error."""
    connection.exec_driver_sql(begin)
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # a lost connection has no transaction left
            connection.exec_driver_sql(rollback)
        raise
    connection.exec_driver_sql(commit)


def error_text(error: BaseException) -> str:
    """A database error's own first line, without SQLAlchemy's statement, parameters and links."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}"
