"""What the test server refuses in a create request: OpenMetadata's rules for bodies, by server version.

A body is checked against the JSON schemas of the server's version (``openmetadata_schemas/``: the 1.5 baseline
and, for the versions that differ, the overlays in ``versions/``; see its README), then against the rules
OpenMetadata's server applies in code, with its own messages: ``DatabaseUtil`` (columns, constraints, view
definitions before 1.4), ``FullyQualifiedName.quoteName`` (``Invalid name``), the ``entityName`` pattern as
Java matches it (its ``.`` matches no line terminator) and the custom property validation of ``extension``.
The per-entity ``PUT`` and each item of a bulk request go through :func:`refusals`.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).parent / "openmetadata_schemas"

ENTITIES = {
    "/api/v1/services/databaseServices": ("databaseService", "api/services/createDatabaseService.json", None),
    "/api/v1/databases": ("database", "api/data/createDatabase.json", ("service", "databaseService")),
    "/api/v1/databaseSchemas": ("databaseSchema", "api/data/createDatabaseSchema.json", ("database", "database")),
    "/api/v1/tables": ("table", "api/data/createTable.json", ("databaseSchema", "databaseSchema")),
}
"""Endpoint: (entity type, create-request schema, (field naming the parent by FQN, the parent's type))."""

REQUESTS = {
    "usage": ("type/dailyCount.json", "type/usageRequest.json"),
    "joins": ("entity/data/table.json#/definitions/tableJoins",),
    "query": ("api/data/createQuery.json",),
    "lineage": ("api/lineage/addLineage.json",),
}
"""The usage and lineage requests: ``POST /api/v1/usage/table/{id}`` (the server reads a DailyCount, OpenMetadata's
client sends a UsageRequest: the body must be both), ``PUT /api/v1/tables/{id}/joins`` (TableJoins),
``PUT /api/v1/queries`` (CreateQuery) and ``PUT /api/v1/lineage`` (AddLineage); checked with formats (dates, UUIDs)."""

SCHEMA_SETS = (
    ((1, 0), ("1.4", "1.3", "1.1", "1.0")),
    ((1, 1), ("1.4", "1.3", "1.1")),
    ((1, 2), ("1.4", "1.3")),
    ((1, 4), ("1.4",)),
    ((1, 5), ()),
    ((1, 10), ("1.10",)),
    ((1, 13), ("2.0",)),
)
"""From which version on the baseline is overlaid by which ``versions/`` folders, in order (a later one wins)."""

PROPERTY_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "markdown": {"type": "string"},
    "sqlQuery": {"type": "string"},
    "integer": {"type": "integer"},
    "timestamp": {"type": "integer"},
    "number": {"type": "number"},
}
"""The JSON schema OpenMetadata validates a custom property's value with, by property type (others: any value)."""

NAME_PATTERN = "^((?!::).)*$"
JAVA_LINE_TERMINATORS = "\r\u0085\u2028\u2029"
"""Line terminators besides ``\\n``: Java's ``.`` does not match them, Python's does."""

SIZED_TYPES = ("CHAR", "VARCHAR", "BINARY", "VARBINARY")
VIEW_TYPES = ("View", "SecureView", "MaterializedView")


def refusals(state: Any, endpoint: str, body: Any) -> list[str]:
    """Every reason the server of ``state`` (its ``version``, its ``custom_properties``) refuses ``body`` at
    ``endpoint``; none if it accepts it."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    errors = schema_errors(endpoint, body, state.version)
    if errors:
        return errors
    entity_type = ENTITIES[endpoint][0]
    errors = _name_errors("name", body["name"])
    if entity_type == "table":
        errors += _table_errors(body, _version(state.version))
    return errors + _extension_errors(body.get("extension"), state.custom_properties.get(entity_type, {}))


def schema_errors(endpoint: str, body: Any, version: str = "1.5.4") -> list[str]:
    """Every way ``body`` breaks the create-request schema of ``endpoint`` for a server of ``version``."""
    return _errors(_validators(schema_set(version))[endpoint], body)


def request_errors(request: str, body: Any, version: str = "1.5.4") -> list[str]:
    """Every way ``body`` breaks the schemas of a usage or lineage ``request`` (a key of :data:`REQUESTS`)."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    return [error for validator in _validators(schema_set(version))[request] for error in _errors(validator, body)]


def schema_set(version: str) -> tuple[str, ...]:
    """The overlays of a server version (``1.4.3`` → ``("1.4",)``; the 1.5 baseline alone → ``()``)."""
    found = ()
    for first, overlays in SCHEMA_SETS:
        if _version(version) >= first:
            found = overlays
    return found


@functools.cache
def _validators(overlays: tuple[str, ...]) -> dict[str, Any]:
    """A JSON-schema validator per create request, ``$ref``s resolved from the baseline and ``overlays`` only."""
    from jsonschema import Draft7Validator
    from referencing import Registry, Resource

    files = {path.relative_to(SCHEMAS): path for path in SCHEMAS.rglob("*.json") if "versions" not in path.parts}
    for overlay in overlays:
        folder = SCHEMAS / "versions" / overlay
        files.update({path.relative_to(folder): path for path in folder.rglob("*.json")})
    contents = {relative: json.loads(path.read_text()) for relative, path in files.items()}
    registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in contents.values()
    )
    validators: dict[str, Any] = {
        endpoint: Draft7Validator(contents[Path(schema)], registry=registry)
        for endpoint, (_, schema, _) in ENTITIES.items()
    }
    for request, schemas in REQUESTS.items():
        validators[request] = [
            Draft7Validator(
                {"$ref": f"https://open-metadata.org/schema/{schema}"},
                registry=registry,
                format_checker=Draft7Validator.FORMAT_CHECKER,
            )
            for schema in schemas
        ]
    return validators


