"""MySQL and MariaDB catalog: information_schema queries per batch of schemas.

The server has no level above its databases, so records carry one database name, ``database_name``
(default ``default``), and each MySQL database becomes a schema, as in OpenMetadata.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_ingest.records import Table, TableType
from airflow_provider_ingest.sources.sql import catalog
from airflow_provider_ingest.sources.sql.catalog import (
    CONSTRAINT_TYPES,
    Catalog,
    Found,
    Pending,
    SchemaInfo,
    Unreadable,
    column,
    constraint,
    type_fields,
)
from airflow_provider_ingest.sources.sql.faults import fault, mysql_code

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

UNBOUNDED_LOCK_WAIT = 86400
"""``lock_wait_timeout`` seconds from which a wait counts as unbounded: MariaDB's default (a day); MySQL's is a year."""
TABLE_TYPES = {"BASE TABLE": TableType.TABLE, "SYSTEM VERSIONED": TableType.TABLE, "VIEW": TableType.VIEW}
INVALID_VIEW = 1356
ACCESS_DENIED = 1044

SCHEMAS = """
SELECT s.SCHEMA_NAME, coalesce(r.relations, 0)
FROM information_schema.SCHEMATA s
LEFT JOIN (SELECT CAST(TABLE_SCHEMA AS BINARY) AS name, count(*) AS relations FROM information_schema.TABLES
           GROUP BY CAST(TABLE_SCHEMA AS BINARY)) r ON r.name = CAST(s.SCHEMA_NAME AS BINARY)
ORDER BY s.SCHEMA_NAME
"""
"""Names grouped and matched as bytes: information_schema compares them ignoring case, and two databases whose
names differ only by case each counted the other's tables (MariaDB also miscounts a correlated count by bytes)."""
RELATIONS = """
SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN :schemas ORDER BY TABLE_SCHEMA, TABLE_NAME
"""
COLUMNS = """
SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE = 'YES',
       COLUMN_DEFAULT, COLUMN_COMMENT
FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN :schemas
ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION
"""
CONSTRAINTS = """
SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME,
       CASE WHEN k.CONSTRAINT_NAME = 'PRIMARY' THEN 'PRIMARY KEY'
            WHEN k.REFERENCED_TABLE_NAME IS NOT NULL THEN 'FOREIGN KEY' ELSE 'UNIQUE' END,
       k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME
FROM information_schema.KEY_COLUMN_USAGE k
WHERE k.TABLE_SCHEMA IN :schemas
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
"""
"""KEY_COLUMN_USAGE holds exactly the primary, unique and foreign keys; TABLE_CONSTRAINTS is not joined, as
MariaDB shows it only to users with more than SELECT, and a read-only user would lose every key."""

DDL_COUNTS = """
SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_create_table', 'Com_drop_table', 'Com_alter_table', 'Com_rename_table',
    'Com_create_view', 'Com_drop_view', 'Com_create_index', 'Com_drop_index', 'Com_create_db', 'Com_drop_db',
    'Com_alter_db')
"""
"""Counts of the statements that change what information_schema shows, since the server started (temporary tables'
included); no privilege needed."""
VIEWS = """
SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN :schemas
"""


