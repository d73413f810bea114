"""A test server that answers like OpenMetadata's REST API for database services, databases, schemas and tables.

Bearer-token check (401), ``GET /api/v1/system/version``, ``GET /api/v1/{users,teams}/name/{name}``,
``GET /api/v1/metadata/types/name/{entity type}`` (its custom properties), and create-or-update ``PUT`` (201
then 200) refused as OpenMetadata of the state's version refuses it (400 with OpenMetadata's message, see
``om_rules.py``) with parents looked up by FQN (404), tags and glossary terms looked up (404 for one the server
lacks, 400 for two of one mutually exclusive classification) and a foreign key's referred columns checked (404
for a missing table, 400 for a missing column), as OpenMetadata does. ``PUT <collection>/bulk`` (databases,
schemas, tables) takes a list of create requests and answers a BulkOperationResult: each item goes
through the same create-or-update, in order, and has its own result; ``bulk = False`` answers it 404
(``no_bulk_status``: 405), as a server without the endpoint does.

Usage and lineage, each body checked against the schemas of the state's version (``om_rules.request_errors``)
and the rules OpenMetadata's repositories apply in code, with their messages: ``GET /api/v1/tables/name/{fqn}``
(404 for a table it lacks); ``POST /api/v1/usage/table/{id}`` (the table's count of the day replaced, its
schema's and database's added to, as OpenMetadata does) and ``GET`` of the same path (``?date=&days=``);
``PUT /api/v1/tables/{id}/joins`` (dates of the last 30 days, columns and joined tables looked up, each pair's
count of the day replaced); ``PUT /api/v1/queries`` (its service, users and ``queryUsedIn`` looked up, named
``service.checksum``, users and tables replaced) and ``GET /api/v1/queries/name/{fqn}``; ``PUT
/api/v1/lineage`` (both ends by id, column lineage checked); ``POST /api/v1/usage/compute.percentile/{entity}/
{date}``. The state keeps ``usage``, ``rollups``, ``joins``, ``queries``, ``lineage`` and ``percentiles`` for
tests to assert on.

Faults can be queued, N times (after M normal answers) or until cleared: an HTTP status (``429`` and
``503`` with ``Retry-After``, ``401``, ``403``, ``500``), ``drop`` (close before answering), ``truncate``
(close halfway through the answer), ``stall`` (half the answer, then nothing for ``slow_seconds``), ``slow``
(answer late), ``hang`` (never answer) or ``echo`` (a 400 quoting the request's ``Authorization`` header,
as some proxies do). ``latency`` adds seconds to every request.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from om_rules import ENTITIES, refusals, request_errors

TOKEN = "test-jwt-eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.sig"

BULK = {f"{endpoint}/bulk": endpoint for endpoint in list(ENTITIES)[1:]}
"""The bulk endpoints (databases, schemas, tables; services have none) and the endpoint of their items."""
FAULTS = ("drop", "truncate", "stall", "slow", "hang", "echo", "revoke")
"""Faults besides a status; ``revoke`` revokes the token, so that this request and every later one is answered 401."""
CLASSIFICATIONS = {
    "PII": (True, ("None", "NonSensitive", "Sensitive")),
    "PersonalData": (True, ("Personal", "SpecialCategory")),
    "Tier": (True, ("Tier1", "Tier2", "Tier3", "Tier4", "Tier5")),
}
"""The classifications a new OpenMetadata server has (mutually exclusive, tags), as its seed data makes them."""


@dataclass
class Call:
    """One request the server received."""

    method: str
    path: str
    body: Any
    status: int
    authorization: str | None
    published: int = 0
    """Entities the call created or updated: 1 for an entity ``PUT`` answered 2xx, the items passed for a bulk one."""


@dataclass
class FakeOpenMetadata:
    """The server's state: entities by type and FQN, users and teams, queued faults, every call."""

    version: str = "1.5.4"
    token: str = TOKEN
    bulk: bool = True
    no_bulk_status: int = 404
    bulk_answers_with: str = "fqn"
    """What a bulk result item's ``request`` holds: ``fqn`` (the entity's FQN) or ``request`` (the create request)."""
    bulk_answers_reversed: bool = False
    """Whether a bulk answer lists its results last item first (nothing says they come in the request's order)."""
    bulk_item_faults: dict[str, str] = field(default_factory=dict)
    """FQN -> ``refuse`` (a 500 item result) or ``omit`` (no result): what the bulk endpoint does to that item."""
    refuse: dict[str, str] = field(default_factory=dict)
    """FQN -> message: a 400 for that entity wherever it is sent, as a rule of a real server this one lacks."""
    max_body_bytes: int | None = None
    """A request body longer than this is answered 413 with an HTML page, as a proxy in front of the server does
    (nginx's ``client_max_body_size``)."""
    redirect: int | None = None
    """Answer every request with this redirect status (301, 302, 307...) to the same path under ``/moved``, which
    is served normally: a proxy sending ``http://`` to ``https://``."""
    latency: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests the server was handling at once."""
    entities: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    users: set[str] = field(default_factory=lambda: {"alice"})
    teams: dict[str, str] = field(default_factory=lambda: {"data-platform": "Group", "engineering": "Department"})
    """Team name -> ``teamType``: only a ``Group`` can own entities."""
    classifications: dict[str, tuple[bool, set[str]]] = field(
        default_factory=lambda: {name: (exclusive, set(tags)) for name, (exclusive, tags) in CLASSIFICATIONS.items()}
    )
    """Classification -> (mutually exclusive, its tag names): the tags a ``Classification`` label may name."""
    glossary_terms: set[str] = field(default_factory=set)
    """Glossary term FQNs (``Glossary.Customer``) a ``Glossary`` label may name."""
    custom_properties: dict[str, dict[str, str]] = field(default_factory=dict)
    """Custom properties by entity type (``table``...): property name to type name (``string``, ``integer``...)."""
    usage: dict[tuple[str, str], int] = field(default_factory=dict)
    """(table FQN, date) -> the table's usage count that day: a ``POST /api/v1/usage/table/{id}`` replaces it."""
    rollups: dict[tuple[str, str, str], int] = field(default_factory=dict)
    """(``database`` or ``databaseSchema``, FQN, date) -> usage count: each POST of a table's usage adds its count to
    its schema's and database's, as OpenMetadata's UsageRepository does (``insertOrUpdateCount``)."""
    joins: dict[tuple[str, str, str], dict[str, int]] = field(default_factory=dict)
    """(``column`` or ``table``, FQN, FQN sorting after it) -> date -> join count; a PUT replaces a date's count."""
    queries: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Query FQN (``service.checksum``) -> the Query entity."""
    lineage: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(from table FQN, to table FQN) -> the edge's lineageDetails (a PUT replaces them)."""
    percentiles: list[tuple[str, str]] = field(default_factory=list)
    """(entity type, date) of every ``POST /api/v1/usage/compute.percentile/{entity}/{date}``."""
    faults: list[tuple[str, str]] = field(default_factory=list)
    persistent: list[tuple[str, str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    slow_seconds: float = 1.0
    retry_after: str = "0"
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, fault: str, times: int | None = 1, path: str = "/api/v1/", after: int = 0) -> None:
        """Answer the next ``times`` requests under ``path`` (None: every one, until :meth:`clear`), after ``after``
        normal answers, with a status (``429``, ``500``, ``503``, ``401``, ``403``) or one of :data:`FAULTS`."""
        assert fault.isdigit() or fault in FAULTS, fault
        with self.lock:
            self.faults += [("ok", path)] * after
            if times is None:
                self.persistent.append((fault, path))
            else:
                self.faults += [(fault, path)] * times

    def clear(self) -> None:
        """Answer normally again."""
        with self.lock:
            self.faults.clear()
            self.persistent.clear()

    def take_fault(self, path: str) -> str | None:
        with self.lock:
            for index, (fault, prefix) in enumerate(self.faults):
                if path.startswith(prefix):
                    del self.faults[index]
                    return None if fault == "ok" else fault
            return next((fault for fault, prefix in self.persistent if path.startswith(prefix)), None)

    def requests_to(self, path: str, method: str = "PUT") -> int:
        """How many ``method`` requests reached paths under ``path``."""
        return sum(1 for call in self.calls if call.method == method and call.path.startswith(path))

    def puts(self) -> list[Call]:
        """The PUT calls, in order."""
        return [call for call in self.calls if call.method == "PUT"]

    def bodies(self, endpoint: str = "/api/v1/") -> list[dict[str, Any]]:
        """Every create request PUT under ``endpoint``, in order, the items of bulk requests one by one."""
        found: list[dict[str, Any]] = []
        for call in self.puts():
            if call.path.startswith(endpoint):
                found += call.body if isinstance(call.body, list) else [call.body]
        return found

    def fqns(self, entity_type: str) -> set[str]:
        return {fqn for kind, fqn in self.entities if kind == entity_type}

    def requests(self, method: str, prefix: str) -> list[Call]:
        """The calls of ``method`` whose path starts with ``prefix``, in order."""
        return [call for call in self.calls if call.method == method and call.path.startswith(prefix)]

    def by_id(self, entity_id: str) -> tuple[str, dict[str, Any]] | None:
        """(entity type, entity) of the entity with ``entity_id``, or None."""
        for (kind, _), entity in self.entities.items():
            if entity["id"] == entity_id:
                return kind, entity
        return None

    def joined(self, fqn: str) -> dict[str, int]:
        """What ``fqn`` (a table or column) is joined with, over all days: the other FQN -> the summed count."""
        found: dict[str, int] = {}
        for (_, first, second), days in self.joins.items():
            if fqn in (first, second):
                found[second if fqn == first else first] = sum(days.values())
        return found

    def user_id(self, name: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, name))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        """Send answers at once: headers and body are two writes, which Nagle's algorithm would hold ~40 ms."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        state = self.server.state
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            time.sleep(state.latency)
            self._serve(method)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _serve(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        if state.max_body_bytes is not None and length > state.max_body_bytes:
            return self._page(method, body, 413, "Request Entity Too Large")
        if state.redirect is not None and not self.path.startswith("/moved/"):
            self._record(method, body, state.redirect)
            self.send_response(state.redirect)
            self.send_header("Location", f"{state.url}/moved{self.path}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.path = self.path.removeprefix("/moved")
        fault = state.take_fault(self.path)
        if fault == "slow":
            time.sleep(state.slow_seconds)
            fault = None
        if fault == "revoke":
            state.token, fault = "revoked", None
        if fault in ("drop", "truncate", "stall", "hang"):
            self._record(method, body, 0)
            if fault == "hang":
                state.released.wait(60)
            elif fault in ("truncate", "stall"):
                self._answer(method, body, 200, {"id": str(uuid.uuid4()), "padding": "x" * 200}, cut=True, record=False)
                if fault == "stall":
                    state.released.wait(state.slow_seconds)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault in ("401", "403"):
            message = (
                "Not Authorized! Token not valid"
                if fault == "401"
                else "Principal: ingestion-bot operations [EditAll] not allowed"
            )
            return self._answer(method, body, int(fault), {"code": int(fault), "message": message})
        if fault == "echo":
            message = f"bad request headers: Authorization: {self.headers.get('Authorization')}"
            return self._answer(method, body, 400, {"code": 400, "message": message})
        if fault is not None:
            return self._answer(method, body, int(fault), {"code": int(fault), "message": f"injected {fault}"})
        authorization = self.headers.get("Authorization")
        if authorization != f"Bearer {state.token}":
            return self._answer(method, body, 401, {"code": 401, "message": "Not Authorized! Token not valid"})
        path = self.path.split("?", 1)[0]
        if method == "GET" and path == "/api/v1/system/version":
            return self._answer(method, body, 200, {"version": state.version, "revision": "test", "timestamp": 0})
        if method == "GET" and path.startswith(("/api/v1/users/name/", "/api/v1/teams/name/")):
            from urllib.parse import unquote

            kind, name = path.split("/")[3], unquote(path.rsplit("/", 1)[1])
            if name in (state.users if kind == "users" else state.teams):
                found = {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "name": name, "fullyQualifiedName": name}
                if kind == "teams":
                    found["teamType"] = state.teams[name]
                return self._answer(method, body, 200, found)
            return self._answer(
                method, body, 404, {"code": 404, "message": f"{kind[:-1]} instance for {name} not found"}
            )
        if method == "GET" and path.startswith("/api/v1/metadata/types/name/"):
            return self._entity_type(path.rsplit("/", 1)[1])
        if method == "PUT" and path in ENTITIES:
            return self._answer(method, body, *self._put(path, body))
        usage = _usage_route(method, path)
        if usage is not None:
            return self._answer(method, body, *usage(self.server.state, path, body, self.path))
        if method == "GET" and path in ENTITIES:  # the list of a kind's entities, as OpenMetadata pages it
            listed = [entity for (kind, _), entity in state.entities.items() if kind == ENTITIES[path][0]]
            return self._answer(method, body, 200, {"data": listed, "paging": {"total": len(listed)}})
        if method == "PUT" and path in BULK and state.bulk:
            return self._answer(method, body, *self._bulk(BULK[path], body))
        if method == "PUT" and path in BULK and state.no_bulk_status == 405:
            return self._answer(method, body, 405, {"code": 405, "message": "HTTP 405 Method Not Allowed"})
        self._answer(method, body, 404, {"code": 404, "message": f"no such endpoint {method} {path}"})

    def _put(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        """Create or update one entity: (201 or 200, the entity), or (4xx, OpenMetadata's error answer)."""
        state = self.server.state
        entity_type, _, parent = ENTITIES[path]
        errors = refusals(state, path, body)
        if errors:
            return 400, {"code": 400, "message": "; ".join(errors)}
        fqn = entity_fqn(path, body)
        if fqn in state.refuse:
            return 400, {"code": 400, "message": state.refuse[fqn]}
        if parent is not None:
            field_name, parent_type = parent
            if (parent_type, body[field_name]) not in state.entities:
                return 404, {"code": 404, "message": f"{parent_type} instance for {body[field_name]} not found"}
        refused = _owner_refusal(state, body) or _tag_refusal(state, body) or _missing_referred_column(state, body)
        if refused is not None:
            return refused[0], {"code": refused[0], "message": refused[1]}
        with state.lock:
            existing = state.entities.get((entity_type, fqn))
            entity = {**body, "id": existing["id"] if existing else str(uuid.uuid4()), "fullyQualifiedName": fqn}
            state.entities[(entity_type, fqn)] = entity
        return 200 if existing else 201, entity

    def _bulk(self, path: str, items: Any) -> tuple[int, dict[str, Any]]:
        """``PUT <collection>/bulk``: each create request in order through :meth:`_put`; a BulkOperationResult."""
        if not isinstance(items, list):
            return 400, {"code": 400, "message": "the body is not a JSON array of create requests"}
        state = self.server.state
        passed: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for item in items:
            fqn = entity_fqn(path, item) if isinstance(item, dict) and isinstance(item.get("name"), str) else None
            fault = state.bulk_item_faults.get(fqn or "")
            if fault == "omit":
                continue
            status, answer = (500, {"message": "injected item failure"}) if fault == "refuse" else self._put(path, item)
            if status < 300:
                request = fqn if state.bulk_answers_with == "fqn" else item
                passed.append({"request": request, "message": "Entity created or updated", "status": status})
            else:
                failed.append({"request": item, "message": answer["message"], "status": status})
        if state.bulk_answers_reversed:
            passed.reverse()
            failed.reverse()
        result = {
            "status": "success" if not failed else "partialSuccess" if passed else "failure",
            "numberOfRowsProcessed": len(items),
            "numberOfRowsPassed": len(passed),
            "numberOfRowsFailed": len(failed),
            "successRequest": passed,
            "failedRequest": failed,
        }
        return 200, result

    def _entity_type(self, name: str) -> None:
        """An entity type with its custom properties (``?fields=customProperties``); 404 for a type not served."""
        if name not in {entity_type for entity_type, _, _ in ENTITIES.values()}:
            return self._answer("GET", None, 404, {"code": 404, "message": f"type instance for {name} not found"})
        defined = self.server.state.custom_properties.get(name, {})
        properties = [{"name": key, "propertyType": {"type": "type", "name": kind}} for key, kind in defined.items()]
        self._answer("GET", None, 200, {"name": name, "category": "entity", "customProperties": properties})

    def _answer(
        self, method: str, body: Any, status: int, answer: dict[str, Any], *, cut: bool = False, record: bool = True
    ) -> None:
        """Answer (``cut``: half the body only, the caller then closes the connection)."""
        if record:
            published = answer.get("numberOfRowsPassed", 1) if method == "PUT" and status < 300 else 0
            self._record(method, body, status, published)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status in (429, 503):
            self.send_header("Retry-After", self.server.state.retry_after)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if cut else data)
        self.wfile.flush()

    def _page(self, method: str, body: Any, status: int, reason: str) -> None:
        """Answer with an HTML error page, as nginx does."""
        self._record(method, body, status)
        title = f"{status} {reason}"
        data = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        data += "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data.encode())
        self.wfile.flush()

    def _record(self, method: str, body: Any, status: int, published: int = 0) -> None:
        state = self.server.state
        with state.lock:
            state.calls.append(Call(method, self.path, body, status, self.headers.get("Authorization"), published))


