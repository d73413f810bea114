"""Loads and validates a workflow file, reporting every problem with file, line, column and field."""

from __future__ import annotations

import contextlib
import re
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from airflow_provider_ingest.workflow.document import (
    Document,
    Location,
    Problem,
    WorkflowFileError,
    dotted,
    read_document,
)
from airflow_provider_ingest.workflow.spec import ComponentSpec, WorkflowFile, check_name

if TYPE_CHECKING:
    from airflow_provider_ingest.secrets import Span

# Secrets and ${NAME} references are imported where a file has any: a dags folder of plain files stays cheap.

SUBSTITUTED = "component config and workflow.staging_root"
"""Where ``${NAME}`` references are replaced by environment variables; elsewhere they would stay as written."""

FORMAT_DOCS = (
    "docs/openmetadata-workflows.md and OpenMetadata's own "
    "https://docs.open-metadata.org/latest/connectors/database/postgres/yaml"
)
"""Where the current format is described."""

SHOWN_AS_WRITTEN = "leave it out (this text is shown as written)"
"""What to do with a secret inline where ``${NAME}`` references are not substituted (a description, a tag...)."""

SECRET_WORDS = ("pass", "pwd", "secret", "token", "credential", "authorization", "sig", "key")
"""One of these is in each name of a secret (``secrets.SECRET_NAME``), lowercased."""


@dataclass
class LoadedWorkflow:
    """A valid workflow file: its spec, its path, the positions of its keys, and what it asks for that is not
    done (warnings of a translated OpenMetadata file)."""

    spec: WorkflowFile
    document: Document
    warnings: list[Problem] = field(default_factory=list)
    configs: dict[Location, BaseModel] = field(default_factory=dict, repr=False)
    """Each component's settings as its config class validated them, ``${NAME}`` resolved, by location."""

    @property
    def path(self) -> Path:
        return Path(self.document.path)

    @property
    def name(self) -> str:
        """The workflow's name: the Airflow dag id, or the file stem."""
        return self.spec.airflow.dag_id or self.path.stem


def is_workflow(data: Any) -> bool:
    """The rule for telling workflow files from other YAML: a mapping with a ``source`` key."""
    return isinstance(data, dict) and "source" in data


def is_openmetadata_workflow(data: dict[str, Any]) -> bool:
    """OpenMetadata's files have ``workflowConfig`` and a ``source`` with ``serviceConnection``."""
    source = data.get("source")
    return "workflowConfig" in data or (isinstance(source, dict) and "serviceConnection" in source)


def legacy_problem(document: Document) -> Problem | None:
    """The one problem of an OpenMetadata 0.9-or-older workflow file, whose format is not read; None for any
    other file. Such a file has ``metadata_server``, or a ``processor`` object, or a ``source.config`` with
    ``host_port``, or with ``service_name`` and a ``metadata-rest`` sink."""
    data = document.data
    found: Location | None = ("metadata_server",) if "metadata_server" in data else None
    if found is None and not is_openmetadata_workflow(data):
        source, sink = data.get("source"), data.get("sink")
        config = source.get("config") if isinstance(source, dict) else None
        config = config if isinstance(config, dict) else {}
        to_openmetadata = isinstance(sink, dict) and sink.get("type") == "metadata-rest"
        if isinstance(data.get("processor"), dict):
            found = ("processor",)
        elif "host_port" in config:
            found = ("source", "config", "host_port")
        elif "service_name" in config and to_openmetadata:
            found = ("source", "config", "service_name")
    if found is None:
        return None
    return document.problem(
        found,
        "this is an OpenMetadata 0.9-or-older workflow file (metadata_server, a processor object, source.config"
        " with service_name or host_port), a format OpenMetadata 0.10 replaced and this project does not read."
        " Write the current format (source.serviceConnection.config, source.sourceConfig.config, sink,"
        f" workflowConfig.openMetadataServerConfig), described in {FORMAT_DOCS}",
    )


def load_workflow(path: str | Path, text: str | None = None, *, templated: bool = False) -> LoadedWorkflow:
    """Read and validate a workflow file; raise :class:`WorkflowFileError` listing all problems (``templated``: as
    the DAG factory does, see :func:`validate_document`)."""
    document = read_document(path, text)
    return validate_document(document, templated=templated)