class MysqlCatalog(Catalog):
    """MySQL 8 and MariaDB 10.3 or later."""

    service_type = "Mysql"
    system_schemas = frozenset({"information_schema", "mysql", "performance_schema", "sys"})
    unlisted = "it does not exist, or the role has no privilege on it (MySQL lists only the databases a role may use)"

    @classmethod
    @contextlib.contextmanager
    def lock_waits_bounded(cls, connection: Connection) -> Iterator[None]:
        """Sets the session's ``lock_wait_timeout`` (metadata locks: a table altered or locked) unless it is shorter
        than :data:`UNBOUNDED_LOCK_WAIT` already."""
        connection.exec_driver_sql(
            f"SET SESSION lock_wait_timeout = IF(@@SESSION.lock_wait_timeout >= {UNBOUNDED_LOCK_WAIT},"
            f" {catalog.LOCK_TIMEOUT}, @@SESSION.lock_wait_timeout)"
        )
        yield

    def schemas(self) -> list[SchemaInfo]:
        """The databases the user sees. One the run wants without a visible table is probed: to a user with SHOW
        DATABASES the server lists a database the user has no privilege on, and hides its tables."""
        return [
            SchemaInfo(name, None, count, "SELECT" if self._hidden(name, count) else None)
            for name, count in self.rows(SCHEMAS)
        ]

    def _hidden(self, schema: str, count: int) -> bool:
        """Whether a database the run wants lists no table because the user may not use it."""
        return not count and not self.is_system(schema) and self.scope.wants(schema) and not self._may_use(schema)

    def _may_use(self, schema: str) -> bool:
        """Whether the user has any privilege on a database: ``USE`` it (error 1044 if not). The name is quoted
        for the server, and its ``%`` and ``:`` kept from the driver's and SQLAlchemy's parameter syntax."""
        from sqlalchemy import text

        quoted = "`" + schema.replace("`", "``").replace(":", "\\:") + "`"
        try:
            self.connection.execute(text(f"USE {quoted}"))
        except Exception as error:
            if mysql_code(error) == ACCESS_DENIED:
                return False
            raise
        return True

    def read(self, schemas: list[str], keep: Callable[[str, str], bool]) -> Found:
        """The batch's relations, columns, keys and view definitions; a view's columns open it (locks included).
        information_schema has no snapshot and each DDL statement commits alone: a read counts as it is where the
        server ran no DDL meanwhile (:data:`DDL_COUNTS`) and the read is whole (:func:`_whole`: a statement is counted
        when it starts, and one waiting for a lock may land during the read); else once the next read agrees with it
        (:func:`_agree`) and lists no table without columns."""
        with self.lock_waits_bounded(self.connection):
            counts, previous = self._ddl_counts(), None
            for _ in range(catalog.READS):
                read = self._read(schemas, keep)
                before, counts = counts, self._ddl_counts()
                if before is not None and counts == before and _whole(read):  # no DDL ran on the server meanwhile
                    return self._found(read)
                if previous is not None and _agree(read, previous) and not any(_without_columns(read)):
                    return self._found(read)
                previous = read
            raise catalog.changing_catalog()

    def _ddl_counts(self) -> list[tuple] | None:
        """The server's counts of DDL statements run since it started; None where it does not tell them."""
        try:
            return self.rows(DDL_COUNTS) or None
        except Exception as error:
            if fault(error) is not None:
                raise
            return None

    def _read(self, schemas: list[str], keep: Callable[[str, str], bool]) -> _Read:
        def query(sql: str) -> list:
            return self.rows(sql, schemas=schemas, expanding=("schemas",))

        relations = [row for row in query(RELATIONS) if row[2] in TABLE_TYPES and keep(row[0], row[1])]
        if not relations:
            return _Read([], {}, [], {}, {})
        kept = {(row[0], row[1]) for row in relations}  # the rest of the schema is neither built nor compared
        columns: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for row in query(COLUMNS):
            if (row[0], row[1]) in kept:
                columns[(row[0], row[1])].append(row)
        views = tuple(_view_prefix(schema, name) for schema, name, kind, *_ in relations if kind == "VIEW")
        warnings = [message for message in self._invalid_view_warnings() if message.startswith(views)]
        keys: dict[tuple[str, str], list[tuple]] = defaultdict(list)
        for row in query(CONSTRAINTS):
            if (row[0], row[1]) in kept:
                keys[(row[0], row[1])].append(row)
        definitions = {}
        if any(row[2] == "VIEW" for row in relations):
            definitions = {(schema, name): text for schema, name, text in query(VIEWS) if (schema, name) in kept}
        return _Read(relations, columns, warnings, keys, definitions)

    def _found(self, read: _Read) -> Found:
        found: Found = defaultdict(list)
        for relation in read.relations:
            key = (relation[0], relation[1])
            if TABLE_TYPES[relation[2]] is TableType.VIEW and key not in read.columns:
                found[key[0]].append(Unreadable(key[1], _broken_view_error(*key, read.warnings)))
            else:
                columns, keys, definition = read.columns.get(key, []), read.keys.get(key, []), read.definitions.get(key)
                found[key[0]].append(Pending(key[1], partial(self._table, relation, columns, keys, definition)))
        return found

    def _table(self, relation: tuple, column_rows: list[tuple], key_rows: list[tuple], definition: str | None) -> Table:
        schema, name, kind, comment, rows = relation
        table_type = TABLE_TYPES[kind]
        columns = [
            column(
                column_name,
                type_fields(raw_type),
                nullable=bool(nullable),
                default=None if default == "NULL" else default,
                position=number,
                comment=column_comment,
            )
            for _, _, column_name, number, raw_type, nullable, default, column_comment in column_rows
        ]
        keys: dict[tuple[str, str], dict[str, Any]] = {}  # by name and kind: a unique and a foreign key may share one
        for _, _, key_name, key_kind, column_name, ref_schema, ref_table, ref_column in key_rows:
            foreign = key_kind == "FOREIGN KEY"
            key = keys.setdefault(
                (key_name, key_kind),
                constraint(
                    CONSTRAINT_TYPES[key_kind], key_name, [], self.referred(ref_schema, ref_table) if foreign else None
                ),
            )
            key["columns"].append(column_name)
            if foreign:
                key["referred_columns"].append(ref_column)
        return self.table(
            schema,
            name,
            table_type,
            columns=columns,
            constraints=list(keys.values()),
            description=None if table_type is TableType.VIEW else comment,
            view_definition=definition,
            row_count=rows,
        )

    def _invalid_view_warnings(self) -> list[str]:
        """Warnings 1356 of the columns query: views it skipped (a dropped table, missing rights)."""
        return [message for _, code, message in self.rows("SHOW WARNINGS") if code == INVALID_VIEW]


