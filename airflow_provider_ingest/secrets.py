"""What counts as a secret in a setting, and how messages are kept free of secrets.

Secrets are settings under a secret-named key and the password of a URL. A run collects every secret
value it resolves in its :class:`~airflow_provider_ingest.api.RunContext` (``context.secrets``), and
messages pass through :func:`scrub` before they reach a log, a report or a dead letter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|private_?key|access_?key|credentials?)$", re.I)
"""A config key whose value is a secret."""

URL_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:([^@/\s]+)@")
"""A URL with ``user:password@``; group 1 is the password."""

MASK = "***"


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """``message`` with every one of ``secrets`` (longest first) replaced by ``***``."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        message = message.replace(secret, MASK)
    return message
