"""Catalog metadata records: a database service, its databases, schemas and tables.

Every record carries the names of its parents, so each one stands alone in a staged file and
knows its fully qualified name (:attr:`Entity.fqn`).
"""

from __future__ import annotations

from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, Field, JsonValue, TypeAdapter, ValidationError, model_validator
from pydantic_core import to_json

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.records import fqn as fqn_
from airflow_provider_ingest.records.base import MAX_COUNT, BaseRecord, TextEnum, finite
from airflow_provider_ingest.records.base import Model as _Model
from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.records.usage import Lineage, Query, TableUsage

if TYPE_CHECKING:
    from airflow_provider_ingest.records.lines import RecordLine

Name = Annotated[str, Field(min_length=1)]


class TagLabel(_Model):
    """A classification tag (``PII.Sensitive``) or glossary term on an entity or column."""

    tag_fqn: Name
    source: Literal["classification", "glossary"] = "classification"
    confidence: float | None = Field(default=None, ge=0, le=1)
    reason: str | None = None


class Owner(_Model):
    """An owner of an entity: a user or a team, by name."""

    name: Name
    type: Literal["user", "team"] = "user"


class Entity(BaseRecord):
    """Fields every catalog entity has."""

    name: Name
    display_name: str | None = None
    description: str | None = None
    owners: list[Owner] = Field(default_factory=list)
    tags: list[TagLabel] = Field(default_factory=list)
    custom_properties: Annotated[dict[str, JsonValue], AfterValidator(finite)] = Field(default_factory=dict)

    @property
    def name_parts(self) -> tuple[str, ...]:
        """The entity's name path, service first."""
        raise NotImplementedError

    @property
    def fqn(self) -> str:
        """Fully qualified name, ``service.database.schema.table``."""
        return fqn_.build(*self.name_parts)

    @property
    def parent_fqn(self) -> str | None:
        """FQN of the entity this one belongs to, or None for a service."""
        parents = self.name_parts[:-1]
        return fqn_.build(*parents) if parents else None


class DatabaseService(Entity):
    """A database server or engine instance (OpenMetadata's DatabaseService)."""

    kind: Literal["database_service"] = "database_service"
    service_type: Name = "CustomDatabase"

    @property
    def name_parts(self) -> tuple[str, ...]:
        return (self.name,)


class Database(Entity):
    """A database (catalog) inside a service."""

    kind: Literal["database"] = "database"
    service: Name

    @property
    def name_parts(self) -> tuple[str, ...]:
        return (self.service, self.name)


class DatabaseSchema(Entity):
    """A schema inside a database."""

    kind: Literal["database_schema"] = "database_schema"
    service: Name
    database: Name

    @property
    def name_parts(self) -> tuple[str, ...]:
        return (self.service, self.database, self.name)


class TableType(TextEnum):
    """What kind of relation a table record describes."""

    TABLE = "table"
    VIEW = "view"
    MATERIALIZED_VIEW = "materialized_view"
    EXTERNAL = "external"
    FOREIGN = "foreign"
    PARTITIONED = "partitioned"


class ConstraintType(TextEnum):
    """Kinds of table constraint."""

    PRIMARY_KEY = "primary_key"
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"


class Column(_Model):
    """A column: its normalized type, the raw type text, and what the catalog says of it."""

    name: Name
    data_type: DataType
    array_data_type: DataType | None = None
    """The element type of an ARRAY column, when the catalog tells it."""
    data_type_display: str | None = None
    data_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    default: str | None = None
    ordinal_position: int | None = None
    description: str | None = None
    tags: list[TagLabel] = Field(default_factory=list)
    samples: list[str] = Field(default_factory=list)
    """Sample values, only when a source was asked for them (``sample_rows``); never published."""


class TableConstraint(_Model):
    """A primary key, unique or foreign key constraint; foreign keys name the referred table's FQN."""

    constraint_type: ConstraintType
    name: str | None = None
    columns: list[Name] = Field(min_length=1)
    referred_table: str | None = None
    referred_columns: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _foreign_key_refers(self) -> TableConstraint:
        if self.constraint_type is ConstraintType.FOREIGN_KEY:
            if not self.referred_table:
                raise ValueError("a foreign key needs referred_table")
            if len(self.referred_columns) != len(self.columns):
                raise ValueError("a foreign key needs as many referred_columns as columns")
        elif self.referred_table or self.referred_columns:
            raise ValueError("only a foreign key refers to another table")
        return self


class Table(Entity):
    """A table, view, materialized view, external, foreign or partitioned table, with its columns."""

    kind: Literal["table"] = "table"
    service: Name
    database: Name
    database_schema: Name
    table_type: TableType = TableType.TABLE
    columns: list[Column] = Field(default_factory=list)
    constraints: list[TableConstraint] = Field(default_factory=list)
    view_definition: str | None = None
    row_count: int | None = Field(default=None, ge=0, le=MAX_COUNT)

    @property
    def name_parts(self) -> tuple[str, ...]:
        return (self.service, self.database, self.database_schema, self.name)


Record = Annotated[
    DatabaseService | Database | DatabaseSchema | Table | Lineage | Query | TableUsage, Field(discriminator="kind")
]
"""Any record, of the catalog or of usage; the ``kind`` field tells which."""

RecordKind = Literal["database_service", "database", "database_schema", "table", "lineage", "query", "table_usage"]
KIND_ORDER: dict[str, int] = {
    "database_service": 0,
    "database": 1,
    "database_schema": 2,
    "table": 3,
    "lineage": 4,
    "query": 5,
    "table_usage": 6,
}
"""Parents before children, usage after the catalog: the order a stage writes and a publisher sends kinds in."""
CATALOG_KINDS = ("database_service", "database", "database_schema", "table")

