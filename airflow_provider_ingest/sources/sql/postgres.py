"""PostgreSQL catalog: pg_catalog queries per batch of schemas (relations, columns and their types, keys; each view
alone where one is broken)."""

from __future__ import annotations

import contextlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from functools import partial
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from airflow_provider_ingest.records import DataType, Table, TableType
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
    error_text,
    transaction,
    type_fields,
)
from airflow_provider_ingest.sources.sql.faults import fault
from airflow_provider_ingest.sources.sql.session import connect

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

TABLE_TYPES = {
    "r": TableType.TABLE,
    "v": TableType.VIEW,
    "m": TableType.MATERIALIZED_VIEW,
    "p": TableType.PARTITIONED,
    "f": TableType.FOREIGN,
}
_TEMP_SCHEMA = re.compile(r"pg_(toast_)?temp_\d+")
_ATTNUM = itemgetter(2)
_TYPE_AND_OID = itemgetter(3, 7)
_RELATION = "c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition"
_Relations = tuple[list[tuple], dict[int, str], list[tuple], dict[int, tuple]]
"""The kept relations' rows, the error of each broken view by oid, the relations' key rows and :data:`TYPES` by
oid."""
_PLAIN = (False, False, None, False)
"""How a column of a type :data:`TYPES` does not list is read: no enum, no domain."""
_READ_ONLY = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(?:-[0-9A-F]+)+")
_ALONE = "ingest_reads_alone"
"""Set in a connection's ``info`` once a second connection was refused it (not lost): it reads its batches alone."""
_HANDOVER_WAIT = 3.0
"""Seconds the session's connection, done with the columns, waits for the second one to import its snapshot before
it reads the rest itself."""
_IDLE = 0.2
"""Seconds the session's connection stays idle in its transaction at most, waiting for the hand-over."""
_Read = tuple[list[tuple], dict[int, str], list[tuple], dict[int, tuple], dict[int, list[tuple]]]
"""A batch's relations, broken views, key rows and types (:data:`_Relations`), and its column rows by relation
oid."""