def validate_document(document: Document, *, templated: bool = False) -> LoadedWorkflow:
    """Validate a parsed workflow document, components' settings included; every problem is reported, by line.

    An OpenMetadata workflow file is translated first: the translation's problems and those of the translated
    workflow are reported together, at the OpenMetadata settings they come from. ``templated`` (the DAG factory):
    a component setting whose value is a Jinja template (``"{{ params.n }}"``) is left to the task that renders
    it, where it is validated.
    """
    data = document.data
    if not isinstance(data, dict):
        raise WorkflowFileError([document.problem((), "a workflow file must be a mapping with a 'source' key")])
    legacy = legacy_problem(document)
    if legacy is not None:
        raise WorkflowFileError([legacy])
    native = not is_openmetadata_workflow(data)
    problems = _reference_problems(document, data, native=native)
    warnings: list[Problem] = []
    incomplete: set[str] = set()
    if not native:
        from airflow_provider_ingest.workflow.openmetadata import translate

        translation = translate(document)
        problems += translation.problems
        warnings = sorted(translation.warnings, key=_by_position)
        incomplete = translation.incomplete
        document = translation.document
        data = document.data
    if _may_hold_secrets(document):
        problems += _inline_secrets(document, data)
    spec = None
    try:
        spec = WorkflowFile.model_validate(data)
    except ValidationError as error:
        problems += _problems(document, error, WorkflowFile, ())
    configs: dict[Location, BaseModel] = {}
    for role, where, component in spec.components() if spec is not None else _valid_components(data):
        if role in incomplete:
            continue  # its translation failed: its translated settings would only repeat that
        try:
            configs[where] = _component_config(document, role, where, component, templated)
        except WorkflowFileError as error:
            problems += error.problems
    if spec is not None:
        problems += _samples_cleared_before_use(document, spec, configs)
        problems += _staging_root_problems(document, spec.workflow.staging_root)
        if templated:  # every task renders it too
            problems += _unrenderable(document, ("workflow", "staging_root"), spec.workflow.staging_root)
    if spec is not None and spec.airflow.dag_id is None:
        problems += _file_name_problems(document)
    if spec is not None and spec.airflow.partitions is not None and ("source",) in configs:
        problems += partition_problems(document, spec, configs[("source",)], spec.airflow.partitions.by)
    if problems or spec is None:
        raise WorkflowFileError(sorted(set(problems), key=_by_position))
    return LoadedWorkflow(spec=spec, document=document, warnings=warnings, configs=configs)


def path_problems(workflow: LoadedWorkflow) -> list[Problem]:
    """Settings naming a file that cannot be written on this machine (a folder, a folder that cannot be written):
    what ``validate`` and a run check beyond the DAG factory, whose machine may not be the workers'."""
    from airflow_provider_ingest.registry import resolve

    base_dir = workflow.path.parent.resolve()
    problems = []
    for role, where, component in workflow.spec.components():
        if where in workflow.configs:
            found = resolve(role, component.type).path_problems(workflow.configs[where], base_dir)
            problems += [workflow.document.problem((*where, "config", name), why) for name, why in found.items()]
    return problems


def claimed_twice(dag_id: str, claimants: list[Document]) -> list[Problem]:
    """Files of one dags folder claiming one dag id: a problem of each, naming them all."""
    names = ", ".join(str(document.path) for document in claimants)
    return [
        document.problem(("airflow", "dag_id"), f"dag id {dag_id!r} is claimed by {names}") for document in claimants
    ]


def _samples_cleared_before_use(
    document: Document, spec: WorkflowFile, configs: dict[Location, BaseModel]
) -> list[Problem]:
    """A component that uses column samples after a processor that clears them (``pii`` without ``keep_samples``)
    would judge without them: a problem of its type, naming the processor."""
    from airflow_provider_ingest.registry import resolve

    problems, clearing = [], None
    for role, where, component in spec.components()[1:]:
        if where not in configs:  # its type or settings are wrong: said already
            continue
        kind = resolve(role, component.type)
        if clearing is not None and kind.uses_samples(configs[where]):  # type: ignore[arg-type]
            message = f"it uses column samples, which {clearing} before it clears: give that one keep_samples: true"
            problems.append(document.problem((*where, "type"), message))
        if role == "processor" and not kind.passes_samples(component.config):
            clearing = f"{'.'.join(map(str, where))} ({component.type})"
    return problems


