"""``${NAME}`` references to environment variables, resolved when a component is created.

A value resolved where a secret goes (under a secret-named key; a URL's password or secret parameter;
a connection string's password) is added to the caller's ``secrets`` set (a run keeps it in its
context), so that messages can be scrubbed of it; put into a URL, it is percent-encoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.secrets import REFERENCE, SECRET_KEY, secret_forms, secret_spans


class MissingVariableError(ConfigurationError, KeyError):
    """A referenced environment variable is not set."""

    def __init__(self, name: str, location: tuple[str | int, ...]) -> None:
        self.name = name
        self.location = location
        super().__init__(name)

    def __str__(self) -> str:
        return f"environment variable {self.name} is not set"

    def __reduce__(self) -> tuple[type, tuple[str, tuple[str | int, ...]]]:
        """Pickled as its name and location (as a ``--workers`` part sends it to the parent)."""
        return (type(self), (self.name, self.location))

    @property
    def reference(self) -> str:
        """The reference as written in the file."""
        return f"${{{self.name}}}"


def substitute(
    value: Any,
    environ: Mapping[str, str] | None = None,
    *,
    strict: bool = True,
    location: tuple = (),
    secrets: set[str] | None = None,
) -> Any:
    """Replace ``${NAME}`` in every string of ``value``; unset names raise, or stay when not strict.

    Every secret of ``value``, resolved or written as is, is added to ``secrets`` in every form it may be
    shown in (:func:`~airflow_provider_ingest.secrets.secret_forms`): the whole value under a secret-named
    key (at any depth), and in a URL or connection string its password and secret parameters, which
    are percent-encoded when a variable puts them into a URL.
    """
    env = os.environ if environ is None else environ
    found = set() if secrets is None else secrets
    if isinstance(value, str):
        return _substitute_text(value, env, strict, location, found)
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


def secret_values(config: Any, environ: Mapping[str, str] | None = None) -> set[str]:
    """The secrets that :func:`substitute` resolves in ``config`` (unset variables left alone), to hand to a masker."""
    found: set[str] = set()
    substitute(config, environ, strict=False, secrets=found)
    return found


def is_secret_location(location: tuple) -> bool:
    """Whether a setting sits under a secret-named key (``password``, ``api_key``, ``jwtToken``...), at any depth."""
    return any(isinstance(part, str) and SECRET_KEY.search(part) for part in location)


def _substitute_text(text: str, env: Mapping[str, str], strict: bool, location: tuple, secrets: set[str]) -> str:
    def resolve(match: re.Match[str], secret: bool = False, in_url: bool = False) -> str:
        name = match.group(1)
        if name not in env:
            if strict:
                raise MissingVariableError(name, location)
            return match.group(0)
        if secret:
            _collect(env[name], secrets)
        return quote(env[name], safe="") if in_url else env[name]

    if is_secret_location(location):
        result = REFERENCE.sub(lambda match: resolve(match, secret=True), text) if "${" in text else text
        _collect(result, secrets)
        return result
    if "${" not in text and "=" not in text and "@" not in text:
        return text
    parts: list[str] = []
    position = 0
    for span in secret_spans(text):
        if span.start < position:  # two readings of an ambiguous URL overlap: the first one decides
            continue
        inside = text[span.start : span.end]
        parts += [
            REFERENCE.sub(resolve, text[position : span.start]),
            REFERENCE.sub(lambda match, in_url=span.in_url: resolve(match, secret=True, in_url=in_url), inside),
        ]
        position = span.end
    parts.append(REFERENCE.sub(resolve, text[position:]))
    result = "".join(parts)
    for span in secret_spans(result):  # also a whole URL from one variable: its password and secret parameters
        value = result[span.start : span.end]
        _collect(unquote(value) if span.in_url else value, secrets)
    return result


def _collect(secret: str, secrets: set[str]) -> None:
    if secret.strip():
        secrets |= secret_forms(secret)
