"""Usage and lineage in the table documents: the one code path of the ``elasticsearch`` sink and bulk sink.

``table_usage`` and ``lineage`` records never make documents of their own: they are bulk ``update``
actions on the table documents the catalog published (id = table FQN), so catalog fields are never
touched, and a table with no document fails its record (``document_missing_exception``: publish the
catalog first). Both updates run painless scripts, inline (:data:`USAGE_SCRIPT`, :data:`LINEAGE_SCRIPT`):

* usage keeps one entry per day in ``usage.daily`` (a day published again *replaces* its entry, so a
  rerun never double-counts) and derives ``count_30d``, ``users_30d``, ``users``, ``frequently_joined``
  (top :data:`TOP_JOINED`) and ``last_day`` from the days in the 30-day window ending at ``window_end``:
  the newest day of the publish, or the table's own newest day when that is later. Days before the
  window are dropped, so a document holds 30 days at most.
* lineage is a set union: ``lineage.upstream`` on the written table, ``lineage.downstream`` on the read
  one, ``lineage.columns`` (column edges) on the written one. A rerun changes nothing (a ``noop``).

After the records: tables whose newest day in this publish is older than the publish's newest day are
summarized again over the publish's window; then each table's ``count_30d`` is read back (``_mget``) and
``usage.percentile_rank`` set (:func:`percentile_ranks`). Memory holds a few values per table, never the
records.
"""

from __future__ import annotations

import datetime
import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_ingest.elasticsearch.bulk import BulkWriter, Item
from airflow_provider_ingest.elasticsearch.documents import MAX_ID_BYTES, DocumentError
from airflow_provider_ingest.elasticsearch.errors import translated
from airflow_provider_ingest.records import fqn as fqn_

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

USAGE_KINDS = frozenset({"table_usage", "lineage"})
"""Record kinds that update table documents instead of making their own."""
WINDOW_DAYS = 30
TOP_JOINED = 10
"""Joined tables kept in ``usage.frequently_joined``, most joined first."""
RETRY_ON_CONFLICT = 3
CARRIED = ("usage", "lineage")
"""Fields ``replace`` copies from the old table documents into the new index."""

USAGE_SCRIPT = """\
def u = ctx._source.usage;
if (u == null) { u = new HashMap(); ctx._source.usage = u; }
TreeMap days = new TreeMap();
if (u.daily != null) { for (def d : u.daily) { days.put(d.date, d); } }
for (def d : params.days) { days.put(d.date, d); }
String end = params.end;
if (end == null) { end = u.window_end; }
if (!days.isEmpty() && (end == null || days.lastKey().compareTo(end) > 0)) { end = days.lastKey(); }
if (end == null) {
  ctx.op = 'noop';
} else {
  String start = LocalDate.parse(end).minusDays(params.window - 1).toString();
  String last = u.last_day;
  if (!days.isEmpty() && (last == null || days.lastKey().compareTo(last) > 0)) { last = days.lastKey(); }
  List kept = new ArrayList();
  long count = 0;
  TreeSet users = new TreeSet();
  HashMap joined = new HashMap();
  for (def e : days.entrySet()) {
    if (e.getKey().compareTo(start) >= 0) {
      def d = e.getValue();
      kept.add(d);
      count += d.count;
      users.addAll(d.users);
      for (def j : d.joined) {
        def seen = joined.get(j.table);
        joined.put(j.table, seen == null ? (long) j.count : seen + j.count);
      }
    }
  }
  List top = new ArrayList();
  for (def e : joined.entrySet()) { top.add(['table': e.getKey(), 'count': e.getValue()]); }
  top.sort((a, b) -> { int c = Long.compare(b.count, a.count); return c != 0 ? c : a.table.compareTo(b.table); });
  u.daily = kept;
  u.count_30d = count;
  u.users_30d = users.size();
  u.users = new ArrayList(users);
  u.frequently_joined = top.size() > params.top ? new ArrayList(top.subList(0, params.top)) : top;
  u.last_day = last;
  u.window_end = end;
  u.updated_at = params.now;
}
"""
"""Merges ``params.days`` into ``usage.daily`` (one entry per date, the new one winning) and recomputes the
summary over the window ending at ``params.end`` (or the stored ``window_end``) or the newest day, whichever
is later. ``params``: ``days``, ``end``, ``window``, ``top``, ``now``."""

