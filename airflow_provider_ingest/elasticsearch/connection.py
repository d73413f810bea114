"""The ``ingest_elasticsearch`` connection type as Airflow's providers manager reads it, without importing the hook.

*Host* holds one URL or several, comma-separated; *Login*/*Password* are basic auth; the extra fields below
are stored in the connection's Extra JSON under these names.
"""

from __future__ import annotations

from typing import Any

CONN_TYPE = "ingest_elasticsearch"
HOOK_NAME = "Elasticsearch (metadata ingest)"
HOOK_CLASS = "airflow_provider_ingest.elasticsearch.hook.ElasticsearchIngestHook"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "api_key": {
        "label": "API key",
        "description": "Encoded API key, used instead of Login/Password",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "verify_certs": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
    },
    "ca_certs": {
        "label": "CA file",
        "description": "Path of the CA certificate that signed the cluster's certificate",
        "schema": {"type": ["string", "null"]},
    },
    "request_timeout": {
        "label": "Request timeout (s)",
        "schema": {"type": ["integer", "null"], "default": 30, "minimum": 1},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema"],
    "relabeling": {"host": "Hosts (comma-separated URLs)", "login": "Username"},
    "placeholders": {
        "host": "https://elasticsearch:9200",
        "port": "9200 (for a host given without scheme and port)",
        "login": "elastic (or leave empty and give an API key)",
    },
}