DATABASES = """
SELECT d.datname, shobj_description(d.oid, 'pg_database'), has_database_privilege(d.oid, 'CONNECT')
FROM pg_database d WHERE d.datallowconn AND NOT d.datistemplate ORDER BY d.datname
"""
SCHEMAS = f"""
SELECT n.nspname, obj_description(n.oid, 'pg_namespace'), coalesce(r.relations, 0),
       has_schema_privilege(n.oid, 'USAGE')
FROM pg_namespace n
LEFT JOIN (SELECT c.relnamespace, count(*) AS relations FROM pg_class c WHERE {_RELATION} GROUP BY 1) r
       ON r.relnamespace = n.oid
ORDER BY n.nspname
"""
RELATIONS = f"""
SELECT n.nspname, c.oid, c.relname, c.relkind, d.description, c.reltuples, has_table_privilege(c.oid, 'SELECT'),
       CASE WHEN c.relkind IN ('v', 'm') AND :definitions THEN pg_get_viewdef(c.oid) END
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_description d ON d.objoid = c.oid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
WHERE n.nspname = ANY(:schemas) AND {_RELATION}
ORDER BY n.nspname, c.relname
"""
COLUMNS = f"""
SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END, d.description, a.atttypid
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_description d
       ON d.objoid = a.attrelid AND d.classoid = 'pg_class'::regclass AND d.objsubid = a.attnum
WHERE n.nspname = ANY(:schemas) AND {_RELATION} AND a.attnum > 0 AND NOT a.attisdropped
"""
"""Unordered: sorting 40,000 wide rows spills to disk on the server; each table's few sort in Python. A column's
type is looked up in :data:`TYPES` by its oid (the last value): joining the types here made the query a third
slower."""
TYPES = """
WITH RECURSIVE domain_base(oid, base, typmod, not_null) AS (
    SELECT oid, typbasetype, typtypmod, typnotnull FROM pg_type WHERE typtype = 'd'
  UNION ALL
    SELECT d.oid, b.typbasetype, CASE WHEN d.typmod = -1 THEN b.typtypmod ELSE d.typmod END, d.not_null OR b.typnotnull
    FROM domain_base d JOIN pg_type b ON b.oid = d.base AND b.typtype = 'd'
), domains AS (
    SELECT d.oid, d.base, d.typmod, d.not_null, b.typtype = 'e' AS is_enum
    FROM domain_base d JOIN pg_type b ON b.oid = d.base AND b.typtype <> 'd'
)
SELECT t.oid, coalesce(dt.is_enum, t.typtype = 'e'), coalesce(de.is_enum, e.typtype = 'e'),
       coalesce(format_type(dt.base, dt.typmod), format_type(de.base, de.typmod) || '[]'), coalesce(dt.not_null, false)
FROM pg_type t
LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN domains dt ON dt.oid = t.oid
LEFT JOIN domains de ON de.oid = e.oid
WHERE t.typtype IN ('d', 'e') OR e.typtype IN ('d', 'e')
"""
"""The database's enum and domain types and arrays of them, each with how a column of it is read: whether it is an
enum, whether its elements are, the base type of a domain (through domains over domains) or of an array's element
domain, read where the raw type text names only the domain, and whether a domain (at any depth) is NOT NULL, which
makes its column not nullable. Every other type is a plain one (:data:`_PLAIN`)."""
CONSTRAINTS = f"""
SELECT con.conrelid, con.conname, con.contype, con.conkey, fn.nspname, fc.relname,
       CASE WHEN con.contype = 'f' THEN
           ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, i)
                 JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i)
       END
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE n.nspname = ANY(:schemas) AND {_RELATION} AND con.contype IN ('p', 'u', 'f') AND con.conparentid = 0
"""
VIEW_DEFINITION = "SELECT pg_get_viewdef(CAST(:oid AS oid))"
EXPORT_SNAPSHOT = "SELECT pg_export_snapshot()"
EXISTING = "SELECT oid FROM pg_class WHERE oid = ANY(CAST(:oids AS oid[]))"
VISIBLE = """
SELECT c.relname, n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(current_schemas(true)) AND c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
  AND pg_table_is_visible(c.oid)
"""
"""The relations the session's search path finds by name alone (pg_catalog's too): the names ``pg_get_viewdef``
prints unqualified."""