LINEAGE_SCRIPT = """\
def l = ctx._source.lineage;
if (l == null) { l = new HashMap(); ctx._source.lineage = l; }
boolean changed = false;
for (String side : ['upstream', 'downstream']) {
  TreeSet merged = new TreeSet();
  if (l[side] != null) { merged.addAll(l[side]); }
  merged.addAll(params[side]);
  if (l[side] == null || merged.size() != l[side].size()) { changed = true; l[side] = new ArrayList(merged); }
}
TreeMap columns = new TreeMap();
int before = 0;
if (l.columns != null) {
  for (def c : l.columns) { columns.put(c.to_column, new TreeSet(c.from_columns)); before += c.from_columns.size(); }
}
for (def c : params.columns) {
  def sources = columns.get(c.to_column);
  if (sources == null) { sources = new TreeSet(); columns.put(c.to_column, sources); }
  sources.addAll(c.from_columns);
}
int after = 0;
List out = new ArrayList();
for (def e : columns.entrySet()) {
  after += e.getValue().size();
  out.add(['to_column': e.getKey(), 'from_columns': new ArrayList(e.getValue())]);
}
if (l.columns == null || after != before) { changed = true; l.columns = out; }
if (changed) { l.updated_at = params.now; } else { ctx.op = 'noop'; }
"""
"""Adds ``params.upstream``, ``params.downstream`` and ``params.columns`` (``to_column`` and its
``from_columns``) to ``lineage`` as sets, sorted; a ``noop`` when nothing is new. ``params``: those and ``now``."""

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def update_action(index: str, fqn: str, body: dict[str, Any]) -> bytes:
    """The two NDJSON lines of one bulk ``update`` of the document ``fqn`` (it must exist unless upserting)."""
    meta = {"update": {"_index": index, "_id": fqn, "retry_on_conflict": RETRY_ON_CONFLICT}}
    return _dumps(meta).encode() + b"\n" + _dumps(body).encode() + b"\n"


def upsert_action(index: str, fqn: str, doc: dict[str, Any]) -> bytes:
    """A catalog document merged into the one there (``doc_as_upsert``): usage and lineage fields survive."""
    return update_action(index, fqn, {"doc": doc, "doc_as_upsert": True})


def percentile_ranks(counts: dict[str, int]) -> dict[str, float]:
    """Each table's percentile rank: the percentage of the *other* tables with a lower count, a tie counting
    half (so the busiest table is 100, the quietest 0, tied tables share a rank; a table alone is 100),
    rounded to two decimals."""
    ordered = sorted(counts.values())
    others = len(ordered) - 1
    ranks = {}
    for table, count in counts.items():
        lower, upto = bisect_left(ordered, count), bisect_right(ordered, count)
        ranks[table] = 100.0 if not others else round(100 * (lower + (upto - lower - 1) / 2) / others, 2)
    return ranks


def not_indexed(reason: str) -> str:
    """A bulk item's reason, said plainly when the table has no document."""
    if "document_missing_exception" in reason:
        return f"not indexed: publish the catalog first ({reason})"
    return reason


def _service(table: str) -> str:
    """The service part of a table FQN (the whole text, should it not parse: it is ranked alone)."""
    try:
        return fqn_.split(table)[0]
    except fqn_.FqnError:
        return table


def _checked(table: str) -> str:
    if len(table.encode()) > MAX_ID_BYTES:
        raise DocumentError(f"table FQN of {len(table.encode())} bytes is longer than a document id may be")
    return table


