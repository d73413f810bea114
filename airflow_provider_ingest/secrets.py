"""What counts as a secret in a setting, and how messages are kept free of secrets.

Secrets are the values of secret-named settings, the password of a URL (``user:password@``), the
values of secret query or fragment parameters (``?password=``, ``#access_token=``...) and the
values of secret keywords in a libpq connection string (``password=...``). A run collects every
secret value it resolves in its :class:`~airflow_provider_ingest.api.RunContext` (``context.secrets``);
messages show a URL only through :func:`redact_url`, and pass through :func:`scrub` before they reach
a log, a report or a dead letter.

In bare text a known secret is hidden from :func:`min_length` characters on, and one of letters alone (a
word) only where it stands as a word of its own: hidden inside a longer word (``postgres`` in
``postgresql``), or wherever a one-letter password is, the masks would tell the secret. One with a digit
or a sign is hidden wherever it is (``Hunter2Secret`` in a signed path). Where a URL, a connection string
or a secret-named pair holds a secret, it is hidden whatever its length.
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

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""A ``${NAME}`` reference to an environment variable (:mod:`airflow_provider_ingest.workflow.env`)."""

MASK = "***"
MIN_LENGTH = 5
"""The shortest secret :func:`scrub` hides in bare text, outside Airflow (Airflow's masker skips shorter ones too)."""
USERINFO = "user:password@"
"""The name of a URL's own password in :func:`secret_spans` (other spans are named by their parameter or keyword)."""

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_WORD = re.compile(r"\w")
_ESCAPED_BEFORE = (
    r"(?<=%[0-9A-Fa-f]{2})|(?<=\\[abfnrtv0])|(?<=\\x[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4})|(?<=\\U[0-9A-Fa-f]{8})"
)
"""Just after an escape (``%3D``, ``\\n``, ``\\u00e9``): its last letter or digit is no part of the next word."""
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
    """The secrets of a URL (``scheme://``) or a libpq connection string, with names; in other text, those of every
    URL in it (each ending at a blank).

    Ambiguous URLs (a raw ``@``, ``/``, ``#`` or ``?`` in a password) are read so that the secret is
    covered: the password runs from the first ``:`` of the authority to the last ``@``, and a secret
    parameter's value to the next ``&name=`` or the end.
    """
    scheme = _SCHEME.match(text)
    if scheme:
        return _url_spans(text, scheme.end())
    if _DSN.fullmatch(text):
        return _dsn_spans(text)
    return [span for match in _URL_IN_TEXT.finditer(text) for span in _spans_of_url(match)]


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
    return _hide(text, _text_spans(text))


def redact_written(text: str) -> str:
    """Text as a workflow file has it (a description, a tag, the file itself), hidden as by :func:`redact_text`
    but for ``${NAME}`` references, which stay as written: they are no secret, and tell where one comes from."""
    return _hide(text, [span for span in _text_spans(text) if not _is_reference(text[span.start : span.end])])


def redact_workflow_text(text: str) -> str:
    """A workflow file's text as shown (in a DAG's docs): as :func:`redact_written` hides it, and in a comment a
    secret-named ``key: value`` hidden too (outside comments, such a value can only be a ``${NAME}`` reference)."""
    shown = redact_written(text)
    if "#" not in shown:
        return shown
    return "\n".join(_redact_comment(line) if "#" in line else line for line in shown.split("\n"))


def _redact_comment(line: str) -> str:
    start = _comment_start(line)
    if start is None:
        return line
    return line[:start] + _YAML_PAIR.sub(lambda m: f"{m.group(1)}{MASK}", line[start:])


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
    """``message`` with every form of each of ``secrets`` that stands as a word of its own (see the module's
    docstring), and every secret :func:`redact_text` finds, as ``***``."""
    shortest = min_length()
    forms = frozenset(form for secret in secrets if secret for form in secret_forms(secret) if len(form) >= shortest)
    if forms:
        message = _bare_forms(forms).sub(MASK, message)
    return redact_text(message)


def min_length() -> int:
    """The shortest secret hidden in bare text: Airflow's ``[logging] min_length_masked_secret`` where Airflow's
    configuration is loaded (a task, a DAG file), so that its masker and :func:`scrub` hide the same ones."""
    return _airflow_min_length() if "airflow.configuration" in sys.modules else MIN_LENGTH


@functools.cache
def _airflow_min_length() -> int:
    from airflow.configuration import conf

    return conf.getint("logging", "min_length_masked_secret", fallback=MIN_LENGTH)


@functools.lru_cache(maxsize=64)
def _bare_forms(forms: frozenset[str]) -> re.Pattern[str]:
    """One pattern for the forms (longest first), each found only where it is no part of a longer word: a letter,
    digit or ``_`` beside it, or one beyond a ``-`` or ``.`` (a host, table or file name), makes it part of one."""
    return re.compile("|".join(_standing_alone(form) for form in sorted(forms, key=lambda form: (-len(form), form))))


def _standing_alone(form: str) -> str:
    """A pattern for ``form``: where it is letters alone (a word, which masks inside a longer one would tell), where no
    word character joins its first or last character; one that ends a percent-encoded or backslash escape does not
    (``?options=-c%20x%3D<secret>``, ``\\n<secret>``). Any other form is hidden wherever it is (a token in a path)."""
    pattern = re.escape(form)
    if not form.isalpha():
        return pattern
    if _WORD.match(form[0]):
        pattern = rf"(?:{_ESCAPED_BEFORE}|(?<!\w)(?<!\w[.-])){pattern}"
    if _WORD.match(form[-1]):
        pattern = rf"{pattern}(?![.-]?\w)"
    return pattern


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


def _text_spans(text: str) -> list[Span]:
    """The secrets of free text: those of every URL in it, and between the URLs those of :func:`_pair_spans`."""
    spans: list[Span] = []
    position = 0
    for match in _URL_IN_TEXT.finditer(text):
        spans += _pair_spans(text, position, match.start()) + _spans_of_url(match)
        position = match.end()
    return spans + _pair_spans(text, position, len(text))


def _spans_of_url(match: re.Match[str]) -> list[Span]:
    """The secrets of a URL found in free text (:data:`_URL_IN_TEXT`), read alone, placed in that text."""
    url, offset = match.group(), match.start()
    found = _url_spans(url, url.index("://") + 3)
    return [span._replace(start=span.start + offset, end=span.end + offset) for span in found]


def _pair_spans(text: str, start: int, end: int) -> list[Span]:
    """In ``text[start:end]``: ``Bearer``/``ApiKey``/``Basic`` credentials, the values of secret ``key=value`` pairs
    and of quoted ``'key': 'value'`` pairs (``Authorization=Basic <credentials>``: the word ``Basic`` and the
    credentials both)."""
    part = text[start:end]
    spans = [Span(m.end(1), m.end(), "authorization", False) for m in _BASIC_HEADER.finditer(part)]
    spans += [Span(m.start(2), m.end(2), m.group(1), False) for m in _AUTH_HEADER.finditer(part)]
    spans += [Span(m.start(3) + 1, m.end(3) - 1, m.group(2), False) for m in _QUOTED_PAIR.finditer(part)]
    spans += _dsn_spans(part, quotes=True)
    return [span._replace(start=span.start + start, end=span.end + start) for span in spans if span.end > span.start]


def _is_reference(value: str) -> bool:
    """Whether a secret's place holds one ``${NAME}`` reference (quoted or not), not a value."""
    return REFERENCE.fullmatch(value.strip("'\"")) is not None
