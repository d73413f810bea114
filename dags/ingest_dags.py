"""Turns every workflow YAML file in this folder (and below) into a DAG."""

from airflow_provider_ingest.airflow.factory import load_workflow_dags

load_workflow_dags(globals())