def entity_fqn(path: str, body: dict[str, Any]) -> str:
    """The FQN the entity of a create request gets: its parent's FQN and its name (quoted when it holds a dot)."""
    parent = ENTITIES[path][2]
    name = _quote(str(body["name"]))
    return f"{body[parent[0]]}.{name}" if parent is not None and parent[0] in body else name


def _owner_refusal(state: FakeOpenMetadata, body: dict[str, Any]) -> tuple[int, str] | None:
    """An owner the server lacks (404), a team that is not a ``Group``, or owners other than several users or one
    team (400): OpenMetadata refuses the entity."""
    owners = body.get("owners") or ([body["owner"]] if body.get("owner") else [])
    if len(owners) > 1 and any(owner["type"] == "team" for owner in owners):
        return 400, (
            "Rule [Multiple Users or Single Team Ownership] validation failed: Entity does not satisfy the rule."
            " Rule context: Validates that an entity has either multiple owners or a single team as the owner."
        )
    for owner in owners:
        names = state.users if owner["type"] == "user" else set(state.teams)
        found = next((name for name in names if str(uuid.uuid5(uuid.NAMESPACE_DNS, name)) == owner["id"]), None)
        if found is None:
            return 404, f"{owner['type']} instance for {owner['id']} not found"
        if owner["type"] == "team" and state.teams[found] != "Group":
            return (
                400,
                f"Team of type {state.teams[found]} can't own entities. Only Team of type Group can own entities.",
            )
    return None


