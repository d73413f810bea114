"""The bulk engine both Elasticsearch components use: chunks by count and bytes, retries, dead letters.

Whole-request failures (429, 5xx, a dropped or timed-out connection) are retried with exponential backoff
(longer when a ``Retry-After`` header asks for it, never beyond ``max_backoff``) up to ``max_retries``; items
refused with 429 or 502-504 are retried alone; any other error, of an item or of a whole request (400, 401,
413...), is final and handed to ``on_reject`` per item with the server's reason.
Every action is idempotent (index and upsert by id = FQN, usage replaced per day, lineage a set union), so
resending a chunk duplicates nothing. A circuit breaker stops the
sending after a few refused credentials in a row or once retries are exhausted: each item still queued or
added later goes to ``on_reject`` as not attempted, and :meth:`BulkWriter.finish` raises the error.
One request is in flight while the next chunk is built (a single sender thread); outcomes are handled, and
``on_reject`` called, on the caller's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from airflow_provider_ingest.api import ComponentConfig
from airflow_provider_ingest.breaker import CircuitBreaker
from airflow_provider_ingest.elasticsearch.errors import ClusterUnavailable, error_text, redirected, service_error

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
STATUS_TEXT = {413: "the request is larger than the cluster's http.max_content_length (lower max_chunk_bytes)"}
"""What a status means when the answer has no body to say it (Elasticsearch answers 413 empty)."""


class BulkConfig(ComponentConfig):
    chunk_size: int = Field(default=500, ge=1, description="documents per bulk request")
    max_chunk_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="bytes per bulk request")
    max_retries: int = Field(default=5, ge=0, description="retries of a request or item (429, 5xx, connection)")
    initial_backoff: float = Field(default=0.5, ge=0, description="seconds before the first retry; doubles")
    max_backoff: float = Field(default=30.0, ge=0, description="longest wait between retries, seconds")


@dataclass(slots=True)
class Item:
    """One pending action: its NDJSON lines, its id, what to dead-letter it with, and whether it counts as
    a document indexed (updates of usage and lineage do not)."""

    payload: bytes
    fqn: str
    ref: Any
    counted: bool = True


Reject = Callable[[Item, str], None]


class BulkWriter:
    """Buffers index actions and sends them in chunks; reports each refused item through ``on_reject``."""

    def __init__(
        self, client: Elasticsearch, config: BulkConfig, on_reject: Reject, scrub: Callable[[str], str]
    ) -> None:
        self.client = client
        self.config = config
        self.on_reject = on_reject
        self.scrub = scrub
        """Hides the run's secrets in a server's answer, before it is cut or logged."""
        self.sent = 0
        self.indexed = 0
        """Counted items that went through (created, updated, or a noop)."""
        self.retries = 0
        self.breaker = CircuitBreaker("Elasticsearch")
        self._items: list[Item] = []
        self._bytes = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[list[tuple[Item, str]]] | None = None

    def add(self, payload: bytes, fqn: str, ref: Any, *, counted: bool = True) -> None:
        """Queue one action; sends a chunk when the count or byte limit is reached."""
        item = Item(payload, fqn, ref, counted)
        if self.breaker.open:
            self.on_reject(item, str(self.breaker.skip()))
            return
        if self._items and self._bytes + len(payload) > self.config.max_chunk_bytes:
            self._submit()
        self._items.append(item)
        self._bytes += len(payload)
        if len(self._items) >= self.config.chunk_size:
            self._submit()

    def flush(self) -> None:
        """Send what is queued and wait for every item's outcome."""
        try:
            self._submit()
            self._wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None

    def finish(self) -> None:
        """After :meth:`flush`: raise the error that stopped the sending, if one did."""
        self.breaker.finish()

    def _submit(self) -> None:
        items, self._items, self._bytes = self._items, [], 0
        if not items:
            return
        self._wait()
        if self.breaker.open:
            for item in items:
                self.on_reject(item, str(self.breaker.skip()))
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="es-bulk")
        self.sent += len(items)
        self._pending = self._pool.submit(self._send, items)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            for item, reason in pending.result():
                self.on_reject(item, reason)

    def _send(self, items: list[Item]) -> list[tuple[Item, str]]:
        """Send one chunk, retrying; return the refused items with their reasons."""
        from elastic_transport import ConnectionError, ConnectionTimeout, SerializationError
        from elasticsearch import ApiError

        refused: list[tuple[Item, str]] = []
        asked = 0.0  # seconds a Retry-After header asked for
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                self.retries += 1
                backoff = self.config.initial_backoff * 2 ** (attempt - 1)
                time.sleep(min(self.config.max_backoff, max(backoff, asked)))
            try:
                response = self.client.bulk(operations=b"".join(item.payload for item in items))
            except (ConnectionError, ConnectionTimeout, SerializationError) as error:
                reason, asked = f"{type(error).__name__}: {error}", 0.0
            except ApiError as error:
                if redirect := redirected(error, "Elasticsearch: "):  # every chunk would be: a setting to change
                    raise redirect from None
                text = error_text(error.body) or STATUS_TEXT.get(error.meta.status, "")
                reason, asked = f"HTTP {error.meta.status}: {text}", _retry_after(error.meta.headers)
                if error.meta.status not in RETRY_STATUSES and error.meta.status < 500:
                    self.breaker.failed(service_error(error))  # 401 and 403 count toward stopping
                    return refused + [(item, reason) for item in items]  # 400, 401, 413...: final for the chunk
            else:
                results = _bulk_results(response.body, len(items))
                if results is None:  # a proxy's page, a cut answer: nothing is known of any item, so all go again
                    answer = _short(self.scrub(_text(response.body)))
                    reason, asked = f"HTTP {response.meta.status} without a bulk answer: {answer}", 0.0
                else:
                    self.breaker.succeeded()
                    items, reason = self._outcomes(items, results, refused)
                    if not items:
                        return refused
            if attempt < self.config.max_retries:
                retry = f"retry {attempt + 1} of {self.config.max_retries}"
                log.warning("bulk request: %s; %s", self.scrub(reason), retry)
        reason = f"gave up after {self.config.max_retries} retries: {reason}"
        self.breaker.failed(ClusterUnavailable(reason))
        return refused + [(item, reason) for item in items]

    def _outcomes(
        self, items: list[Item], results: list[dict[str, Any]], refused: list[tuple[Item, str]]
    ) -> tuple[list[Item], str]:
        """Count successes, collect final errors in ``refused``; return the items to retry and why."""
        again: list[Item] = []
        reason = ""
        for item, result in zip(items, results, strict=True):
            outcome = next(iter(result.values()))
            status = outcome.get("status", 500)
            if status < 300:
                self.indexed += item.counted
            elif status in RETRY_STATUSES:
                again.append(item)
                reason = f"HTTP {status}: {error_text(outcome.get('error'))}"
            else:
                refused.append((item, f"HTTP {status}: {error_text(outcome.get('error'))}"))
        return again, reason


def _bulk_results(body: Any, count: int) -> list[dict[str, Any]] | None:
    """The per-item results of a bulk answer, one per item sent, each ``{action: {status...}}``; None for anything
    else."""
    results = body.get("items") if isinstance(body, dict) else None
    if not isinstance(results, list) or len(results) != count:
        return None
    for result in results:
        outcome = next(iter(result.values()), None) if isinstance(result, dict) and len(result) == 1 else None
        if not isinstance(outcome, dict):
            return None
    return results


def _text(body: Any) -> str:
    return body if isinstance(body, str) else repr(body)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _retry_after(headers: Any) -> float:
    """The seconds a ``Retry-After`` header asks to wait (0 when absent or an HTTP date)."""
    value = str((headers or {}).get("Retry-After", "")).strip()
    return float(value) if value.isdigit() else 0.0
