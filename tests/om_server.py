"""A test server that answers like OpenMetadata's REST API for database services, databases, schemas and tables.

Bearer-token check (401), ``GET /api/v1/system/version``, ``GET /api/v1/{users,teams}/name/{name}``,
``GET /api/v1/metadata/types/name/{entity type}`` (its custom properties), and create-or-update ``PUT`` (201
then 200) refused as OpenMetadata of the state's version refuses it (400 with OpenMetadata's message, see
``om_rules.py``) with parents looked up by FQN (404). Faults can be queued, N times or until cleared: an HTTP
status (``429`` and ``503`` with ``Retry-After``, ``401``, ``403``, ``500``), ``drop`` (close before
answering), ``truncate`` (close halfway through the answer), ``slow`` (answer late) or ``hang`` (never answer).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from om_rules import ENTITIES, refusals

TOKEN = "test-jwt-eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2VuLXZhbHVl.sig"


@dataclass
class Call:
    """One request the server received."""

    method: str
    path: str
    body: Any
    status: int
    authorization: str | None


@dataclass
class FakeOpenMetadata:
    """The server's state: entities by type and FQN, users and teams, queued faults, every call."""

    version: str = "1.5.4"
    token: str = TOKEN
    entities: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    users: set[str] = field(default_factory=lambda: {"alice"})
    teams: set[str] = field(default_factory=lambda: {"data-platform"})
    custom_properties: dict[str, dict[str, str]] = field(default_factory=dict)
    """Custom properties by entity type (``table``...): property name to type name (``string``, ``integer``...)."""
    faults: list[tuple[str, str]] = field(default_factory=list)
    persistent: list[tuple[str, str]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    url: str = ""
    slow_seconds: float = 1.0
    retry_after: str = "0"
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, fault: str, times: int | None = 1, path: str = "/api/v1/") -> None:
        """Answer the next ``times`` requests under ``path`` (None: every one, until :meth:`clear`) with a
        status (``429``, ``500``, ``503``, ``401``, ``403``), ``drop``, ``truncate``, ``slow`` or ``hang``."""
        assert fault.isdigit() or fault in ("drop", "truncate", "slow", "hang"), fault
        with self.lock:
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
                    return fault
            return next((fault for fault, prefix in self.persistent if path.startswith(prefix)), None)

    def requests_to(self, path: str, method: str = "PUT") -> int:
        """How many ``method`` requests reached paths under ``path``."""
        return sum(1 for call in self.calls if call.method == method and call.path.startswith(path))

    def puts(self) -> list[Call]:
        """The PUT calls, in order."""
        return [call for call in self.calls if call.method == "PUT"]

    def fqns(self, entity_type: str) -> set[str]:
        return {fqn for kind, fqn in self.entities if kind == entity_type}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        fault = state.take_fault(self.path)
        if fault == "slow":
            time.sleep(state.slow_seconds)
            fault = None
        if fault in ("drop", "truncate", "hang"):
            self._record(method, body, 0)
            if fault == "hang":
                state.released.wait(60)
            elif fault == "truncate":
                self._answer(method, body, 200, {"id": str(uuid.uuid4()), "padding": "x" * 200}, cut=True, record=False)
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
                return self._answer(method, body, 200, {"id": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), "name": name})
            return self._answer(
                method, body, 404, {"code": 404, "message": f"{kind[:-1]} instance for {name} not found"}
            )
        if method == "GET" and path.startswith("/api/v1/metadata/types/name/"):
            return self._entity_type(path.rsplit("/", 1)[1])
        if method == "PUT" and path in ENTITIES:
            return self._put(path, body)
        self._answer(method, body, 404, {"code": 404, "message": f"no such endpoint {method} {path}"})

    def _put(self, path: str, body: Any) -> None:
        state = self.server.state
        entity_type, _, parent = ENTITIES[path]
        errors = refusals(state, path, body)
        if errors:
            return self._answer("PUT", body, 400, {"code": 400, "message": "; ".join(errors)})
        fqn = _quote(body["name"])
        if parent is not None:
            field_name, parent_type = parent
            if (parent_type, body[field_name]) not in state.entities:
                message = f"{parent_type} instance for {body[field_name]} not found"
                return self._answer("PUT", body, 404, {"code": 404, "message": message})
            fqn = f"{body[field_name]}.{fqn}"
        with state.lock:
            existing = state.entities.get((entity_type, fqn))
            entity = {**body, "id": existing["id"] if existing else str(uuid.uuid4()), "fullyQualifiedName": fqn}
            state.entities[(entity_type, fqn)] = entity
        self._answer("PUT", body, 200 if existing else 201, entity)

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
            self._record(method, body, status)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status in (429, 503):
            self.send_header("Retry-After", self.server.state.retry_after)
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if cut else data)
        self.wfile.flush()

    def _record(self, method: str, body: Any, status: int) -> None:
        state = self.server.state
        with state.lock:
            state.calls.append(Call(method, self.path, body, status, self.headers.get("Authorization")))


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
    thread = threading.Thread(target=server.serve_forever, name="om-test-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