def _tag_refusal(state: FakeOpenMetadata, body: dict[str, Any]) -> tuple[int, str] | None:
    """A tag or glossary term the server lacks (404), or two tags of one mutually exclusive classification on the
    entity or on one column (400): OpenMetadata refuses the entity."""
    for labels in [body.get("tags") or [], *((column.get("tags") or []) for column in body.get("columns") or [])]:
        exclusive: dict[str, str] = {}
        for label in labels:
            tag = label["tagFQN"]
            classification, _, name = tag.partition(".")
            if label.get("source") == "Glossary":
                if tag not in state.glossary_terms:
                    return 404, f"glossaryTerm instance for {tag} not found"
                continue
            mutually_exclusive, names = state.classifications.get(classification, (False, set()))
            if name not in names:
                return 404, f"tag instance for {tag} not found"
            if mutually_exclusive and exclusive.setdefault(classification, tag) != tag:
                return 400, (
                    f"Tag labels {exclusive[classification]} and {tag} are mutually exclusive and can't be assigned"
                    " together"
                )
    return None


def _missing_referred_column(state: FakeOpenMetadata, body: dict[str, Any]) -> tuple[int, str] | None:
    """A foreign key whose referred table (404) or column (400) does not exist: OpenMetadata refuses the table."""
    for constraint in body.get("tableConstraints") or []:
        for column in constraint.get("referredColumns") or []:
            table, name = _split_column(column)
            entity = state.entities.get(("table", table))
            if entity is None:
                return 404, f"table instance for {table} not found"
            if name not in {c["name"] for c in entity.get("columns", [])}:
                return 400, f"Invalid fully qualified column name {column}"
    return None


