"""The five kinds of component a workflow is made of.

A third-party component subclasses one of :class:`Source`, :class:`Processor`, :class:`Sink`,
:class:`Stage` or :class:`BulkSink`, declares its settings as a :class:`ComponentConfig` subclass in
``config_class``, and implements the one abstract method. Import client libraries inside
:meth:`Component.prepare` (never at module level): workflow files are validated, and DAGs built,
without running any component. A component that may read column samples says so in
:meth:`Component.reads_samples`: an Airflow task hands them on only to a task that may read them; one that
relies on them says so in :meth:`Component.uses_samples`: a staged file that lost them is refused.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from airflow_provider_ingest.api.context import RunContext, resolve_path
from airflow_provider_ingest.api.report import Report
from airflow_provider_ingest.errors import ConfigurationError

if TYPE_CHECKING:
    from airflow_provider_ingest.partitions import Part, Unit
    from airflow_provider_ingest.records import Entity, Record
    from airflow_provider_ingest.records.lines import RecordLine


class ComponentConfig(BaseModel):
    """Base of every component's settings; unknown keys are errors, and so are NaN and infinities (a record can
    hold none)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def refused(cls) -> dict[str, str]:
        """Settings this type has (from a shared base) and cannot apply, each with why: validation refuses them, and
        the ``components`` listing and the JSON Schema leave them out."""
        return {}


