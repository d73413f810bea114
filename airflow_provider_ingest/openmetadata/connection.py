"""The ``openmetadata`` connection type as Airflow's providers manager reads it, without importing the hook.

*Host* is the server URL, *Password* the ingestion bot's JWT token; the extra fields below are stored in
the connection's Extra JSON under these names, where the hook reads them.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "openmetadata"
HOOK_NAME = "OpenMetadata"
HOOK_CLASS = "airflow_provider_ingest.openmetadata.hook.OpenMetadataHook"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "verify_ssl": {
        "label": "Verify TLS certificates",
        "description": "Off only for a test server; a CA bundle path can be given in the Extra JSON instead",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "connect_timeout": {
        "label": "Connect timeout (s)",
        "schema": {"type": ["number", "null"], "default": 10, "exclusiveMinimum": 0},
    },
    "read_timeout": {
        "label": "Read timeout (s)",
        "schema": {"type": ["number", "null"], "default": 30, "exclusiveMinimum": 0},
    },
    "retries": {
        "label": "Retries",
        "description": "Of a 429, a 5xx or a dropped connection, with exponential backoff",
        "schema": {"type": ["integer", "null"], "default": 5, "minimum": 0},
    },
    "backoff_factor": {
        "label": "Backoff factor (s)",
        "schema": {"type": ["number", "null"], "default": 0.5, "minimum": 0},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login"],
    "relabeling": {"host": "Server URL", "password": "JWT token (ingestion bot)"},
    "placeholders": {
        "host": "https://openmetadata.example.com",
        "port": "8585 (for a server URL given without scheme and port)",
        "password": "the ingestion bot's JWT token",
    },
}
