"""The ``query_parser`` processor: each query's tables, joins and column lineage, and lineage records for writes."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from airflow_provider_ingest.api import ComponentConfig, Processor
from airflow_provider_ingest.records import (
    ColumnJoinPair,
    ColumnLineageEdge,
    Lineage,
    Query,
    QueryAnalysis,
    Record,
    Table,
    fqn,
)
from airflow_provider_ingest.usage.parser import ColumnName, ParsedQuery, QueryParseError, TableName, parse_query


class QueryParserConfig(ComponentConfig):
    dialect: str | None = Field(
        default=None, description="parse every query in this dialect instead of the one its source gave"
    )
    default_schema: str | None = Field(
        default=None, description="schema of unqualified names when the query log does not tell (e.g. public)"
    )
    catalog: str | None = Field(
        default=None,
        description="a staged catalog file (a sql source's output): its tables' columns resolve SELECT * and"
        " unqualified columns",
    )
    lineage: bool = Field(default=True, description="emit a lineage record for each table a write reads from")


class QueryParserProcessor(Processor):
    """Adds an analysis to each query record; other records pass unchanged. An unparsable query is a warning."""

    type_name = "query_parser"
    config_class = QueryParserConfig
    config: QueryParserConfig

    def prepare(self) -> None:
        self.schema: dict[TableName, list[str]] = {}
        if self.config.catalog:
            self._read_catalog(self.context.resolve_path(self.config.catalog))

    def process(self, record: Record) -> Record | list[Record] | None:
        if not isinstance(record, Query):
            return record
        try:
            parsed = parse_query(
                record.text,
                self.config.dialect or record.dialect,
                default_database=record.database,
                default_schema=record.database_schema or self.config.default_schema,
                schema=self.schema,
            )
        except QueryParseError as error:
            self.warn(f"query {record.fqn} skipped: {error}")
            return None
        analysis = self._analysis(record.service, parsed)
        analysed = record.model_copy(update={"analysis": analysis})
        if not (self.config.lineage and analysis.target_tables and analysis.source_tables):
            return analysed
        return [analysed, *self._lineage(record, analysis)]

    def _analysis(self, service: str, parsed: ParsedQuery) -> QueryAnalysis:
        """The parsed query with its names as FQNs; a table the query leaves without a database or schema is left
        out (counted as ``tables_unresolved``)."""
        names: dict[TableName, str | None] = {}

        def table(name: TableName) -> str | None:
            if name not in names:
                known = name.database is not None and name.schema is not None
                names[name] = fqn.build(service, name.database, name.schema, name.name) if known else None  # type: ignore[arg-type]
                self.report.count("tables_unresolved", not known)
            return names[name]

        def column(name: ColumnName) -> str | None:
            owner = table(name.table)
            return None if owner is None else owner + fqn.SEPARATOR + fqn.quote(name.column)

        joins = []
        for pair in parsed.joins:
            left, right = column(pair.left), column(pair.right)
            if left is not None and right is not None:
                joins.append(ColumnJoinPair(left=left, right=right))
        lineage = []
        for item in parsed.column_lineage:
            target = column(item.target)
            sources = [name for name in map(column, item.sources) if name is not None]
            if target is not None and sources:
                lineage.append(ColumnLineageEdge(to_column=target, from_columns=sources))
        return QueryAnalysis(
            query_type=parsed.query_type,
            source_tables=[name for name in map(table, parsed.source_tables) if name is not None],
            target_tables=[name for name in map(table, parsed.target_tables) if name is not None],
            joins=joins,
            column_lineage=lineage,
        )

    def _lineage(self, query: Query, analysis: QueryAnalysis) -> Iterator[Lineage]:
        """One lineage record per table read -> table written, with the column edges between the two."""
        for target in analysis.target_tables:
            for source in analysis.source_tables:
                if source == target:
                    continue
                edges = []
                for edge in analysis.column_lineage:
                    if not _in_table(edge.to_column, target):
                        continue
                    sources = [name for name in edge.from_columns if _in_table(name, source)]
                    if sources:
                        edges.append(ColumnLineageEdge(to_column=edge.to_column, from_columns=sources))
                self.report.count("lineage")
                yield Lineage(from_table=source, to_table=target, columns=edges, source="query", sql=query.text)

    def _read_catalog(self, uri: str) -> None:
        """Column names of every table in the staged catalog file at ``uri``, for the parser's ``schema``."""
        from airflow_provider_ingest.staging import StagedFileReader

        reader = StagedFileReader(uri)
        reader.verify()
        for record in reader.records(on_invalid=self.fail):
            if isinstance(record, Table):
                name = TableName(record.database, record.database_schema, record.name)
                self.schema[name] = [column.name for column in record.columns]


def _in_table(column: str, table: str) -> bool:
    """Whether a column FQN is one of the table FQN's columns (one more, last, part)."""
    return (
        column.startswith(table)
        and column[len(table) : len(table) + 1] == fqn.SEPARATOR
        and len(fqn.split(column[len(table) + 1 :])) == 1
    )
