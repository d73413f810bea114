"""A small Elasticsearch stand-in speaking the HTTP wire protocol the real client uses, for tests.

In memory: indexes (documents by id), aliases and index templates. Routes: root info, index create /
exists / delete / get-alias, ``_index_template``, ``_bulk`` (NDJSON, per-item results), ``_aliases``,
``_alias``, ``_count``, ``_refresh`` and a minimal ``_search``. A new index takes the mappings of the
best matching template, and documents are refused as Elasticsearch refuses them: a field a ``strict``
mapping does not know, a keyword longer than 32766 bytes. Fault injection: :meth:`inject` (errors such as
429 with ``Retry-After``, 401 and 403 as Elasticsearch's security layer words them, a connection closed
before or in the middle of the answer, a request never answered; N times or until cleared),
:meth:`fail_bulk` and :meth:`drop_bulk` (its common cases), :meth:`reject` (per-document errors of your
choosing) and :meth:`lose` (documents acknowledged but never stored).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "8.15.0"
MAX_TERM_BYTES = 32766
Rejection = Callable[[str, dict[str, Any]], tuple[str, str] | None]
FAULTS = ("drop", "truncate", "hang")
"""Faults besides an HTTP status: close before answering, close halfway through the answer, never answer."""
SECURITY_ERRORS = {
    401: "unable to authenticate user [ingest] for REST request [{path}]",
    403: "action [indices:data/write/bulk] is unauthorized for user [ingest] with effective roles [viewer]",
}


@dataclass
class Fault:
    """What to do instead of answering: an HTTP status or one of :data:`FAULTS`; ``times`` None is until cleared."""

    kind: str
    endpoint: str
    times: int | None
    after: int = 0


class FakeElasticsearch:
    """The server's state and fault hooks; ``url`` is where it listens (127.0.0.1, random port)."""

    def __init__(self) -> None:
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}
        self.mappings: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, set[str]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.bulk_requests = 0
        self.alias_calls: list[list[dict[str, Any]]] = []
        self.faults: list[Fault] = []
        self.retry_after = "0"
        self.released = threading.Event()
        self._rejections: list[Rejection] = []
        self._losses: list[Callable[[str], bool]] = []
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (requests left hanging are let go)."""
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def inject(self, fault: int | str, times: int | None = 1, endpoint: str = "_bulk", *, after: int = 0) -> None:
        """Answer ``times`` requests to ``endpoint`` (a path's last part, ``*`` for any; None: every one until
        :meth:`clear`), from the one after the next ``after``, with an HTTP status or one of :data:`FAULTS`."""
        assert fault in FAULTS or isinstance(fault, int), fault
        with self.lock:
            self.faults.append(Fault(str(fault), endpoint, times, after))

    def clear(self) -> None:
        """Answer normally again."""
        with self.lock:
            self.faults.clear()

    def fail_bulk(self, status: int, times: int) -> None:
        """Answer the next ``times`` bulk requests with ``status`` (429, 503...)."""
        self.inject(status, times)

    def drop_bulk(self, times: int = 1) -> None:
        """Read the next ``times`` bulk requests, then close the connection without an answer."""
        self.inject("drop", times)

    def reject(self, rule: Rejection) -> None:
        """Refuse documents: ``rule(doc_id, source)`` returns ``(error_type, reason)`` or None."""
        self._rejections.append(rule)

    def lose(self, rule: Callable[[str], bool]) -> None:
        """Acknowledge the documents whose id ``rule`` picks, but do not store them (a cluster losing writes)."""
        self._losses.append(rule)

    def endpoint_requests(self, endpoint: str) -> int:
        """How many requests reached ``endpoint`` (a path's last part: ``_bulk``, ``_aliases``...)."""
        return sum(1 for _, path in self.requests if path.rstrip("/").rsplit("/", 1)[-1] == endpoint)

    def serving(self, alias: str) -> list[str]:
        """The indexes behind an alias, sorted."""
        return sorted(self.aliases.get(alias, ()))

    def resolve(self, expression: str) -> list[str]:
        """Index names behind a comma-separated list of names, aliases and wildcards."""
        names: list[str] = []
        for part in expression.split(","):
            if part in ("_all", "*"):
                names.extend(self.indexes)
            elif "*" in part:
                names.extend(name for name in self.indexes if fnmatch.fnmatchcase(name, part))
            elif part in self.aliases:
                names.extend(sorted(self.aliases[part]))
            elif part in self.indexes:
                names.append(part)
        return list(dict.fromkeys(names))

    def docs(self, expression: str) -> dict[str, dict[str, Any]]:
        """The documents of an index or alias, by id."""
        return {doc_id: doc for name in self.resolve(expression) for doc_id, doc in self.indexes[name].items()}

    # request handling (called with the lock held)

    def create_index(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        if name in self.indexes or name in self.aliases:
            return 400, _error("resource_already_exists_exception", f"index [{name}] already exists")
        self.indexes[name] = {}
        self.mappings[name] = body.get("mappings") or self._template_mappings(name)
        for alias in body.get("aliases", {}):
            self.aliases.setdefault(alias, set()).add(name)
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def bulk(self, lines: list[bytes], default_index: str | None) -> dict[str, Any]:
        items, errors = [], False
        for i in range(0, len(lines), 2):
            (op, meta), source = next(iter(json.loads(lines[i]).items())), json.loads(lines[i + 1])
            index, doc_id = meta.get("_index", default_index), meta["_id"]
            item, status = {"_index": index, "_id": doc_id}, 201
            targets = self.resolve(index)
            if len(targets) > 1:
                status, item["error"] = 400, _error("illegal_argument_exception", f"alias [{index}] has many indexes")
            elif refused := self._refusal(targets[0] if targets else index, doc_id, source):
                status, item["error"] = 400, {"type": refused[0], "reason": refused[1]}
            else:
                if not targets:
                    self.create_index(index, {})
                    targets = [index]
                docs = self.indexes[targets[0]]
                status = 200 if doc_id in docs else 201
                if not any(rule(doc_id) for rule in self._losses):
                    docs[doc_id] = source
                item.update(_index=targets[0], result="updated" if status == 200 else "created")
            errors = errors or status >= 300
            item["status"] = status
            items.append({op: item})
        return {"took": 1, "errors": errors, "items": items}

    def _template_mappings(self, index: str) -> dict[str, Any]:
        matching = [
            template
            for template in self.templates.values()
            if any(fnmatch.fnmatchcase(index, pattern) for pattern in template["index_patterns"])
        ]
        best = max(matching, key=lambda template: template.get("priority", 0), default={})
        return best.get("template", {}).get("mappings", {})

    def _refusal(self, index: str, doc_id: str, source: dict[str, Any]) -> tuple[str, str] | None:
        refused = next(filter(None, (rule(doc_id, source) for rule in self._rejections)), None)
        mappings = self.mappings.get(index) or self._template_mappings(index)
        return refused or _mapping_error(mappings, source)

    def update_aliases(self, actions: list[dict[str, Any]]) -> tuple[int, Any]:
        for action in actions:  # validate first: the call is all or nothing
            ((verb, spec),) = action.items()
            if spec["index"] not in self.indexes:
                return 404, _error("index_not_found_exception", f"no such index [{spec['index']}]")
        self.alias_calls.append(actions)
        for action in actions:
            ((verb, spec),) = action.items()
            members = self.aliases.setdefault(spec["alias"], set())
            (members.add if verb == "add" else members.discard)(spec["index"])
            if not members:
                del self.aliases[spec["alias"]]
        return 200, {"acknowledged": True}

    def search(self, expression: str, body: dict[str, Any]) -> dict[str, Any]:
        query = body.get("query", {"match_all": {}})
        hits = []
        for name in self.resolve(expression):
            for doc_id, doc in self.indexes[name].items():
                if _matches(query, doc):
                    hits.append({"_index": name, "_id": doc_id, "_score": 1.0, "_source": doc})
        size = body.get("size", 10)
        answer = {
            "took": 1,
            "timed_out": False,
            "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits[:size]},
        }
        if "suggest" in body:
            answer["suggest"] = {name: self._complete(expression, spec) for name, spec in body["suggest"].items()}
        return answer

    def _complete(self, expression: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """A completion suggester: documents with an input starting with the prefix, as analysed words."""
        prefix, field = _words(spec["prefix"]), spec["completion"]["field"]
        options = []
        for name in self.resolve(expression):
            for doc_id, doc in self.indexes[name].items():
                text = next((text for text in doc.get(field) or () if _words(text).startswith(prefix)), None)
                if text is not None:
                    options.append({"text": text, "_index": name, "_id": doc_id, "_score": 1.0, "_source": doc})
        size = spec["completion"].get("size", 5)
        return [{"text": spec["prefix"], "offset": 0, "length": len(spec["prefix"]), "options": options[:size]}]

    def take_fault(self, endpoint: str) -> str | None:
        for fault in self.faults:
            if fault.endpoint in ("*", endpoint):
                if fault.after:
                    fault.after -= 1
                    return None
                if fault.times is not None:
                    fault.times -= 1
                    if not fault.times:
                        self.faults.remove(fault)
                return fault.kind
        return None


def _mapping_error(mapping: dict[str, Any], doc: dict[str, Any], path: str = "") -> tuple[str, str] | None:
    """Elasticsearch's refusal of ``doc`` under ``mapping``: an unknown field under ``strict``, an immense term."""
    properties = mapping.get("properties", {})
    for key, value in doc.items():
        field = f"{path}{key}"
        spec = properties.get(key)
        if spec is None:
            if mapping.get("dynamic") == "strict":
                reason = f"[1:2] mapping set to strict, dynamic introduction of [{key}] within [_doc] is not allowed"
                return "strict_dynamic_mapping_exception", reason
            continue
        keywords = [field] if spec.get("type") == "keyword" else []
        keywords += [f"{field}.{sub}" for sub, s in spec.get("fields", {}).items() if s.get("type") == "keyword"]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and "properties" in spec:
                if error := _mapping_error(spec, item, f"{field}."):
                    return error
            elif keywords and isinstance(item, str) and len(item.encode()) > MAX_TERM_BYTES:
                return "illegal_argument_exception", (
                    f'Document contains at least one immense term in field="{keywords[0]}" (whose UTF8 encoding is '
                    f"longer than the max length {MAX_TERM_BYTES}), all of which were skipped."
                )
    return None


def _matches(query: dict[str, Any], doc: dict[str, Any]) -> bool:
    """``match_all``, ``term`` and ``match`` (any word, case-insensitive) on a top-level field."""
    ((kind, spec),) = query.items()
    if kind == "match_all":
        return True
    ((field, value),) = spec.items()
    value = value.get("value", value.get("query")) if isinstance(value, dict) else value
    actual = doc.get(field.removesuffix(".keyword"))
    values = actual if isinstance(actual, list) else [actual]
    if kind == "term":
        return value in values
    words = str(value).lower().split()
    return any(word in str(item).lower() for item in values for word in words)


def _words(text: str) -> str:
    """Text as the templates' name analyser sees it: lowercase words split at non-word characters and ``_``."""
    return " ".join(word for word in re.split(r"[\W_]+", text.lower()) if word)


def _error(kind: str, reason: str) -> dict[str, Any]:
    return {"error": {"type": kind, "reason": reason, "root_cause": [{"type": kind, "reason": reason}]}}


def _handler(server: FakeElasticsearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._route("GET")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            parts = [part for part in url.path.split("/") if part]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with server.lock:
                server.requests.append((method, url.path))
                if parts and parts[-1] == "_bulk":
                    server.bulk_requests += 1
                fault = server.take_fault(parts[-1] if parts else "/")
                if fault is None:
                    status, body = self._answer(method, parts, raw, parse_qs(url.query))
            if fault is None:
                return self._send(status, body, head=method == "HEAD")
            self._fault(fault, url.path)

        def _fault(self, fault: str, path: str) -> None:
            """Misbehave: answer with a status, or close the connection before, during or instead of answering."""
            if fault.isdigit():
                status = int(fault)
                body = _error("es_rejected_execution_exception", "queue is full")
                if status in SECURITY_ERRORS:
                    body = {**_error("security_exception", SECURITY_ERRORS[status].format(path=path)), "status": status}
                return self._send(status, body)
            if fault == "hang":
                server.released.wait(60)
            elif fault == "truncate":
                self._send(200, {"took": 1, "errors": False, "items": [], "padding": "x" * 200}, cut=True)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _answer(self, method: str, parts: list[str], raw: bytes, query: dict[str, list[str]]) -> tuple[int, Any]:
            if not parts:
                return 200, {
                    "name": "fake",
                    "cluster_name": "fake",
                    "version": {"number": VERSION},
                    "tagline": "You Know, for Search",
                }
            if parts[-1] == "_bulk":
                lines = [line for line in raw.split(b"\n") if line.strip()]
                return 200, server.bulk(lines, parts[0] if len(parts) == 2 else None)
            body = json.loads(raw) if raw else {}
            if parts[0] == "_index_template":
                if method == "PUT":
                    server.templates[parts[1]] = body
                    return 200, {"acknowledged": True}
                found = parts[1] in server.templates
                return (
                    (200, {"index_templates": [{"name": parts[1], "index_template": server.templates[parts[1]]}]})
                    if found
                    else (404, _error("resource_not_found_exception", parts[1]))
                )
            if parts[0] == "_aliases":
                return server.update_aliases(body["actions"])
            if parts[0] == "_alias":
                names = server.resolve(parts[1]) if parts[1] in server.aliases else []
                if not names:
                    return 404, {"error": f"alias [{parts[1]}] missing", "status": 404}
                return 200, {name: {"aliases": {parts[1]: {}}} for name in names}
            if parts[0] == "_refresh":
                return 200, {"_shards": {"total": 1, "successful": 1, "failed": 0}}
            index, names = parts[0], server.resolve(parts[0])
            if len(parts) == 1:
                if method == "PUT":
                    return server.create_index(index, body)
                if not names:
                    return 404, _error("index_not_found_exception", f"no such index [{index}]")
                if method == "DELETE":
                    if "*" in index or index == "_all":  # action.destructive_requires_name, true since 8.0
                        return 400, _error("illegal_argument_exception", "Wildcard expressions are not allowed")
                    for name in names:
                        del server.indexes[name]
                        server.mappings.pop(name, None)
                        for members in server.aliases.values():
                            members.discard(name)
                        server.aliases = {alias: members for alias, members in server.aliases.items() if members}
                    return 200, {"acknowledged": True}
                return 200, {name: {"aliases": {}, "mappings": {}, "settings": {}} for name in names}
            if not names and "*" not in index:
                return 404, _error("index_not_found_exception", f"no such index [{index}]")
            operation = parts[1]
            if operation == "_alias":
                return 200, {
                    name: {"aliases": {a: {} for a, m in server.aliases.items() if name in m}} for name in names
                }
            if operation == "_refresh":
                return 200, {"_shards": {"total": len(names), "successful": len(names), "failed": 0}}
            if operation == "_count":
                return 200, {"count": sum(len(server.indexes[name]) for name in names)}
            if operation == "_search":
                return 200, server.search(index, body)
            if operation == "_doc" and len(parts) == 3:
                doc = server.docs(index).get(parts[2])
                found = {"_index": index, "_id": parts[2], "found": doc is not None}
                return (200, {**found, "_source": doc}) if doc is not None else (404, found)
            return 400, _error("illegal_argument_exception", f"unsupported: {method} /{'/'.join(parts)}")

        def _send(self, status: int, body: Any, head: bool = False, cut: bool = False) -> None:
            """Answer; ``cut`` sends half the body only (the caller then closes the connection)."""
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
            self.send_header("Content-Length", str(len(data)))
            if status in (429, 503):
                self.send_header("Retry-After", server.retry_after)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="security", charset="UTF-8"')
            self.end_headers()
            if not head:
                self.wfile.write(data[: len(data) // 2] if cut else data)
                self.wfile.flush()

    return Handler
