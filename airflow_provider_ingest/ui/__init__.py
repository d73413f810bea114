"""The "Ingestion" pages of the Airflow UI: a plugin whose FastAPI app the API server serves (see docs/ui.md).

Only :mod:`airflow_provider_ingest.ui.plugin` is imported when Airflow loads plugins; the rest is imported by
the app, in the API server, at its first request.
"""
