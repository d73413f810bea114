"""The ``elasticsearch`` bulk sink: a staged file bulk-loaded into the live aliases (``upsert``) or into new
indexes that replace them atomically after checks (``replace``).

``replace`` builds ``<alias>-<timestamp>`` per kind, loads and refreshes it, checks the failed records
(at most ``max_failures``), its document count against the staged count and against the index it replaces
(``max_shrink``), then moves every alias in one ``_aliases`` call and prunes old indexes beyond
``keep_indexes``. Any failure deletes the new indexes and leaves the old ones serving.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from airflow_provider_ingest.api import BulkSink
from airflow_provider_ingest.elasticsearch.bulk import BulkWriter, Item
from airflow_provider_ingest.elasticsearch.documents import DocumentError, action, document
from airflow_provider_ingest.elasticsearch.errors import translated
from airflow_provider_ingest.elasticsearch.mappings import (
    aliases,
    ensure_indexes,
    install_templates,
    new_index_name,
)
from airflow_provider_ingest.elasticsearch.sink import ElasticsearchConfig, asset_uris, connect, stamp
from airflow_provider_ingest.errors import IngestError
from airflow_provider_ingest.records import Entity, parse_record
from airflow_provider_ingest.staging import StagedFileReader, verify_staged_file

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)


class ElasticsearchBulkSinkConfig(ElasticsearchConfig):
    mode: Literal["upsert", "replace"] = Field(default="upsert", description="into the live index, or swap it")
    max_shrink: float = Field(default=0.2, ge=0, le=1, description="replace: largest allowed drop in documents")
    keep_indexes: int = Field(default=2, ge=1, description="replace: physical indexes kept per alias, live included")
    max_failures: int = Field(default=0, ge=0, description="replace: most failed records that still switch aliases")


class PublishRefused(IngestError):
    """A ``replace`` whose new indexes failed a check; the old indexes still serve.

    Retrying helps only when the counts alone disagreed: refused documents and a shrink come back the same.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable  # type: ignore[misc]  # this refusal's answer, over the class's


