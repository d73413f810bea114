"""A YAML (or JSON) document read with the line and column of every key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from airflow_provider_ingest.errors import ConfigurationError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Location = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One error in a file, with where it is and which field it is about."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class WorkflowFileError(ConfigurationError):
    """A workflow file with one or more problems, all reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def dotted(location: Location) -> str:
    """``("processors", 0, "config")`` as ``processors.0.config``."""
    return ".".join(str(part) for part in location)


@dataclass
class Document:
    """Decoded data plus the position of each key, by location."""

    path: str
    data: Any
    positions: dict[Location, tuple[int, int]] = field(default_factory=dict)

    def where(self, location: Location) -> tuple[int, int]:
        """Line and column of a location, or of its nearest ancestor present in the file."""
        for end in range(len(location), -1, -1):
            found = self.positions.get(tuple(location[:end]))
            if found:
                return found
        return (1, 1)

    def problem(self, location: Location, message: str) -> Problem:
        """A problem at a location of this document."""
        line, column = self.where(location)
        return Problem(self.path, line, column, dotted(location), message)


def read_document(path: str | Path, text: str | None = None) -> Document:
    """Parse a YAML or JSON file, keeping positions; YAML errors raise :class:`WorkflowFileError`."""
    name = str(path)
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(part for part in (error.context, error.problem) if part)
        raise WorkflowFileError([Problem(name, line, column, "", f"invalid YAML: {message}")]) from None
    except yaml.YAMLError as error:
        raise WorkflowFileError([Problem(name, 1, 1, "", f"invalid YAML: {error}")]) from None
    document = Document(name, None)
    if root is None:
        return document
    problems: list[Problem] = []
    document.data = _build(root, (), document.positions, problems, name)
    if problems:
        raise WorkflowFileError(problems)
    return document


_constructor = yaml.constructor.SafeConstructor()


def _build(node: yaml.Node, location: Location, positions: dict, problems: list[Problem], name: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        _constructor.flatten_mapping(node)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _constructor.construct_object(key_node, deep=True)
            here = (*location, key)
            position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                problems.append(Problem(name, *position, dotted(here), "duplicate key"))
                continue
            positions[here] = position
            result[key] = _build(value_node, here, positions, problems, name)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            here = (*location, index)
            positions[here] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_build(item, here, positions, problems, name))
        return items
    return _constructor.construct_object(node, deep=True)
