"""Airflow provider metadata: what ``airflow providers list`` shows, and the connection types."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Provider info read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_ingest import __version__
    from airflow_provider_ingest.elasticsearch.connection import connection_type as elasticsearch_connection_type
    from airflow_provider_ingest.openmetadata.connection import connection_type as openmetadata_connection_type

    return {
        "package-name": "airflow-provider-ingest",
        "name": "Metadata Ingest",
        "description": "Metadata ingestion: database catalogs to Elasticsearch and OpenMetadata.",
        "versions": [__version__],
        "connection-types": [elasticsearch_connection_type(), openmetadata_connection_type()],
    }
