"""Airflow provider metadata: what ``airflow providers list`` shows, and the connection types."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    """Provider info read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""
    from airflow_provider_ingest import __version__

    return {
        "package-name": "airflow-provider-ingest",
        "name": "Metadata Ingest",
        "description": "Metadata ingestion: database catalogs to Elasticsearch and OpenMetadata.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "ingest_elasticsearch",
                "hook-class-name": "airflow_provider_ingest.elasticsearch.hook.ElasticsearchIngestHook",
                "hook-name": "Elasticsearch (metadata ingest)",
            },
            {
                "connection-type": "openmetadata",
                "hook-class-name": "airflow_provider_ingest.openmetadata.hook.OpenMetadataHook",
                "hook-name": "OpenMetadata",
            },
        ],
    }
