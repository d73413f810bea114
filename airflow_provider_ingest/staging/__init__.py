"""Staged files: how records travel between stages, and between Airflow tasks."""

from airflow_provider_ingest.staging.deadletters import DeadLetter, DeadLetterFile, read_dead_letters
from airflow_provider_ingest.staging.stagedfile import (
    SamplesLeftOutError,
    StagedFileError,
    StagedFileReader,
    StagedFileWriter,
    read_records,
    verify_staged_file,
)

__all__ = [
    "DeadLetter",
    "DeadLetterFile",
    "SamplesLeftOutError",
    "StagedFileError",
    "StagedFileReader",
    "StagedFileWriter",
    "read_dead_letters",
    "read_records",
    "verify_staged_file",
]
