"""SQLite catalog: sqlite_master and the table-valued pragmas, one query each for all tables of a schema.

SQLite has no COMMENT statement, so comments are read from the DDL SQLite keeps: a ``-- comment`` on
the ``CREATE TABLE``/``CREATE VIEW`` line describes the table, one at the end of a column's line
describes the column.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_ingest.records import ConstraintType, DataType, Table, TableType
from airflow_provider_ingest.sources.sql.catalog import Catalog, Found, Pending, SchemaInfo, column, constraint
from airflow_provider_ingest.sources.sql.types import sqlite_affinity

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_NAME = r'"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[^\s,()]+'
_COLUMN_COMMENT = re.compile(rf"^\s*({_NAME})\s[^\n]*?--\s?(.*?)\s*$")
_LINE_COMMENT = re.compile(r"--\s?(.*?)\s*$")
_GAP = r"(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_VIEW_HEAD = re.compile(
    rf"{_GAP}CREATE{_GAP}(?:TEMP(?:ORARY)?{_GAP})?VIEW{_GAP}(?:IF{_GAP}NOT{_GAP}EXISTS{_GAP})?"
    rf"(?:(?:{_NAME}){_GAP}\.{_GAP})?(?:{_NAME}){_GAP}(?:\((?:{_NAME}|,|{_GAP})*\){_GAP})?AS\b{_GAP}",
    re.IGNORECASE | re.DOTALL,
)
"""``CREATE VIEW name [(columns)] AS`` and the comments after it, names quoted in any of SQLite's ways."""

SCHEMAS = "SELECT name, NULL FROM pragma_database_list WHERE name <> 'temp' ORDER BY seq"
RELATIONS = """
SELECT name, type, sql FROM {schema}.sqlite_master
WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name
"""
COLUMNS = """
SELECT m.name, p.cid, p.name, p.type, p."notnull", p.dflt_value, p.pk
FROM {schema}.sqlite_master m JOIN pragma_table_info(m.name, :schema) p
WHERE m.type IN ('table', 'view') ORDER BY m.name, p.cid
"""
FOREIGN_KEYS = """
SELECT m.name, f.id, f."table", f."from", f."to"
FROM {schema}.sqlite_master m JOIN pragma_foreign_key_list(m.name, :schema) f
WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq
"""
UNIQUE_KEYS = """
SELECT m.name, i.name, c.name
FROM {schema}.sqlite_master m JOIN pragma_index_list(m.name, :schema) i
JOIN pragma_index_info(i.name, :schema) c
WHERE m.type = 'table' AND i.origin = 'u' ORDER BY m.name, i.seq, c.seqno
"""
STATISTICS = """
SELECT tbl, max(CAST(stat AS INTEGER)) FROM {schema}.sqlite_stat1 GROUP BY tbl
"""


