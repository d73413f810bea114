"""Catalog metadata records and their fully qualified names."""

from airflow_provider_ingest.records.datatypes import DataType
from airflow_provider_ingest.records.entities import (
    KIND_ORDER,
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DatabaseService,
    Entity,
    Owner,
    Record,
    RecordKind,
    Table,
    TableConstraint,
    TableType,
    TagLabel,
    dump_record,
    parse_record,
    record_from_dict,
)

__all__ = [
    "KIND_ORDER",
    "Column",
    "ConstraintType",
    "DataType",
    "Database",
    "DatabaseSchema",
    "DatabaseService",
    "Entity",
    "Owner",
    "Record",
    "RecordKind",
    "Table",
    "TableConstraint",
    "TableType",
    "TagLabel",
    "dump_record",
    "parse_record",
    "record_from_dict",
]
