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
        return {key: substitute(item, env, strict=strict, location=(*location, key)) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, env, strict=strict, location=(*location, i)) for i, item in enumerate(value)]
    return value


def secret_values(config: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the variables that a config uses as secrets (secret-named keys, URL passwords)."""
    from airflow_provider_ingest.workflow.loader import SECRET_KEY, URL_PASSWORD

    env = os.environ if environ is None else environ
    found: list[str] = []

    def visit(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                visit(item, str(name))
        elif isinstance(value, list):
            for item in value:
                visit(item, key)
        elif isinstance(value, str):
            match = URL_PASSWORD.match(value)
            secret_text = value if SECRET_KEY.search(key) else match.group(1) if match else ""
            found.extend(env[name] for name in REFERENCE.findall(secret_text) if env.get(name))

    visit(config)
    return found
