"""Include/exclude name patterns, shared by the SQL source's filters and the ``filter`` processor.

Each pattern is a regular expression matched against the *whole* name (``re.fullmatch``): ``sales``
matches ``sales`` but not ``sales_eu``; write ``sales.*`` for both. A name is kept when it matches
some include pattern (or there are none) and no exclude pattern.
"""

from __future__ import annotations

import re
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, field_validator


class NamePatterns(BaseModel):
    """Whole-name regular expressions: ``include`` (empty: everything) minus ``exclude``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: list[str] = Field(default_factory=list, description="keep names matching one of these")
    exclude: list[str] = Field(default_factory=list, description="drop names matching one of these")
    ignore_case: bool = False

    @field_validator("include", "exclude")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
        return patterns

    @cached_property
    def _compiled(self) -> tuple[re.Pattern[str] | None, re.Pattern[str] | None]:
        flags = re.IGNORECASE if self.ignore_case else 0

        def combine(patterns: list[str]) -> re.Pattern[str] | None:
            return re.compile("|".join(f"(?:{p})" for p in patterns), flags) if patterns else None

        return combine(self.include), combine(self.exclude)

    def matches(self, name: str) -> bool:
        """Whether ``name`` is kept by these patterns."""
        include, exclude = self._compiled
        if include is not None and include.fullmatch(name) is None:
            return False
        return exclude is None or exclude.fullmatch(name) is None
