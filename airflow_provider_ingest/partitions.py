"""Partitions of a source's catalog: units (schemas or databases) balanced by relation count into parts.

A part names the units planned for it; the last part is the *rest*: it reads what the source's own filter
keeps minus every unit planned for another part, so a unit that appears after the plan is still read
(once), and every unit is read by exactly one part.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_ingest.errors import InputError
from airflow_provider_ingest.terminal import counted


@dataclass(frozen=True)
class Unit:
    """A schema or database as the source's filter sees it (its name, or its FQN with filter_by_fqn),
    with how many relations it holds."""

    name: str
    relations: int


CARRIED_KINDS = frozenset({"database_service", "database"})
"""Kinds of records every part carries (each part's staged file stands alone, and a sink of each part may need
them first); the merge keeps them once, and no part counts them toward its success rate."""


@dataclass(frozen=True)
class Part:
    """One part of a partitioned run: the units planned for it; the rest part also reads what is new."""

    by: str
    index: int
    count: int
    names: tuple[str, ...]
    relations: int = 0
    """How many relations the plan counted in the part's units."""
    excluded: tuple[str, ...] | None = field(default=None, repr=False)
    """Only for the rest part: the units of the other parts, which it leaves out."""

    @property
    def rest(self) -> bool:
        return self.excluded is not None

    @property
    def label(self) -> str:
        return f"part {self.index + 1}/{self.count}"

    def as_dict(self) -> dict[str, Any]:
        """The part as an XCom value (plain JSON)."""
        data: dict[str, Any] = {
            "by": self.by,
            "index": self.index,
            "count": self.count,
            "names": list(self.names),
            "relations": self.relations,
        }
        if self.excluded is not None:
            data["excluded"] = list(self.excluded)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Part:
        """A part from :meth:`as_dict`; anything else is an :class:`InputError`."""
        try:
            excluded = data.get("excluded")
            part = cls(
                by=str(data["by"]),
                index=int(data["index"]),
                count=int(data["count"]),
                names=tuple(str(name) for name in data["names"]),
                relations=int(data.get("relations", 0)),
                excluded=None if excluded is None else tuple(str(name) for name in excluded),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise InputError(f"not a partition: {type(error).__name__}: {error}") from None
        if not 0 <= part.index < part.count:
            raise InputError(f"not a partition: index {part.index} of {counted(part.count, 'part')}")
        return part


def balance(units: Sequence[Unit], most: int) -> list[list[Unit]]:
    """At most ``most`` groups of the units, balanced by relation count (at least one group, maybe empty).

    Largest unit first onto the lightest group (ties: the one with fewer units, then the first), units of one
    size by name, so the same units always give the same groups, and no group is left empty. The heaviest
    group outweighs the lightest by at most the largest unit.
    """
    if most < 1:
        raise ValueError(f"at most {most} parts: there must be at least one")
    count = max(1, min(most, len(units)))
    groups: list[list[Unit]] = [[] for _ in range(count)]
    lightest = [(0, 0, index) for index in range(count)]
    for unit in sorted(units, key=lambda unit: (-unit.relations, unit.name)):
        load, size, index = heapq.heappop(lightest)
        groups[index].append(unit)
        heapq.heappush(lightest, (load + unit.relations, size + 1, index))
    return groups


def plan(units: Sequence[Unit], by: str, most: int) -> list[Part]:
    """The parts of a run: the balanced groups of the units (names sorted), the last one the rest part."""
    groups = balance(units, most)
    count = len(groups)
    parts = [
        Part(by, index, count, tuple(sorted(unit.name for unit in group)), sum(unit.relations for unit in group))
        for index, group in enumerate(groups)
    ]
    others = tuple(sorted(name for part in parts[:-1] for name in part.names))
    last = parts[-1]
    return [*parts[:-1], Part(by, last.index, count, last.names, last.relations, excluded=others)]
