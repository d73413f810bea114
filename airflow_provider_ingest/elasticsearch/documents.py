"""Catalog records as Elasticsearch documents: one per entity, id = FQN, columns nested in the table's document.

Documents are built from a record's decoded JSON (``dump_record`` output or a staged-file line), so the
bulk sink never builds pydantic models on its hot path.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.records import fqn as fqn_

KINDS: dict[str, str] = {
    "database_service": "services",
    "database": "databases",
    "database_schema": "schemas",
    "table": "tables",
}
"""Record kind → the suffix of its index (``<index_prefix>-<suffix>``)."""

_PARENTS: dict[str, tuple[str, ...]] = {
    "database_service": (),
    "database": ("service",),
    "database_schema": ("service", "database"),
    "table": ("service", "database", "database_schema"),
}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
MAX_ID_BYTES = 512
"""Elasticsearch refuses longer document ids (and with them, a whole bulk request)."""


class DocumentError(InputError):
    """A record that cannot become a document: its FQN is too long to be a document id."""


def document(data: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(kind, fqn, document)`` of one record given as decoded JSON."""
    kind = data["kind"]
    parents = [data[key] for key in _PARENTS[kind]]
    fqn = fqn_.build(*parents, data["name"])
    if len(fqn) > MAX_ID_BYTES // 4 and len(fqn.encode()) > MAX_ID_BYTES:
        raise DocumentError(f"FQN of {len(fqn.encode())} bytes is longer than a document id may be ({MAX_ID_BYTES})")
    name = data["name"]
    doc: dict[str, Any] = {
        "fqn": fqn,
        "name": name,
        "display_name": data.get("display_name"),
        "description": data.get("description"),
        "suggest": [name, fqn] if parents else [name],
        "tags": [tag["tag_fqn"] for tag in data.get("tags", ())],
        "owners": [owner["name"] for owner in data.get("owners", ())],
    }
    if parents:
        doc["parent_fqn"] = fqn_.build(*parents)
        doc.update(zip(_PARENTS[kind], parents, strict=True))
    if kind == "database_service":
        doc["service_type"] = data.get("service_type", "CustomDatabase")
    elif kind == "table":
        _table(data, doc)
    return kind, fqn, doc


def _table(data: dict[str, Any], doc: dict[str, Any]) -> None:
    columns = data.get("columns", ())
    doc["table_type"] = data.get("table_type", "table")
    doc["row_count"] = data.get("row_count")
    doc["column_names"] = [column["name"] for column in columns]
    doc["columns"] = [
        {
            "name": column["name"],
            "data_type": column["data_type"],
            "data_type_display": column.get("data_type_display"),
            "description": column.get("description"),
            "nullable": column.get("nullable", True),
            "ordinal_position": column.get("ordinal_position"),
            "tags": [tag["tag_fqn"] for tag in column.get("tags", ())],
        }
        for column in columns
    ]
    doc["constraints"] = [
        {"constraint_type": c["constraint_type"], "columns": c["columns"], "referred_table": c.get("referred_table")}
        for c in data.get("constraints", ())
    ]
    doc["view_definition"] = data.get("view_definition") or None  # null, not absent: an upsert merges


def action(index: str, fqn: str, doc: dict[str, Any]) -> bytes:
    """The two NDJSON lines of one ``index`` bulk action (id = FQN, so re-publishing overwrites)."""
    return _dumps({"index": {"_index": index, "_id": fqn}}).encode() + b"\n" + _dumps(doc).encode() + b"\n"
