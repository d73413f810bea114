"""``${NAME}`` references to environment variables, resolved when a component is created.

A value resolved where a secret goes (a secret-named key, a URL's password) is added to the caller's
``secrets`` set (a run keeps it in its context), so that messages can be scrubbed of it; in a URL's
password it is percent-encoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.secrets import SECRET_KEY, URL_PASSWORD

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariableError(ConfigurationError, KeyError):
    """A referenced environment variable is not set."""

    def __init__(self, name: str, location: tuple[str | int, ...]) -> None:
        self.name = name
        self.location = location
        super().__init__(name)

    def __str__(self) -> str:
        return f"environment variable {self.name} is not set"


def substitute(
    value: Any,
    environ: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
    location: tuple = (),
    secrets: set[str] | None = None,
) -> Any:
    """Replace ``${NAME}`` in every string of ``value``; unset names raise, or stay when not strict.

    Values resolved where a secret goes are added to ``secrets`` (as written and as put in a URL).
    """
    env = os.environ if environ is None else environ
    found = set() if secrets is None else secrets
    if isinstance(value, str):
        return _substitute_text(value, env, strict, location, found) if "${" in value else value
    if isinstance(value, dict):
        return {
            key: substitute(item, env, strict=strict, location=(*location, key), secrets=found)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            substitute(item, env, strict=strict, location=(*location, i), secrets=found) for i, item in enumerate(value)
        ]
    return value


def secret_values(config: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the variables that a config uses as secrets (secret-named keys, URL passwords), as written."""
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
            start, end, in_url = _secret_span(value, key)
            for name in REFERENCE.findall(value[start:end]):
                if env.get(name):
                    found.extend(_forms(env[name], in_url))

    visit(config)
    return found


def _substitute_text(text: str, env: Mapping[str, str], strict: bool, location: tuple, secrets: set[str]) -> str:
    key = next((str(part) for part in reversed(location) if isinstance(part, str)), "")
    start, end, in_url = _secret_span(text, key)

    def replace(match: re.Match[str], secret: bool = False) -> str:
        name = match.group(1)
        if name not in env:
            if strict:
                raise MissingVariableError(name, location)
            return match.group(0)
        value = env[name]
        if not secret:
            return value
        if value:
            secrets.update(_forms(value, in_url))
        return quote(value, safe="") if in_url else value

    return (
        REFERENCE.sub(replace, text[:start])
        + REFERENCE.sub(lambda match: replace(match, secret=True), text[start:end])
        + REFERENCE.sub(replace, text[end:])
    )


def _secret_span(text: str, key: str) -> tuple[int, int, bool]:
    """Where a config string under ``key`` is secret (all of it, a URL's password, or nowhere), and if in a URL."""
    if SECRET_KEY.search(key):
        return 0, len(text), False
    match = URL_PASSWORD.match(text)
    return (*match.span(1), True) if match else (0, 0, False)


def _forms(value: str, in_url: bool) -> list[str]:
    """A secret as written, and percent-encoded when it goes into a URL."""
    encoded = quote(value, safe="")
    return [value, encoded] if in_url and encoded != value else [value]
