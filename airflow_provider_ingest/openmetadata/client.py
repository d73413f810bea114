"""A small OpenMetadata REST client: one pooled ``requests.Session`` with retries and a version check.

429, 5xx answers, timeouts and dropped connections are retried with exponential backoff, by urllib3 up to
the answer's headers (each wait at most :data:`MAX_WAIT` seconds, a ``Retry-After`` header's too) and here for a
connection dropped (or stalled) while the body is read; every request is a ``GET`` or an idempotent ``PUT``, but
for the ``POST`` of a table's usage, which is retried only where the server cannot have handled it (no connection,
429, 503). Final errors say how many attempts were made. Redirects are not followed: a redirected ``PUT`` would lose
its body or become a ``GET``. The JWT token, stripped of surrounding whitespace and byte order mark, travels only in
the ``Authorization`` header: no message or ``repr`` of this module holds it, in any form.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_provider_ingest.errors import (
    AuthenticationError,
    ConfigurationError,
    ServerFailure,
    ServiceError,
    ServiceUnavailableError,
)
from airflow_provider_ingest.secrets import redact_text, redact_url, scrub
from airflow_provider_ingest.terminal import counted
from airflow_provider_ingest.urls import check_http_url

if TYPE_CHECKING:
    import requests

SUPPORTED_MAJOR_VERSIONS = (1, 2)
RETRY_STATUSES = (429, 500, 502, 503, 504)
UNHANDLED_STATUSES = (429, 503)
"""Answers of a request the server did not handle (rate limit, unavailable): a ``POST`` is retried on these only."""
MAX_WAIT = 30.0
"""Seconds between two tries at most: the backoff's, and a ``Retry-After`` header's, whatever it asks."""
UNAVAILABLE_STATUSES = (429, 502, 503, 504)
VERSION_PATH = "/api/v1/system/version"
MAX_MESSAGE = 500
"""The longest server message an error quotes, cut once the token is hidden in it (cut first, a part would show)."""
BULK_QUERY = "?async=false&overrideMetadata=false"
"""How OpenMetadata's own client calls ``PUT <collection>/bulk``: synchronously, user-curated metadata kept."""

log = logging.getLogger(__name__)


class OpenMetadataError(ServiceError):
    """The server failed a request, also after the retries."""


class ServerFailed(OpenMetadataError, ServerFailure):
    """The server answered a 500 (or another 5xx it does not retry) to a request, also after the retries."""


class ServerUnavailable(OpenMetadataError, ServiceUnavailableError):
    """The server could not be reached, did not answer in time, or stayed overloaded (429, 502-504) when retried."""


class UnsupportedServerError(ConfigurationError):
    """The server's major version is not one this client speaks."""


class ServerRedirected(ConfigurationError):
    """The server URL answers with a redirect: followed, a ``PUT`` would lose its body or become a ``GET``."""


class RequestRejected(OpenMetadataError):
    """The server refused a request with a 4xx answer; the message is the server's."""

    retryable = False

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.server_message = message
        super().__init__(f"{status}: {message}")


class CredentialsRefused(RequestRejected, AuthenticationError):
    """The server refused the token (401) or its rights (403)."""


@dataclass(frozen=True)
class Settings:
    """How to reach the server; ``token`` is stripped (:func:`clean_token`) and excluded from ``repr``."""

    server_url: str
    token: str = ""
    verify: bool | str = True
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 5
    backoff_factor: float = 0.5
    pool_size: int = 10

    def __post_init__(self) -> None:
        check_http_url(self.server_url, "the OpenMetadata server URL")
        token = clean_token(self.token)
        if any(char.isspace() or not char.isprintable() or not char.isascii() for char in token):
            raise ConfigurationError(
                "the OpenMetadata JWT token holds a space, a line break, a control character or a character that is"
                " not ASCII inside (a JWT is ASCII); set it again as one line (the token is not shown)"
            )
        object.__setattr__(self, "token", token)

    def __repr__(self) -> str:
        return f"Settings(server_url={redact_url(self.server_url)!r}, token=***)"


