"""Metadata ingestion for Apache Airflow: sources, processors, sinks and the DAGs that join them."""

__version__ = "0.1.0"
