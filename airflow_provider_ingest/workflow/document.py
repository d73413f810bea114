"""A YAML (or JSON) document read with the line and column of every key.

Only plain data is read: mappings with scalar keys, lists, and the scalars of YAML's core schema
(strings, numbers, booleans, null, dates). Anything else (other tags, several documents, bytes that
are not UTF-8) is a :class:`Problem` with its position. A file is at most :data:`MAX_FILE_BYTES`
long, and at most :data:`MAX_NODES` values are built from it (aliases count each time they are used),
nested at most :data:`MAX_DEPTH` deep: a small file cannot expand into a huge one.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from airflow_provider_ingest.errors import ConfigurationError

try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]

_BYTE_POSITIONS = _SafeLoader is not yaml.SafeLoader
"""libyaml reports a reader error's position in bytes of UTF-8, PyYAML's own reader in characters."""


class _Loader(_SafeLoader):
    """PyYAML's safe loader (on libyaml's parser when PyYAML has it) without path resolvers, remembering the tag
    of each short plain value: a dags folder writes the same keys and values in every file."""

    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}  # its own: none, whatever is added to PyYAML's loaders
    _plain_tags: ClassVar[dict[str, str]] = {}
    """Tags of plain values of at most 64 characters, at most 4096 of them."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        """Nothing to follow: no path resolvers."""

    def ascend_resolver(self) -> None:
        """Nothing to follow: no path resolvers."""

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: tuple[bool, bool]) -> str:
        """The tag PyYAML's resolver gives an untagged node when it has no path resolvers."""
        if kind is not yaml.ScalarNode:
            return self.DEFAULT_MAPPING_TAG if kind is yaml.MappingNode else self.DEFAULT_SEQUENCE_TAG
        if not implicit[0]:  # quoted, or tagged "!"
            return self.DEFAULT_SCALAR_TAG
        tag = self._plain_tags.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(value) <= 64 and len(self._plain_tags) < 4096:
                self._plain_tags[value] = tag
        return tag


MAX_FILE_BYTES = 1024 * 1024
"""Largest workflow file read, in bytes."""

MAX_NODES = 100_000
"""Most values (mappings, lists, keys and scalars, aliases counted each time used) built from one file."""

MAX_DEPTH = 100
"""Deepest nesting of mappings and lists."""

Location = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {f"{_TAG}{name}" for name in ("null", "bool", "int", "float", "str", "timestamp")}
_MAP, _SEQ, _STR, _MERGE = (f"{_TAG}{name}" for name in ("map", "seq", "str", "merge"))


@dataclass(frozen=True)
class Problem:
    """One error in a file, with where it is and which field it is about."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        """``file:line:column: field: message``, any URL's password or secret parameter in the field or message hidden
        (a key may be one: ``unknown field 'postgresql://app:***@db'``)."""
        from airflow_provider_ingest.secrets import redact_text

        where = f"{self.file}:{self.line}:{self.column}"
        told = redact_text(f"{self.field}: {self.message}" if self.field else self.message)
        return f"{where}: {told}"


class WorkflowFileError(ConfigurationError):
    """A workflow file with one or more problems, all reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))

    def __reduce__(self) -> tuple[type, tuple[list[Problem]]]:
        """Pickled as its problems (as a ``--workers`` part sends it to the parent), not as its text."""
        return (type(self), (self.problems,))


def dotted(location: Location) -> str:
    """``("processors", 0, "config")`` as ``processors.0.config``."""
    return ".".join(str(part) for part in location)


