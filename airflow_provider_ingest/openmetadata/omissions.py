"""What a server has no field or type for: counted per kind while bodies are built, reported once per kind."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

MESSAGES = {
    "column_default": "column defaults are not published: OpenMetadata has no field for them ({count} columns)",
    "column_samples": "column samples are not published: OpenMetadata's create requests have no field for them"
    " ({count} columns)",
    "row_count": "row counts are not published: OpenMetadata's create requests have no field for them ({count} tables)",
    "tag_confidence": "tag confidences are not published: OpenMetadata's tag labels have no field for them"
    " ({count} tags)",
    "tag_reason": "tag reasons are not published: {server} has no field for them, 1.10 has ({count} tags)",
    "owners": "owners after the first are not published: {server} takes one owner per entity, 1.5 takes several"
    " ({count} entities)",
    "owner_mix": "owners besides several users or one team are not published: OpenMetadata takes either"
    " ({count} entities)",
    "money": "MONEY columns are published as NUMERIC: {server} has no MONEY type, 1.5 has; the raw type stays in"
    " dataTypeDisplay ({count} columns)",
    "bit": "BIT columns are published as BINARY: {server} has no BIT type, 1.5 has; the raw type stays in"
    " dataTypeDisplay ({count} columns)",
    "scale": "column scales OpenMetadata refuses (without a precision, or greater than it) are not published; the raw"
    " type stays in dataTypeDisplay ({count} columns)",
    "view_definition": "view definitions of tables that are not views are not published: {server} refuses them,"
    " 1.4 takes them ({count} tables)",
    "foreign_key_to_failed": "foreign keys to tables that failed in this run are not published ({count} keys: {names})",
    "no_extension": "custom properties are not published where {server}'s create request has no extension field"
    " ({count} values: {names})",
    "undefined_property": "custom properties OpenMetadata does not define for the entity type are not published"
    " ({count} values: {names})",
    "property_value": "custom property values that do not fit the property's type in OpenMetadata are not published"
    " ({count} values: {names})",
    "property_type": "custom properties of types this provider does not publish (it publishes string, markdown,"
    " sqlQuery, integer, number and timestamp) are not published ({count} values: {names})",
    "join_not_in_openmetadata": "joins with tables or columns that are not in OpenMetadata are not published"
    " ({count} joins: {names})",
    "joins_out_of_range": "joins of days outside the last 29 are not published: OpenMetadata takes joins of the"
    " last 30 days only ({count} table days)",
    "query_count": "query run counts are not published: OpenMetadata's queries have no field for them"
    " ({count} queries)",
    "query_user_by_name": "query users that are not OpenMetadata users are published by name only (usedBy)"
    " ({count} users: {names})",
    "query_table_not_in_openmetadata": "tables a query record names that are not in OpenMetadata are left out of"
    " its queryUsedIn ({count} tables: {names})",
    "queries_unsupported": "queries are not published: {server} names no service for a query, 1.2 does"
    " ({count} queries)",
}
"""Each kind's warning: ``{count}`` items, ``{server}`` (``OpenMetadata 1.4``), ``{names}`` (custom properties)."""

SHOWN_NAMES = 5


class Tally:
    """What one record's body left out, by kind (a key of :data:`MESSAGES`), with the names concerned."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.names: defaultdict[str, set[str]] = defaultdict(set)

    def add(self, kind: str, count: int = 1, name: str | None = None) -> None:
        """Count ``count`` items of ``kind``, naming ``name`` if given."""
        self.counts[kind] += count
        if name is not None:
            self.names[kind].add(name)


class Omissions:
    """Tallies of every record of a run, each record counted once (a second pass over it counts nothing);
    thread-safe."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._total = Tally()
        self._counted: set[str] = set()
        self._lock = threading.Lock()

    def add(self, fqn: str, tally: Tally) -> None:
        """Add the tally of the record ``fqn`` (or of a part of it counted apart), unless it was counted already."""
        with self._lock:
            if fqn in self._counted:
                return
            self._counted.add(fqn)
            for kind, count in tally.counts.items():
                self._total.add(kind, count)
                self._total.names[kind] |= tally.names[kind]

    def messages(self) -> list[str]:
        """One warning per kind counted, in :data:`MESSAGES` order."""
        with self._lock:
            return [
                template.format(count=count, server=self.server, names=_names(self._total.names[kind]))
                for kind, template in MESSAGES.items()
                if (count := self._total.counts[kind])
            ]


def _names(names: set[str]) -> str:
    shown = sorted(names)[:SHOWN_NAMES]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