class PostgresCatalog(Catalog):
    """PostgreSQL 12 or later. Partitions are left out: a partitioned table appears once."""

    service_type = "Postgres"
    system_schemas = frozenset({"pg_catalog", "information_schema", "pg_toast"})

    @classmethod
    def default_database(cls, connection: Connection, configured: str | None) -> str:
        from sqlalchemy import text

        return connection.execute(text("SELECT current_database()")).scalar_one()

    @classmethod
    def list_databases(cls, connection: Connection) -> list[tuple[str, str | None, bool]]:
        from sqlalchemy import text

        return [(name, comment, may_connect) for name, comment, may_connect in connection.execute(text(DATABASES))]

    @classmethod
    def is_system(cls, schema: str) -> bool:
        return schema in cls.system_schemas or _TEMP_SCHEMA.fullmatch(schema) is not None

    @classmethod
    @contextlib.contextmanager
    def lock_waits_bounded(cls, connection: Connection) -> Iterator[None]:
        """In one transaction, its ``lock_timeout`` set for it alone (``SET LOCAL``: a pooler such as pgbouncer hands no
        session's setting on to another client) unless one is set already."""
        with transaction(connection, f"BEGIN; {_lock_timeout()}"):
            yield

    @classmethod
    def visible_relations(cls, connection: Connection) -> dict[str, str]:
        from sqlalchemy import text

        return {name: schema for name, schema in connection.execute(text(VISIBLE))}

    def schemas(self) -> list[SchemaInfo]:
        """Schemas with their relation counts; one without USAGE lists that privilege as missing."""
        return [
            SchemaInfo(name, comment, count, None if usage else "USAGE")
            for name, comment, count, usage in self.rows(SCHEMAS)
        ]

    def read(self, schemas: list[str], keep: Callable[[str, str], bool]) -> Found:
        """Every query of a batch sees one snapshot (a table recreated between two reads was published with no
        columns); read again while the catalog changed since it (:meth:`_changed`)."""
        for _ in range(catalog.READS):
            relations, broken, key_rows, types, columns = self._snapshot(schemas, keep)
            if not self._changed(broken, columns, types):
                break
        else:
            raise catalog.changing_catalog()
        if not relations:
            return {}
        keys: dict[int, list[tuple]] = defaultdict(list)
        for row in key_rows:
            keys[row[0]].append(row)
        column_types = _ColumnTypes(types)
        found: Found = defaultdict(list)
        for relation in relations:
            schema, oid, name = relation[:3]
            if oid in broken:
                found[schema].append(Unreadable(name, f"pg_get_viewdef failed: {broken[oid]}"))
            else:
                build = partial(self._table, relation, columns.get(oid, []), keys.get(oid, []), column_types)
                found[schema].append(Pending(name, build, None if relation[6] else "SELECT"))
        return found

    def _snapshot(self, schemas: list[str], keep: Callable[[str, str], bool]) -> _Read:
        """The columns, the longest, read on this connection while a second one, importing its snapshot, reads the
        relations, keys and types (a new connection's first queries are the slower: the short ones pay for it); all
        on this one where the server refuses a second connection or the snapshot's export, and from then on for as
        long as this connection lasts (each refusal may cost a wait: :func:`_handed_over`). This transaction ends once
        the other has the snapshot, not idle while the other waits for a locked view (a server's
        ``idle_in_transaction_session_timeout`` would end the connection)."""
        alone = self.connection.info.get(_ALONE, False)
        opened: list[Connection] = []
        imported: Future[bool | None] = Future()
        with ThreadPoolExecutor(max_workers=1) as pool:
            try:
                with transaction(self.connection, _READ_ONLY):
                    snapshot = None if alone else self._exported_snapshot()
                    aside = None
                    if snapshot:
                        aside = pool.submit(self._relations_aside, schemas, keep, snapshot, imported, opened)
                    columns = self._columns(schemas)
                    handed = _handed_over(imported, self.connection) if aside else False
                    self.connection.info[_ALONE] = handed is False
                    rest = None if handed else self._relations_keys_and_types(schemas, keep, self.connection)
                relations, broken, key_rows, types = rest or aside.result()
            except BaseException:  # stop the second connection: a query of its waiting for a lock would hold this up
                imported.cancel()
                _cancel(opened)
                raise
        return relations, broken, key_rows, types, columns

    def _exported_snapshot(self) -> str | None:
        """The open transaction's snapshot, exported for a second connection to import (not from a savepoint: a
        subtransaction exports none); None where the server refuses, which ends the transaction: it begins again."""
        try:
            return self.rows(EXPORT_SNAPSHOT)[0][0]
        except Exception as error:
            if fault(error) is not None:
                raise
        self.connection.exec_driver_sql(f"ROLLBACK; {_READ_ONLY}")
        return None

    def _relations_aside(
        self,
        schemas: list[str],
        keep: Callable[[str, str], bool],
        snapshot: str,
        imported: Future[bool | None],
        opened: list[Connection],
    ) -> _Relations | None:
        """The relations, keys and types over a second connection (added to ``opened``) in ``snapshot``; ``imported``
        tells the session's connection whether this one has it: False where the server refuses a second connection
        (a connection limit) or the snapshot, None where it was lost. None where it has not, or where the session's
        connection stopped waiting for it (:func:`_handed_over`)."""
        try:
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                return None
            try:  # as the session's: autocommit, so a broken view's failed query does not spoil the next one
                connection = connect(self.connection.engine, str)
            except Exception:
                return None
            opened.append(connection)
            with connection, transaction(connection, _READ_ONLY):
                try:
                    connection.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                except Exception as error:
                    if fault(error) is not None:
                        raise
                    return None  # the failed transaction's COMMIT rolls it back
                if not _tell(imported, True):
                    return None
                return self._relations_keys_and_types(schemas, keep, connection)
        except BaseException:
            if not imported.done():
                _tell(imported, None)  # lost, not refused: the next batch asks again
            raise
        finally:
            if not imported.done():
                _tell(imported, False)

    def _relations_keys_and_types(
        self, schemas: list[str], keep: Callable[[str, str], bool], connection: Connection
    ) -> _Relations:
        """The kept relations, the broken views among them, the relations' key rows and the database's types, in the
        open transaction."""
        connection.exec_driver_sql(_lock_timeout())  # pg_get_viewdef locks the view and what it reads
        relations, broken = self._relations(schemas, keep, connection)
        key_rows = self.rows(CONSTRAINTS, connection=connection, schemas=schemas) if relations else []
        types = {row[0]: row[1:] for row in self.rows(TYPES, connection=connection)}
        return relations, broken, key_rows, types

    def _columns(self, schemas: list[str]) -> dict[int, list[tuple]]:
        """Column rows by relation oid, in attnum order."""
        rows = self.rows(COLUMNS, schemas=schemas)
        columns: dict[int, list[tuple]] = defaultdict(list)
        for row in rows:
            columns[row[0]].append(row)
        for relation_rows in columns.values():
            relation_rows.sort(key=_ATTNUM)
        return columns

    def _changed(self, broken: dict[int, str], columns: dict[int, list[tuple]], types: dict[int, tuple]) -> bool:
        """Whether the catalog changed since the snapshot in a way its reading shows: the functions that read the
        latest catalog found a type dropped since (``format_type`` names it ``???``) or a view (``pg_get_viewdef``
        failed on a view the server no longer has; a view it has is broken)."""
        used = set(map(_TYPE_AND_OID, chain.from_iterable(columns.values())))
        if any(_dropped(text) or _dropped(types.get(oid, _PLAIN)[2]) for text, oid in used):
            return True
        return bool(broken) and len(self.rows(EXISTING, oids=list(broken))) < len(broken)

    def _table(
        self, relation: tuple, column_rows: list[tuple], key_rows: list[tuple], column_types: _ColumnTypes
    ) -> Table:
        schema, _, name, kind, comment, tuples, _, definition = relation
        columns = []
        for _, column_name, number, raw_type, nullable, default, column_comment, type_oid in column_rows:
            typed, not_null = column_types[raw_type, type_oid]
            columns.append(
                column(
                    column_name,
                    typed,
                    nullable=nullable and not not_null,
                    default=default,
                    position=number,
                    comment=column_comment,
                )
            )
        names = {row[2]: row[1] for row in column_rows}
        constraints = [
            constraint(
                CONSTRAINT_TYPES[key_kind],
                key_name,
                [names[number] for number in numbers],
                self.referred(ref_schema, ref_table) if key_kind == "f" else None,
                ref_names,
            )
            for _, key_name, key_kind, numbers, ref_schema, ref_table, ref_names in key_rows
        ]
        return self.table(
            schema,
            name,
            TABLE_TYPES[kind],
            columns=columns,
            constraints=constraints,
            description=comment,
            view_definition=definition.strip() if definition else None,
            row_count=tuples,
        )

    def _relations(
        self, schemas: list[str], keep: Callable[[str, str], bool], connection: Connection
    ) -> tuple[list, dict[int, str]]:
        """The kept relations with view definitions; if a view is broken, each view alone to name it.
        A lost connection or a timeout is raised at once: only the broken view is looked for."""
        try:
            with _savepoint(connection):
                rows = self.rows(RELATIONS, connection=connection, schemas=schemas, definitions=True)
            return [row for row in rows if keep(row[0], row[2])], {}
        except Exception as error:  # one broken view fails the bulk query: read the rest without, then each view
            if fault(error) is not None:
                raise
            rows = self.rows(RELATIONS, connection=connection, schemas=schemas, definitions=False)
            relations = [row for row in rows if keep(row[0], row[2])]
        definitions: dict[int, str] = {}
        broken: dict[int, str] = {}
        for row in relations:
            if row[3] in ("v", "m"):
                try:
                    with _savepoint(connection):
                        definitions[row[1]] = self.rows(VIEW_DEFINITION, connection=connection, oid=row[1])[0][0]
                except Exception as error:
                    if fault(error) is not None:
                        raise
                    broken[row[1]] = error_text(error)
        return [(*row[:7], definitions.get(row[1])) for row in relations], broken