@dataclass
class Document:
    """Decoded data, the text it was read from, and where each key and value is written in that text."""

    path: str
    data: Any
    text: str = ""
    literal: bool = False
    """Every key and string of ``data`` is in ``text`` as is (ASCII text without a backslash, so no escape), so a
    search of the text finds whatever they hold."""
    parsed: bool = False
    """``data`` was read from ``text``: where each key and value is written is found in it again when a problem
    is reported (a file without problems is never looked at twice)."""

    @property
    def positions(self) -> dict[Location, tuple[int, int]]:
        """Line and column of each key and list item, by location."""
        return self._located[0]

    @property
    def spans(self) -> dict[Location, tuple[int, int]]:
        """The characters of ``text`` each scalar value is written with: first and past-last index, by location."""
        return self._located[1]

    @functools.cached_property
    def _located(self) -> tuple[dict[Location, tuple[int, int]], dict[Location, tuple[int, int]]]:
        builder = _Builder(self.path)
        root = yaml.compose(self.text, Loader=_Loader) if self.parsed else None
        if root is not None:
            with contextlib.suppress(_LimitReached):  # read_document has refused such a document
                builder.build(root, (), 0)
        return builder.positions, builder.spans

    def may_hold(self, written: str) -> bool:
        """Whether a key or string of ``data`` may hold ``written``: not if the file, as written, does not."""
        return not self.literal or written in self.text

    def where(self, location: Location) -> tuple[int, int]:
        """Line and column of a location, or of its nearest ancestor present in the file."""
        for end in range(len(location), -1, -1):
            found = self.positions.get(tuple(location[:end]))
            if found:
                return found
        return (1, 1)

    def find(self, location: Location, written: str) -> tuple[int, int] | None:
        """Line and column of ``written`` (e.g. ``${NAME}``) in the value at ``location`` or under it, first in
        the file; None when no such value holds it as written."""
        found = [
            index
            for where, (start, end) in self.spans.items()
            if where[: len(location)] == location and (index := self.text.find(written, start, end)) >= 0
        ]
        if not found:
            return None
        index = min(found)
        line_start = self.text.rfind("\n", 0, index) + 1
        return (self.text.count("\n", 0, index) + 1, index - line_start + 1)

    def problem(self, location: Location, message: str, *, at: str | None = None) -> Problem:
        """A problem at a location of this document; with ``at``, where that text stands in the value, if it does."""
        line, column = (self.find(location, at) if at else None) or self.where(location)
        return Problem(self.path, line, column, dotted(location), message)


def read_document(path: str | Path, text: str | None = None) -> Document:
    """Parse a YAML or JSON file, keeping where things are written; any problem raises :class:`WorkflowFileError`."""
    name = str(path)
    content = _read_bytes(path) if text is None else text.encode("utf-8", "surrogatepass")
    if len(content) > MAX_FILE_BYTES:
        raise WorkflowFileError([Problem(name, 1, 1, "", f"file too large: over {MAX_FILE_BYTES:,} bytes")])
    decoded = _decode(name, content)
    try:
        root = yaml.compose(decoded, Loader=_Loader)
    except yaml.YAMLError as error:
        raise WorkflowFileError([_yaml_problem(name, decoded, error)]) from None
    except RecursionError:
        raise WorkflowFileError([Problem(name, 1, 1, "", f"nested deeper than {MAX_DEPTH} levels")]) from None
    literal = decoded.isascii() and "\\" not in decoded
    data = None if root is None else _data(name, decoded, root)
    return Document(name, data, text=decoded, literal=literal, parsed=True)


def _data(name: str, text: str, root: yaml.Node) -> Any:
    """The data of a document's nodes, at most :data:`MAX_NODES` values; its problems raise
    :class:`WorkflowFileError`. A document with nothing to report is built once, plainly; any other is built
    again, in detail, for its problems."""
    anchored = "&" in text  # only an anchor lets an alias use a value again: without one, the nodes are a tree
    if anchored and _expanded_size(root) > MAX_NODES:
        raise WorkflowFileError([_too_many_values(name, root)])
    plain = _PlainBuilder()
    try:
        data = plain.build(root, 0)
    except _Irregular:
        return _checked_data(name, root, anchored)
    if plain.built > MAX_NODES:  # a tree, counted while built
        raise WorkflowFileError([_too_many_values(name, root)])
    return data


def _checked_data(name: str, root: yaml.Node, anchored: bool) -> Any:
    """:func:`_data` for a document with something to report (or a merge key), built in detail."""
    builder = _Builder(name)
    try:
        data = builder.build(root, (), 0)
    except _LimitReached as limit:
        builder.problems.append(limit.problem)
    if not anchored and (builder.problems or builder.built > MAX_NODES) and _expanded_size(root) > MAX_NODES:
        raise WorkflowFileError([_too_many_values(name, root)])  # a tree built whole counted its values while built
    if builder.problems:
        raise WorkflowFileError(builder.problems)
    return data


