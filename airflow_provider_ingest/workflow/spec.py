"""The workflow file's schema, in one place: components, run settings and the Airflow DAG settings."""

from __future__ import annotations

import datetime
import functools
import re
from collections import Counter
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

DEFAULT_STAGING_ROOT = "~/.airflow-ingest/staging"
NAME = re.compile(r"[A-Za-z0-9_.-]+")
"""A dag id or task id written in a file: Airflow's key characters, in ASCII (they name staging folders too)."""
"""Airflow's own rule for dag and task ids (``validate_key``), at most :data:`MAX_KEY_LENGTH` long."""
MAX_KEY_LENGTH = 250
CLEANUP_TASK_ID = "cleanup_staging"
"""The task id of the DAG's cleanup task, which no component may take."""
TEST_CONNECTIONS_TASK_ID = "test_connections"
"""The task id of the DAG's first task with ``airflow: {test_connections: true}``."""

CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
"""Airflow's schedule presets (``airflow.sdk...timetables._cron.CRON_PRESETS``), besides @once, @continuous."""
ONE_YEAR = datetime.timedelta(days=365)
MAX_PARTITIONS = 1024
"""The most parts a partitioned workflow may plan (Airflow's default max_map_length)."""
PLAN_TASK_ID = "plan_partitions"
"""The task id of a partitioned DAG's planning task."""


Found = list[tuple[tuple[str | int, ...], str]]
"""Problems a model validator found: each a location under the model, and a message."""


def refuse_all(model: BaseModel, found: Found) -> None:
    """Raise every problem a model validator found at once, each at its field (none: nothing is raised); pydantic
    reports them with the fields' own problems, so a file's problems are all shown in one go."""
    if found:
        details = [
            InitErrorDetails(type=PydanticCustomError("value_error", message), loc=location, input=model)
            for location, message in found
        ]
        raise ValidationError.from_exception_data(type(model).__name__, details)


def check_name(name: str, what: str) -> str:
    """A dag id or task id as Airflow accepts it and as a staging folder can be named; raise ``ValueError``."""
    if len(name) > MAX_KEY_LENGTH:
        raise ValueError(f"{what} is {len(name)} characters long; at most {MAX_KEY_LENGTH}")
    if not NAME.fullmatch(name):
        raise ValueError(f"{what} {name!r} may hold only letters, digits, dashes, dots and underscores")
    if name in (".", ".."):
        raise ValueError(f"{what} cannot be {name!r}")
    return name


@functools.lru_cache(maxsize=1024)
def check_schedule(schedule: str) -> str:
    """A schedule string as Airflow accepts and can keep it: a preset, or a cron expression croniter parses, that
    some time matches, and that Airflow describes in at most :data:`MAX_DESCRIPTION` characters.

    Remembered: a dags folder of workflow files names the same few schedules again and again.
    """
    if schedule in ("@once", "@continuous"):
        return schedule
    from croniter import CroniterBadDateError, croniter  # installed with Airflow; imported when a schedule is checked

    presets = [*CRON_PRESETS, "@once", "@continuous"]
    expression = CRON_PRESETS.get(schedule, schedule)
    try:
        croniter(expression, _CRON_START).get_next(datetime.datetime)
    except Exception as error:  # croniter's own errors (a date no year has: 0 0 30 2 *), or anything else
        reason = "no time of any year matches it" if isinstance(error, CroniterBadDateError) else error
        if schedule.startswith("@"):
            import difflib

            close = difflib.get_close_matches(schedule, presets, n=1)
            reason = f"no such preset{f'; did you mean {close[0]!r}?' if close else ''}"
        raise ValueError(
            f"invalid schedule {schedule!r}: {reason} (a cron expression, one of {', '.join(presets)}, or null)"
        ) from None
    described = len(_cron_description(expression))
    if described > MAX_DESCRIPTION:
        raise ValueError(
            f"Airflow describes this schedule in {described:,} characters, more than the {MAX_DESCRIPTION:,} its"
            " database keeps (no DAG of the folder would be saved): write lists of values as ranges (0-59)"
        )
    return schedule


_CRON_START = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
"""Where a cron schedule's first time is looked for: one that never comes (February 30) never runs in Airflow."""
MAX_DESCRIPTION = 1000
"""The longest schedule description Airflow's database keeps (``dag.timetable_description``)."""
MAX_OWNER = 2000
"""The longest owner Airflow's database keeps (``dag.owners``)."""