class _Read(NamedTuple):
    """A batch's catalog rows: the kept relations, column rows by (schema, table), the columns query's warnings of
    invalid views, key rows by (schema, table) and view definitions."""

    relations: list[tuple]
    columns: dict[tuple[str, str], list[tuple]]
    warnings: list[str]
    keys: dict[tuple[str, str], list[tuple]]
    definitions: dict[tuple[str, str], str]


def _agree(read: _Read, other: _Read) -> bool:
    """Whether two reads of a batch saw the same catalog: row counts aside (InnoDB's estimate moves with every
    write)."""
    return read._replace(relations=[row[:4] for row in read.relations]) == other._replace(
        relations=[row[:4] for row in other.relations]
    )


def _without_columns(read: _Read) -> Iterator[tuple]:
    """The tables (not views) a read lists without columns."""
    return (row for row in read.relations if row[2] != "VIEW" and (row[0], row[1]) not in read.columns)


def _whole(read: _Read) -> bool:
    """Whether a read shows no sign of DDL landing between its queries: no table without columns, no key naming a
    column its table lacks (a role that may not see some columns reads such keys twice, to tell)."""
    if any(_without_columns(read)):
        return False
    for key, rows in read.keys.items():
        names = {row[2] for row in read.columns.get(key, [])}
        if any(row[4] not in names for row in rows):
            return False
    return True


def _view_prefix(schema: str, name: str) -> str:
    """How the columns query's warning that a view is invalid begins."""
    return f"View '{schema}.{name}' "


def _broken_view_error(schema: str, name: str, warnings: list[str]) -> str:
    """Why a view has no columns: the server's warning naming it, when there is one."""
    prefix = _view_prefix(schema, name)
    found = next((message for message in warnings if message.startswith(prefix)), None)
    return f"its columns cannot be read: {found or 'it refers to something missing or forbidden'}"