RECORD_ADAPTER: TypeAdapter[Record] = TypeAdapter(Record)
RecordT = TypeVar("RecordT", bound=BaseRecord)


class RecordError(InputError):
    """Text or data that is not a valid record; the message says why, naming the field."""


def parse_record(data: str | bytes, *, strict: bool = False) -> Record:
    """Parse one record from its JSON text; raise :class:`RecordError` saying why it is not one. ``strict``: the text
    is as this package writes it (a staged file's line), no value converted (``"5"`` for a number, ``"no"`` for a
    boolean)."""
    try:
        return RECORD_ADAPTER.validate_json(data, strict=strict)
    except ValidationError as error:
        raise RecordError(_reason(error)) from None


def record_from_dict(data: object) -> Record:
    """Validate one record from decoded JSON (a dict); raise :class:`RecordError` saying why it is not one."""
    try:
        return RECORD_ADAPTER.validate_python(data)
    except ValidationError as error:
        raise RecordError(_reason(error)) from None


def build_record(model: type[RecordT], fields: dict[str, Any]) -> RecordT:
    """Validate one record of a known kind from its fields; raise :class:`RecordError` naming each problem's field
    (``constraints.1: Value error, only a foreign key refers to another table``)."""
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise RecordError(_reason(error, tagged=False)) from None


def line_record(model: type[RecordT], fields: dict[str, Any]) -> RecordT:
    """:func:`build_record` for fields given as the record's line has them (``kind`` first, the model's field order,
    fields at their defaults left out, enums as their values): the record is validated from their JSON text, which
    it keeps as its line, so a file writes it without serializing it again. Fields that are not so (a value to
    convert) are validated as :func:`build_record` does: that record is serialized where it is written."""
    try:
        line = to_json(fields)
        record = model.__pydantic_validator__.validate_json(line, strict=True)
    except Exception:  # pydantic-core's errors, or a value JSON does not write: the lax path says which field
        return build_record(model, fields)
    record.read_from(line)
    return record


_SHOWN_PROBLEMS = 3
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _reason(error: ValidationError, *, tagged: bool = True) -> str:
    """One line naming each problem's field: ``columns.0.data_type: Field required``; ``tagged``: the error is the
    record union's, each place starting with the kind."""
    problems = [_problem(item, tagged) for item in error.errors(include_url=False)]
    more = len(problems) - _SHOWN_PROBLEMS
    return "; ".join(problems[:_SHOWN_PROBLEMS]) + (f" (and {more} more)" if more > 0 else "")


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _problem(item: Any, tagged: bool) -> str:
    kind, where = item["type"], ".".join(str(part) for part in item["loc"][tagged:])
    if kind == "union_tag_not_found":
        return f"no kind (one of {', '.join(KIND_ORDER)})"
    if kind == "union_tag_invalid":
        return f"unknown kind {_short(item['ctx']['tag'])} (one of {', '.join(KIND_ORDER)})"
    if kind in ("dict_type", "model_attributes_type") and not item["loc"]:
        found = _JSON_TYPES.get(type(item["input"]), "null")
        return f"a record is a JSON object, not {found}"
    if kind == "enum":
        return f"{where}: {_short(item['input'])} is not one of the known values"
    if kind == "json_invalid":
        return item["msg"].replace("Invalid JSON", "invalid JSON", 1)
    return f"{where}: {item['msg']}" if where else item["msg"]


_WITHOUT_SAMPLES = {"columns": {"__all__": {"samples"}}}
_SAMPLES = attrgetter("samples")


def has_samples(record: BaseRecord) -> bool:
    """Whether a record carries column samples (raw data values)."""
    return isinstance(record, Table) and any(map(_SAMPLES, record.columns))


def dump_record_bytes(record: BaseRecord, *, keep_samples: bool = False) -> bytes:
    """Serialize one record to compact JSON (UTF-8), ``kind`` first; fields at their default are left out.

    Column samples are raw data values: they are left out unless ``keep_samples`` (files between processors).
    """
    exclude = _WITHOUT_SAMPLES if not keep_samples and has_samples(record) else None
    body = record.__pydantic_serializer__.to_json(record, exclude_defaults=True, exclude=exclude)
    return b'{"kind":"' + record.kind.encode() + b'",' + body[1:]


def staged_line(record: BaseRecord, *, keep_samples: bool = False) -> bytes:
    """The record's line in a staged file: the line it was read from, unchanged, when it has one (a line of the
    package's own writers is what :func:`dump_record_bytes` would write; another tool's may differ in spacing, key
    order or a key given twice, of which every reader here takes the last); else its serialization."""
    return staged_line_of(record, keep_samples=keep_samples)[0]


def staged_line_of(record: BaseRecord | RecordLine, *, keep_samples: bool = False) -> tuple[bytes, bool]:
    """:func:`staged_line`, and whether column samples were left out of it."""
    line = record.line_read
    if line is not None:  # a line kept holds no samples, however spelled (BaseRecord.read_from)
        return line, False
    left_out = not keep_samples and has_samples(record)
    return dump_record_bytes(record, keep_samples=not left_out), left_out


def dump_record(record: BaseRecord, *, keep_samples: bool = False) -> str:
    """:func:`dump_record_bytes` as text."""
    return dump_record_bytes(record, keep_samples=keep_samples).decode()