def _split_column(column: str) -> tuple[str, str]:
    """A column FQN's table FQN and column name (``s.d.sc."t.1"."a.b"`` -> ``s.d.sc."t.1"``, ``a.b``)."""
    match = re.fullmatch(r'(.*)\.("(?:[^"]|"")*"|[^."]+)', column)
    if match is None:
        return column, ""
    name = match.group(2)
    return match.group(1), name[1:-1].replace('""', '"') if name.startswith('"') else name


Answer = tuple[int, dict[str, Any]]

JOIN_DAYS = 30
"""OpenMetadata takes joins dated from today back to 29 days (``CommonUtil.dateInRange(date, 0, 30)``)."""


def _usage_route(method: str, path: str) -> Any:
    """The handler of a usage, joins, query or lineage request (``(state, path, body, raw path) -> (status,
    answer)``), or None when ``path`` is none of them."""
    if method == "GET" and path.startswith("/api/v1/tables/name/"):
        return _get_table
    if method == "POST" and re.fullmatch(r"/api/v1/usage/table/[^/]+", path):
        return _post_usage
    if method == "GET" and re.fullmatch(r"/api/v1/usage/table/[^/]+", path):
        return _get_usage
    if method == "POST" and re.fullmatch(r"/api/v1/usage/compute\.percentile/[^/]+/[^/]+", path):
        return _compute_percentile
    if method == "PUT" and re.fullmatch(r"/api/v1/tables/[^/]+/joins", path):
        return _put_joins
    if method == "PUT" and path == "/api/v1/queries":
        return _put_query
    if method == "GET" and path.startswith("/api/v1/queries/name/"):
        return _get_query
    if method == "PUT" and path == "/api/v1/lineage":
        return _put_lineage
    return None