def _errors(validator: Any, body: Any) -> list[str]:
    from referencing.exceptions import Unresolvable

    try:
        return [f"{'.'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in validator.iter_errors(body)]
    except Unresolvable as error:
        return [f"unsupported field (schema {error})"]


def _version(version: str) -> tuple[int, int]:
    major, minor = [*(int(part) for part in re.findall(r"\d+", version)[:2]), 0, 0][:2]
    return major, minor


def _name_errors(field: str, name: str) -> list[str]:
    """The ``entityName``/``columnName`` pattern as Java matches it, then ``FullyQualifiedName.quoteName``."""
    if any(character in JAVA_LINE_TERMINATORS for character in name):
        return [f"{field}: {name!r} does not match {NAME_PATTERN!r}"]
    if '"' in name and re.fullmatch(r'"[^"]+"', name) is None:
        return [f"Invalid name {name}"]
    return []


def _table_errors(body: dict[str, Any], version: tuple[int, int]) -> list[str]:
    """``DatabaseUtil``'s rules: view definitions (before 1.4), constraints, then each column."""
    errors: list[str] = []
    columns = body["columns"]
    if version < (1, 4) and body.get("viewDefinition") and body.get("tableType", "Regular") in ("Regular", "External"):
        errors.append("ViewDefinition can only be set on TableType View, SecureView or MaterializedView")
    errors += _constraint_errors(columns, body.get("tableConstraints") or [])
    names: list[str] = []
    for index, column in enumerate(columns):
        name = column["name"]
        errors += _name_errors(f"columns.{index}.name", name)
        if name in names:
            errors.append(f"Column name {name} is repeated")
        names.append(name)
        errors += _column_errors(column)
    return errors


def _constraint_errors(columns: list[dict[str, Any]], constraints: list[dict[str, Any]]) -> list[str]:
    primary = sum(1 for column in columns if column.get("constraint") == "PRIMARY_KEY")
    if primary > 1:
        return ["Multiple columns tagged with primary key constraints"]
    names = {column["name"] for column in columns}
    errors = []
    for constraint in constraints:
        if constraint.get("constraintType") == "PRIMARY_KEY" and primary:
            errors.append("A column already tagged as a primary key and table constraint also includes primary key")
        if any(name not in names for name in constraint.get("columns") or []):
            errors.append("Invalid column name found in table constraint")
    return errors


def _column_errors(column: dict[str, Any]) -> list[str]:
    data_type, name = column["dataType"], column["name"]
    errors = []
    if data_type in SIZED_TYPES and column.get("dataLength") is None:
        errors.append("For column data types char, varchar, binary, varbinary dataLength must not be null")
    if data_type == "ARRAY" and column.get("arrayDataType") is None:
        errors.append("For column data type array, arrayDataType must not be null")
    if data_type == "STRUCT" and column.get("children") is None:
        errors.append("For column data type struct, children must not be null")
    scale, precision = column.get("scale"), column.get("precision")
    if scale is not None and precision is None:
        errors.append(f"Scale is set but precision is not set for the column {name}")
    elif scale is not None and scale > precision:
        errors.append(f"Scale can't be greater than the precision for the column {name}")
    return errors


def _extension_errors(extension: Any, defined: dict[str, str]) -> list[str]:
    """Each key must be a custom property of the entity type, its value valid for the property's type."""
    from jsonschema import Draft7Validator

    errors = []
    for name, value in (extension or {}).items():
        if name not in defined:
            errors.append(f"Unknown custom field {name}")
            continue
        problems = [e.message for e in Draft7Validator(PROPERTY_SCHEMAS.get(defined[name], {})).iter_errors(value)]
        if problems:
            errors.append(f"Custom field {name} has invalid JSON {problems}")
    return errors