class _ColumnTypes(dict[tuple[str, int], tuple[dict[str, Any], bool]]):
    """The :func:`.catalog.type_fields` of a batch's columns by raw type text and type oid, and whether a domain makes
    the column NOT NULL; each read once from :data:`TYPES`."""

    def __init__(self, types: dict[int, tuple]) -> None:
        super().__init__()
        self.types = types

    def __missing__(self, key: tuple[str, int]) -> tuple[dict[str, Any], bool]:
        raw_type, oid = key
        is_enum, enum_array, base_type, not_null = self.types.get(oid, _PLAIN)
        enum = DataType.ENUM
        found = self[key] = (
            type_fields(raw_type, base_type, enum if is_enum else None, enum if enum_array else None),
            not_null,
        )
        return found


def _handed_over(imported: Future[bool | None], connection: Connection) -> bool | None:
    """Whether the second connection has the snapshot (None: it was lost), waited for at most :data:`_HANDOVER_WAIT`
    seconds: a pooler in transaction mode with no server connection to spare gives it one only once this transaction
    ends. Meanwhile this connection is idle in its transaction for at most :data:`_IDLE` seconds at a time (a
    server's ``idle_in_transaction_session_timeout`` would end it)."""
    deadline = time.monotonic() + _HANDOVER_WAIT
    while True:
        try:
            return imported.result(timeout=_IDLE)
        except FutureTimeout:
            if time.monotonic() >= deadline:
                return False if imported.cancel() else imported.result()
            connection.exec_driver_sql("SELECT 1")


