"""Records as OpenMetadata create requests: CreateDatabaseService, CreateDatabase, CreateDatabaseSchema, CreateTable.

Parents are named by fully qualified name; owners are entity references (``id`` and ``type``), resolved by the
caller. A :class:`Mapper` builds the bodies one server accepts, by its version (:class:`ServerFeatures`): a field
the server lacks is never sent, a type it lacks falls back (the raw type stays in ``dataTypeDisplay``), what it
has no field for is counted and reported once per kind (:meth:`Mapper.dropped`), and a record with a name it
cannot represent fails (:class:`~airflow_provider_ingest.openmetadata.names.UnrepresentableName`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_ingest.openmetadata.names import check_names
from airflow_provider_ingest.openmetadata.omissions import Omissions, Tally
from airflow_provider_ingest.openmetadata.properties import ENTITY_TYPES, PropertyDefinitions, fits
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
    TableType.FOREIGN: "Foreign",
    TableType.PARTITIONED: "Partitioned",
}
"""OpenMetadata's ``tableType`` of each kind of table; every 1.x and 2.x server has them all."""

WITHOUT_VIEW_DEFINITION = {TableType.TABLE, TableType.EXTERNAL}
"""Table types OpenMetadata before 1.4 refuses a view definition for (``Regular``, ``External``)."""

DATA_TYPE_FALLBACKS = {DataType.MONEY: "NUMERIC", DataType.BIT: "BINARY"}
"""Types OpenMetadata's ``dataType`` enum has from 1.5 on, and what older servers get instead."""

LENGTH_TYPES = {"CHAR", "VARCHAR", "BINARY", "VARBINARY", "BIT"}
"""``dataType`` values sent with a ``dataLength``: OpenMetadata refuses the first four without one."""

DEFAULT_LENGTH = 1
"""The ``dataLength`` of a column whose database gives none (``varchar``, ``bpchar``), as OpenMetadata's own
connectors send it."""

TAG_SOURCES = {"classification": "Classification", "glossary": "Glossary"}


@dataclass(frozen=True)
class ServerFeatures:
    """What one OpenMetadata server version accepts in create requests (from OpenMetadata's generated models)."""

    version: tuple[int, int]

    @classmethod
    def of(cls, version: str) -> ServerFeatures:
        """The features of a server reporting ``version`` (``1.5.4``, ``2.0.7``)."""
        major, _, rest = version.partition(".")
        minor = rest.partition(".")[0]
        return cls((int(major), int(minor) if minor.isdigit() else 0))

    @property
    def label(self) -> str:
        """``OpenMetadata 1.4``, for messages."""
        return f"OpenMetadata {self.version[0]}.{self.version[1]}"

    @property
    def owners_list(self) -> bool:
        """``owners``, a list, from 1.5 on; before, one ``owner``."""
        return self.version >= (1, 5)

    @property
    def tag_reason(self) -> bool:
        """Tag labels have ``reason`` from 1.10 on."""
        return self.version >= (1, 10)

    @property
    def view_definition(self) -> str:
        """The field of a view's SQL: ``viewDefinition`` before 1.4, ``schemaDefinition`` after."""
        return "viewDefinition" if self.version < (1, 4) else "schemaDefinition"

    def has_extension(self, kind: str) -> bool:
        """Whether the create request of ``kind`` has ``extension``: tables always, databases and schemas from
        1.1 on, services never."""
        return kind == "table" or (kind in ENTITY_TYPES and self.version >= (1, 1))

    @property
    def column_name_limit(self) -> int | None:
        """Longest column name: 128 characters before 1.2, 256 up to 1.12, no limit from 1.13 on."""
        if self.version < (1, 2):
            return 128
        return 256 if self.version < (1, 13) else None

    @property
    def query_service(self) -> bool:
        """Queries name their service (``service``, and ``usedBy``, ``query_type``) from 1.2 on; before, a
        CreateQuery has none of them."""
        return self.version >= (1, 2)

    @property
    def lineage_source(self) -> bool:
        """Lineage details have ``source`` (``ViewLineage``, ``QueryLineage``...) from 1.2 on."""
        return self.version >= (1, 2)

    @property
    def query_duration_scale(self) -> float:
        """What a query's duration in milliseconds is multiplied by: ``duration`` is in seconds before 1.3,
        in milliseconds after."""
        return 0.001 if self.version < (1, 3) else 1.0

    @property
    def tag_fqn_limit(self) -> int | None:
        """Longest tag FQN: 128 characters before 1.5, no limit after."""
        return 128 if self.version < (1, 5) else None

    def data_type(self, value: DataType) -> str:
        """OpenMetadata's ``dataType`` for a normalized type: ``MONEY`` and ``BIT`` fall back before 1.5."""
        if value in DATA_TYPE_FALLBACKS and self.version < (1, 5):
            return DATA_TYPE_FALLBACKS[value]
        return value.value


