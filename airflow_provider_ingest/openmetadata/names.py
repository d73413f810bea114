"""Names OpenMetadata cannot hold: a record naming one fails, with the field and the reason, before any request.

OpenMetadata builds every fully qualified name with its ``FullyQualifiedName.quoteName``, which refuses a
name holding a double quote; its ``entityName`` pattern ``^((?!::).)*$`` refuses ``::`` and, as Java's ``.``
matches no line terminator, a line break; entity names are at most 256 characters, column names 256 up to
1.12 (128 before 1.2) and unbounded from 1.13; PostgreSQL, its usual store, refuses the NUL character.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.records import ConstraintType, Record, Table, fqn

ENTITY_NAME_LIMIT = 256
LINE_TERMINATORS = "\n\r\u0085\u2028\u2029"
"""What Java's ``.`` does not match, so that the ``entityName`` pattern refuses a name holding one."""


class UnrepresentableRecord(InputError):
    """A record OpenMetadata cannot hold as it stands; the message names the field and why."""


class UnrepresentableName(UnrepresentableRecord):
    """A name OpenMetadata cannot represent (a double quote, ``::``, a line break, too long)."""


_TROUBLE = re.compile(f'["\x00{LINE_TERMINATORS}]|::')


def name_problem(name: str, limit: int | None = ENTITY_NAME_LIMIT) -> str | None:
    """Why OpenMetadata cannot represent ``name`` (at most ``limit`` characters), or None if it can."""
    if _TROUBLE.search(name) is None and (limit is None or len(name) <= limit):
        return None
    if '"' in name:
        return "contains '\"'"
    if "::" in name:
        return "contains '::'"
    if any(character in LINE_TERMINATORS for character in name):
        return "contains a line break"
    if "\x00" in name:
        return "contains a NUL character"
    if limit is not None and len(name) > limit:
        return f"is {len(name)} characters long, more than {limit}"
    return None


NAME_FIELDS = {
    "database_service": ("name",),
    "database": ("service", "name"),
    "database_schema": ("service", "database", "name"),
    "table": ("service", "database", "database_schema", "name"),
}
"""The fields holding a record's name path, service first."""


def check_names(record: Record, *, column_limit: int | None, tag_limit: int | None) -> None:
    """Raise :class:`UnrepresentableName` for the first name in ``record`` OpenMetadata cannot represent, or
    :class:`UnrepresentableRecord` for a table with two primary keys (OpenMetadata takes one per table)."""
    for where, name, limit in _names(record, column_limit):
        problem = name_problem(name, limit)
        if problem is not None:
            raise UnrepresentableName(f"{where}: {_short(name)} {problem}, which OpenMetadata cannot represent")
    if tag_limit is not None:
        for where, tag_fqn in _tag_fqns(record):
            if len(tag_fqn) > tag_limit:
                raise UnrepresentableName(
                    f"{where}: {_short(tag_fqn)} is {len(tag_fqn)} characters long, more than {tag_limit},"
                    " which this OpenMetadata version cannot represent"
                )
    if isinstance(record, Table):
        _check_columns(record)


def _names(record: Record, column_limit: int | None) -> Iterator[tuple[str, str, int | None]]:
    """Every name the record sends: (field, name, length limit)."""
    for field in NAME_FIELDS[record.kind]:
        yield field, getattr(record, field), ENTITY_NAME_LIMIT
    if not isinstance(record, Table):
        return
    for index, column in enumerate(record.columns):
        yield f"columns.{index}.name", column.name, column_limit
    for index, constraint in enumerate(record.constraints):
        where = f"constraints.{index}"
        for position, name in enumerate(constraint.columns):
            yield f"{where}.columns.{position}", name, column_limit
        if constraint.referred_table:
            for part, name in zip(NAME_FIELDS["table"], _table_parts(constraint.referred_table, where), strict=True):
                yield f"{where}.referred_table ({part})", name, ENTITY_NAME_LIMIT
        for position, name in enumerate(constraint.referred_columns):
            yield f"{where}.referred_columns.{position}", name, column_limit


def _tag_fqns(record: Record) -> Iterator[tuple[str, str]]:
    """Every tag FQN the record sends: (field, FQN)."""
    for index, tag in enumerate(record.tags):
        yield f"tags.{index}.tag_fqn", tag.tag_fqn
    if isinstance(record, Table):
        for number, column in enumerate(record.columns):
            for index, tag in enumerate(column.tags):
                yield f"columns.{number}.tags.{index}.tag_fqn", tag.tag_fqn


def _table_parts(referred: str, where: str) -> list[str]:
    """The four names of a referred table's FQN (service, database, schema, table)."""
    try:
        parts = fqn.split(referred)
    except fqn.FqnError as error:
        raise UnrepresentableName(f"{where}.referred_table: {error}") from None
    if len(parts) != 4:
        raise UnrepresentableName(
            f"{where}.referred_table: {_short(referred)} is not a table's fully qualified name"
            " (service.database.schema.table)"
        )
    return parts


def _check_columns(table: Table) -> None:
    """The rules OpenMetadata's server applies to a table's columns and constraints, beyond their names."""
    seen: dict[str, int] = {}
    for index, column in enumerate(table.columns):
        if column.name in seen:
            raise UnrepresentableName(
                f"columns.{index}.name: {_short(column.name)} repeats columns.{seen[column.name]}.name;"
                " OpenMetadata refuses a repeated column name"
            )
        seen[column.name] = index
    primary = [i for i, c in enumerate(table.constraints) if c.constraint_type is ConstraintType.PRIMARY_KEY]
    if len(primary) > 1:
        raise UnrepresentableRecord(
            f"constraints.{primary[1]}: a second primary key (the first is constraints.{primary[0]});"
            " OpenMetadata takes one per table"
        )
    for index, constraint in enumerate(table.constraints):
        for position, name in enumerate(constraint.columns):
            if name not in seen:
                raise UnrepresentableName(
                    f"constraints.{index}.columns.{position}: {_short(name)} is not a column of the table;"
                    " OpenMetadata refuses a constraint on a column the table lacks"
                )


def _short(name: str, limit: int = 60) -> str:
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
