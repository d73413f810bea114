"""Usage and lineage records: queries from a query log, lineage edges, and table usage per day.

Tables and columns are named by FQN (``service.database.schema.table``, a column one part more), as the
catalog records name them, so usage and lineage join the catalog without ids.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Literal

from pydantic import AwareDatetime, BeforeValidator, Field

from airflow_provider_ingest.records import fqn as fqn_
from airflow_provider_ingest.records.base import MAX_COUNT, BaseRecord, Model, iso_date, iso_time

Name = Annotated[str, Field(min_length=1)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]
Fqn = Annotated[str, Field(min_length=1, description="a table's FQN; a column's is its table's and one part more")]

QueryType = Literal["select", "insert", "update", "delete", "merge", "create_table_as", "create_view", "other"]


def query_checksum(text: str) -> str:
    """The name a query goes by: the MD5 of its text, as OpenMetadata names Query entities."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class ColumnJoinPair(Model):
    """Two columns a query joins on, by FQN, ``left`` sorting first."""

    left: Fqn
    right: Fqn


class ColumnLineageEdge(Model):
    """A written column and the columns its value comes from."""

    to_column: Fqn
    from_columns: list[Fqn] = Field(min_length=1)


class QueryAnalysis(Model):
    """What the ``query_parser`` processor found in a query: tables by FQN, joins, column lineage."""

    query_type: QueryType
    source_tables: list[Fqn] = Field(default_factory=list)
    target_tables: list[Fqn] = Field(default_factory=list)
    joins: list[ColumnJoinPair] = Field(default_factory=list)
    column_lineage: list[ColumnLineageEdge] = Field(default_factory=list)


class Query(BaseRecord):
    """One query (or a statement digest with its call count) from a database's query log."""

    kind: Literal["query"] = "query"
    service: Name
    dialect: Name = Field(description="the SQL dialect to parse it in: postgresql, mysql, mariadb, sqlite")
    text: Name
    database: str | None = None
    database_schema: str | None = Field(default=None, description="the schema unqualified names default to")
    user: str | None = None
    start_time: Annotated[AwareDatetime | None, BeforeValidator(iso_time)] = None
    duration_ms: float | None = Field(default=None, ge=0, description="mean duration of one call")
    calls: Count = Field(default=1, description="times the query ran (a digest counts many)")
    analysis: QueryAnalysis | None = None

    @property
    def fqn(self) -> str:
        return fqn_.build(self.service, query_checksum(self.text))


class Lineage(BaseRecord):
    """Data flows from one table (or view) to another: a write query's, or a view's over its sources."""

    kind: Literal["lineage"] = "lineage"
    from_table: Fqn
    to_table: Fqn
    columns: list[ColumnLineageEdge] = Field(default_factory=list)
    source: Literal["query", "view"] = "query"
    sql: str | None = Field(default=None, description="the query or view definition it was read from")

    @property
    def fqn(self) -> str:
        return f"{self.from_table} -> {self.to_table}"


class JoinedTable(Model):
    """A table joined with the usage record's table, and how many times."""

    table: Fqn
    count: Count


class JoinedColumn(Model):
    column: Fqn
    count: Count


class ColumnJoins(Model):
    """A column of the usage record's table and the columns it was joined with, with counts."""

    column: Name
    joined_with: list[JoinedColumn] = Field(min_length=1)


class FrequentQuery(Model):
    """One of a table's most frequent queries on a day."""

    text: Name
    count: Count
    users: list[str] = Field(default_factory=list)
    duration_ms: float | None = Field(default=None, ge=0)
    query_type: QueryType = "select"


class TableUsage(BaseRecord):
    """How much a table was used on one day (UTC): queries, users, joins and its most frequent queries."""

    kind: Literal["table_usage"] = "table_usage"
    table: Fqn
    date: Annotated[date, BeforeValidator(iso_date)]
    count: Count = Field(description="queries that read or wrote the table (a digest counts its calls)")
    users: list[str] = Field(default_factory=list, description="distinct users, sorted")
    joined_tables: list[JoinedTable] = Field(default_factory=list)
    column_joins: list[ColumnJoins] = Field(default_factory=list)
    queries: list[FrequentQuery] = Field(default_factory=list)

    @property
    def fqn(self) -> str:
        return f"{self.table}@{self.date.isoformat()}"