class Mapper:
    """Builds the create-request bodies one server accepts, and counts what they leave out; thread-safe."""

    def __init__(self, features: ServerFeatures, properties: PropertyDefinitions | None = None) -> None:
        self.features = features
        self.properties = properties or PropertyDefinitions()
        self.omissions = Omissions(features.label)

    def body(
        self, record: Record, owners: list[dict[str, str]] | None = None, *, foreign_keys: bool = True
    ) -> dict[str, Any]:
        """The create request for ``record``; ``foreign_keys=False`` leaves out foreign-key constraints.

        Raises :class:`~airflow_provider_ingest.openmetadata.names.UnrepresentableName` (or its base
        ``UnrepresentableRecord``) for a record the server cannot hold.
        """
        check_names(record, column_limit=self.features.column_name_limit, tag_limit=self.features.tag_fqn_limit)
        request = _Request(self.features, self.properties)
        body = request.entity(record, owners or [])
        if not foreign_keys and "tableConstraints" in body:
            kept = [c for c in body["tableConstraints"] if c["constraintType"] != "FOREIGN_KEY"]
            if kept:
                body["tableConstraints"] = kept
            else:
                del body["tableConstraints"]
        self.omissions.add(record.fqn, request.tally)
        return body

    def dropped(self) -> list[str]:
        """One warning per kind of what the bodies built so far left out or changed (column defaults,
        undefined custom properties, MONEY as NUMERIC...), for the end of the run."""
        return self.omissions.messages()