def _staging_root_problems(document: Document, root: str) -> list[Problem]:
    """A staging root no filesystem here can serve (an unknown scheme, or its package missing); one whose scheme a
    ``${NAME}`` reference gives is judged when the run resolves it."""
    from airflow_provider_ingest.staging.paths import filesystem_problem

    if "${" in root.split("://", 1)[0]:
        return []
    problem = filesystem_problem(root)
    return [] if problem is None else [document.problem(("workflow", "staging_root"), problem)]


def partition_problems(
    document: Document, spec: WorkflowFile, config: BaseModel, by: str, asked_by: str | None = None
) -> list[Problem]:
    """A source that cannot be partitioned as ``airflow.partitions`` asks is a problem of ``by`` (or, when the file
    asks for no partitions and a command's ``asked_by`` option does, of the source's type); a sink each part would
    replace whole (a file) is a problem of the sink's type."""
    from airflow_provider_ingest.api import Sink, Source
    from airflow_provider_ingest.registry import resolve

    problems = []
    source = resolve("source", spec.source.type)
    problem = source.partition_problem(config, by) if issubclass(source, Source) else None
    if problem is not None and asked_by is not None:
        problems.append(document.problem(("source", "type"), f"{asked_by} partitions the run by {by}, and {problem}"))
    elif problem is not None:
        problems.append(document.problem(("airflow", "partitions", "by"), problem))
    sink = resolve("sink", spec.sink.type) if spec.sink is not None else None
    if spec.sink is not None and issubclass(sink, Sink) and sink.replaced_whole:
        message = (
            f"a {spec.sink.type} sink is written whole by each run, and each part of a partitioned run would"
            " replace it: use a stage and bulk sink for the merged file"
        )
        problems.append(document.problem(("sink", "type"), message))
    return problems


def _by_position(problem: Problem) -> tuple[int, int, str]:
    return (problem.line, problem.column, problem.field)


def _reference_problems(document: Document, data: dict[str, Any], *, native: bool) -> list[Problem]:
    """Each ``${`` starts a well-formed ``${NAME}``, used where references are substituted (descriptions aside)."""
    if not document.may_hold("${"):
        return []
    from airflow_provider_ingest.workflow.env import REFERENCE

    problems = []
    for location, text in _values(data, ()):
        if not isinstance(text, str) or location == ("description",) or "${" not in text:
            continue
        starts = (match.start() for match in re.finditer(r"\$\{", text))
        malformed = next((start for start in starts if not REFERENCE.match(text, start)), None)
        if malformed is not None:
            snippet = text[malformed : malformed + 20]
            message = f"malformed reference {snippet!r}: write ${{NAME}}, NAME of letters, digits and underscores"
            problems.append(document.problem(location, message + ", not starting with a digit"))
        elif native and not _substituted_at(location):
            problems.append(document.problem(location, f"${{NAME}} references are substituted only in {SUBSTITUTED}"))
    return problems


def _substituted_at(location: Location) -> bool:
    """Whether ``${NAME}`` references at a location are substituted: in component config and staging_root."""
    if location[:2] == ("workflow", "staging_root"):
        return True
    if location[:1] == ("processors",):
        return location[2:3] == ("config",)
    return location[:1] in (("source",), ("sink",), ("stage",), ("bulk_sink",)) and location[1:2] == ("config",)


def _values(value: Any, location: Location) -> list[tuple[Location, Any]]:
    """Every value in a value that is neither a mapping nor a list (strings, numbers...), with its location."""
    if isinstance(value, dict):
        return [found for key, item in value.items() for found in _values(item, (*location, key))]
    if isinstance(value, list):
        return [found for index, item in enumerate(value) for found in _values(item, (*location, index))]
    return [(location, value)]


def _file_name_problems(document: Document) -> list[Problem]:
    """Without ``airflow.dag_id``, the file name is the dag id: it must be a valid one."""
    stem = Path(document.path).stem
    try:
        check_name(stem, "dag id")
    except ValueError as error:
        return [document.problem(("airflow", "dag_id"), f"no dag_id, and the file name is not one: {error}")]
    return []