def _error(status: int, message: str) -> Answer:
    return status, {"code": status, "message": message}


def _get_table(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    """``GET /api/v1/tables/name/{fqn}``: the table (its columns with their FQNs), or 404."""
    from urllib.parse import unquote

    fqn = unquote(path.removeprefix("/api/v1/tables/name/"))
    table = state.entities.get(("table", fqn))
    if table is None:
        return _error(404, f"table instance for {fqn} not found")
    columns = [{**column, "fullyQualifiedName": f"{fqn}.{_quote(column['name'])}"} for column in table["columns"]]
    return 200, {**table, "columns": columns}


def _table_by_id(state: FakeOpenMetadata, table_id: str) -> dict[str, Any] | None:
    found = state.by_id(table_id)
    return found[1] if found is not None and found[0] == "table" else None


def _post_usage(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    """``POST /api/v1/usage/table/{id}``: the table's count for the day replaced, its schema's and database's
    added to."""
    errors = request_errors("usage", body, state.version)
    if errors:
        return _error(400, "; ".join(errors))
    table_id = path.rsplit("/", 1)[1]
    table = _table_by_id(state, table_id)
    if table is None:
        return _error(404, f"table instance for {table_id} not found")
    fqn, date, count = table["fullyQualifiedName"], body["date"], body["count"]
    schema = table["databaseSchema"]
    database = schema.rpartition(".")[0]
    with state.lock:
        state.usage[(fqn, date)] = count
        for kind, name in (("databaseSchema", schema), ("database", database)):
            state.rollups[(kind, name, date)] = state.rollups.get((kind, name, date), 0) + count
    return 201, {"entity": {"id": table_id, "type": "table", "fullyQualifiedName": fqn}, "usage": []}


def _get_usage(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    """``GET /api/v1/usage/table/{id}?date=&days=``: the table's daily counts of ``days`` (1-30) days to ``date``."""
    import datetime
    from urllib.parse import parse_qs, urlsplit

    table_id = path.rsplit("/", 1)[1]
    table = _table_by_id(state, table_id)
    if table is None:
        return _error(404, f"table instance for {table_id} not found")
    query = parse_qs(urlsplit(raw).query)
    days = min(max(int(query.get("days", ["1"])[0]), 1), 30)
    last = datetime.date.fromisoformat(query.get("date", [datetime.date.today().isoformat()])[0])
    dates = [(last - datetime.timedelta(days=offset)).isoformat() for offset in range(days)]
    usage = [
        {"date": date, "dailyStats": {"count": count, "percentileRank": 0.0}}
        for date in dates
        if (count := state.usage.get((table["fullyQualifiedName"], date))) is not None
    ]
    return 200, {"entity": {"id": table_id, "type": "table"}, "usage": usage}


def _compute_percentile(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    _, _, entity, date = path.rsplit("/", 3)
    with state.lock:
        state.percentiles.append((entity, date))
    return 201, {}


def _put_joins(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    """``PUT /api/v1/tables/{id}/joins``: checked as OpenMetadata's ``TableRepository.addJoins`` does; each pair's
    count for the day replaced."""
    import datetime

    errors = request_errors("joins", body, state.version)
    if errors:
        return _error(400, "; ".join(errors))
    table_id = path.split("/")[4]
    table = _table_by_id(state, table_id)
    if table is None:
        return _error(404, f"table instance for {table_id} not found")
    date = body.get("startDate")
    age = (datetime.date.today() - datetime.date.fromisoformat(date)).days if date else -1
    if not 0 <= age < JOIN_DAYS:
        return _error(400, "Date range can only include past 30 days starting today")
    fqn = table["fullyQualifiedName"]
    names = {column["name"] for column in table["columns"]}
    pairs: list[tuple[str, str, str, int]] = []
    for join in body.get("columnJoins") or []:
        if join.get("columnName") not in names:
            return _error(400, f"Invalid column name {join.get('columnName')}")
        for joined in join.get("joinedWith") or []:
            refused = _missing_column(state, joined["fullyQualifiedName"])
            if refused is not None:
                return _error(*refused)
            column = f"{fqn}.{_quote(join['columnName'])}"
            pairs.append(("column", column, joined["fullyQualifiedName"], joined["joinCount"]))
    for joined in body.get("directTableJoins") or []:
        if ("table", joined["fullyQualifiedName"]) not in state.entities:
            return _error(400, f"Invalid table name {joined['fullyQualifiedName']}")
        pairs.append(("table", fqn, joined["fullyQualifiedName"], joined["joinCount"]))
    with state.lock:
        for kind, first, second, count in pairs:
            key = (kind, *sorted((first, second)))
            state.joins.setdefault(key, {})[date] = count  # type: ignore[index]
    return 200, {**table, "joins": {}}


def _missing_column(state: FakeOpenMetadata, column: str) -> tuple[int, str] | None:
    """A column FQN whose table is not on the server (404) or that the table lacks (400), as OpenMetadata answers."""
    table, name = _split_column(column)
    entity = state.entities.get(("table", table))
    if entity is None:
        return 404, f"table instance for {table} not found"
    if name not in {c["name"] for c in entity.get("columns", [])}:
        return 400, f"Invalid fully qualified column name {column}"
    return None


def _put_query(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    """``PUT /api/v1/queries``: create or update the Query named by its checksum (``service.checksum`` from 1.2);
    users, the tables it is used in and usedBy replaced, as OpenMetadata's QueryUpdater does."""
    import hashlib

    errors = request_errors("query", body, state.version)
    if errors:
        return _error(400, "; ".join(errors))
    service = body.get("service")
    if service is not None and ("databaseService", service) not in state.entities:
        return _error(404, f"databaseService instance for {service} not found")
    for user in body.get("users") or []:
        if user not in state.users:
            return _error(404, f"user instance for {user} not found")
    used_in = []
    for reference in body.get("queryUsedIn") or []:
        found = state.by_id(reference["id"])
        if found is None or found[0] != reference["type"]:
            return _error(404, f"{reference['type']} instance for {reference['id']} not found")
        used_in.append({"id": reference["id"], "type": found[0], "fullyQualifiedName": found[1]["fullyQualifiedName"]})
    checksum = hashlib.md5(body["query"].encode(), usedforsecurity=False).hexdigest()
    name = body.get("name") or checksum
    fqn = f"{_quote(service)}.{_quote(name)}" if service is not None else name
    users = [
        {"id": state.user_id(user), "type": "user", "name": user, "fullyQualifiedName": user}
        for user in body.get("users") or []
    ]
    with state.lock:
        existing = state.queries.get(fqn)
        entity = {
            **body,
            "id": existing["id"] if existing else str(uuid.uuid4()),
            "name": name,
            "checksum": checksum,
            "fullyQualifiedName": fqn,
            "users": users,
            "queryUsedIn": used_in,
            "usedBy": body.get("usedBy") or [],
        }
        state.queries[fqn] = entity
    return (200 if existing else 201), entity


def _get_query(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    from urllib.parse import unquote

    fqn = unquote(path.removeprefix("/api/v1/queries/name/"))
    query = state.queries.get(fqn)
    return (200, query) if query is not None else _error(404, f"query instance for {fqn} not found")


def _put_lineage(state: FakeOpenMetadata, path: str, body: Any, raw: str) -> Answer:
    """``PUT /api/v1/lineage``: both ends looked up by id (404), column lineage checked as OpenMetadata's
    ``LineageRepository.validateLineageDetails`` does; the edge's details replaced."""
    errors = request_errors("lineage", body, state.version)
    if errors:
        return _error(400, "; ".join(errors))
    edge = body["edge"]
    ends = []
    for end in (edge["fromEntity"], edge["toEntity"]):
        found = state.by_id(end["id"])
        if found is None or found[0] != end["type"]:
            return _error(404, f"{end['type']} instance for {end['id']} not found")
        ends.append(found[1])
    details = edge.get("lineageDetails") or {}
    columns = details.get("columnsLineage") or []
    if columns and (edge["fromEntity"]["type"], edge["toEntity"]["type"]) != ("table", "table"):
        return _error(400, "Column level lineage is only allowed between two tables.")
    for column in columns:
        for from_column in column.get("fromColumns") or []:
            refused = _missing_column(state, from_column)
            if refused is not None:
                return _error(*refused)
        to_column = column.get("toColumn")
        if to_column is None or not to_column.startswith(ends[1]["fullyQualifiedName"] + "."):
            return _error(400, f"Invalid fully qualified column name {to_column}")
        refused = _missing_column(state, to_column)
        if refused is not None:
            return _error(*refused)
    with state.lock:
        state.lineage[(ends[0]["fullyQualifiedName"], ends[1]["fullyQualifiedName"])] = details
    return 200, {"entity": {"id": edge["fromEntity"]["id"], "type": edge["fromEntity"]["type"]}}


def _quote(name: str) -> str:
    return f'"{name}"' if "." in name else name


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeOpenMetadata

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) is not an error worth a traceback."""


@contextmanager
def serve(state: FakeOpenMetadata | None = None) -> Iterator[FakeOpenMetadata]:
    """Run the test server on 127.0.0.1 on a free port; ``state.url`` is its base URL."""
    state = state or FakeOpenMetadata()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="om-test-server", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