def _cron_description(expression: str) -> str:
    """The description Airflow gives a cron schedule (``airflow.timetables._cron.CronMixin``): where both the day of
    the month and of the week are set, the two described apart, joined by ``(or)``; none for six or seven fields,
    nor where it cannot tell."""
    try:
        from cron_descriptor import CasingTypeEnum, ExpressionDescriptor  # installed with Airflow
    except ImportError:
        return ""

    def described(text: str) -> str:
        return ExpressionDescriptor(
            text, casing_type=CasingTypeEnum.Sentence, use_24hour_time_format=True
        ).get_description()

    fields = expression.split()
    if len(fields) > 5:  # seconds or years: Airflow describes none
        return ""
    try:
        if len(fields) == 5 and fields[2] != "*" and fields[4] != "*":
            return (
                f"{described(' '.join([*fields[:4], '*']))} (or) {described(' '.join([*fields[:2], '*', *fields[3:]]))}"
            )
        return described(expression)
    except Exception:  # cron_descriptor's own errors: Airflow gives no description then
        return ""


def _utc_datetime(value: Any) -> Any:
    """A date given without a time as midnight UTC; Airflow takes datetimes only."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc)
    return value


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ComponentSpec(_Strict):
    """One component: its type name and its settings (validated by the component's config class)."""

    type: str = Field(min_length=1, description="short name, plugin entry point, or package.module:Class")
    config: dict[str, Any] = Field(default_factory=dict)
    task_id: str | None = Field(default=None, description="Airflow task id")

    @field_validator("task_id")
    @classmethod
    def _task_id(cls, task_id: str | None) -> str | None:
        if task_id == CLEANUP_TASK_ID:
            raise ValueError(f"task id {CLEANUP_TASK_ID!r} is the cleanup task's")
        return task_id if task_id is None else check_name(task_id, "task id")


class WorkflowSettings(_Strict):
    """How the run behaves."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    success_threshold: float = Field(
        default=90.0,
        ge=0,
        le=100,
        description="a component whose success rate (percent) is below fails the run",
    )
    staging_root: str = Field(default=DEFAULT_STAGING_ROOT, description="local path or object-storage URI")
    compression: Literal["none", "gzip"] = "none"
    retention_days: int = Field(default=7, ge=0, le=36500, description="staged files older than this are deleted")


class PartitionSettings(_Strict):
    """How a partitioned run splits its source: by schema or by database, into at most ``max`` balanced parts."""

    by: Literal["schema", "database"] = Field(
        description="schema: parts of the schemas (of every database read); database: parts of the databases "
        "(PostgreSQL with all_databases: true)"
    )
    max: int = Field(ge=1, le=MAX_PARTITIONS, description="at most this many parts, balanced by relation count")


class AirflowSettings(_Strict):
    """What the DAG factory makes of the workflow."""

    dag_id: str | None = Field(default=None, description="default: file stem")
    schedule: str | datetime.timedelta | None = Field(
        default=None,
        description="cron expression, preset (@daily, @once, @continuous), ISO 8601 duration (PT6H), or null",
    )
    start_date: datetime.datetime = Field(
        default=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), description="a date or a datetime"
    )
    end_date: datetime.datetime | None = Field(default=None, description="a date or a datetime")
    catchup: bool = False
    tags: list[str] = Field(default_factory=list)
    owner: str = Field(default="airflow", max_length=MAX_OWNER)
    retries: int = Field(default=1, ge=0, le=1000)
    retry_delay: datetime.timedelta = Field(
        default=datetime.timedelta(minutes=5), ge=datetime.timedelta(0), le=ONE_YEAR
    )
    execution_timeout: datetime.timedelta | None = Field(default=None, gt=datetime.timedelta(0), le=ONE_YEAR)
    max_active_runs: int = Field(default=1, ge=1, le=10_000)
    params: dict[str, JsonValue] = Field(default_factory=dict)
    pool: str | None = None
    test_connections: bool = Field(
        default=False, description="start the DAG with a task that checks every connection the workflow uses"
    )
    partitions: PartitionSettings | None = Field(
        default=None,
        description="plan the source's parts first, then extract and process each part in a task of its own, "
        "merged by the stage",
    )

    @field_validator("dag_id")
    @classmethod
    def _dag_id(cls, dag_id: str | None) -> str | None:
        return dag_id if dag_id is None else check_name(dag_id, "dag id")

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, schedule: Any) -> Any:
        """A string is a cron expression or preset, unless it is an ISO 8601 duration (``P1D``, ``PT30M``)."""
        if isinstance(schedule, str) and schedule.startswith("P"):
            return datetime.timedelta(seconds=_duration_seconds(schedule))
        if isinstance(schedule, str):
            return check_schedule(schedule)
        if schedule is not None:
            raise ValueError("a schedule is a cron expression, a preset, an ISO 8601 duration (PT6H) or null")
        return schedule

    @field_validator("start_date", "end_date", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        return _utc_datetime(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if len(tag) > 100:
                raise ValueError(f"tag {tag[:20]!r}... is longer than Airflow's 100 characters")
        return tags

    @model_validator(mode="after")
    def _consistent(self) -> AirflowSettings:
        found: Found = []
        if self.end_date is not None and _aware(self.end_date) < _aware(self.start_date):
            found.append((("end_date",), "end_date is before start_date"))
        if self.schedule == "@continuous" and self.max_active_runs != 1:
            found.append((("max_active_runs",), "schedule @continuous needs max_active_runs: 1"))
        refuse_all(self, found)
        return self


def _duration_seconds(text: str) -> float:
    """An ISO 8601 duration of days, hours, minutes and seconds, in seconds (more than zero); raise ``ValueError``."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"invalid duration {text!r}: write an ISO 8601 duration such as P1D, PT6H or PT30M")
    days, hours, minutes, seconds = (float(part or 0) for part in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if not 0 < total <= 100 * 365 * 86400:
        raise ValueError(f"duration {text!r} must be more than zero and at most 100 years")
    return total


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

    @field_validator("description")
    @classmethod
    def _blank_is_none(cls, description: str | None) -> str | None:
        return description if description and description.strip() else None

    @field_validator("bulk_sink")
    @classmethod
    def _follows_a_stage(cls, bulk_sink: ComponentSpec | None, info: ValidationInfo) -> ComponentSpec | None:
        if bulk_sink is not None and "stage" in info.data and info.data["stage"] is None:  # absent, not invalid
            raise ValueError("bulk_sink needs a stage that writes the file it publishes")
        return bulk_sink

    @field_validator("airflow")
    @classmethod
    def _runs_keep_each_others_files(cls, airflow: AirflowSettings, info: ValidationInfo) -> AirflowSettings:
        workflow = info.data.get("workflow")
        if airflow.max_active_runs > 1 and workflow is not None and workflow.retention_days == 0:
            raise ValueError(
                f"max_active_runs {airflow.max_active_runs} with workflow.retention_days 0: each run's cleanup would"
                " delete the staged files of the runs still in flight; keep them at least 1 day"
            )
        return airflow

    @model_validator(mode="after")
    def _consistent(self) -> WorkflowFile:
        found: Found = []
        if self.sink is None and self.stage is None:
            found.append(((), "a workflow needs a sink, a stage, or both"))
        refuse_all(self, found + self._task_id_problems())
        return self

    def _task_id_problems(self) -> Found:
        """Task ids used twice, taken by the DAG's own tasks, or not valid (made from a component type): each a
        problem of its component's ``task_id``, or of its ``type`` that the id is made from."""
        ids = self.task_ids()
        counts = Counter(ids)
        found: Found = []
        for (_, where, spec), task_id in zip(self.components(), ids, strict=True):
            at = (*where, "task_id" if spec.task_id is not None else "type")
            if counts[task_id] > 1:
                found.append((at, f"task id {task_id!r} is used by {counts[task_id]} steps"))
            elif task_id == CLEANUP_TASK_ID:
                found.append((at, f"task id {task_id!r} is reserved for the staging cleanup"))
            elif task_id == TEST_CONNECTIONS_TASK_ID and self.airflow.test_connections:
                found.append((at, f"task id {task_id!r} is the connection test's (airflow.test_connections)"))
            elif task_id == PLAN_TASK_ID and self.airflow.partitions is not None:
                found.append((at, f"task id {task_id!r} is the partition planning task's (airflow.partitions)"))
            else:
                try:
                    check_name(task_id, "task id (made from a component type)")
                except ValueError as error:
                    found.append((at, str(error)))
        return found

    def task_ids(self) -> list[str]:
        """The DAG factory's task ids in run order: ``task_id``, else role or processor type, numbered if repeated."""
        names = [
            spec.task_id or (re.sub(r"\W", "_", spec.type.rsplit(":", 1)[-1]).lower() if role == "processor" else role)
            for role, _, spec in self.components()
        ]
        counts = Counter(names)
        if len(counts) == len(names):
            return names
        numbered: Counter[str] = Counter()
        ids = []
        for name in names:
            numbered[name] += 1
            ids.append(f"{name}_{numbered[name]}" if counts[name] > 1 else name)
        return ids

    def components(self) -> list[tuple[str, tuple[str | int, ...], ComponentSpec]]:
        """(role, location in the file, spec) for every component, in run order."""
        found: list[tuple[str, tuple[str | int, ...], ComponentSpec]] = [("source", ("source",), self.source)]
        found += [("processor", ("processors", i), spec) for i, spec in enumerate(self.processors)]
        found += [(role, (role,), spec) for role in ("sink", "stage", "bulk_sink") if (spec := getattr(self, role))]
        return found
