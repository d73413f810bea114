"""The ``openmetadata`` bulk sink: a staged file published in dependency order, in batches, tables concurrently.

Services go one by one, then databases and schemas in batches of ``batch_size``; tables stream from the file
in batches, ``max_workers`` batches at once, first without their foreign keys, then (a second read of the
file) the tables that have some, again in full. Every request is an idempotent ``PUT``, so a rerun after a
failure duplicates nothing and counts what it ``updated`` beside what it ``created``. Usage, query and lineage
records go last (a third read of the file), in concurrent batches too, through
:class:`~airflow_provider_ingest.openmetadata.usage.UsagePublisher`. Refused credentials or an unreachable server
stop the publishing: the records left are dead-lettered as not attempted and the step fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import groupby

from pydantic import Field

from airflow_provider_ingest.api import BulkSink
from airflow_provider_ingest.openmetadata.sink import (
    OpenMetadataConfig,
    Outcome,
    Publisher,
    asset_uris,
    batches,
    connect,
    foreign_keys_refused,
    has_foreign_keys,
)
from airflow_provider_ingest.openmetadata.usage import USAGE_KINDS, UsagePublisher
from airflow_provider_ingest.records import KIND_ORDER, Record, Table
from airflow_provider_ingest.staging import StagedFileReader
from airflow_provider_ingest.staging.stagedfile import OnInvalid


class OpenMetadataBulkSinkConfig(OpenMetadataConfig):
    max_workers: int = Field(default=4, ge=1, le=64, description="batches of tables published at once")


class OpenMetadataBulkSink(BulkSink):
    """Publishes a staged file to OpenMetadata: parents first, tables in concurrent batches; resumable."""

    type_name = "openmetadata"
    config_class = OpenMetadataBulkSinkConfig
    config: OpenMetadataBulkSinkConfig

    def prepare(self) -> None:
        self.client = connect(self.config, self.context.secrets, pool_size=self.config.max_workers)
        self.publisher = Publisher(self.client, self)
        self.usage = UsagePublisher(self.publisher)
        self.failed: set[str] = set()
        self.keyed = 0
        self.usage_records = 0

    def publish(self, uri: str) -> None:
        """Publish the parents (kept in memory, grouped by kind), then stream the tables, those with foreign keys
        again, and the usage, query and lineage records.

        The first pass reads the whole file, trailer and checksum included, before the first request: a damaged
        file publishes nothing.
        """
        parents = sorted(self._parents(uri), key=lambda record: KIND_ORDER[record.kind])
        for _, records in groupby(parents, key=lambda record: record.kind):
            for batch in batches(records, self.config.batch_size):
                self._settle(self.publisher.publish_batch(batch), again=False)
        self._tables(self._staged_tables(uri), again=False)
        if self.keyed:
            self._tables(
                (
                    record
                    for record in _records(uri, _failed_already)
                    if has_foreign_keys(record) and record.fqn not in self.failed
                ),
                again=True,
            )
        if self.usage_records:
            usage = (record for record in _records(uri, _failed_already) if record.kind in USAGE_KINDS)
            self._concurrently(usage, self.usage.publish_batch, again=False)
        self.usage.finish()
        self.publisher.finish()

    def _parents(self, uri: str) -> Iterator[Record]:
        """The services, databases and schemas of the file; its usage records counted (read again at the end)."""
        for record in _records(uri, self.fail):
            if record.kind in USAGE_KINDS:
                self.usage_records += 1
            elif not isinstance(record, Table):
                yield record

    def _staged_tables(self, uri: str) -> Iterator[Record]:
        """The staged tables, the ones with foreign keys counted (the second pass reads the file again for them)."""
        for record in _records(uri, _failed_already):
            if isinstance(record, Table):
                self.keyed += has_foreign_keys(record)
                yield record

    def _tables(self, tables: Iterator[Record], *, again: bool) -> None:
        """Tables in batches, ``max_workers`` batches in flight: without their foreign keys, or (``again``) in full."""

        def send(batch: Sequence[Record]) -> list[Outcome]:
            return self.publisher.publish_batch(batch, foreign_keys=again, again=again)

        self._concurrently(tables, send, again=again)

    def _concurrently(
        self, records: Iterator[Record], send: Callable[[Sequence[Record]], list[Outcome]], *, again: bool
    ) -> None:
        """``records`` in batches through ``send``, ``max_workers`` batches in flight."""
        pool = ThreadPoolExecutor(self.config.max_workers, thread_name_prefix="om-bulk")
        running: set[Future[list[Outcome]]] = set()
        try:
            for batch in batches(records, self.config.batch_size):
                if len(running) >= self.config.max_workers:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    self._collect(done, again=again)
                running.add(pool.submit(send, batch))
            self._collect(wait(running).done, again=again)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, done: set[Future[list[Outcome]]], *, again: bool) -> None:
        for future in done:
            self._settle(future.result(), again=again)

    def _settle(self, outcomes: list[Outcome], *, again: bool) -> None:
        """Count the published records; fail the others (a second pass moves a table to the failures)."""
        for record, error in outcomes:
            if error is None:
                self.report.records += 0 if again else 1
            elif again:
                self.reject(str(foreign_keys_refused(error)), record=record)
            else:
                self.failed.add(record.fqn)
                self.fail(str(error), record=record)

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()

    @classmethod
    def asset_uris(cls, config: OpenMetadataBulkSinkConfig) -> list[str]:  # type: ignore[override]
        return asset_uris(config)


def _records(uri: str, on_invalid: OnInvalid) -> Iterator[Record]:
    return StagedFileReader(uri).records(on_invalid)


def _failed_already(message: str, /, *, raw: str) -> None:
    """A line that is not a record, seen again: the first pass counted and kept it."""
