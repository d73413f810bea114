"""A part of the sql source's catalog, as its own filters: the schema or database filter narrowed to the part.

A planned part keeps exactly its units (matched case-sensitively, whole); the rest part keeps what the
workflow's filter keeps minus the units of every other part. Together they keep what the filter keeps,
each unit once, whatever appeared or disappeared since the plan.
"""

from __future__ import annotations

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.partitions import Part
from airflow_provider_ingest.patterns import NamePatterns

FILTER_OF = {"schema": "schema_filter", "database": "database_filter"}
"""The source setting that scopes a part, by what the run is partitioned by."""
_SYNTAX = frozenset(".^$*+?{}[]|()\\")


def exact(name: str) -> str:
    """A pattern matching ``name`` alone, case-sensitively even where the filter ignores case."""
    return "(?-i:" + "".join("\\" + char if char in _SYNTAX else char for char in name) + ")"


def scoped_filter(patterns: NamePatterns, part: Part) -> NamePatterns:
    """The workflow's filter narrowed to ``part``."""
    if part.excluded is None:
        if not part.names:  # an empty include would keep everything
            raise InputError(f"{part.label} has no {part.by} planned for it")
        return NamePatterns(include=[exact(name) for name in part.names])
    return NamePatterns(
        include=patterns.include,
        exclude=[*patterns.exclude, *(exact(name) for name in part.excluded)],
        ignore_case=patterns.ignore_case,
    )
