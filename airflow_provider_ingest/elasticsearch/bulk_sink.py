"""The ``elasticsearch`` bulk sink: a staged file bulk-loaded into the live aliases (``upsert``) or into new
indexes that replace them atomically after checks (``replace``).

``replace`` builds ``<alias>-<timestamp>`` per kind, loads and refreshes it, checks the failed records
(at most ``max_failures``), its document count against the staged count and against the index it replaces
(``max_shrink``), then moves every alias in one ``_aliases`` call and prunes old indexes beyond
``keep_indexes``. Any failure deletes the new indexes and leaves the old ones serving.

``table_usage`` and ``lineage`` records update the table documents (:mod:`.usage`): ``upsert`` writes tables
as upserts so their usage and lineage stay; ``replace`` copies the old tables' usage and lineage into the new
index, then applies the file's usage and lineage records in a second read of it.
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
from airflow_provider_ingest.elasticsearch.documents import KINDS, DocumentError, action, document
from airflow_provider_ingest.elasticsearch.errors import service_error, translated
from airflow_provider_ingest.elasticsearch.mappings import (
    STAMP_LENGTH,
    aliases,
    ensure_indexes,
    install_templates,
    new_index_name,
)
from airflow_provider_ingest.elasticsearch.sink import NOT_INDEXED_KIND, ElasticsearchConfig, asset_uris, connect, stamp
from airflow_provider_ingest.elasticsearch.usage import USAGE_KINDS, RecordRef, TableRef, UsagePublisher, upsert_action
from airflow_provider_ingest.errors import IngestError
from airflow_provider_ingest.records import Entity, Record, RecordError, parse_record
from airflow_provider_ingest.staging import StagedFileReader, verify_staged_file

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

log = logging.getLogger(__name__)
_USAGE_LINE = re.compile(rb'"kind"\s*:\s*"(?:lineage|table_usage)"')
"""A line that may hold a usage or lineage record (a quick test before parsing it in ``replace``'s second pass)."""


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
        self.client = connect(self.config, self.context.secrets)
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

    def _load(
        self, uri: str, targets: dict[str, str], *, fresh: bool = False, carry_from: str | None = None
    ) -> Counter[str]:
        """Bulk-index every staged record into ``targets[kind]``, usage and lineage as updates of the table
        documents; return the staged count per kind.

        ``fresh``: the targets are new indexes (plain index actions; else tables are upserts, which keep their
        usage and lineage). ``carry_from``: an alias whose tables' usage and lineage the new tables index takes
        over before this file's usage and lineage records are applied (read in a second pass).
        """
        staged: Counter[str] = Counter()
        writer = BulkWriter(self.client, self.config, self._rejected, self.context.scrub)
        self.usage = UsagePublisher(self.client, targets["table"], writer, self._usage_failed)
        loads = json.loads
        reader = StagedFileReader(uri)
        deferred = False
        for line in reader.lines():
            record = reader.parse(line, self.fail)
            if record is None:
                continue
            staged[record.kind] += 1
            if record.kind in USAGE_KINDS:
                if carry_from is None:
                    self._add_usage(loads(line), line, record)
                else:
                    deferred = True
                continue
            if record.kind not in KINDS:
                self.fail(NOT_INDEXED_KIND.format(kind=record.kind), record=record)
                continue
            try:
                kind, fqn, doc = document(loads(line))
            except DocumentError as error:
                self.fail(str(error), record=record)
                continue
            if kind == "table" and not fresh:
                writer.add(upsert_action(targets[kind], fqn, doc), fqn, line)
            else:
                writer.add(action(targets[kind], fqn, doc), fqn, line)
        if carry_from is not None:
            writer.flush()  # the new tables are in place: take the old usage and lineage over, then the file's
            self.usage.carry_over(carry_from, self.config.chunk_size)
            if deferred:
                for line in reader.lines():
                    if _may_be_usage(line) and (record := _record(line)) and record.kind in USAGE_KINDS:
                        self._add_usage(loads(line), line, record)
        writer.flush()
        self.usage.finish(self.config.chunk_size)
        self.report.records += writer.indexed + self.usage.applied
        if self.usage.ranked:
            self.report.count("usage_tables_ranked", self.usage.ranked)
        if self.usage.dropped:
            self.report.count("carried_over_dropped", self.usage.dropped)
        if writer.retries:
            self.report.count("retries", writer.retries)
        if writer.breaker.not_attempted:
            self.report.count("not_attempted", writer.breaker.not_attempted)
        writer.finish()
        return staged

    def _add_usage(self, data: dict[str, Any], line: bytes, record: Record) -> None:
        try:
            self.usage.add(data, line)
        except DocumentError as error:
            self.fail(str(error), record=record)

    def _rejected(self, item: Item, reason: str) -> None:
        if isinstance(item.ref, (RecordRef, TableRef)):
            self.usage.rejected(item, reason)
        else:
            self.fail(reason, record=parse_record(item.ref), fqn=item.fqn)

    def _usage_failed(self, message: str, ref: bytes | None, fqn: str) -> None:
        self.fail(message, record=parse_record(ref) if ref is not None else None, fqn=fqn)

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
            serving = {alias: max(_alias_indexes(self.client, alias), default=None) for alias in self.aliases.values()}
            tables = self.aliases["table"]
            carry = tables if self.client.indices.exists_alias(name=tables) else None
            staged = self._load(uri, new, fresh=True, carry_from=carry)
            self.client.indices.refresh(index=",".join(new.values()))
            self._check(new, staged)
            self._switch(new)
        except BaseException:
            self._discard(new)
            raise
        try:
            self._prune(serving)
        except Exception as error:  # the new catalog serves: the run succeeded, the old indexes wait
            self.warn(f"the new indexes serve, but pruning the old ones failed: {_said(error)}")

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
            for old in _alias_indexes(self.client, alias):  # must exist: another run moved it, and the call fails
                actions.append({"remove": {"index": old, "alias": alias, "must_exist": True}})
            actions.append({"add": {"index": index, "alias": alias, "is_write_index": True}})
        self.client.indices.update_aliases(actions=actions)
        self.report.count("indexes_switched", len(new))

    def _discard(self, new: dict[str, str]) -> None:
        """After a failed replace, delete the new indexes, unless the alias switch went through after all."""
        try:
            serving = {index for alias in self.aliases.values() for index in _alias_indexes(self.client, alias)}
        except Exception as error:
            self.warn(
                f"replace failed; left {', '.join(new.values())} in place, cannot tell if they serve: {_said(error)}"
            )
            return
        self._drop([index for index in new.values() if index not in serving])

    def _prune(self, serving: dict[str, str | None]) -> None:
        """Delete each alias's indexes that served (up to the one ``serving`` before this run) beyond
        ``keep_indexes``, the live one counted. One named later than the one serving before never served (a
        failed run's leftover, or another run's in progress): neither counted nor deleted, but named in a warning
        (counted, a failed run's leftovers pushed the previous catalog out)."""
        for alias, before in serving.items():
            ours = re.compile(rf"{re.escape(alias)}-\d{{{STAMP_LENGTH}}}")
            found = self.client.indices.get_alias(index=f"{alias}-*").body.items()
            idle = sorted(
                (name for name, info in found if ours.fullmatch(name) and alias not in info.get("aliases", {}))
            )
            served = [name for name in reversed(idle) if before is not None and name <= before]
            stale = served[self.config.keep_indexes - 1 :]
            if stale:
                self._drop(stale)
                self.report.count("indexes_deleted", len(stale))
            if never := [name for name in idle if before is None or name > before]:
                self.warn(f"{', '.join(never)}: never served {alias} (left by a failed replace?), kept: delete by hand")

    def _drop(self, indexes: list[str]) -> None:
        if not indexes:
            return
        try:
            self.client.indices.delete(index=",".join(indexes), ignore_unavailable=True)
        except Exception as error:
            self.warn(f"could not delete {', '.join(indexes)}: {_said(error)}")

    def close(self) -> None:
        if hasattr(self, "client"):
            self.client.close()

    @classmethod
    def asset_uris(cls, config: Any) -> list[str]:
        return asset_uris(config)


def _said(error: Exception) -> str:
    """What a failed client call said, as the package words Elasticsearch's errors (not ``ApiError(500, 'None')``)."""
    return str(service_error(error, "Elasticsearch: "))


def _may_be_usage(line: bytes) -> bool:
    """Whether a line may hold a usage or lineage record: its kind so written, or escapes that may spell it."""
    return _USAGE_LINE.search(line) is not None or b"\\u" in line


def _record(line: bytes) -> Record | None:
    """The record on a line, or None for one the first pass already failed (read as strictly)."""
    try:
        return parse_record(line, strict=True)
    except RecordError:
        return None


def _alias_indexes(client: Elasticsearch, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return list(client.indices.get_alias(name=alias).body)


def _live_count(client: Elasticsearch, alias: str) -> int:
    """The documents behind ``alias``, refreshed first: a count sees only what the last refresh made searchable
    (an ``upsert`` run refreshes nothing, and an index may refresh on no timer at all)."""
    if not client.indices.exists_alias(name=alias):
        return 0
    client.indices.refresh(index=alias)
    return int(client.count(index=alias)["count"])
