"""Text shown on a terminal or as a log line: what a database or a file named cannot break the line or steer the
terminal (escape sequences, line breaks, bidirectional overrides)."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with every character that is not printable (control characters, line and paragraph separators,
    format characters such as bidirectional overrides) written as its Python escape: ``\\n``, ``\\x1b``,
    ``\\u202e``. Printable text, in any script, is returned as it is."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def printable_lines(text: str) -> str:
    r"""Each line of a message that may span lines made :func:`printable`: only ``\n`` (or ``\r\n``) breaks a line."""
    return "\n".join(printable(line) for line in text.replace("\r\n", "\n").split("\n"))


def counted(count: int, noun: str) -> str:
    """``1 attempt``, ``3 attempts``: a count and its noun, plural unless the count is one (``noun`` is singular and
    takes an ``s``)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