@dataclass(slots=True, eq=False)
class RecordRef:
    """The record behind one or two update actions: what to dead-letter it with, and whether it failed."""

    ref: Any
    fqn: str
    table: str | None = None
    failed: bool = False


@dataclass(slots=True, eq=False)
class TableRef:
    """An update the publisher makes on its own (a summary, a rank, a carried-over field): no record behind."""

    table: str
    step: str


@dataclass(slots=True)
class _Usage:
    newest: str
    sent: int = 0
    failed: int = 0


Fail = Callable[[str, Any, str], None]
"""``fail(message, ref, fqn)``: a record failed (``ref`` is what the sink gave :meth:`UsagePublisher.add`),
or with ``ref`` None, an update of the table ``fqn`` the publisher made on its own."""


class UsagePublisher:
    """Turns ``table_usage`` and ``lineage`` records into updates of the table documents in ``index``.

    The sink queues them on its :class:`BulkWriter` (after the catalog's actions, so a table published
    in the same run is there first), routes their refusals to :meth:`rejected`, and calls :meth:`finish`
    once the writer is flushed.
    """

    def __init__(self, client: Elasticsearch, index: str, writer: BulkWriter, fail: Fail) -> None:
        self.client = client
        self.index = index
        self.writer = writer
        self.on_fail = fail
        self.now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.records = 0
        """Records queued; :attr:`failed` of them failed."""
        self.failed = 0
        self.dropped = 0
        """Carried-over documents whose table is no longer in the catalog."""
        self.ranked = 0
        self._tables: dict[str, _Usage] = {}
        self._unsummarized: set[str] = set()

    @property
    def applied(self) -> int:
        """Records whose every update went through."""
        return self.records - self.failed

    def add(self, data: dict[str, Any], ref: Any) -> None:
        """Queue the updates of one record given as decoded JSON; raise :class:`DocumentError` for a bad FQN."""
        if data["kind"] == "table_usage":
            self._usage(data, ref)
        else:
            self._lineage(data, ref)
        self.records += 1

    def _usage(self, data: dict[str, Any], ref: Any) -> None:
        table, day = _checked(data["table"]), data["date"]
        entry = {
            "date": day,
            "count": data["count"],
            "users": sorted(set(data.get("users", ()))),
            "joined": [{"table": j["table"], "count": j["count"]} for j in data.get("joined_tables", ())],
        }
        state = self._tables.get(table)
        if state is None:
            state = self._tables[table] = _Usage(day)
        state.newest = max(state.newest, day)
        state.sent += 1
        params = {"days": [entry], "end": None, "window": WINDOW_DAYS, "top": TOP_JOINED, "now": self.now}
        record = RecordRef(ref, f"{table}@{day}", table)
        self._send(table, _script(USAGE_SCRIPT, params), record)

    def _lineage(self, data: dict[str, Any], ref: Any) -> None:
        source, target = _checked(data["from_table"]), _checked(data["to_table"])
        columns = [
            {"to_column": edge["to_column"], "from_columns": sorted(set(edge["from_columns"]))}
            for edge in data.get("columns", ())
        ]
        record = RecordRef(ref, f"{source} -> {target}")
        sides = {target: ([source], [], columns)}
        if source == target:
            sides = {target: ([source], [target], columns)}
        else:
            sides[source] = ([], [target], [])
        for table, (upstream, downstream, edges) in sides.items():
            params = {"upstream": upstream, "downstream": downstream, "columns": edges, "now": self.now}
            self._send(table, _script(LINEAGE_SCRIPT, params), record)

    def _send(self, table: str, body: dict[str, Any], ref: RecordRef | TableRef) -> None:
        self.writer.add(update_action(self.index, table, body), table, ref, counted=False)

    def rejected(self, item: Item, reason: str) -> None:
        """An update refused by the cluster (or not attempted): fail its record once, or its table's step."""
        ref = item.ref
        if isinstance(ref, TableRef):
            if ref.step == "carry-over" and "document_missing_exception" in reason:
                self.dropped += 1  # the table left the catalog: its usage and lineage go with it
                return
            if ref.step == "summary":
                self._unsummarized.add(ref.table)
            self.on_fail(f"{ref.step} of table {ref.table}: {not_indexed(reason)}", None, ref.table)
            return
        if ref.table is not None:
            self._tables[ref.table].failed += 1
        if not ref.failed:
            ref.failed = True
            self.failed += 1
            self.on_fail(f"table {item.fqn}: {not_indexed(reason)}", ref.ref, ref.fqn)

    def carry_over(self, alias: str, size: int) -> None:
        """``replace``: copy ``usage`` and ``lineage`` of the documents behind ``alias`` into :attr:`index`'s."""
        query = {
            "bool": {
                "should": [{"exists": {"field": field}} for field in ("usage.window_end", "lineage.updated_at")],
                "minimum_should_match": 1,
            }
        }
        after: list[Any] | None = None
        with translated():
            self.client.indices.refresh(index=alias)
            while True:
                extra = {"search_after": after} if after is not None else {}
                found = self.client.search(
                    index=alias, query=query, sort=[{"fqn": "asc"}], size=size, source_includes=list(CARRIED), **extra
                )
                hits = found["hits"]["hits"]
                for hit in hits:
                    doc = {key: hit["_source"][key] for key in CARRIED if key in hit["_source"]}
                    self._send(hit["_id"], {"doc": doc}, TableRef(hit["_id"], "carry-over"))
                if len(hits) < size:
                    break
                after = hits[-1]["sort"]

    def finish(self, size: int) -> None:
        """After the records' updates are flushed: summarize over the publish's window, then rank."""
        used = {table: state for table, state in self._tables.items() if state.failed < state.sent}
        if not used or self.writer.breaker.open:
            return
        end = max(state.newest for state in used.values())
        for table, state in used.items():
            if state.newest < end:
                params = {"days": [], "end": end, "window": WINDOW_DAYS, "top": TOP_JOINED, "now": self.now}
                self._send(table, _script(USAGE_SCRIPT, params), TableRef(table, "summary"))
        self.writer.flush()
        if self.writer.breaker.open:
            return
        counts = self._counts([table for table in used if table not in self._unsummarized], size)
        by_service: dict[str, dict[str, int]] = {}
        for table, count in counts.items():
            by_service.setdefault(_service(table), {})[table] = count
        for tables in by_service.values():
            for table, rank in percentile_ranks(tables).items():
                body = {"doc": {"usage": {"percentile_rank": rank}}}
                self._send(table, body, TableRef(table, "percentile rank"))
        self.ranked = len(counts)
        self.writer.flush()

    def _counts(self, tables: Iterable[str], size: int) -> dict[str, int]:
        """``usage.count_30d`` of each table, read back in batches (a realtime ``_mget``)."""
        tables, counts = list(tables), {}
        with translated():
            for start in range(0, len(tables), size):
                batch = tables[start : start + size]
                found = self.client.mget(index=self.index, ids=batch, source_includes=["usage.count_30d"])
                for doc in found["docs"]:
                    count = (doc.get("_source") or {}).get("usage", {}).get("count_30d") if doc.get("found") else None
                    if count is None:
                        self.on_fail(f"table {doc['_id']}: no usage.count_30d to rank it by", None, doc["_id"])
                    else:
                        counts[doc["_id"]] = int(count)
        return counts


def _script(source: str, params: dict[str, Any]) -> dict[str, Any]:
    """An update's body running one of the module's scripts inline: the cluster compiles it once and caches it by its
    source, and no stored script (nor the ``manage`` privilege to store one) is needed."""
    return {"script": {"source": source, "lang": "painless", "params": params}}
