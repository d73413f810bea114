"""Custom properties: OpenMetadata keeps them in an entity's ``extension``, and only those its entity type defines.

The server refuses a whole entity whose ``extension`` names a property its type does not define (``Unknown
custom field x``) or holds a value the property's type does not take (``Custom field x has invalid JSON``), so
only defined properties with values that fit are sent. The definitions are read from
``GET /api/v1/metadata/types/name/<entity type>?fields=customProperties``, once per entity type, when a record
first needs them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_ingest.openmetadata.client import OpenMetadataClient

ENTITY_TYPES = {"database": "database", "database_schema": "databaseSchema", "table": "table"}
"""Record kinds whose create request has ``extension``, and OpenMetadata's entity type for each
(CreateDatabaseService has no ``extension``)."""

VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "markdown": (str,),
    "sqlQuery": (str,),
    "integer": (int,),
    "timestamp": (int,),
    "number": (int, float),
}
"""The property types published, and the JSON values each takes (their schemas: ``string``, ``integer``,
``number``). Others (``enum``, ``date-cp``, ``entityReference``...) need their configuration to check a value."""

Definitions = dict[str, str]
"""An entity type's custom properties: name to type name (``string``, ``integer``...)."""


class PropertyDefinitions:
    """The custom properties a server defines, per entity type; ``read`` gives the server's list for a type,
    called once per type (none without it)."""

    def __init__(self, read: Callable[[str], list[dict[str, Any]]] | None = None) -> None:
        self._read = read
        self._known: dict[str, Definitions] = {}
        self._lock = threading.Lock()

    def of(self, entity_type: str) -> Definitions:
        """The custom properties of ``entity_type`` (``table``, ``database``, ``databaseSchema``)."""
        with self._lock:
            if entity_type not in self._known:
                listed = self._read(entity_type) if self._read is not None else []
                self._known[entity_type] = {
                    str(item["name"]): str((item.get("propertyType") or {}).get("name", ""))
                    for item in listed
                    if isinstance(item, dict) and "name" in item
                }
            return self._known[entity_type]


def fits(value: object, type_name: str) -> bool | None:
    """Whether the property type ``type_name`` takes ``value``; None for a type not published."""
    kinds = VALUE_TYPES.get(type_name)
    if kinds is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):  # NaN and infinities are no JSON numbers
        return False
    return isinstance(value, kinds) and not isinstance(value, bool)


def read_definitions(client: OpenMetadataClient, entity_type: str) -> list[dict[str, Any]]:
    """The server's custom property definitions of ``entity_type``; a 404 means none."""
    from airflow_provider_ingest.openmetadata.client import RequestRejected

    try:
        answer = client.request("GET", f"/api/v1/metadata/types/name/{entity_type}?fields=customProperties")
    except RequestRejected as error:
        if error.status == 404:
            return []
        raise
    listed = answer.get("customProperties") if isinstance(answer, dict) else None
    return listed if isinstance(listed, list) else []
