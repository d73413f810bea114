"""Bundled sample data: a small shop database for trying the ``sql`` source without a server, and its query log."""

from airflow_provider_ingest.samples.shop import build_shop, sample_database_path, sample_query_log_path

__all__ = ["build_shop", "sample_database_path", "sample_query_log_path"]