def _cancel(opened: list[Connection]) -> None:
    """Cancel the query the second connection runs, if any."""
    for connection in opened:
        with contextlib.suppress(Exception):  # closed since, or a driver without cancel()
            connection.connection.dbapi_connection.cancel()


def _tell(imported: Future[bool | None], value: bool | None) -> bool:
    """Tell the session's connection whether the second one has the snapshot; False if it stopped waiting."""
    if not imported.set_running_or_notify_cancel():
        return False
    imported.set_result(value)
    return True


def _lock_timeout() -> str:
    """Sets the transaction's ``lock_timeout`` to :data:`.catalog.LOCK_TIMEOUT` for it alone (``SET LOCAL``: a pooler
    such as pgbouncer hands no session's setting on to another client) unless one is set already."""
    wait = f"{catalog.LOCK_TIMEOUT}s"
    return f"SELECT set_config('lock_timeout', '{wait}', true) WHERE current_setting('lock_timeout') = '0'"


def _savepoint(connection: Connection) -> contextlib.AbstractContextManager[None]:
    """Within, a part of the open transaction that is undone alone on error (the transaction goes on)."""
    return transaction(connection, "SAVEPOINT part", "RELEASE SAVEPOINT part", "ROLLBACK TO SAVEPOINT part")


def _dropped(type_text: str | None) -> bool:
    """Whether ``format_type`` named a type dropped since the query's snapshot: ``???`` (``???[]``: its elements'); a
    type so named is quoted."""
    return type_text is not None and type_text.startswith("???")
