"""The workflow file's schema, in one place: components, run settings and the Airflow DAG settings."""

from __future__ import annotations

import datetime
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DEFAULT_STAGING_ROOT = "~/.airflow-ingest/staging"
TASK_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentSpec(_Strict):
    """One component: its type name and its settings (validated by the component's config class)."""

    type: str = Field(min_length=1, description="short name, plugin entry point, or package.module:Class")
    config: dict[str, Any] = Field(default_factory=dict)
    task_id: str | None = Field(default=None, pattern=TASK_ID.pattern, description="Airflow task id")


class WorkflowSettings(_Strict):
    """How the run behaves."""

    success_threshold: float = Field(
        default=90.0,
        ge=0,
        le=100,
        description="a component whose success rate (percent) is below fails the run",
    )
    staging_root: str = Field(default=DEFAULT_STAGING_ROOT, description="local path or object-storage URI")
    compression: Literal["none", "gzip"] = "none"
    retention_days: int = Field(default=7, ge=0, description="staged files older than this are deleted")


class AirflowSettings(_Strict):
    """What the DAG factory makes of the workflow."""

    dag_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$", description="default: file stem")
    schedule: str | None = Field(default=None, description="cron expression, preset (@daily) or null")
    start_date: datetime.datetime | datetime.date = datetime.date(2024, 1, 1)
    end_date: datetime.datetime | datetime.date | None = None
    catchup: bool = False
    tags: list[str] = Field(default_factory=list)
    owner: str = "airflow"
    retries: int = Field(default=1, ge=0)
    retry_delay: datetime.timedelta = datetime.timedelta(minutes=5)
    execution_timeout: datetime.timedelta | None = None
    max_active_runs: int = Field(default=1, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    pool: str | None = None


class WorkflowFile(_Strict):
    """A whole workflow: source, processors in order, then a sink and/or a stage and bulk sink."""

    description: str | None = None
    source: ComponentSpec
    processors: list[ComponentSpec] = Field(default_factory=list)
    sink: ComponentSpec | None = None
    stage: ComponentSpec | None = None
    bulk_sink: ComponentSpec | None = None
    workflow: WorkflowSettings = Field(default_factory=WorkflowSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)

    @field_validator("bulk_sink")
    @classmethod
    def _follows_a_stage(cls, bulk_sink: ComponentSpec | None, info: ValidationInfo) -> ComponentSpec | None:
        if bulk_sink is not None and "stage" in info.data and info.data["stage"] is None:  # absent, not invalid
            raise ValueError("bulk_sink needs a stage that writes the file it publishes")
        return bulk_sink

    @model_validator(mode="after")
    def _has_an_end(self) -> WorkflowFile:
        if self.sink is None and self.stage is None:
            raise ValueError("a workflow needs a sink, a stage, or both")
        return self

    def components(self) -> list[tuple[str, tuple[str | int, ...], ComponentSpec]]:
        """(role, location in the file, spec) for every component, in run order."""
        found: list[tuple[str, tuple[str | int, ...], ComponentSpec]] = [("source", ("source",), self.source)]
        found += [("processor", ("processors", i), spec) for i, spec in enumerate(self.processors)]
        found += [(role, (role,), spec) for role in ("sink", "stage", "bulk_sink") if (spec := getattr(self, role))]
        return found