def _read_bytes(path: str | Path) -> bytes:
    """The file's bytes, reading at most one byte past the size limit.

    Read without a file object (whose buffer, terminal and position checks cost a dags folder of small files more
    system calls than the reading itself): first as much as the file holds, then on to its end in small reads.
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        left = MAX_FILE_BYTES + 1
        chunks = []
        wanted = min(os.fstat(descriptor).st_size + 1, left)
        while left and (chunk := os.read(descriptor, wanted)):
            chunks.append(chunk)
            left -= len(chunk)
            wanted = min(left, 1 << 16)
    finally:
        os.close(descriptor)
    return b"".join(chunks)


def _decode(name: str, content: bytes) -> str:
    """UTF-8 text without its byte order mark; anything else is a problem at its first bad byte."""
    if content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        before = content[: error.start]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        byte = content[error.start]
        raise WorkflowFileError(
            [Problem(name, line, column, "", f"not UTF-8 text: byte 0x{byte:02x} ({error.reason})")]
        ) from None


def _yaml_problem(name: str, text: str, error: yaml.YAMLError) -> Problem:
    """A parser error as a problem at its mark (or its character position)."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        if isinstance(error, yaml.composer.ComposerError) and "single document" in (error.context or ""):
            return Problem(name, line, column, "", "a workflow file holds one YAML document; found another")
        message = " ".join(part for part in (error.context, error.problem) if part)
        return Problem(name, line, column, "", f"invalid YAML: {message}")
    if isinstance(error, yaml.reader.ReaderError):
        before = (
            text.encode()[: error.position].decode("utf-8", "replace") if _BYTE_POSITIONS else text[: error.position]
        )
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        character = error.character if isinstance(error.character, int) else ord(str(error.character)[:1] or " ")
        return Problem(name, line, column, "", f"invalid YAML: character U+{character:04X} is not allowed")
    return Problem(name, 1, 1, "", f"invalid YAML: {error}")


def _expanded_size(root: yaml.Node) -> int:
    """How many values building ``root`` makes, aliases counted each time used (past the limit: the limit + 1).

    Counted over the node graph, each node once, so a file of aliases of aliases is measured, never expanded.
    """
    sizes: dict[int, int] = {}
    started: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack[-1]
        children = _children(node)
        if id(node) not in started:  # first visit: measure the children first (a recursive alias counts once)
            started.add(id(node))
            stack.extend(child for child in children if id(child) not in started)
            continue
        stack.pop()
        sizes[id(node)] = min(1 + sum(sizes.get(id(child), 1) for child in children), MAX_NODES + 1)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _too_many_values(name: str, root: yaml.Node) -> Problem:
    """The problem of a document too big once expanded, at its biggest top-level key."""
    message = f"more than {MAX_NODES:,} values once aliases are expanded"
    if not isinstance(root, yaml.MappingNode) or not root.value:
        return Problem(name, *_position(root), "", message)
    key, _ = max(root.value, key=lambda pair: _expanded_size(pair[1]))
    field = str(key.value) if isinstance(key, yaml.ScalarNode) else ""
    return Problem(name, *_position(key), field, message)


class _Irregular(Exception):
    """The plain builder stopped: the document has something to report, or a merge key."""


class _PlainBuilder:
    """Builds the data of a document with nothing to report (YAML's core tags, plain keys, none twice, no merge
    key, no NUL character, nested at most :data:`MAX_DEPTH` deep), counting its values; stops with
    :class:`_Irregular` at anything else, left to :class:`_Builder`."""

    def __init__(self) -> None:
        self.built = 0
        """Values built (mappings, lists, keys, scalars)."""
        self.constructor: yaml.constructor.SafeConstructor | None = None

    def build(self, node: yaml.Node, depth: int) -> Any:
        self.built += 1
        if depth > MAX_DEPTH:
            raise _Irregular
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        if node.tag == _MAP and isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                self.built += 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Irregular
                key = self.scalar(key_node)
                if key in result:
                    raise _Irregular
                result[key] = self.build(value_node, depth + 1)
            return result
        if node.tag == _SEQ and isinstance(node, yaml.SequenceNode):
            return [self.build(item, depth + 1) for item in node.value]
        raise _Irregular

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR:
            if "\x00" in node.value:
                raise _Irregular
            return node.value
        if node.tag not in _SCALAR_TAGS:  # a merge key's tag is not
            raise _Irregular
        if self.constructor is None:
            self.constructor = yaml.constructor.SafeConstructor()
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception:  # an invalid value for its tag
            raise _Irregular from None


