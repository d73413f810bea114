"""What counts as a secret in a setting, and how messages are kept free of secrets.

Secrets are the values of secret-named settings, the password of a URL (``user:password@``), the
values of secret query or fragment parameters (``?password=``, ``#access_token=``...) and the
values of secret keywords in a libpq connection string (``password=...``). A run collects every
secret value it resolves in its :class:`~airflow_provider_ingest.api.RunContext` (``context.secrets``);
messages show a URL only through :func:`redact_url`, and pass through :func:`scrub` before they reach
a log, a report or a dead letter.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import sys
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import quote, quote_plus

SECRET_NAME = (
    r"(?:password|passwd|pwd|passphrase|secret|token|credentials?|authorization|signature|(?<![a-z])sig"
    r"|(?:api|private|access|secret)[_-]?key)"
)
"""The end of a setting's or parameter's name that makes its value a secret (``sslpassword``, ``jwtToken``...)."""

SECRET_KEY = re.compile(rf"{SECRET_NAME}$", re.I)
"""A config key, query parameter or connection-string keyword whose value is a secret."""

MASK = "***"
USERINFO = "user:password@"
"""The name of a URL's own password in :func:`secret_spans` (other spans are named by their parameter or keyword)."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://\S+")
_PARAMETER = re.compile(r"[?&;#]([^=&;#?/\s]+)=")
_NEXT_PARAMETER = re.compile(r"[&;][^=&;#?/\s]+=")
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_DSN = re.compile(rf"\s*(?:[A-Za-z_][\w.-]*\s*=\s*(?:{_QUOTED}|[^\s'\"]*)(?:\s+|$))+")
_DSN_PAIR = re.compile(rf"(?<![\w.-])([A-Za-z_][\w.-]*)\s*=\s*({_QUOTED}|\S*)")
_QUOTED_PAIR = re.compile(rf"(['\"])([\w.-]*{SECRET_NAME})\1\s*:\s*({_QUOTED})", re.I)
_AUTH_HEADER = re.compile(r"(?<![\w-])(Bearer|ApiKey)\s+([^\s'\"]{8,})")
_BASIC_HEADER = re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?basic\s+)[A-Za-z0-9+/=._~-]+")
"""An ``Authorization`` header's ``Basic`` credentials, base64 of ``user:password`` (short ones, and base64url)."""


class Span(NamedTuple):
    """Where a secret is in a URL or connection string: :data:`USERINFO` or a parameter's name; if in a URL."""

    start: int
    end: int
    name: str
    in_url: bool


def secret_spans(text: str) -> list[Span]:
    """The secrets of a URL (``scheme://``) or a libpq connection string, with names; none in other text.

    Ambiguous URLs (a raw ``@``, ``/``, ``#`` or ``?`` in a password) are read so that the secret is
    covered: the password runs from the first ``:`` of the authority to the last ``@``, and a secret
    parameter's value to the next ``&name=`` or the end.
    """
    scheme = _SCHEME.match(text)
    if scheme:
        return _url_spans(text, scheme.end())
    if _DSN.fullmatch(text):
        return _dsn_spans(text)
    return []


def redact_url(url: str) -> str:
    """``url`` as shown in messages: the password, secret parameters' values and secret keywords as ``***``.

    Takes a URL, a ``user:password@host`` without scheme, or a libpq ``key=value`` connection string.
    """
    scheme = _SCHEME.match(url)
    if scheme:
        return _hide(url, _url_spans(url, scheme.end()))
    if _DSN.fullmatch(url):
        return _hide(url, _dsn_spans(url, quotes=True))
    return _hide(url, _url_spans(url, 0))


def redact_text(text: str) -> str:
    """Free text with every URL in it redacted, and every secret ``key=value``, ``'key': 'value'`` and token hidden."""
    parts: list[str] = []
    position = 0
    for match in _URL_IN_TEXT.finditer(text):
        parts += [_redact_pairs(text[position : match.start()]), redact_url(match.group())]
        position = match.end()
    parts.append(_redact_pairs(text[position:]))
    return "".join(parts)


def redact_yaml_comments(text: str) -> str:
    """YAML text with its comments redacted as :func:`redact_text` does, and a secret ``key: value`` in one hidden.

    Values stay as written: a secret outside a comment is a ``${VAR}`` reference (inline ones are refused).
    """
    if "#" not in text:
        return text
    return "\n".join(_redact_comment(line) if "#" in line else line for line in text.split("\n"))


def _redact_comment(line: str) -> str:
    start = _comment_start(line)
    if start is None:
        return line
    comment = _YAML_PAIR.sub(lambda m: f"{m.group(1)}{MASK}", redact_text(line[start:]))
    return line[:start] + comment