def _valid_components(data: dict[str, Any]) -> list[tuple[str, Location, ComponentSpec]]:
    """The components of a file that is not valid as a whole which are valid on their own (role, location, spec)."""
    found: list[tuple[str, Location, Any]] = [("source", ("source",), data.get("source"))]
    processors = data.get("processors")
    if isinstance(processors, list):
        found += [("processor", ("processors", i), item) for i, item in enumerate(processors)]
    found += [(role, (role,), data.get(role)) for role in ("sink", "stage", "bulk_sink")]
    valid = []
    for role, where, raw in found:
        if not isinstance(raw, dict):
            continue
        try:
            valid.append((role, where, ComponentSpec.model_validate(raw)))
        except ValidationError:
            continue  # already reported against the whole file
    return valid


def _component_config(
    document: Document, role: str, where: Location, spec: ComponentSpec, templated: bool = False
) -> BaseModel:
    """A component's settings validated by its config class, ``${NAME}`` resolved; :class:`WorkflowFileError` if
    the type is unknown or the settings are not valid. ``templated``: settings whose value is a Jinja template
    are validated when a task has rendered them; those the task renders are left to their defaults here."""
    from airflow_provider_ingest.registry import UnknownComponentError, resolve

    try:
        component = resolve(role, spec.type)
    except UnknownComponentError as error:
        raise WorkflowFileError([document.problem((*where, "type"), str(error))]) from None
    config = spec.config
    if templated and (problems := _unrenderable(document, (*where, "config"), config)):
        raise WorkflowFileError(problems)
    if document.may_hold("${"):
        from airflow_provider_ingest.workflow.env import substitute

        config = substitute(config, strict=False)
    try:
        return component.config_class.model_validate(config)
    except ValidationError as error:
        rendered_later = {key for key, value in config.items() if isinstance(value, str) and "{{" in value}
        if templated and rendered_later:
            with contextlib.suppress(ValidationError):
                return component.config_class.model_validate(
                    {key: value for key, value in config.items() if key not in rendered_later}
                )
        problems = _problems(document, error, component.config_class, (*where, "config"))
        templates = {dotted((*where, "config", key)) for key in rendered_later}
        raise WorkflowFileError(
            [
                replace(problem, message=f"{problem.message} (a Jinja template: only an Airflow task renders it)")
                if problem.field in templates
                else problem
                for problem in problems
            ]
        ) from None


_JINJA_MARKS = ("{{", "{%", "{#")


def _unrenderable(document: Document, where: Location, value: object) -> list[Problem]:
    """Texts in a component's settings (or the staging root) that an Airflow task cannot render as Jinja templates (it
    renders every one): ``{#`` opens a comment, ``{%`` a statement; each failed every run of its task."""
    problems = []
    for location, text in _values(value, where):
        if not isinstance(text, str) or not any(mark in text for mark in _JINJA_MARKS):
            continue
        from jinja2 import Environment, TemplateSyntaxError  # installed with Airflow

        try:
            Environment().parse(text)
        except TemplateSyntaxError as error:
            message = (
                f"an Airflow task renders this text as a Jinja template, and it is none: {error.message}"
                " (write a literal {#, {{ or {% as {{ '{#' }}, or put the text between {% raw %} and {% endraw %})"
            )
            problems.append(document.problem(location, message))
    return problems


def _problems(document: Document, error: ValidationError, model: type[BaseModel], prefix: Location) -> list[Problem]:
    problems: dict[Location, Problem] = {}
    for item in error.errors(include_url=False):
        location = (*prefix, *item["loc"])
        if item["type"] == "invalid_key":  # pydantic names the key by its repr: place it by the key YAML built
            location = (*prefix, *item["loc"][:-1], item["input"])
        if item["type"] != "missing":  # a missing field keeps its whole path, placed at its nearest parent
            location = _in_document(document, location, keep_last=item["type"] == "extra_forbidden")
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "invalid_key":
            key = item["input"]
            message = f"a key is text, and YAML reads this one as {type(key).__name__} {key!r}: put it in quotes"
        elif item["type"] == "extra_forbidden":
            message = _unknown_field(model, tuple(item["loc"]))
        elif item["type"] == "missing":
            message = "field required"
        problems.setdefault(location, document.problem(location, message))
    return list(problems.values())


def _holds(value: object, part: str | int) -> bool:
    if isinstance(value, dict):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and part < len(value)