class ElasticsearchBulkSink(BulkSink):
    """Publishes a staged file to Elasticsearch, streaming it in bulk chunks."""

    type_name = "elasticsearch"
    config_class = ElasticsearchBulkSinkConfig
    config: ElasticsearchBulkSinkConfig

    @translated()
    def prepare(self) -> None:
        self.client = connect(self.config)
        install_templates(self.client, self.config.index_prefix)
        self.aliases = aliases(self.config.index_prefix)
        self.failed: Counter[str | None] = Counter()

    @translated()
    def publish(self, uri: str) -> None:
        verify_staged_file(uri)  # a damaged file publishes nothing
        if self.config.mode == "upsert":
            ensure_indexes(self.client, self.config.index_prefix, stamp())
            self._load(uri, self.aliases)
        else:
            self._replace(uri)

    def _load(self, uri: str, targets: dict[str, str]) -> Counter[str]:
        """Bulk-index every staged record into ``targets[kind]``; return the staged count per kind."""
        staged: Counter[str] = Counter()
        writer = BulkWriter(self.client, self.config, self._rejected)
        loads = json.loads
        reader = StagedFileReader(uri)
        for line in reader.lines():
            record = reader.parse(line, self.fail)
            if record is None:
                continue
            staged[record.kind] += 1
            try:
                kind, fqn, doc = document(loads(line))
            except DocumentError as error:
                self.fail(str(error), record=record)
                continue
            writer.add(action(targets[kind], fqn, doc), fqn, line)
        writer.flush()
        self.report.records += writer.indexed
        if writer.retries:
            self.report.count("retries", writer.retries)
        if writer.breaker.not_attempted:
            self.report.count("not_attempted", writer.breaker.not_attempted)
        writer.finish()
        return staged

    def _rejected(self, item: Item, reason: str) -> None:
        self.fail(reason, record=parse_record(item.ref), fqn=item.fqn)

    def fail(
        self,
        error: BaseException | str,
        *,
        record: Entity | None = None,
        fqn: str | None = None,
        raw: str | None = None,
    ) -> None:
        """Count and keep a failed record, and count it against its kind for ``replace``'s checks."""
        super().fail(error, record=record, fqn=fqn, raw=raw)
        self.failed[record.kind if record is not None else None] += 1

    def _replace(self, uri: str) -> None:
        new = {kind: new_index_name(alias, stamp()) for kind, alias in self.aliases.items()}
        try:
            for index in new.values():
                self.client.indices.create(index=index)
            staged = self._load(uri, new)
            self.client.indices.refresh(index=",".join(new.values()))
            self._check(new, staged)
            self._switch(new)
        except BaseException:
            self._discard(new)
            raise
        self._prune()

    def _check(self, new: dict[str, str], staged: Counter[str]) -> None:
        """Refuse the switch on too many failed records, a count that differs from the stage, or a shrink."""
        problems, miscounts = [], 0
        failures = self.report.failure_count
        if failures > self.config.max_failures:
            problems.append(f"records failed: {failures} (max_failures {self.config.max_failures})")
        for kind, index in new.items():
            loaded = self.client.count(index=index)["count"]
            expected = staged[kind] - self.failed[kind]
            if loaded != expected:
                failed = f" less {self.failed[kind]} failed" if self.failed[kind] else ""
                problems.append(f"{index}: {loaded} documents indexed, {staged[kind]} staged{failed}")
                miscounts += 1
            old = _live_count(self.client, self.aliases[kind])
            if old and loaded < old * (1 - self.config.max_shrink):
                problems.append(
                    f"{index}: {loaded} documents against {old} in {self.aliases[kind]}, "
                    f"a drop of {1 - loaded / old:.0%} (max_shrink {self.config.max_shrink:.0%})"
                )
        if problems:
            raise PublishRefused(
                "replace refused, the old indexes still serve: " + "; ".join(problems),
                retryable=miscounts == len(problems),
            )

    def _switch(self, new: dict[str, str]) -> None:
        """Point every alias at its new index in one atomic ``_aliases`` call."""
        actions: list[dict[str, Any]] = []
        for kind, index in new.items():
            alias = self.aliases[kind]
            for old in _alias_indexes(self.client, alias):
                actions.append({"remove": {"index": old, "alias": alias}})
            actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
        self.client.indices.update_aliases(actions=actions)
        self.report.count("indexes_switched", len(new))

    def _discard(self, new: dict[str, str]) -> None:
        """After a failed replace, delete the new indexes, unless the alias switch went through after all."""
        try:
            serving = {index for alias in self.aliases.values() for index in _alias_indexes(self.client, alias)}
        except Exception as error:
            self.warn(f"replace failed; left {', '.join(new.values())} in place, cannot tell if they serve: {error}")
            return
        self._drop([index for index in new.values() if index not in serving])

    def _prune(self) -> None:
        """Delete each alias's oldest physical indexes beyond ``keep_indexes`` (never the live one)."""
        for alias in self.aliases.values():
            ours = re.compile(rf"{re.escape(alias)}-\d{{20}}")
            found = self.client.indices.get_alias(index=f"{alias}-*").body.items()
            indexes = sorted(((name, info) for name, info in found if ours.fullmatch(name)), reverse=True)
            stale = [name for name, info in indexes[self.config.keep_indexes :] if alias not in info.get("aliases", {})]
            if stale:
                self._drop(stale)
                self.report.count("indexes_deleted", len(stale))

    def _drop(self, indexes: list[str]) -> None:
        try:
            self.client.indices.delete(index=",".join(indexes), ignore_unavailable=True)
        except Exception as error:
            self.warn(f"could not delete {', '.join(indexes)}: {error}")

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()

    @classmethod
    def asset_uris(cls, config: Any) -> list[str]:
        return asset_uris(config)


def _alias_indexes(client: Elasticsearch, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return list(client.indices.get_alias(name=alias).body)


def _live_count(client: Elasticsearch, alias: str) -> int:
    if not client.indices.exists_alias(name=alias):
        return 0
    return int(client.count(index=alias)["count"])