class Component(ABC):
    """Lifecycle shared by all components: ``create``, ``prepare``, work, ``close``."""

    role: ClassVar[str]
    type_name: ClassVar[str] = ""
    config_class: ClassVar[type[ComponentConfig]] = ComponentConfig
    gives_lines: ClassVar[bool] = False
    """A source's: whether :meth:`Source.records` gives records as their staged-file lines (:class:`RecordLine`), valid
    by construction; a line from any other source is validated as it comes. Each class says it for itself."""
    takes_lines: ClassVar[bool] = False
    """A sink's or stage's: whether its ``write`` or ``stage`` takes a record as its line and writes it as it is; any
    other gets models. Each class says it for itself: a subclass (which may read fields) is not taken to."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("gives_lines", "takes_lines"):
            if name not in vars(cls):
                setattr(cls, name, False)

    def __init__(self, config: ComponentConfig, context: RunContext) -> None:
        self.config = config
        self.context = context
        self.report = Report(component=f"{self.role}:{self.type_name or type(self).__name__}")

    @classmethod
    def reads_samples(cls, config: Mapping[str, Any]) -> bool:
        """Whether, with these settings as written (maybe templated), the component may read column samples: an
        Airflow task hands them on only then (raw values of the user's tables). This package's own components say
        where they do (``pii``, a ``file`` sink's ``keep_samples``); any other may."""
        return not cls.__module__.startswith("airflow_provider_ingest.")

    @classmethod
    def uses_samples(cls, config: ComponentConfig) -> bool:
        """Whether the component, with these settings, uses the column samples of the records it is given: a staged
        file that says they were lost is refused, not read without them (``pii``'s ``use_samples``). One that only
        hands them on (a ``file`` sink's ``keep_samples``) does not: its file says what its input lacked."""
        return False

    @classmethod
    def create(cls, config: Mapping[str, Any] | ComponentConfig | None, context: RunContext) -> Component:
        """Validate ``config`` against ``config_class`` and build the component; a bad one is a ConfigurationError.

        Settings are validated again here, with ``${ENV}`` resolved: the message is scrubbed of the run's secrets.
        """
        if not isinstance(config, ComponentConfig):
            try:
                config = cls.config_class.model_validate(dict(config or {}))
            except ValidationError as error:
                name = f"{cls.role} {cls.type_name or cls.__name__}"
                problems = "; ".join(
                    f"{'.'.join(map(str, item['loc'])) or 'config'}: {item['msg']}"
                    for item in error.errors(include_url=False, include_input=False)
                )
                raise ConfigurationError(context.scrub(f"{name}: invalid config: {problems}")) from None
        return cls(config, context)

    @classmethod
    def asset_uris(cls, config: ComponentConfig) -> list[str]:
        """URIs of what this component writes to, for Airflow assets (none by default)."""
        return []

    @classmethod
    def written_uris(cls, config: ComponentConfig, base_dir: Path) -> list[str]:
        """:meth:`asset_uris` with a relative ``path`` setting taken from ``base_dir``, as the component writes it."""
        path = getattr(config, "path", None)
        if isinstance(path, str):
            config = config.model_copy(update={"path": resolve_path(path, base_dir)})
        return cls.asset_uris(config)

    @classmethod
    def path_problems(cls, config: ComponentConfig, base_dir: Path) -> dict[str, str]:
        """Settings naming a file this component cannot write here (a folder, a folder that cannot be written, a
        scheme no installed filesystem serves), told from what exists now, without network: why, by setting name.
        None by default."""
        return {}

    def prepare(self) -> None:
        """Open connections and check settings; called once before the first record."""

    def close(self) -> None:
        """Release resources; always called, also after a failure."""

    def run_succeeded(self) -> None:
        """Called once, after ``close``, when the whole step succeeded (every record written, committed and
        published, the success threshold met): keep state for the next run here, such as a source's watermark.
        Raising fails the step."""

    def fail(
        self,
        error: BaseException | str,
        *,
        record: Entity | None = None,
        fqn: str | None = None,
        raw: str | None = None,
    ) -> None:
        """Count a failed record and keep it (or its ``raw`` text), with its error, in the run's dead letters.

        The message is scrubbed of the run's secrets; an exception's type and last frames go with it.
        """
        exception = None if isinstance(error, str) else error
        message = self.context.scrub(error if isinstance(error, str) else f"{type(error).__name__}: {error}")
        fqn = fqn or (record.fqn if record is not None else None)
        self.report.add_failure(message, fqn)
        if self.context.dead_letters is not None:
            from airflow_provider_ingest.staging.deadletters import DeadLetter

            self.context.dead_letters.add(
                DeadLetter.of(
                    component=self.report.component,
                    error=message,
                    fqn=fqn,
                    record=record,
                    raw=raw,
                    exception=exception,
                )
            )

    def reject(self, error: BaseException | str, *, record: Entity | None = None, fqn: str | None = None) -> None:
        """A record counted as done was refused later (by a bulk response): move it to the failures."""
        self.report.records -= 1
        self.fail(error, record=record, fqn=fqn)

    def warn(self, message: str) -> None:
        """Count a warning (scrubbed of the run's secrets); the run goes on."""
        self.report.add_warning(self.context.scrub(message))


class Source(Component):
    """Emits records, parents before children."""

    role: ClassVar[str] = "source"
    partition_by: ClassVar[frozenset[str]] = frozenset()
    """What a partitioned run may split this source's records by (``schema``, ``database``); none by default."""

    @abstractmethod
    def records(self) -> Iterator[Record | RecordLine]:
        """Yield the records; report a part that cannot be read with :meth:`fail` and go on. A source that says
        :attr:`gives_lines` may give a record valid by construction as its staged-file line (:class:`RecordLine`):
        the run builds it as a model only for a component that reads its fields."""

    @classmethod
    def partition_problem(cls, config: ComponentConfig, by: str) -> str | None:
        """Why this source, with these settings, cannot be partitioned ``by``; None when it can."""
        if by in cls.partition_by:
            return None
        name = cls.type_name or cls.__name__
        if not cls.partition_by:
            return f"a {name} source cannot be partitioned (the sql source can, by schema or database)"
        return f"a {name} source is partitioned by {' or '.join(sorted(cls.partition_by))}, not {by}"

    def partition_units(self, by: str) -> list[Unit]:
        """The units (schemas or databases) a partitioned run splits, with their relation counts; after prepare."""
        raise NotImplementedError(f"{type(self).__name__} cannot be partitioned")

    def scope(self, part: Part) -> None:
        """Read only ``part`` of the records from now on (called before prepare)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be partitioned")


def written_flag(config: Mapping[str, Any], name: str, default: bool) -> bool:
    """A yes/no setting as a workflow writes it, not rendered yet: read as its settings class reads it (``"false"``,
    ``0``); a template or a reference (``{{ ... }}``, ``${...}``) may be either, so it is True."""
    try:
        return _FLAG.validate_python(config.get(name, default))
    except ValidationError:
        return True


_FLAG = TypeAdapter(bool)


class Processor(Component):
    """Takes one record and returns it, a changed one, several, or None to filter it out."""

    role: ClassVar[str] = "processor"

    @abstractmethod
    def process(self, record: Record) -> Record | Iterable[Record] | None:
        """Transform one record; raising fails just this record."""

    @classmethod
    def passes_samples(cls, config: Mapping[str, Any]) -> bool:
        """Whether, with these settings as written, the samples it is given stay in its output. By default they do."""
        return True


class Sink(Component):
    """Writes records one at a time."""

    role: ClassVar[str] = "sink"
    replaced_whole: ClassVar[bool] = False
    """Whether each run replaces what the sink wrote (one file): the parts of a partitioned run cannot share it."""

    @abstractmethod
    def write(self, record: Record) -> None:
        """Write one record (a sink may buffer); raising fails just this record."""

    def flush(self) -> None:
        """Write out what is buffered; called once after the last record."""


class Stage(Component):
    """Collects records into a staged file for a bulk sink."""

    role: ClassVar[str] = "stage"

    @abstractmethod
    def stage(self, record: Record) -> None:
        """Take one record into the stage."""

    @abstractmethod
    def commit(self) -> str:
        """Write the staged file and return its URI; called once after the last record."""

    @property
    def writes_where_named(self) -> bool:
        """Whether the staged file goes where the workflow names, replacing the file there (a stop after the commit
        keeps it); else it is the run's own, in its staging folder (a stop removes it)."""
        return False


class BulkSink(Component):
    """Publishes a whole staged file to an external service."""

    role: ClassVar[str] = "bulk_sink"

    @abstractmethod
    def publish(self, uri: str) -> None:
        """Publish the records of the staged file at ``uri``; count them in ``self.report``."""


ROLES: dict[str, type[Component]] = {
    "source": Source,
    "processor": Processor,
    "sink": Sink,
    "stage": Stage,
    "bulk_sink": BulkSink,
}
