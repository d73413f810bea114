"""Records as OpenMetadata create requests: CreateDatabaseService, CreateDatabase, CreateDatabaseSchema, CreateTable.

Parents are named by fully qualified name; owners are entity references (``id`` and ``type``),
resolved by the caller. A :class:`Mapper` builds the bodies one server accepts, by its version
(:class:`ServerFeatures`). Not published: row counts, column samples, column defaults, custom properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_ingest.records import (
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Record,
    Table,
    TableConstraint,
    TableType,
    TagLabel,
    fqn,
)

ENDPOINTS = {
    "database_service": "/api/v1/services/databaseServices",
    "database": "/api/v1/databases",
    "database_schema": "/api/v1/databaseSchemas",
    "table": "/api/v1/tables",
}
"""Where each kind of record is PUT (create or update)."""

TABLE_TYPES = {
    TableType.TABLE: "Regular",
    TableType.VIEW: "View",
    TableType.MATERIALIZED_VIEW: "MaterializedView",
    TableType.EXTERNAL: "External",
    TableType.PARTITIONED: "Partitioned",
}

DATA_TYPE_FALLBACKS = {DataType.MONEY: "NUMERIC", DataType.BIT: "BINARY"}
"""Project data types OpenMetadata's ``dataType`` enum lacks; the raw type stays in ``dataTypeDisplay``."""

TAG_SOURCES = {"classification": "Classification", "glossary": "Glossary"}


@dataclass(frozen=True)
class ServerFeatures:
    """What one OpenMetadata server version accepts in create requests."""

    version: tuple[int, int]

    @classmethod
    def of(cls, version: str) -> ServerFeatures:
        """The features of a server reporting ``version`` (``1.5.4``, ``2.0.7``)."""
        major, _, rest = version.partition(".")
        minor = rest.partition(".")[0]
        return cls((int(major), int(minor) if minor.isdigit() else 0))


class Mapper:
    """Builds the create-request bodies one server accepts."""

    def __init__(self, features: ServerFeatures) -> None:
        self.features = features

    def body(
        self, record: Record, owners: list[dict[str, str]] | None = None, *, foreign_keys: bool = True
    ) -> dict[str, Any]:
        """The create request for ``record``; ``foreign_keys=False`` leaves out foreign-key constraints."""
        body = request_body(record, owners)
        if not foreign_keys and "tableConstraints" in body:
            kept = [c for c in body["tableConstraints"] if c["constraintType"] != "FOREIGN_KEY"]
            if kept:
                body["tableConstraints"] = kept
            else:
                del body["tableConstraints"]
        return body


def request_body(record: Record, owners: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The create request for a record; ``owners`` are entity references (``{"id", "type"}``)."""
    body: dict[str, Any] = {"name": record.name}
    if record.display_name:
        body["displayName"] = record.display_name
    if record.description:
        body["description"] = record.description
    if record.tags:
        body["tags"] = [tag_label(tag) for tag in record.tags]
    if owners:
        body["owners"] = owners
    if isinstance(record, DatabaseService):
        body["serviceType"] = record.service_type
    elif isinstance(record, Database):
        body["service"] = fqn.build(record.service)
    elif isinstance(record, DatabaseSchema):
        body["database"] = fqn.build(record.service, record.database)
    elif isinstance(record, Table):
        body.update(_table(record))
    return body


def tag_label(tag: TagLabel) -> dict[str, str]:
    """A tag label as applied by a tool (``Automated``) and confirmed."""
    return {"tagFQN": tag.tag_fqn, "source": TAG_SOURCES[tag.source], "labelType": "Automated", "state": "Confirmed"}


def data_type(value: DataType) -> str:
    """OpenMetadata's ``dataType`` name for a normalized type."""
    return DATA_TYPE_FALLBACKS.get(value, value.value)


def _table(table: Table) -> dict[str, Any]:
    single = _single_column_constraints(table.constraints)
    body: dict[str, Any] = {
        "databaseSchema": fqn.build(table.service, table.database, table.database_schema),
        "tableType": TABLE_TYPES[table.table_type],
        "columns": [_column(column, single.get(column.name)) for column in table.columns],
    }
    constraints = [_constraint(c) for c in table.constraints if not _is_single(c)]
    if constraints:
        body["tableConstraints"] = constraints
    if table.view_definition:
        body["schemaDefinition"] = table.view_definition
    return body


def _column(column: Column, constraint: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": column.name,
        "dataType": data_type(column.data_type),
        "dataTypeDisplay": column.data_type_display or column.data_type.value.lower(),
        "constraint": constraint or ("NULL" if column.nullable else "NOT_NULL"),
    }
    for key, value in (
        ("dataLength", column.data_length),
        ("precision", column.precision),
        ("scale", column.scale),
        ("ordinalPosition", column.ordinal_position),
        ("description", column.description),
    ):
        if value is not None:
            body[key] = value
    if column.tags:
        body["tags"] = [tag_label(tag) for tag in column.tags]
    return body


def _is_single(constraint: TableConstraint) -> bool:
    """A one-column primary key or unique constraint: OpenMetadata keeps it on the column."""
    return constraint.constraint_type is not ConstraintType.FOREIGN_KEY and len(constraint.columns) == 1


def _single_column_constraints(constraints: list[TableConstraint]) -> dict[str, str]:
    found: dict[str, str] = {}
    for constraint in constraints:
        if _is_single(constraint):
            name = constraint.columns[0]
            if found.get(name) != "PRIMARY_KEY":
                found[name] = constraint.constraint_type.name
    return found


def _constraint(constraint: TableConstraint) -> dict[str, Any]:
    body: dict[str, Any] = {"constraintType": constraint.constraint_type.name, "columns": list(constraint.columns)}
    if constraint.referred_table:
        parts = fqn.split(constraint.referred_table)
        body["referredColumns"] = [fqn.build(*parts, column) for column in constraint.referred_columns]
    return body