def _in_document(document: Document, location: Location, *, keep_last: bool) -> Location:
    """Trim what pydantic adds to a location (union member names) to the part present in the file."""
    end = len(location) - 1 if keep_last else len(location)
    value = document.data
    for depth, part in enumerate(location[:end]):
        if not _holds(value, part):
            return location[:depth]
        value = value[part]
    return location


def _unknown_field(model: type[BaseModel], location: Location) -> str:
    import difflib

    name = str(location[-1])
    known = _fields_at(model, location[:-1])
    message = f"unknown field {name!r}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; known fields: {', '.join(known)}" if known else message


def _fields_at(model: type[BaseModel], location: Location) -> list[str]:
    """Field names of the model found by walking ``location`` down from ``model``."""
    current: Any = model
    for part in location:
        current = _model_in(current, part)
        if current is None:
            return []
    current = _model_in(current, None)
    return sorted(current.model_fields) if current else []


def _model_in(annotation: Any, part: str | int | None) -> Any:
    """The model a location part leads to from an annotation (through Optional, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if part is None:
            return annotation
        field = annotation.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            found = _model_in(arg, part)
            if found is not None:
                return found
        return None
    if origin in (list, dict) and args:
        return args[-1] if part is not None else None
    return None


def _may_hold_secrets(document: Document) -> bool:
    """Whether a file may hold a secret inline: not when its text, as written, has no secret's name in it and no
    ``@`` after a ``://`` (a URL's password)."""
    if not document.literal:
        return True
    text = document.text.lower()
    return any(word in text for word in SECRET_WORDS) or -1 < text.find("://") < text.rfind("@")


def _inline_secrets(document: Document, data: Any) -> list[Problem]:
    """Secrets belong in ``${ENV}`` references or Airflow connections, never in the file.

    Refused: any value under a secret-named key (at any depth) that is not wholly one ``${VAR}``, and in
    any URL (a whole value, or one in a longer text such as a description) or connection string a password or
    secret parameter that is not wholly one ``${VAR}``.
    """
    from airflow_provider_ingest.secrets import secret_spans
    from airflow_provider_ingest.workflow.env import REFERENCE, is_secret_location

    problems = []
    for location, value in _values(data, ()):
        if is_secret_location(location):
            inline = isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""
            if inline and not (isinstance(value, str) and REFERENCE.fullmatch(value)):
                message = "secrets cannot be inline: use ${ENV_VAR} or an Airflow conn_id"
                problems.append(document.problem(location, message))
            continue
        if not isinstance(value, str):
            continue
        spans = secret_spans(value)
        inline = [span for span in spans if not REFERENCE.fullmatch(value[span.start : span.end])]
        if not inline:
            if location == ("workflow", "staging_root") and spans:  # staging URIs travel in XCom and messages
                message = f"{location[-1]} names an Airflow connection (s3://conn_id@bucket), never a secret"
                problems.append(document.problem(location, message))
            continue
        names = sorted({_secret_name(span) for span in inline})
        where = "a URL" if inline[0].in_url else "a connection string"
        instead = "use ${ENV_VAR} or an Airflow conn_id" if _substituted_at(location) else SHOWN_AS_WRITTEN
        problems.append(document.problem(location, f"{where} cannot carry {' or '.join(names)} inline: {instead}"))
    for location, key in _keys(data, ()):
        if secret_spans(key):  # a key is never substituted: shown in the DAG's params, docs and records as written
            message = "a key here is a URL or connection string carrying a secret: a key is shown as written"
            problems.append(document.problem(location, message))
    return problems


def _keys(value: Any, location: Location) -> list[tuple[Location, str]]:
    """Every text key of the mappings in a value, with the location of its mapping (a key is not to be shown)."""
    if isinstance(value, dict):
        found = [(location, key) for key in value if isinstance(key, str)]
        return found + [item for key, child in value.items() for item in _keys(child, (*location, key))]
    if isinstance(value, list):
        return [item for index, child in enumerate(value) for item in _keys(child, (*location, index))]
    return []


def _secret_name(span: Span) -> str:
    from airflow_provider_ingest.secrets import USERINFO

    if span.name == USERINFO:
        return "its password"
    return f"the secret parameter {span.name!r}" if span.in_url else repr(span.name)