class _LimitReached(Exception):
    """Building stopped: the document is nested too deep."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class _Builder:
    """Builds plain data from a YAML node graph, recording positions and problems."""

    def __init__(self, name: str) -> None:
        self.constructor = yaml.constructor.SafeConstructor()
        self.name = name
        self.positions: dict[Location, tuple[int, int]] = {}
        self.spans: dict[Location, tuple[int, int]] = {}
        self.problems: list[Problem] = []
        self.built = 0
        """Values built (mappings, lists, keys, scalars): all of a tree's, when it is built without a problem."""

    def problem(self, node: yaml.Node, location: Location, message: str) -> None:
        self.problems.append(Problem(self.name, *_position(node), dotted(location), message))

    def build(self, node: yaml.Node, location: Location, depth: int) -> Any:
        self.built += 1
        if depth > MAX_DEPTH:
            message = f"nested deeper than {MAX_DEPTH} levels"
            raise _LimitReached(Problem(self.name, *_position(node), dotted(location[:2]), message))
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self.problem(node, location, f"unsupported YAML tag {_short(node.tag)}: write a plain mapping")
                return None
            return self.mapping(node, location, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self.problem(node, location, f"unsupported YAML tag {_short(node.tag)}: write a plain list")
                return None
            items = []
            for index, item in enumerate(node.value):
                here = (*location, index)
                self.positions[here] = _position(item)
                items.append(self.build(item, here, depth + 1))
            return items
        self.spans[location] = (node.start_mark.index, node.end_mark.index)
        return self.scalar(node, location)

    def scalar(self, node: yaml.Node, location: Location) -> Any:
        if node.tag == _STR:
            if "\x00" in node.value:  # PostgreSQL refuses it: a tag holding one stopped Airflow's DAG processor
                self.problem(node, location, "a NUL character (\\0) is in the text: no metadata database stores it")
                return None
            return node.value  # what the constructor would make of it, without its bookkeeping
        if node.tag not in _SCALAR_TAGS:
            self.problem(node, location, f"unsupported YAML tag {_short(node.tag)}: write a plain value")
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as error:  # an invalid value for its tag: a bad date, a bad number
            self.problem(node, location, f"invalid {_short(node.tag)} value {node.value!r}: {_reason(node, error)}")
            return None

    def mapping(self, node: yaml.MappingNode, location: Location, depth: int) -> dict[Any, Any]:
        """A mapping; explicit keys override merged ones (``<<``), and earlier merges override later ones. Merges are
        built first, so an explicit key's position is its own, not the merged mapping's key of that name."""
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                self.built += 1
                for key, value in self.merge(value_node, location, depth).items():
                    merged.setdefault(key, value)
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                continue
            self.built += 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, location, "a key must be a plain value, not a list or a mapping")
                continue
            key = self.scalar(key_node, location)
            here = (*location, key)
            if key in result:
                self.problem(key_node, here, "duplicate key")
                continue
            self.positions[here] = _position(key_node)
            result[key] = self.build(value_node, here, depth + 1)
        return {**merged, **result}

    def merge(self, node: yaml.Node, location: Location, depth: int) -> dict[Any, Any]:
        """What a merge key (``<<``) brings: a mapping, or a list of mappings."""
        if isinstance(node, yaml.SequenceNode):
            self.built += 1
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                self.problem(source, location, "a merge key (<<) takes a mapping or a list of mappings")
                continue
            built = self.build(source, location, depth + 1)
            for key, value in (built or {}).items():
                merged.setdefault(key, value)
        return merged


def _position(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _short(tag: str) -> str:
    """``tag:yaml.org,2002:binary`` as written in a file, ``!!binary``."""
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _reason(node: yaml.Node, error: Exception) -> str:
    if isinstance(error, ValueError | OverflowError):
        return str(error)
    if node.tag == f"{_TAG}timestamp":
        return "not a date (YYYY-MM-DD) or a date and time"
    return "not a value of that type"
