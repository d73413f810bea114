"""Include/exclude name patterns, shared by the SQL source's filters and the ``filter`` processor.

Each pattern is a regular expression matched against the *whole* name: ``sales`` matches ``sales``
but not ``sales_eu``; write ``sales.*`` for both. A name is kept when it matches some include pattern
(or there are none) and no exclude pattern. Patterns are matched by RE2, in time linear in the name
whatever the pattern, so a pattern from a workflow file cannot hang a run; RE2 has no backreferences
(``\\1``) and no lookaround (``(?=``, ``(?!``, ``(?<=``, ``(?<!``).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import re2
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_UNSUPPORTED = (
    ("(?=", "lookahead (?=...)"),
    ("(?!", "negative lookahead (?!...)"),
    ("(?<=", "lookbehind (?<=...)"),
    ("(?<!", "negative lookbehind (?<!...)"),
)
_BACKREFERENCE = re.compile(r"invalid escape sequence: \\([1-9]|g)")


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message names the construct."""


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> Any:
    """A whole-name RE2 pattern (use ``.fullmatch``); raise :class:`PatternError` saying what is wrong."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = not ignore_case
    try:
        return re2.compile(pattern, options)
    except (re2.error, UnicodeError) as error:
        raise PatternError(f"invalid regular expression {pattern!r}: {_explain(error)}") from None


def _explain(error: Exception) -> str:
    if isinstance(error, UnicodeError):  # a lone surrogate (from a JSON "\\ud800" escape) has no UTF-8 form
        return "it holds a character that is not valid Unicode text (a lone surrogate)"
    reason = error.args[0] if error.args else error
    reason = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    for operator, construct in _UNSUPPORTED:
        if reason.endswith(f"invalid perl operator: {operator}"):
            return f"{construct} is not supported (patterns are matched by RE2, in linear time)"
    if _BACKREFERENCE.search(reason):
        return "backreferences (\\1) are not supported (patterns are matched by RE2, in linear time)"
    return reason


class NamePatterns(BaseModel):
    """Whole-name regular expressions: ``include`` (empty: everything) minus ``exclude``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[str] = Field(default_factory=list, description="keep names matching one of these")
    exclude: list[str] = Field(default_factory=list, description="drop names matching one of these")
    ignore_case: bool = False

    @field_validator("include", "exclude")
    @classmethod
    def _each_compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            compile_pattern(pattern)
        return patterns

    @model_validator(mode="after")
    def _combined_compile(self) -> NamePatterns:
        """The alternations matched at run time must compile too (RE2 bounds a program's size)."""
        _ = self._compiled
        return self

    @cached_property
    def _compiled(self) -> tuple[Any, Any]:
        def combine(patterns: list[str]) -> Any:
            if not patterns:
                return None
            return compile_pattern("|".join(f"(?:{p})" for p in patterns), ignore_case=self.ignore_case)

        return combine(self.include), combine(self.exclude)

    def matches(self, name: str) -> bool:
        """Whether ``name`` is kept by these patterns."""
        include, exclude = self._compiled
        if include is not None and include.fullmatch(name) is None:
            return False
        return exclude is None or exclude.fullmatch(name) is None

    def described(self, name: str) -> str:
        """The setting ``name`` as a warning names it (``fqn include ['sales.*'] ignoring case``); empty when it keeps
        everything."""
        sides = (("include", self.include), ("exclude", self.exclude))
        shown = ", ".join(f"{side} {values}" for side, values in sides if values)
        return f"{name} {shown}{' ignoring case' * self.ignore_case}" if shown else ""


class PatternSet:
    """Which of several :class:`NamePatterns` keep a name, found in one RE2 pass however many there are."""

    def __init__(self, members: list[NamePatterns], *, ignore_case: bool = False) -> None:
        self._everything = frozenset(index for index, member in enumerate(members) if not member.include)
        self._include = _FullMatchSet([member.include for member in members], ignore_case)
        self._exclude = _FullMatchSet([member.exclude for member in members], ignore_case)

    def matching(self, name: str) -> list[int]:
        """Indexes of the members that keep ``name``, in order."""
        kept = self._everything | self._include.owners(name)
        if not kept:
            return []
        return sorted(kept - self._exclude.owners(name))

    def matching_any(self, names: tuple[str, ...]) -> list[int]:
        """Indexes of the members that keep one of ``names`` (spellings of one name) and exclude none, in order."""
        kept = self._everything.union(*(self._include.owners(name) for name in names))
        if not kept:
            return []
        return sorted(kept.difference(*(self._exclude.owners(name) for name in names)))


class _FullMatchSet:
    """Whole-name patterns, each owned by a member; ``owners`` tells whose patterns a name matches."""

    def __init__(self, patterns: list[list[str]], ignore_case: bool) -> None:
        self._owner: list[int] = []
        self._set: Any = None
        options = re2.Options()
        options.log_errors = False
        options.case_sensitive = not ignore_case
        for owner, owned in enumerate(patterns):
            for pattern in owned:
                if self._set is None:
                    self._set = re2.Set.FullMatchSet(options)
                self._set.Add(pattern)
                self._owner.append(owner)
        if self._set is not None:
            self._set.Compile()

    def owners(self, name: str) -> frozenset[int]:
        if self._set is None:
            return frozenset()
        return frozenset(self._owner[index] for index in self._set.Match(name) or ())
