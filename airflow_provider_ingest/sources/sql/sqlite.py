"""SQLite catalog: sqlite_master and the table-valued pragmas, one query each for all tables of a schema, or
one relation at a time when a relation that cannot be read (a view over a dropped table) fails such a query.

SQLite has no COMMENT statement, so comments are read from the DDL SQLite keeps: a ``-- comment`` on
the ``CREATE TABLE``/``CREATE VIEW`` line describes the table, one at the end of a column's line
describes the column.
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_provider_ingest.records import ConstraintType, DataType, Table, TableType
from airflow_provider_ingest.sources.sql.catalog import (
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
from airflow_provider_ingest.sources.sql.types import sqlite_affinity

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_NAME = r'"(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|[^\s,()]+'
_QUOTED = r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`|\[[^\]]*\]"
_LINE_PARTS = re.compile(rf"{_QUOTED}|/\*.*?(?:\*/|\Z)|--[^\S\n]?(?P<comment>[^\n]*)|\n", re.DOTALL)
"""What DDL lines are cut at: quoted strings and names and block comments, skipped whole (a line break or ``--``
in them is no line end nor comment), ``--`` comments, and line breaks."""
_COLUMN_NAME = re.compile(
    rf"\s*,?\s*(?!(?:CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b)({_NAME})(?:[\s,]|\Z)", re.IGNORECASE
)
"""A column definition's name at the start of its line: after the comma of the leading-comma style, and followed by
its type, or by its comma where it has none; not a table constraint's first word."""
_LINE_COMMENT = re.compile(r"--\s?(.*?)\s*$")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
"""SQLite matches table names ignoring the case of ASCII letters only."""
_GAP = r"(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_VIEW_HEAD = re.compile(
    rf"{_GAP}CREATE{_GAP}(?:TEMP(?:ORARY)?{_GAP})?VIEW{_GAP}(?:IF{_GAP}NOT{_GAP}EXISTS{_GAP})?"
    rf"(?:(?:{_NAME}){_GAP}\.{_GAP})?(?:{_NAME}){_GAP}(?:\((?:{_NAME}|,|{_GAP})*\){_GAP})?AS\b{_GAP}",
    re.IGNORECASE | re.DOTALL,
)
"""``CREATE VIEW name [(columns)] AS`` and the comments after it, names quoted in any of SQLite's ways."""

SCHEMAS = "SELECT name FROM pragma_database_list WHERE name <> 'temp' ORDER BY seq"
ENCODING = "SELECT encoding FROM pragma_encoding"
"""The text encoding of the main database, which attached ones share: UTF-8, UTF-16le or UTF-16be."""
_USER_RELATION = "type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
RELATION_COUNT = f"SELECT count(*) FROM {{schema}}.sqlite_master WHERE {_USER_RELATION}"
RELATIONS = f"""
SELECT name, type, CAST(sql AS BLOB) FROM {{schema}}.sqlite_master WHERE {_USER_RELATION} ORDER BY name
"""
"""The DDL as bytes, decoded leniently: text that is not valid in the database's encoding cannot fail the query."""
COLUMNS = """
SELECT m.name, p.name, p.type, p."notnull", p.dflt_value, p.pk
FROM {schema}.sqlite_master m JOIN {columns}
WHERE m.type IN ('table', 'view'){only} ORDER BY m.name, p.cid
"""
TABLE_XINFO = "pragma_table_xinfo(m.name, :schema) p ON p.hidden IN (0, 2, 3)"
"""Columns with generated ones (hidden 2: virtual, 3: stored), without the hidden columns of virtual tables (1)."""
TABLE_XINFO_SINCE = (3, 26)
TABLE_INFO = "pragma_table_info(m.name, :schema) p"
"""Columns before SQLite 3.26, without generated ones."""
FOREIGN_KEYS = """
SELECT m.name, f.id, f."table", f."from", f."to"
FROM {schema}.sqlite_master m JOIN pragma_foreign_key_list(m.name, :schema) f
WHERE m.type = 'table'{only} ORDER BY m.name, f.id, f.seq
"""
UNIQUE_KEYS = """
SELECT m.name, i.name, c.name
FROM {schema}.sqlite_master m JOIN pragma_index_list(m.name, :schema) i
JOIN pragma_index_info(i.name, :schema) c
WHERE m.type = 'table' AND i.origin = 'u'{only} ORDER BY m.name, i.seq, c.seqno
"""
ONE_RELATION = " AND m.name = :name"
STATISTICS = """
SELECT tbl, max(CAST(stat AS INTEGER)) FROM {schema}.sqlite_stat1 GROUP BY tbl
"""


