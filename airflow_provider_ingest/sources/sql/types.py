"""Raw column type text (``character varying(255)``, ``int unsigned``...) to the DataType enum."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from airflow_provider_ingest.records import DataType


class NormalizedType(NamedTuple):
    """A normalized type with the length, precision and scale read from the raw text, and an array's element type."""

    data_type: DataType
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    element: DataType | None = None


_BASE = {
    DataType.TINYINT: "tinyint int1",
    DataType.SMALLINT: "smallint int2 smallserial serial2",
    DataType.INT: "integer int int4 serial serial4 mediumint int3",
    DataType.BIGINT: "bigint int8 bigserial serial8",
    DataType.NUMBER: "number",
    DataType.NUMERIC: "numeric",
    DataType.DECIMAL: "decimal dec fixed",
    DataType.FLOAT: "real float float4",
    DataType.DOUBLE: "double|double precision|float8|real8",
    DataType.MONEY: "money smallmoney",
    DataType.BOOLEAN: "boolean bool",
    DataType.BIT: "bit|bit varying|varbit",
    DataType.CHAR: "char|character|nchar|bpchar|national character",
    DataType.VARCHAR: "varchar|character varying|nvarchar|national character varying|name|varchar2",
    DataType.STRING: "string",
    DataType.TEXT: "text tinytext citext ntext",
    DataType.MEDIUMTEXT: "mediumtext",
    DataType.CLOB: "longtext clob nclob",
    DataType.DATE: "date",
    DataType.TIME: "time|time without time zone|time with time zone|timetz",
    DataType.TIMESTAMP: "timestamp|timestamp without time zone",
    DataType.TIMESTAMPZ: "timestamptz|timestamp with time zone",
    DataType.DATETIME: "datetime datetime2 smalldatetime",
    DataType.INTERVAL: "interval",
    DataType.YEAR: "year",
    DataType.BINARY: "binary",
    DataType.VARBINARY: "varbinary",
    DataType.BYTEA: "bytea",
    DataType.BLOB: "blob tinyblob",
    DataType.MEDIUMBLOB: "mediumblob",
    DataType.LONGBLOB: "longblob",
    DataType.JSON: "json jsonb",
    DataType.UUID: "uuid uniqueidentifier",
    DataType.XML: "xml",
    DataType.ENUM: "enum",
    DataType.SET: "set",
    DataType.INET: "inet",
    DataType.CIDR: "cidr",
    DataType.MACADDR: "macaddr macaddr8",
    DataType.GEOMETRY: "geometry linestring multipoint multilinestring multipolygon geometrycollection",
    DataType.GEOGRAPHY: "geography",
    DataType.POINT: "point",
    DataType.POLYGON: "polygon",
    DataType.TSVECTOR: "tsvector",
    DataType.TSQUERY: "tsquery",
}
BASE_TYPES: dict[str, DataType] = {
    name: data_type
    for data_type, names in _BASE.items()
    for name in (names.split("|") if "|" in names else names.split())
}
"""Lower-case base type names (without arguments) and their normalized types."""

LENGTH_TYPES = {DataType.CHAR, DataType.VARCHAR, DataType.BINARY, DataType.VARBINARY, DataType.BIT}
EXACT_NUMERIC_TYPES = {DataType.NUMERIC, DataType.DECIMAL, DataType.NUMBER}

_ARGUMENTS = re.compile(r"\(([^()]*)\)")
_DIMENSIONS = re.compile(r"(\s*\[\s*\d*\s*\])+$")
_ARRAY_OF = re.compile(r"array\s*(?:<(.*)>|\((.*)\)|\[(.*)\])?")
_INTEGER = re.compile(r"[+-]?\d+")
"""A type argument that is a number: PostgreSQL 15's ``numeric(5,-2)`` has a negative scale."""
_MODIFIERS = re.compile(r"\b(unsigned|signed|zerofill)\b")
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def normalize(raw: str) -> NormalizedType:
    """Normalize raw type text; unknown types are ``UNKNOWN``. ``tinyint(1)`` is MySQL's boolean.

    An array (``text[]``, ``character varying(20)[]``, ``_int4``, ``integer array``, ``array<int>``) is ``ARRAY``
    with its element type normalized the same way; an element type without a name is None.
    """
    text = _SPACES.sub(" ", raw.strip().lower().replace('"', ""))
    element = _array_element(text)
    if element is not None:
        return NormalizedType(DataType.ARRAY, element=normalize(element).data_type if element else None)
    match = _ARGUMENTS.search(text)
    arguments = match.group(1) if match else ""
    base = _SPACES.sub(" ", _MODIFIERS.sub("", _ARGUMENTS.sub("", text))).strip()
    if base in ("tinyint", "int1") and arguments.strip() == "1":
        return NormalizedType(DataType.BOOLEAN)
    data_type = BASE_TYPES.get(base) or BASE_TYPES.get(base.partition(" ")[0], DataType.UNKNOWN)
    numbers = [int(part) for part in arguments.split(",") if _INTEGER.fullmatch(part.strip())]
    if data_type in LENGTH_TYPES and numbers:
        return NormalizedType(data_type, length=numbers[0])
    if data_type in EXACT_NUMERIC_TYPES and numbers:
        return NormalizedType(data_type, precision=numbers[0], scale=numbers[1] if len(numbers) > 1 else 0)
    return NormalizedType(data_type)


def _array_element(text: str) -> str | None:
    """The element type text of an array type, ``""`` when the array names none; None if ``text`` is no array."""
    if _DIMENSIONS.search(text) or text.endswith(" array"):  # integer[], integer[3][3], integer array[3]
        rest = _DIMENSIONS.sub("", text)
        return rest[: -len(" array")] if rest.endswith(" array") else rest
    if text.startswith("_") and text[1:] in BASE_TYPES:  # PostgreSQL's name of the array type: _int4, _varchar
        return text[1:]
    match = _ARRAY_OF.fullmatch(text)
    if match:
        return next((group.strip() for group in match.groups() if group is not None), "")
    return None


def sqlite_affinity(declared: str) -> DataType:
    """SQLite's type affinity rules, for declared types no base name matches."""
    text = declared.upper()
    if "INT" in text:
        return DataType.INT
    if any(word in text for word in ("CHAR", "CLOB", "TEXT")):
        return DataType.TEXT
    if not text or "BLOB" in text:
        return DataType.BLOB
    if any(word in text for word in ("REAL", "FLOA", "DOUB")):
        return DataType.DOUBLE
    return DataType.NUMERIC
