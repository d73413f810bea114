"""The ``openmetadata`` bulk sink: a staged file published in dependency order, tables concurrently.

Services, then databases, then schemas go one by one; tables go through a bounded thread pool. Every
request is an idempotent ``PUT``, so a rerun after a failure duplicates nothing and counts what it
``updated`` beside what it ``created``. Refused credentials or an unreachable server stop the publishing:
the records left are dead-lettered as not attempted and the step fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from pydantic import Field

from airflow_provider_ingest.api import BulkSink
from airflow_provider_ingest.openmetadata.sink import OpenMetadataConfig, Publisher, asset_uris, connect
from airflow_provider_ingest.records import KIND_ORDER, Record, Table
from airflow_provider_ingest.staging import StagedFileReader
from airflow_provider_ingest.staging.stagedfile import OnInvalid


class OpenMetadataBulkSinkConfig(OpenMetadataConfig):
    max_workers: int = Field(default=4, ge=1, le=64, description="tables published at once")


class OpenMetadataBulkSink(BulkSink):
    """Publishes a staged file to OpenMetadata: parents first, tables with bounded concurrency; resumable."""

    type_name = "openmetadata"
    config_class = OpenMetadataBulkSinkConfig
    config: OpenMetadataBulkSinkConfig

    def prepare(self) -> None:
        self.client = connect(self.config, pool_size=self.config.max_workers)
        self.publisher = Publisher(self.client, self)

    def publish(self, uri: str) -> None:
        """Publish the parents (kept in memory, grouped by kind), then stream the tables.

        The first pass reads the whole file, trailer and checksum included, before the first request: a damaged
        file publishes nothing.
        """
        parents = sorted(
            (record for record in _records(uri, self.fail) if not isinstance(record, Table)),
            key=lambda record: KIND_ORDER[record.kind],
        )
        for record in parents:
            self._one(record)
        self._tables(record for record in _records(uri, _failed_already) if isinstance(record, Table))
        self.publisher.finish()

    def _tables(self, tables: Iterator[Record]) -> None:
        limit = self.config.max_workers * 2
        with ThreadPoolExecutor(self.config.max_workers, thread_name_prefix="om-bulk") as pool:
            running: dict[Future[None], Record] = {}
            for table in tables:
                if len(running) >= limit:
                    self._collect(running, wait(running, return_when=FIRST_COMPLETED).done)
                running[pool.submit(self.publisher.publish, table)] = table
            self._collect(running, wait(running).done)

    def _collect(self, running: dict[Future[None], Record], done: set[Future[None]]) -> None:
        for future in done:
            record = running.pop(future)
            self._count(record, future.exception())

    def _one(self, record: Record) -> None:
        try:
            self.publisher.publish(record)
        except Exception as error:
            self._count(record, error)
        else:
            self._count(record, None)

    def _count(self, record: Record, error: BaseException | None) -> None:
        if error is None:
            self.report.records += 1
        else:
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
