"""``${NAME}`` references to environment variables, resolved when a component is created."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariableError(KeyError):
    """A referenced environment variable is not set."""

    def __init__(self, name: str, location: tuple[str | int, ...]) -> None:
        self.name = name
        self.location = location
        super().__init__(name)

    def __str__(self) -> str:
        return f"environment variable {self.name} is not set"


def substitute(
    value: Any, environ: Mapping[str, str] | None = None, *, strict: bool = True, location: tuple = ()
) -> Any:
    """Replace ``${NAME}`` in every string of ``value``; unset names raise, or stay when not strict."""
    env = os.environ if environ is None else environ
    if isinstance(value, str):
        if "${" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in env:
                return env[name]
            if strict:
                raise MissingVariableError(name, location)
            return match.group(0)

        return REFERENCE.sub(replace, value)
    if isinstance(value, dict):
        return {
            key: substitute(item, env, strict=strict, location=(*location, key))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [substitute(item, env, strict=strict, location=(*location, i)) for i, item in enumerate(value)]
    return value


def secret_names(value: Any) -> set[str]:
    """Names of the environment variables a value refers to."""
    if isinstance(value, str):
        return set(REFERENCE.findall(value))
    if isinstance(value, dict):
        return set().union(*(secret_names(item) for item in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(secret_names(item) for item in value)) if value else set()
    return set()
