"""Index templates: explicit mappings and analyzers for the four kind indexes, installed idempotently.

Names are ``text`` (a name analyzer: words split at ``_``, dots and other non-word characters, lowercased and
ASCII-folded) with ``.keyword`` (case-insensitive exact) and ``.raw`` (exact) subfields; FQNs, tags and owners
are keywords; ``suggest`` is a completion field for search-as-you-type. Columns are ``nested`` in the table
document (measured against a separate columns index: see docs/elasticsearch.md). Table documents also hold
``usage`` and ``lineage`` (:mod:`.usage`): counts are numbers, FQNs keywords, the per-day entries stored
but not indexed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_ingest.elasticsearch.documents import KINDS

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

TEMPLATE_VERSION = 2
"""2: table documents gained ``usage`` and ``lineage``."""

SETTINGS: dict[str, Any] = {
    "analysis": {
        "tokenizer": {"name_tokenizer": {"type": "pattern", "pattern": "[\\W_]+"}},
        "normalizer": {"name_normalizer": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
        "analyzer": {
            "name_analyzer": {"type": "custom", "tokenizer": "name_tokenizer", "filter": ["lowercase", "asciifolding"]}
        },
    }
}

_KEYWORD = {"type": "keyword"}
_NAME = {
    "type": "text",
    "analyzer": "name_analyzer",
    "fields": {"keyword": {"type": "keyword", "normalizer": "name_normalizer"}, "raw": {"type": "keyword"}},
}
_TEXT = {"type": "text"}
_DATE = {"type": "date"}

_COMMON: dict[str, Any] = {
    "fqn": _KEYWORD,
    "name": _NAME,
    "display_name": _NAME,
    "description": _TEXT,
    "suggest": {"type": "completion", "analyzer": "name_analyzer"},
    "tags": _KEYWORD,
    "owners": _KEYWORD,
    "parent_fqn": _KEYWORD,
    "service": _KEYWORD,
    "database": _KEYWORD,
    "database_schema": _KEYWORD,
}

_TABLE: dict[str, Any] = {
    "table_type": _KEYWORD,
    "row_count": {"type": "long"},
    "column_names": _NAME,
    "view_definition": {"type": "text", "index": False},
    "columns": {
        "type": "nested",
        "properties": {
            "name": _NAME,
            "data_type": _KEYWORD,
            "data_type_display": _KEYWORD,
            "description": _TEXT,
            "nullable": {"type": "boolean"},
            "ordinal_position": {"type": "integer"},
            "tags": _KEYWORD,
        },
    },
    "constraints": {
        "properties": {"constraint_type": _KEYWORD, "columns": _KEYWORD, "referred_table": _KEYWORD},
    },
}

USAGE_PROPERTIES: dict[str, Any] = {
    "usage": {
        "properties": {
            "count_30d": {"type": "long"},
            "users_30d": {"type": "integer"},
            "users": _KEYWORD,
            "percentile_rank": {"type": "float"},
            "frequently_joined": {"properties": {"table": _KEYWORD, "count": {"type": "long"}}},
            "last_day": _DATE,
            "window_end": _DATE,
            "updated_at": _DATE,
            "daily": {"type": "object", "enabled": False},
        }
    },
    "lineage": {
        "properties": {
            "upstream": _KEYWORD,
            "downstream": _KEYWORD,
            "columns": {"properties": {"to_column": _KEYWORD, "from_columns": _KEYWORD}},
            "updated_at": _DATE,
        }
    },
}
"""The table documents' usage and lineage fields; ``usage.daily`` (one entry per day) is kept, not indexed."""
_TABLE.update(USAGE_PROPERTIES)


def mappings(kind: str) -> dict[str, Any]:
    """The explicit (``dynamic: strict``) mappings of one kind's index."""
    properties = dict(_COMMON)
    if kind == "table":
        properties.update(_TABLE)
    elif kind == "database_service":
        properties["service_type"] = _KEYWORD
    return {"dynamic": "strict", "properties": properties}


def index_template(alias: str, kind: str) -> dict[str, Any]:
    """The index template matching every physical index behind ``alias`` (``<alias>-<timestamp>``)."""
    return {
        "index_patterns": [f"{alias}-*"],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "template": {"settings": {"index": SETTINGS}, "mappings": mappings(kind)},
        "_meta": {"managed_by": "airflow-provider-ingest", "kind": kind},
    }


def aliases(index_prefix: str) -> dict[str, str]:
    """Record kind → the alias searched and written (``<index_prefix>-tables``...)."""
    return {kind: f"{index_prefix}-{suffix}" for kind, suffix in KINDS.items()}


def install_templates(client: Elasticsearch, index_prefix: str) -> None:
    """Create or update the four index templates (a PUT with the same body is a no-op)."""
    for kind, alias in aliases(index_prefix).items():
        body = index_template(alias, kind)
        client.indices.put_index_template(
            name=alias,
            index_patterns=body["index_patterns"],
            priority=body["priority"],
            version=body["version"],
            template=body["template"],
            meta=body["_meta"],
        )


STAMP_LENGTH = 20
"""Digits of a physical index's timestamp (``%Y%m%d%H%M%S%f``)."""
MAX_PREFIX_LENGTH = 255 - max(len(f"-{suffix}-") for suffix in KINDS.values()) - STAMP_LENGTH
"""The longest ``index_prefix`` whose physical index names stay within Elasticsearch's 255 bytes (ASCII)."""


def new_index_name(alias: str, stamp: str) -> str:
    """A physical index behind ``alias``: ``<alias>-<stamp>``."""
    return f"{alias}-{stamp}"


def ensure_indexes(client: Elasticsearch, index_prefix: str, stamp: str) -> None:
    """Give every kind's alias a physical index when it has none yet (first run), so writes go through aliases.

    An existing tables index that lacks the usage and lineage fields (one made from a version 1 template)
    gets them added to its mappings: adding fields is allowed, and asked only when they are missing.
    """
    for kind, alias in aliases(index_prefix).items():
        if not client.indices.exists_alias(name=alias):
            index = new_index_name(alias, stamp)
            client.indices.create(index=index, aliases={alias: {"is_write_index": True}})
        elif kind == "table":
            found = client.indices.get_mapping(index=alias).body.values()
            if any(not set(USAGE_PROPERTIES) <= set(m["mappings"].get("properties", {})) for m in found):
                client.indices.put_mapping(index=alias, properties=USAGE_PROPERTIES)