class OpenMetadataClient:
    """Sends requests to one OpenMetadata server; thread-safe for concurrent PUTs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base_url = settings.server_url.rstrip("/")
        self._session: requests.Session | None = None
        self.server_version: str | None = None

    def __repr__(self) -> str:
        return f"OpenMetadataClient({redact_url(self.base_url)!r})"

    @property
    def session(self) -> requests.Session:
        """The pooled session, made at first use."""
        if self._session is None:
            self._session = _session(self.settings)
        return self._session

    def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def check_version(self) -> str:
        """Read the server's version; refuse a major version this client does not support."""
        if self.server_version is None:
            body = self.request("GET", VERSION_PATH)
            version = str(body.get("version", "")) if isinstance(body, dict) else ""
            major = version.split(".", 1)[0]
            if not major.isdigit() or int(major) not in SUPPORTED_MAJOR_VERSIONS:
                supported = " and ".join(f"{v}.x" for v in SUPPORTED_MAJOR_VERSIONS)
                raise UnsupportedServerError(
                    f"OpenMetadata server {redact_url(self.base_url)} has version {version or 'unknown'!r}; "
                    f"this provider supports {supported}"
                )
            self.server_version = version
        return self.server_version

    def put(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create or update an entity; return the status (201 created, 200 updated) and the entity."""
        return self._send("PUT", path, body)

    def put_bulk(self, path: str, bodies: list[dict[str, Any]]) -> Any:
        """``PUT {path}/bulk``: create or update many entities of one kind; the answer is a BulkOperationResult."""
        return self._send("PUT", f"{path}/bulk{BULK_QUERY}", bodies)[1]

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """``POST``: not idempotent, so retried only where the server cannot have handled it."""
        return self._send("POST", path, body)

    def find_by_name(self, entity: str, name: str, fields: str | None = None) -> dict[str, Any] | None:
        """``GET /api/v1/{entity}/name/{name}`` (with ``?fields=``); None when the server has no such entity."""
        query = f"?fields={quote(fields, safe=',')}" if fields else ""
        try:
            return self.request("GET", f"/api/v1/{entity}/name/{quote(name, safe='')}{query}")
        except RequestRejected as error:
            if error.status == 404:
                return None
            raise

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Send one request and return the decoded JSON answer."""
        return self._send(method, path, body)[1]

    def _send(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        url = self.base_url + path
        response = self._response(method, url, body)
        where = f"{method} {redact_url(url)}"
        status = response.status_code
        if 300 <= status < 400:
            raise ServerRedirected(
                f"OpenMetadata server {redact_url(self.base_url)} answered {status}, redirecting to"
                f" {redact_url(response.headers.get('Location', '(nowhere)'))}: set the server URL to where it"
                " redirects"
            )
        message = self._scrub(_message(response))[:MAX_MESSAGE] if status >= 400 else ""  # hidden, then cut
        if status in UNAVAILABLE_STATUSES:
            raise ServerUnavailable(f"{where}: {status} after {_attempts(response)}: {message}")
        if status >= 500:
            raise ServerFailed(f"{where}: {status} after {_attempts(response)}: {message}")
        if status in (401, 403):
            raise CredentialsRefused(status, message)
        if status >= 400:
            raise RequestRejected(status, message)
        try:
            return status, response.json() if response.content else {}
        except ValueError:
            raise OpenMetadataError(f"{where}: the answer is not JSON") from None

    def _response(self, method: str, url: str, body: Any) -> requests.Response:
        """The answer, its body read; a connection dropped or stalled mid-body is retried here (urllib3 retries
        up to the answer's headers)."""
        import requests

        attempts, attempt = self.settings.retries + 1, 1
        where = f"{method} {redact_url(url)}"
        while True:
            try:
                return self.session.request(
                    method,
                    url,
                    json=body,
                    timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                    allow_redirects=False,  # followed, a PUT loses its body (301) or becomes a GET (302, 303)
                )
            except requests.RequestException as error:
                if not _mid_answer(error) or method == "POST":  # a POST cut mid-answer may have been handled
                    raise ServerUnavailable(self._scrub(f"{where}: {_failure(error, attempts)}")) from None
                if attempt == attempts:
                    raise ServerUnavailable(
                        self._scrub(
                            f"{where}: the connection dropped mid-answer {counted(attempts, 'time')}: {_reason(error)}"
                        )
                    ) from None
                log.warning("%s: connection dropped mid-answer; attempt %d of %d", where, attempt + 1, attempts)
                time.sleep(min(MAX_WAIT, self.settings.backoff_factor * 2 ** (attempt - 1)))
                attempt += 1

    def _scrub(self, message: str) -> str:
        """``message`` without the token, in any form (a server or proxy may echo the request's headers)."""
        return scrub(message, [self.settings.token]) if self.settings.token else message


def clean_token(token: str) -> str:
    """A token as read from a file or a secret store, without what surrounds it there: spaces, line breaks and a
    byte order mark (a file saved as "UTF-8 with BOM")."""
    return token.strip().strip("\ufeff").strip()


def server_base(url: str) -> str:
    """The server's base URL: OpenMetadata files give ``http://host:8585/api``, its API reference
    ``http://host:8585/api/v1``; requests add ``/api/v1``."""
    url = url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


def _session(settings: Settings) -> requests.Session:
    import requests
    from requests.adapters import HTTPAdapter

    retry = _retry_class()(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        backoff_factor=settings.backoff_factor,
        backoff_max=MAX_WAIT,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET", "PUT"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=settings.pool_size)
    session = requests.Session()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.verify = settings.verify
    session.headers["Accept"] = "application/json"
    if settings.token:
        session.headers["Authorization"] = f"Bearer {settings.token}"
    return session


@functools.cache
def _retry_class() -> type:
    """urllib3's ``Retry``, retrying a ``POST`` too on the answers of a request the server did not handle."""
    from urllib3.util.retry import Retry

    class PostAwareRetry(Retry):
        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if method.upper() == "POST":
                return bool(self.total) and status_code in UNHANDLED_STATUSES
            return super().is_retry(method, status_code, has_retry_after)

        def get_retry_after(self, response: Any) -> float | None:
            """A ``Retry-After`` header's wait, at most :data:`MAX_WAIT` seconds (urllib3 waits whatever it says:
            a proxy asking for hours held the step for hours)."""
            asked = super().get_retry_after(response)
            return None if asked is None else min(asked, MAX_WAIT)

    return PostAwareRetry


def _message(response: requests.Response) -> str:
    """The server's error message (OpenMetadata answers ``{"code": ..., "message": ...}``); of an HTML page (a
    proxy's), its title or its text."""
    try:
        body = response.json()
    except ValueError:
        return _page_text(response.text) or response.reason or ""
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body)


def _page_text(text: str) -> str:
    """An answer's text without its markup: an HTML page's title, else its text with tags and runs of spaces
    dropped."""
    import html
    import re

    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title and title.group(1).strip():
        text = title.group(1)
    elif re.match(r"\s*<", text):
        text = re.sub(r"<[^>]*>", " ", text)
    return " ".join(html.unescape(text).split())


def _attempts(response: requests.Response) -> str:
    """How many attempts urllib3 made for this answer: ``3 attempts``."""
    retries = getattr(response.raw, "retries", None)
    return counted(len(retries.history) + 1 if retries is not None else 1, "attempt")


def _mid_answer(error: Exception) -> bool:
    """Whether the answer's headers came and its body was cut short (or stalled past the read timeout).

    requests reads the body after urllib3's retries: a cut body is a ``ChunkedEncodingError`` (urllib3's
    ``ProtocolError``) or ``ContentDecodingError``, a stalled one a ``ConnectionError`` around urllib3's
    ``ReadTimeoutError``; a failure before the headers is a ``ConnectionError`` around ``MaxRetryError``.
    """
    import requests
    from urllib3.exceptions import ReadTimeoutError

    if isinstance(error, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return True
    cause = error.args[0] if error.args else None
    return isinstance(error, requests.exceptions.ConnectionError) and isinstance(cause, ReadTimeoutError)


def _failure(error: Exception, attempts: int) -> str:
    """What happened to a request urllib3 gave up on: after how many attempts, or at once (not retryable)."""
    from urllib3.exceptions import MaxRetryError

    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError):
        return redact_text(f"no answer after {counted(attempts, 'attempt')}: {type(error).__name__}: {cause.reason}")
    return f"failed: {_reason(error)}"


def _reason(error: Exception) -> str:
    """A connection error's cause, without the request (whose headers hold the token)."""
    reason = getattr(error, "args", None)
    text = str(reason[0]) if reason else type(error).__name__
    return redact_text(f"{type(error).__name__}: {text}")
