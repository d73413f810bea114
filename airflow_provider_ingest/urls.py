"""URLs of HTTP services (Elasticsearch, OpenMetadata) as settings give them, checked before anything connects: a
URL without a scheme or with a mistyped one is a setting to fix, never an outage to retry."""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow_provider_ingest.errors import ConfigurationError
from airflow_provider_ingest.secrets import redact_url

HTTP_SCHEMES = ("http", "https")


def check_http_url(url: str, what: str) -> str:
    """``url`` when it is an ``http://`` or ``https://`` URL naming a host; else a :class:`ConfigurationError` (a
    ``ValueError`` to pydantic) saying how to write it, any password hidden. A value holding a ``${NAME}`` reference
    or a Jinja template is checked once resolved."""
    if "${" in url or "{{" in url:
        return url
    scheme, separator, rest = url.strip().partition("://")
    if not separator:
        raise ConfigurationError(
            f"{what} {redact_url(url)!r} has no scheme: write {redact_url('http://' + url.strip())!r}"
        )
    if scheme.lower() not in HTTP_SCHEMES:
        suggested = " or ".join(repr(redact_url(f"{name}://{rest}")) for name in HTTP_SCHEMES)
        raise ConfigurationError(
            f"{what} {redact_url(url)!r}: the scheme {scheme!r} is neither http nor https: write {suggested}"
        )
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises on a port that is no number
    except ValueError as error:
        raise ConfigurationError(f"{what} {redact_url(url)!r} is not a URL: {error}") from None
    if not parts.hostname:
        raise ConfigurationError(f"{what} {redact_url(url)!r} names no host: write {scheme}://host:port")
    return url
