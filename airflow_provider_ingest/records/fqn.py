"""Fully qualified names: ``service.database.schema.table``.

A name part containing a dot (or a double quote) is wrapped in double quotes, OpenMetadata's
convention; a double quote inside a quoted part is doubled, as in SQL.
"""

from __future__ import annotations

QUOTE = '"'
SEPARATOR = "."


class FqnError(ValueError):
    """A fully qualified name that cannot be parsed."""


def quote(part: str) -> str:
    """Return one name part as it stands in an FQN."""
    if not part:
        raise FqnError("an FQN part cannot be empty")
    if SEPARATOR in part or QUOTE in part:
        return QUOTE + part.replace(QUOTE, QUOTE * 2) + QUOTE
    return part


def build(*parts: str) -> str:
    """Join name parts into an FQN, quoting the parts that need it."""
    return SEPARATOR.join(quote(part) for part in parts)


def split(fqn: str) -> list[str]:
    """Split an FQN into its unquoted name parts; the inverse of :func:`build`."""
    if QUOTE not in fqn:  # the common case, as fast as str.split; the same parts and errors as the loop below
        parts = fqn.split(SEPARATOR)
        if "" in parts:
            raise FqnError(f"empty name part in FQN {fqn!r}")
        return parts
    return _split_quoted(fqn)


def _split_quoted(fqn: str) -> list[str]:
    """:func:`split` character by character, for FQNs with quoted parts."""
    parts: list[str] = []
    current: list[str] = []
    i, n = 0, len(fqn)
    at_part_start = True
    while i < n:
        char = fqn[i]
        if at_part_start and char == QUOTE:
            i += 1
            while True:
                end = fqn.find(QUOTE, i)
                if end < 0:
                    raise FqnError(f"unterminated quote in FQN {fqn!r}")
                current.append(fqn[i:end])
                if fqn.startswith(QUOTE * 2, end):
                    current.append(QUOTE)
                    i = end + 2
                    continue
                i = end + 1
                break
            if i < n and fqn[i] != SEPARATOR:
                raise FqnError(f"unexpected character after a quoted part in FQN {fqn!r}")
            at_part_start = False
            continue
        if char == SEPARATOR:
            parts.append(_finish(current, fqn))
            current = []
            at_part_start = True
        else:
            current.append(char)
            at_part_start = False
        i += 1
    parts.append(_finish(current, fqn))
    return parts


def _finish(current: list[str], fqn: str) -> str:
    part = "".join(current)
    if not part:
        raise FqnError(f"empty name part in FQN {fqn!r}")
    return part