def _comment_start(line: str) -> int | None:
    """Where a YAML comment starts: a ``#`` at the line's start or after a blank, outside quotes."""
    quote_char: str | None = None
    for index, char in enumerate(line):
        if quote_char:
            quote_char = None if char == quote_char else quote_char
        elif char in "'\"" and (index == 0 or line[index - 1] in " \t:-[{,"):
            quote_char = char
        elif char == "#" and (index == 0 or line[index - 1] in " \t"):
            return index
    return None


_YAML_PAIR = re.compile(rf"(\b[\w.-]*{SECRET_NAME}[\"']?\s*:\s*)(?!\$\{{)(?!\*\*\*)\S.*", re.I)


@functools.lru_cache(maxsize=4096)
def secret_forms(secret: str) -> frozenset[str]:
    """The ways a secret value can be written into a message: as is, stripped, percent-encoded, escaped; and as a
    URL shows it once written raw in its query, where a ``+`` is read as a space and written again as ``+``."""
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        forms |= {
            value,
            quote(value, safe=""),
            quote(value),
            quote(value, safe=" +"),
            quote_plus(value),
            quote_plus(value.replace("+", " ")),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value)[1:-1],
        }
    return frozenset(form for form in forms if form.strip())


def scrub(message: str, secrets: Iterable[str] = ()) -> str:
    """``message`` with every form of each of ``secrets`` (longest first), and every URL's secrets, as ``***``."""
    forms = {form for secret in secrets if secret for form in secret_forms(secret)}
    for form in sorted(forms, key=len, reverse=True):
        message = message.replace(form, MASK)
    return redact_text(message)


def register_basic(username: str, password: str, run_secrets: set[str] | None = None) -> None:
    """:func:`register` a password, and the ``base64(username:password)`` an ``Authorization: Basic`` header sends
    (a server may echo the header back)."""
    register(password, run_secrets)
    if password:
        register(base64.b64encode(f"{username}:{password}".encode()).decode(), run_secrets)


def register(secret: str, run_secrets: set[str] | None = None) -> None:
    """Keep a secret read at run time out of messages: into ``run_secrets``, and to Airflow's log masker in a task."""
    if not secret or not secret.strip():
        return
    forms = secret_forms(secret)
    if run_secrets is not None:
        run_secrets |= forms
    if "airflow" not in sys.modules:  # not in an Airflow task: no masker to tell, and no Airflow import for it
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    for form in forms:
        mask_secret(form)


def _url_spans(text: str, authority: int) -> list[Span]:
    """The password of ``user:password@`` (authority starting at ``authority``) and secret parameters' values."""
    spans: list[Span] = []
    at = text.rfind("@", authority)
    colon = text.find(":", authority, at)
    if at > 0 and colon >= 0 and colon + 1 < at:
        spans.append(Span(colon + 1, at, USERINFO, True))
    for match in _PARAMETER.finditer(text, authority):
        if SECRET_KEY.search(match.group(1)):
            following = _NEXT_PARAMETER.search(text, match.end())
            end = following.start() if following else len(text)
            if end > match.end():
                spans.append(Span(match.end(), end, match.group(1), True))
    return spans


def _dsn_spans(text: str, quotes: bool = False) -> list[Span]:
    """The values of secret keywords in ``key=value`` pairs (without their quotes, unless ``quotes``)."""
    spans = []
    for match in _DSN_PAIR.finditer(text):
        start, end = match.span(2)
        if match.group(2)[:1] in ("'", '"') and not quotes:
            start, end = start + 1, end - 1
        if SECRET_KEY.search(match.group(1)) and end > start:
            spans.append(Span(start, end, match.group(1), False))
    return spans


def _hide(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span (overlapping ones merged) replaced by ``***``."""
    merged: list[list[int]] = []
    for start, end, _, _ in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[str] = []
    position = 0
    for start, end in merged:  # one pass: slicing the whole text per span was quadratic in the number of spans
        pieces += [text[position:start], MASK]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _redact_pairs(text: str) -> str:
    """``Bearer``/``ApiKey``/``Basic`` credentials, secret ``key=value`` pairs and quoted ``'key': 'value'`` pairs
    hidden; the credentials first, so that ``Authorization=Basic <credentials>`` is not read as a pair whose value
    is the word ``Basic``."""
    text = _AUTH_HEADER.sub(rf"\1 {MASK}", _BASIC_HEADER.sub(rf"\1{MASK}", text))
    quoted = [Span(m.start(3) + 1, m.end(3) - 1, m.group(2), False) for m in _QUOTED_PAIR.finditer(text)]
    return _hide(text, [*_dsn_spans(text, quotes=True), *(span for span in quoted if span.end > span.start)])