class CatalogRows(NamedTuple):
    """A schema's catalog rows by relation name, without the name: its columns, the columns of its unique keys
    (index, column) and of its foreign keys (number, referred table, column, referred column)."""

    columns: dict[str, list[tuple]]
    unique_keys: dict[str, list[tuple]]
    foreign_keys: dict[str, list[tuple]]


class SqliteCatalog(Catalog):
    """SQLite 3.16 or later: the main database and attached ones, each a schema."""

    service_type = "SQLite"

    @classmethod
    def default_database(cls, connection: Connection, configured: str | None) -> str:
        path = connection.engine.url.database
        return configured or (Path(path).stem if path and path != ":memory:" else "main")

    def schemas(self) -> list[SchemaInfo]:
        """Each schema with its count of tables and views (SQLite's own ``sqlite_`` tables left out)."""
        return [
            SchemaInfo(name, relations=self.rows(RELATION_COUNT.format(schema=_quoted(name)))[0][0])
            for (name,) in self.rows(SCHEMAS)
        ]

    def read(self, schemas: list[str], keep: Callable[[str, str], bool]) -> Found:
        """The schemas' relations, columns and keys in one read transaction, so in one state of the file: read apart,
        a table another connection recreated between two queries was read with no columns or another version's
        keys."""
        with transaction(self.connection, "BEGIN"):
            encoding = self.rows(ENCODING)[0][0]
            return {schema: self._tables(schema, keep, encoding) for schema in schemas}

    def _tables(self, schema: str, keep: Callable[[str, str], bool], encoding: str) -> list[Pending | Unreadable]:
        """One schema's tables: a query each for relations, columns, unique keys and foreign keys. If one of
        those fails, each relation alone, so that a relation that cannot be read fails alone."""
        quoted = _quoted(schema)
        columns = TABLE_XINFO if self._has_table_xinfo() else TABLE_INFO

        def query(sql: str, relation: str | None = None) -> list:
            only = ONE_RELATION if relation is not None else ""
            return self.rows(sql.format(schema=quoted, only=only, columns=columns), schema=schema, name=relation)

        listed = query(RELATIONS)
        relations = [row for row in listed if keep(schema, row[0])]
        if not relations:
            return []
        try:
            rows, unreadable = self._catalog_rows(query), {}
        except Exception as error:
            if fault(error) is not None:
                raise
            rows, unreadable = self._each_alone(query, [row[0] for row in listed])
        tables = {name.translate(_ASCII_LOWER): name for name, kind, _ in listed if kind == "table"}
        constraints = self._constraints(schema, rows, tables)
        counts = self._row_counts(query) if self.scope.row_counts else {}
        return [
            Unreadable(relation[0], unreadable[relation[0]])
            if relation[0] in unreadable
            else Pending(
                relation[0],
                partial(
                    self._table,
                    schema,
                    relation,
                    encoding,
                    rows.columns.get(relation[0], []),
                    constraints[relation[0]],
                    counts,
                ),
            )
            for relation in relations
        ]

    def _has_table_xinfo(self) -> bool:
        """Whether the SQLite library has ``pragma_table_xinfo``, which lists generated columns (3.26 or later)."""
        return self.connection.dialect.server_version_info >= TABLE_XINFO_SINCE

    def _catalog_rows(self, query: Callable[..., list], relation: str | None = None) -> CatalogRows:
        """The rows of the columns, unique keys and foreign keys queries: of every relation, or of one."""
        found = []
        for sql in (COLUMNS, UNIQUE_KEYS, FOREIGN_KEYS):
            by_relation: dict[str, list[tuple]] = defaultdict(list)
            for row in query(sql, relation):
                by_relation[row[0]].append(row[1:])
            found.append(by_relation)
        return CatalogRows(*found)

    def _each_alone(self, query: Callable[..., list], names: list[str]) -> tuple[CatalogRows, dict[str, str]]:
        """The rows of each relation, read alone, and why each one that cannot be read cannot. Every relation of
        the schema is read, as in bulk: a foreign key may refer to a table the filter leaves out."""
        rows = CatalogRows({}, {}, {})
        unreadable: dict[str, str] = {}
        for name in names:
            try:
                alone = self._catalog_rows(query, name)
            except Exception as error:
                if fault(error) is not None:
                    raise
                unreadable[name] = error_text(error)
                continue
            for found, found_alone in zip(rows, alone, strict=True):
                found.update(found_alone)
        return rows, unreadable

    def _table(
        self,
        schema: str,
        relation: tuple,
        encoding: str,
        column_rows: list[tuple],
        constraints: list,
        counts: dict[str, int],
    ) -> Table:
        name, kind, ddl = relation
        sql = ddl.decode(encoding, "replace") if ddl is not None else None
        table_comment, column_comments = ddl_comments(sql or "")
        is_view = kind == "view"
        return self.table(
            schema,
            name,
            TableType.VIEW if is_view else TableType.TABLE,
            columns=[_column(row, position, column_comments) for position, row in enumerate(column_rows, 1)],
            constraints=constraints,
            description=table_comment,
            view_definition=view_body(sql) if is_view and sql else None,
            row_count=counts.get(name),
        )

    def _constraints(self, schema: str, rows: CatalogRows, tables: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
        """Primary keys from the column list, unique keys from their indexes, and foreign keys, each naming the
        table it refers to as it is named (``tables``: each table's name by its ASCII-lowercased name), not as the
        DDL writes it."""
        found: dict[str, list[dict[str, Any]]] = defaultdict(list)
        primary = {
            table: [row[0] for row in sorted((r for r in column_rows if r[4]), key=lambda r: r[4])]
            for table, column_rows in rows.columns.items()
        }
        for table, keys in primary.items():
            if keys:
                found[table].append(constraint(ConstraintType.PRIMARY_KEY, None, keys))
        unique: dict[tuple[str, str], list[str]] = defaultdict(list)
        for table, key_rows in rows.unique_keys.items():
            for index, name in key_rows:
                unique[(table, index)].append(name)
        for (table, index), keys in unique.items():
            name = None if index.startswith("sqlite_autoindex_") else index
            found[table].append(constraint(ConstraintType.UNIQUE, name, keys))
        foreign: dict[tuple[str, int], list[tuple[str, str, str | None]]] = defaultdict(list)
        for table, key_rows in rows.foreign_keys.items():
            for number, referred, name, referred_column in key_rows:
                foreign[(table, number)].append((referred, name, referred_column))
        for (table, _), pairs in sorted(foreign.items()):
            referred = tables.get(pairs[0][0].translate(_ASCII_LOWER), pairs[0][0])
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
        """Row counts from ``sqlite_stat1`` (written by ANALYZE); none when it does not exist. Any other error is
        raised (the counts were left out, silently)."""
        try:
            return dict(query(STATISTICS))
        except Exception as error:
            if fault(error) is None and "no such table" in str(error):  # no ANALYZE yet
                return {}
            raise


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column(row: tuple, position: int, comments: dict[str, str]) -> dict[str, Any]:
    name, raw_type, not_null, default, _pk = row
    fields = column(
        name,
        type_fields(raw_type),
        nullable=not not_null,
        default=default,
        position=position,
        comment=comments.get(name),
    )
    if fields["data_type"] == DataType.UNKNOWN.value and raw_type:
        fields["data_type"] = sqlite_affinity(raw_type).value
    return fields


def ddl_comments(sql: str) -> tuple[str | None, dict[str, str]]:
    """The table comment (on the CREATE line) and column comments (at the end of their lines)."""
    (_, table_comment), *lines = _commented_lines(sql)
    columns = {}
    for code, comment in lines:
        name = _COLUMN_NAME.match(code)
        if name and comment:
            columns[_unquote(name.group(1))] = comment
    return table_comment, columns


def _commented_lines(sql: str) -> list[tuple[str, str | None]]:
    """Each line of the DDL as its text before its ``--`` comment, and the comment (None without one). A line
    break or a ``--`` in quotes or in a block comment counts for nothing: such a line goes on past it."""
    lines: list[tuple[str, str | None]] = []
    start = 0
    comment: re.Match[str] | None = None
    for part in _LINE_PARTS.finditer(sql + "\n"):
        if part.group() == "\n":
            if comment is None:
                lines.append((sql[start : part.start()], None))
            else:
                lines.append((sql[start : comment.start()], comment["comment"].rstrip() or None))
            start, comment = part.end(), None
        elif part["comment"] is not None:
            comment = part
    return lines


def view_body(sql: str) -> str:
    """The SELECT of a CREATE VIEW statement, without the comments before it; a name holding ``AS`` or ``--``
    in quotes is skipped whole."""
    match = _VIEW_HEAD.match(sql)
    if match:
        return sql[match.end() :].strip()
    first, _, rest = sql.partition("\n")
    return (_LINE_COMMENT.sub("", first) + "\n" + rest).strip()


def _unquote(name: str) -> str:
    if name[:1] in '"`':
        return name[1:-1].replace(name[0] * 2, name[0])
    return name[1:-1] if name[:1] == "[" else name