class SqliteCatalog(Catalog):
    """SQLite 3.16 or later: the main database and attached ones, each a schema."""

    service_type = "SQLite"

    @classmethod
    def default_database(cls, connection: Connection, configured: str | None) -> str:
        path = connection.engine.url.database
        return configured or (Path(path).stem if path and path != ":memory:" else "main")

    def schemas(self) -> list[SchemaInfo]:
        return [SchemaInfo(name) for name, _ in self.rows(SCHEMAS)]

    def read(self, schemas: list[str], keep: Callable[[str, str], bool]) -> Found:
        return {schema: self._tables(schema, keep) for schema in schemas}

    def _tables(self, schema: str, keep: Callable[[str, str], bool]) -> list[Pending]:
        """One schema's tables: a query each for relations, columns, unique keys and foreign keys."""
        quoted = '"' + schema.replace('"', '""') + '"'

        def query(sql: str) -> list:
            return self.rows(sql.format(schema=quoted), schema=schema)

        relations = [row for row in query(RELATIONS) if keep(schema, row[0])]
        if not relations:
            return []
        columns: dict[str, list[tuple]] = defaultdict(list)
        for row in query(COLUMNS):
            columns[row[0]].append(row[1:])
        constraints = self._constraints(schema, query, columns)
        counts = self._row_counts(query) if self.scope.row_counts else {}
        return [
            Pending(
                relation[0],
                partial(self._table, schema, relation, columns[relation[0]], constraints[relation[0]], counts),
            )
            for relation in relations
        ]

    def _table(
        self, schema: str, relation: tuple, column_rows: list[tuple], constraints: list, counts: dict[str, int]
    ) -> Table:
        name, kind, sql = relation
        table_comment, column_comments = ddl_comments(sql or "")
        is_view = kind == "view"
        return self.table(
            schema,
            name,
            TableType.VIEW if is_view else TableType.TABLE,
            columns=[_column(row, column_comments) for row in column_rows],
            constraints=constraints,
            description=table_comment,
            view_definition=view_body(sql) if is_view and sql else None,
            row_count=counts.get(name),
        )

    def _constraints(
        self, schema: str, query: Callable[[str], list], columns: dict[str, list[tuple]]
    ) -> dict[str, list[dict[str, Any]]]:
        """Primary keys from the column list, unique keys from their indexes, and foreign keys."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        primary = {
            table: [row[1] for row in sorted((r for r in rows if r[5]), key=lambda r: r[5])]
            for table, rows in columns.items()
        }
        for table, keys in primary.items():
            if keys:
                found[table].append(constraint(ConstraintType.PRIMARY_KEY, None, keys))
        unique: dict[tuple[str, str], list[str]] = defaultdict(list)
        for table, index, name in query(UNIQUE_KEYS):
            unique[(table, index)].append(name)
        for (table, index), keys in unique.items():
            name = None if index.startswith("sqlite_autoindex_") else index
            found[table].append(constraint(ConstraintType.UNIQUE, name, keys))
        foreign: dict[tuple[str, int], list[tuple[str, str, str | None]]] = defaultdict(list)
        for table, number, referred, name, referred_column in query(FOREIGN_KEYS):
            foreign[(table, number)].append((referred, name, referred_column))
        for (table, _), pairs in sorted(foreign.items()):
            referred = pairs[0][0]
            referred_columns = [pair[2] for pair in pairs]
            if None in referred_columns:  # "REFERENCES t" alone: the referred table's primary key
                referred_columns = primary.get(referred, [])
            found[table].append(
                constraint(
                    ConstraintType.FOREIGN_KEY,
                    None,
                    [pair[1] for pair in pairs],
                    self.referred(schema, referred),
                    referred_columns,
                )
            )
        return found

    def _row_counts(self, query: Callable[[str], list]) -> dict[str, int]:
        """Row counts from ``sqlite_stat1`` (written by ANALYZE); none when it does not exist."""
        try:
            return dict(query(STATISTICS))
        except Exception:  # no ANALYZE yet: no statistics table
            return {}


def _column(row: tuple, comments: dict[str, str]) -> dict[str, Any]:
    position, name, raw_type, not_null, default, _pk = row
    fields = column(
        name,
        raw_type,
        nullable=not not_null,
        default=default,
        position=position + 1,
        comment=comments.get(name),
    )
    if fields["data_type"] is DataType.UNKNOWN and raw_type:
        fields["data_type"] = sqlite_affinity(raw_type)
    return fields


def ddl_comments(sql: str) -> tuple[str | None, dict[str, str]]:
    """The table comment (on the CREATE line) and column comments (at the end of their lines)."""
    lines = sql.splitlines()
    if not lines:
        return None, {}
    head = _LINE_COMMENT.search(lines[0])
    columns = {}
    for line in lines[1:]:
        match = _COLUMN_COMMENT.match(line)
        if match and match.group(2):
            columns[_unquote(match.group(1))] = match.group(2)
    return (head.group(1) or None) if head else None, columns


def view_body(sql: str) -> str:
    """The SELECT of a CREATE VIEW statement, without the comments before it; a name holding ``AS`` or ``--``
    in quotes is skipped whole."""
    match = _VIEW_HEAD.match(sql)
    if match:
        return sql[match.end() :].strip()
    first, _, rest = sql.partition("\n")
    return (_LINE_COMMENT.sub("", first) + "\n" + rest).strip()


def _unquote(name: str) -> str:
    if name[:1] in '"`[':
        return name[1:-1].replace('""', '"') if name[0] == '"' else name[1:-1]
    return name
