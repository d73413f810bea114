"""View lineage for the ``sql`` source: each view's definition parsed into lineage records, per database.

While a database's catalog records go out, :class:`ViewLineage` keeps the column names of every relation
read and the definition of every view; after the database's last catalog record it parses each definition
(:func:`~airflow_provider_ingest.usage.parser.view_lineage`) with those column names as the schema, so that
unqualified columns and ``SELECT *`` resolve, and makes one :class:`Lineage` record per source table. Memory:
one database's relation and column names and its views' definitions, never its records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from airflow_provider_ingest.records import ColumnLineageEdge, Lineage, Table, fqn
from airflow_provider_ingest.usage.parser import ParsedQuery, QueryParseError, TableName, view_lineage

SEARCH_PATH = "\x00search path"
"""The schema the parser gives unqualified names when the engine resolves them by a search path (PostgreSQL);
no real schema name holds a NUL character. Each such name is then looked up in the relations visible by name."""

_FOLD_TABLES = frozenset({"sqlite"})
"""Engines whose table and column names match case-insensitively, whatever case the catalog keeps (the parser
lower-cases their unquoted names)."""
_MYSQL = frozenset({"mysql", "mariadb"})
_FOLD_COLUMNS = _FOLD_TABLES | _MYSQL
"""Engines whose column names match case-insensitively."""


@dataclass(frozen=True, slots=True)
class _View:
    name: TableName
    columns: tuple[str, ...]
    definition: str


class ViewLineage:
    """One database's views and the column names of its relations, and the lineage records they give."""

    def __init__(self, service: str, database: str, dialect: str) -> None:
        self.service = service
        self.database = database
        self.dialect = dialect
        self._fold_tables = dialect in _FOLD_TABLES
        self._fold_columns = dialect in _FOLD_COLUMNS
        self._tables: dict[TableName, tuple[TableName, tuple[str, ...]]] = {}
        self.views: list[_View] = []
        self._visible: Mapping[str, str] | None = None
        self._schema = ""
        self.unparsed = self.emitted = 0

    def add(self, table: Table) -> None:
        """Keep a relation's column names and, for a view or materialized view, its definition."""
        name = TableName(table.database, table.database_schema, table.name)
        columns = tuple(column.name for column in table.columns)
        self._tables[self._table_key(name)] = (name, columns)
        if table.view_definition is not None:
            self.views.append(_View(name, columns, table.view_definition))

    def records(self, visible: Mapping[str, str] | None, warn: Callable[[str], None]) -> Iterator[Lineage]:
        """Each view's lineage records, source tables in name order; a view the parser cannot read is a warning.

        ``visible``: where the engine resolves unqualified names by a search path, each relation name visible
        unqualified and its schema (PostgreSQL's ``pg_get_viewdef`` qualifies every other name); else None.
        """
        self._visible = visible
        schema = _Schema(self)
        for view in self.views:
            where = fqn.build(self.service, *_parts(view.name))
            self._schema = view.name.schema or ""
            if not view.definition.strip():
                self.unparsed += 1
                hint = (
                    " (MySQL shows it only to its definer or a user with SHOW VIEW)" if self.dialect in _MYSQL else ""
                )
                warn(f"no lineage for view {where}: the catalog gives no definition of it{hint}")
                continue
            try:
                parsed = view_lineage(
                    view.definition,
                    self.dialect,
                    view=view.name,
                    columns=list(view.columns) or None,
                    default_schema=SEARCH_PATH if visible is not None else None,
                    schema=schema,
                )
                records = list(self._lineage(view, parsed))
            except QueryParseError as error:
                self.unparsed += 1
                warn(f"no lineage for view {where}: its definition cannot be parsed: {error}")
                continue
            except Exception as error:  # a parser bug costs the view's lineage, never the catalog
                self.unparsed += 1
                warn(f"no lineage for view {where}: the parser failed ({type(error).__name__})")
                continue
            self.emitted += len(records)
            yield from records

    def _lineage(self, view: _View, parsed: ParsedQuery) -> Iterator[Lineage]:
        target = fqn.build(self.service, *_parts(view.name))
        by_source: dict[TableName, list[ColumnLineageEdge]] = {}
        for item in parsed.column_lineage:
            to_column = target + fqn.SEPARATOR + fqn.quote(self._column(view.name, item.target.column))
            found: dict[TableName, list[str]] = {}
            for source in item.sources:
                table = self._resolve(source.table)
                found.setdefault(table, []).append(
                    fqn.build(self.service, *_parts(table), self._column(table, source.column))
                )
            for table, columns in found.items():
                by_source.setdefault(table, []).append(
                    ColumnLineageEdge(to_column=to_column, from_columns=sorted(set(columns)))
                )
        sources = sorted(
            {self._resolve(name) for name in parsed.source_tables} | set(by_source), key=TableName.sort_key
        )
        for source in sources:
            if source == view.name:
                continue
            yield Lineage(
                from_table=fqn.build(self.service, *_parts(source)),
                to_table=target,
                columns=by_source.get(source, []),
                source="view",
                sql=view.definition,
            )

    def _table_key(self, name: TableName) -> TableName:
        if not self._fold_tables:
            return name
        return TableName(_fold(name.database), _fold(name.schema), name.name.lower())

    def _resolve(self, name: TableName) -> TableName:
        """A parsed table name as the catalog spells it: the search path applied, the catalog's case kept."""
        if name.schema == SEARCH_PATH:
            schema = (self._visible or {}).get(name.name)
            name = TableName(name.database, schema or self._schema, name.name)
        known = self._tables.get(self._table_key(name))
        return known[0] if known is not None else TableName(name.database or self.database, name.schema, name.name)

    def columns_of(self, name: TableName) -> tuple[str, ...] | None:
        """The column names of a relation read in this database, as the parser compares them; None if unknown."""
        known = self._tables.get(self._table_key(self._resolve(name)))
        if known is None:
            return None
        return tuple(column.lower() for column in known[1]) if self._fold_tables else known[1]

    def _column(self, table: TableName, column: str) -> str:
        """A parsed column name as the catalog spells it (where the engine ignores case), else as parsed."""
        known = self._tables.get(self._table_key(table))
        if known is None or column in known[1] or not self._fold_columns:
            return column
        folded = column.lower()
        return next((name for name in known[1] if name.lower() == folded), column)


class _Schema(Mapping[TableName, tuple[str, ...]]):
    """The parser's ``schema``: column names of the relations read, looked up as the engine resolves names."""

    def __init__(self, lineage: ViewLineage) -> None:
        self._lineage = lineage

    def __getitem__(self, name: TableName) -> tuple[str, ...]:
        columns = self._lineage.columns_of(name)
        if columns is None:
            raise KeyError(name)
        return columns

    def __iter__(self) -> Iterator[TableName]:
        return (name for name, _ in self._lineage._tables.values())

    def __len__(self) -> int:
        return len(self._lineage._tables)


def _parts(name: TableName) -> tuple[str, str, str]:
    if name.database is None or name.schema is None:
        raise ValueError(f"table {name.name!r} has no database or schema")
    return (name.database, name.schema, name.name)


def _fold(part: str | None) -> str | None:
    return part.lower() if part is not None else None
