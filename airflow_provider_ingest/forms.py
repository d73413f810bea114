"""Values of a connection form's extra fields, typed by the schema each field declares in the provider info.

The UI saves an empty field as null or ``""`` and older forms stored fields as ``extra__<conn type>__<name>``;
a value typed in the Extra JSON may be text (``"5"``, ``"false"``). All of them read the same here.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_ingest.errors import ConfigurationError

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})


def form_values(extra: dict[str, Any], conn_type: str, fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The extra fields that hold a value, each converted to its declared type (a string field stays as given)."""
    values: dict[str, Any] = {}
    for name, field in fields.items():
        value = extra.get(name, extra.get(f"extra__{conn_type}__{name}"))
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        values[name] = _typed(value, _types(field), f"{conn_type} connection field {name!r}")
    return values


def _types(field: dict[str, Any]) -> list[str]:
    declared = field.get("schema", {}).get("type", "string")
    return [declared] if isinstance(declared, str) else list(declared)


def _typed(value: Any, types: list[str], where: str) -> Any:
    """``value`` as the first of ``types`` it reads as; a string that reads as none stays a string if allowed."""
    text = value.strip() if isinstance(value, str) else None
    if "boolean" in types:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in TRUE | FALSE:
            return text.lower() in TRUE
    if "integer" in types:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if text is not None and text.lstrip("+-").isdigit():
            return int(text)
    if "number" in types:
        number = _number(value, text)
        if number is not None:
            return number
    if "string" in types and isinstance(value, str):
        return value
    wanted = " or ".join(kind for kind in types if kind != "null")
    raise ConfigurationError(f"{where}: {value!r} is not of type {wanted}")


def _number(value: Any, text: str | None) -> float | None:
    """A finite number from a number or its text; None if it is neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif text is not None:
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
