"""Airflow provider metadata: what ``airflow providers list`` shows, and the connection types."""

from __future__ import annotations

from types import ModuleType
from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Provider info read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_ingest import __version__
    from airflow_provider_ingest.elasticsearch import connection as elasticsearch
    from airflow_provider_ingest.openmetadata import connection as openmetadata

    return {
        "package-name": "airflow-provider-ingest",
        "name": "Metadata Ingest",
        "description": "Metadata ingestion: database catalogs to Elasticsearch and OpenMetadata.",
        "versions": [__version__],
        "connection-types": [connection_type(elasticsearch), connection_type(openmetadata)],
    }


def connection_type(form: ModuleType) -> dict[str, Any]:
    """A ``connection-types`` entry from a connection form module: declarative form fields (Airflow 3.2+)."""
    return {
        "connection-type": form.CONN_TYPE,
        "hook-class-name": form.HOOK_CLASS,
        "hook-name": form.HOOK_NAME,
        "conn-fields": form.CONN_FIELDS,
        "ui-field-behaviour": form.UI_FIELD_BEHAVIOUR,
    }
