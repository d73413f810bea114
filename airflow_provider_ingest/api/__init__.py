"""The component API: what a source, processor, sink, stage or bulk sink implements."""

from airflow_provider_ingest.api.components import (
    ROLES,
    BulkSink,
    Component,
    ComponentConfig,
    Processor,
    Sink,
    Source,
    Stage,
    written_flag,
)
from airflow_provider_ingest.api.context import RunContext
from airflow_provider_ingest.api.report import Failure, Report

__all__ = [
    "ROLES",
    "BulkSink",
    "Component",
    "ComponentConfig",
    "Failure",
    "Processor",
    "Report",
    "RunContext",
    "Sink",
    "Source",
    "Stage",
    "written_flag",
]
