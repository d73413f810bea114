"""Airflow integration: one operator per workflow stage, and the DAG factory for workflow files."""