class _Request:
    """Builds one record's body, tallying what it leaves out."""

    def __init__(self, features: ServerFeatures, properties: PropertyDefinitions) -> None:
        self.features = features
        self.properties = properties
        self.tally = Tally()

    def entity(self, record: Record, owners: list[dict[str, str]]) -> dict[str, Any]:
        body: dict[str, Any] = {"name": record.name}
        if record.display_name:
            body["displayName"] = record.display_name
        if record.description:
            body["description"] = record.description
        if record.tags:
            body["tags"] = [self.tag(tag) for tag in record.tags]
        if owners and self.features.owners_list:
            body["owners"] = _users_or_one_team(owners)
            if len(body["owners"]) < len(owners):
                self.tally.add("owner_mix")
        elif owners:
            body["owner"] = owners[0]
            if len(owners) > 1:
                self.tally.add("owners")
        extension = self.extension(record)
        if extension:
            body["extension"] = extension
        if isinstance(record, DatabaseService):
            body["serviceType"] = record.service_type
        elif isinstance(record, Database):
            body["service"] = fqn.build(record.service)
        elif isinstance(record, DatabaseSchema):
            body["database"] = fqn.build(record.service, record.database)
        elif isinstance(record, Table):
            body.update(self.table(record))
        return body

    def tag(self, tag: TagLabel) -> dict[str, str]:
        """A tag label as applied by a tool (``Automated``) and confirmed, with its reason where the server has one."""
        label = {
            "tagFQN": tag.tag_fqn,
            "source": TAG_SOURCES[tag.source],
            "labelType": "Automated",
            "state": "Confirmed",
        }
        if tag.reason and self.features.tag_reason:
            label["reason"] = tag.reason
        elif tag.reason:
            self.tally.add("tag_reason")
        if tag.confidence is not None:
            self.tally.add("tag_confidence")
        return label

    def extension(self, record: Record) -> dict[str, Any]:
        """The custom properties the server defines for the record's entity type, with values that fit."""
        entity_type = ENTITY_TYPES.get(record.kind, "databaseService")
        if not self.features.has_extension(record.kind):
            for name in record.custom_properties:
                self.tally.add("no_extension", name=f"{entity_type}.{name}")
            return {}
        defined = self.properties.of(entity_type) if record.custom_properties else {}
        extension: dict[str, Any] = {}
        for name, value in record.custom_properties.items():
            type_name = defined.get(name)
            fit = fits(value, type_name) if type_name is not None else False
            if fit:
                extension[name] = value
                continue
            kind = "undefined_property" if type_name is None else "property_type" if fit is None else "property_value"
            self.tally.add(kind, name=f"{entity_type}.{name}" + (f" ({type_name})" if type_name else ""))
        return extension

    def table(self, table: Table) -> dict[str, Any]:
        single = _single_column_constraints(table.constraints)
        body: dict[str, Any] = {
            "databaseSchema": fqn.build(table.service, table.database, table.database_schema),
            "tableType": TABLE_TYPES[table.table_type],
            "columns": [self.column(column, single.get(column.name)) for column in table.columns],
        }
        constraints = [_constraint(c) for c in table.constraints if not _is_single(c)]
        if constraints:
            body["tableConstraints"] = constraints
        field = self.features.view_definition
        if table.view_definition and field == "viewDefinition" and table.table_type in WITHOUT_VIEW_DEFINITION:
            self.tally.add("view_definition")
        elif table.view_definition:
            body[field] = table.view_definition
        if table.row_count is not None:
            self.tally.add("row_count")
        return body

    def column(self, column: Column, constraint: str | None) -> dict[str, Any]:
        data_type = self.data_type(column.data_type)
        body: dict[str, Any] = {
            "name": column.name,
            "dataType": data_type,
            "dataTypeDisplay": column.data_type_display or column.data_type.value.lower(),
            "constraint": constraint or ("NULL" if column.nullable else "NOT_NULL"),
        }
        if column.data_type is DataType.ARRAY:
            body["arrayDataType"] = self.data_type(column.array_data_type or DataType.UNKNOWN)
        elif column.data_type is DataType.STRUCT:
            body["children"] = []  # the server refuses a struct without children; its fields are not known
        length = column.data_length
        if length is None and data_type in LENGTH_TYPES:
            length = DEFAULT_LENGTH
        scale = column.scale
        if scale is not None and (column.precision is None or scale > column.precision):
            self.tally.add("scale")
            scale = None
        for key, value in (
            ("dataLength", length),
            ("precision", column.precision),
            ("scale", scale),
            ("ordinalPosition", column.ordinal_position),
            ("description", column.description),
        ):
            if value is not None:
                body[key] = value
        if column.tags:
            body["tags"] = [self.tag(tag) for tag in column.tags]
        if column.default is not None:
            self.tally.add("column_default")
        if column.samples:
            self.tally.add("column_samples")
        return body

    def data_type(self, value: DataType) -> str:
        """The server's ``dataType`` for ``value``, a fallback counted."""
        sent = self.features.data_type(value)
        if sent != value.value:
            self.tally.add(value.value.lower())
        return sent


def _users_or_one_team(owners: list[dict[str, str]]) -> list[dict[str, str]]:
    """The owners OpenMetadata takes together, several users or one team: the first team if the first owner is
    one, else the users."""
    if owners[0]["type"] == "team":
        return owners[:1]
    return [owner for owner in owners if owner["type"] == "user"]


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
