"""A small Elasticsearch stand-in speaking the HTTP wire protocol the real client uses, for tests.

In memory: indexes (documents by id), aliases, index templates and stored scripts. Routes: root info, index
create / exists / delete / get-alias, ``_index_template``, ``_mapping`` (get, add fields), ``_bulk`` (NDJSON,
per-item results; ``index``, ``create``, ``delete`` and ``update`` actions: a partial ``doc`` merged,
``doc_as_upsert``, a script by id or inline, ``document_missing_exception``, ``noop``), ``_scripts``,
``_aliases``, ``_alias``, ``_count``, ``_refresh``, ``_mget``, ``_doc`` GET, ``_search`` (the query DSL of
:class:`Query`, sorting, ``search_after``, ``_source`` filtering, completion suggestions), and
``_security/api_key`` (create). Scripts: only the painless sources in :data:`SCRIPTS`,
each run by a Python function doing what it does; any other is refused.

It refuses what Elasticsearch 8/9 refuses where the product relies on it (the rules, with their sources):

- Security (https://www.elastic.co/guide/en/elasticsearch/reference/current/http-clients.html,
  https://www.elastic.co/guide/en/elasticsearch/reference/current/security-api-create-api-key.html): a
  server made with ``users`` or ``api_keys`` answers every request without valid ``Authorization: Basic``
  or ``Authorization: ApiKey base64(id:key)`` credentials with 401 ``security_exception`` and the
  ``WWW-Authenticate`` challenges Elasticsearch sends. Made with neither, it is a cluster with
  ``xpack.security.enabled: false``: credentials are ignored.
- Refresh (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-refresh.html, the
  ``refresh`` parameter of rest-api-spec/src/main/resources/rest-api-spec/api/bulk.json): writes reach
  ``_count``, ``_search`` and suggestions only after ``POST /<index>/_refresh`` or a write with
  ``refresh=true|wait_for`` (as an index with ``index.refresh_interval: -1``: nothing refreshes on a timer);
  ``_doc`` GET, ``_mget`` and updates read the latest version (realtime,
  https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-get.html#realtime).
- Bulk (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html): ``create`` of an
  existing id is a 409 ``version_conflict_engine_exception`` item, ``index`` overwrites, ``delete`` of a
  missing id is a 404 item with ``result: not_found`` (not an error), ``update`` of a missing document a 404
  ``document_missing_exception``; top-level ``errors`` is true when an item carries an ``error``. ``delete``
  does not create a missing index (404 ``index_not_found_exception`` item); the other actions do.
- Index names (https://www.elastic.co/guide/en/elasticsearch/reference/current/indices-create-index.html#indices-create-api-path-params,
  validateIndexOrAliasName in server/src/main/java/org/elasticsearch/cluster/metadata/MetadataCreateIndexService.java):
  lowercase, none of ``\\ / * ? " < > | , # :`` nor a space, not starting with ``-``, ``_`` or ``+``, not
  ``.`` or ``..``, at most 255 bytes: else 400 ``invalid_index_name_exception``. Creating an existing index
  is 400 ``resource_already_exists_exception``; one named as an alias, ``invalid_index_name_exception``.
- Mappings (https://www.elastic.co/guide/en/elasticsearch/reference/current/mapping-types.html,
  https://www.elastic.co/guide/en/elasticsearch/reference/current/dynamic.html,
  https://www.elastic.co/guide/en/elasticsearch/reference/current/nested.html): an unknown field type (in an
  index, a template or a mapping update) is 400 ``mapper_parsing_exception``; under ``dynamic: strict`` (inherited
  by inner objects) a document with an unknown field is refused with ``strict_dynamic_mapping_exception``
  (a 400 item in bulk); a value of the wrong type, a keyword longer than 32766 bytes are refused too.
- Aliases (https://www.elastic.co/guide/en/elasticsearch/reference/current/indices-aliases.html): one
  ``_aliases`` call is atomic: an action naming a missing index fails the whole call with 404
  ``index_not_found_exception`` and nothing changes (a call whose removes find no alias, 404
  ``aliases_not_found_exception``); an action field it does not know is 400 ``x_content_parse_exception``
  (``[add] unknown field [...]``). Writes through an alias go to its ``is_write_index``, else to its only index
  unless that one was added with ``is_write_index: false`` (then the alias has no write index).
- Request size (``http.max_content_length``, default 100mb,
  https://www.elastic.co/guide/en/elasticsearch/reference/current/modules-network.html#http-settings,
  SETTING_HTTP_MAX_CONTENT_LENGTH in server/src/main/java/org/elasticsearch/http/HttpTransportSettings.java):
  a larger body is answered 413 with an empty body, and the connection closed.

Fault injection: :meth:`inject` (errors such as 429 with ``Retry-After``, 401 and 403 as Elasticsearch's
security layer words them, a connection closed before or in the middle of the answer, a request never
answered; N times or until cleared), :meth:`fail_bulk` and :meth:`drop_bulk` (its common cases),
:meth:`reject` (per-document errors of your choosing) and :meth:`lose` (documents acknowledged but never stored).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import datetime
import fnmatch
import hashlib
import json
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

VERSION = "8.15.0"
MAX_TERM_BYTES = 32766
MAX_INDEX_NAME_BYTES = 255
MAX_CONTENT_LENGTH = 100 * 1024 * 1024
"""``http.max_content_length``'s default, 100mb."""
ALIAS_ACTION_FIELDS = frozenset(
    ("index", "indices", "alias", "aliases", "filter", "routing", "index_routing", "search_routing",
     "is_write_index", "is_hidden", "must_exist")
)  # fmt: skip
"""The fields of an ``_aliases`` add or remove action (the AliasActions parser of IndicesAliasesRequest)."""
Rejection = Callable[[str, dict[str, Any]], tuple[str, str] | None]
FAULTS = ("drop", "truncate", "hang", "no_items", "page")
"""Faults besides an HTTP status: close before answering, close halfway through the answer, never answer, a 200
whose JSON has no ``items``, a 200 that is an HTML page (a proxy's)."""
SECURITY_ERRORS = {
    401: "unable to authenticate user [ingest] for REST request [{path}]",
    403: "action [indices:data/write/bulk] is unauthorized for user [ingest] with effective roles [viewer]",
}
NO_ANONYMOUS = "anonymous access is not allowed for this request"
CHALLENGES = ('Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey")
"""The ``WWW-Authenticate`` headers of Elasticsearch's 401 (basic, token and API key realms)."""
FILENAME_CHARS = '\\/*?"<>| ,'
"""Characters an index name may not hold (Strings.INVALID_FILENAME_CHARS), besides ``#`` and ``:``."""
FIELD_TYPES = frozenset(
    {
        "aggregate_metric_double", "alias", "binary", "boolean", "byte", "completion", "constant_keyword",
        "date", "date_nanos", "date_range", "dense_vector", "double", "double_range", "flattened", "float",
        "float_range", "geo_point", "geo_shape", "half_float", "histogram", "integer", "integer_range", "ip",
        "ip_range", "join", "keyword", "long", "long_range", "match_only_text", "nested", "object", "passthrough",
        "percolator", "point", "rank_feature", "rank_features", "scaled_float", "search_as_you_type",
        "semantic_text", "shape", "short", "sparse_vector", "text", "token_count", "unsigned_long", "version",
        "wildcard",
    }
)  # fmt: skip
"""The field types of Elasticsearch 8 (https://www.elastic.co/guide/en/elasticsearch/reference/current/mapping-types.html)."""
DYNAMIC = (True, False, "true", "false", "strict", "runtime")


@dataclass
class Fault:
    """What to do instead of answering: an HTTP status or one of :data:`FAULTS`; ``times`` None is until cleared."""

    kind: str
    endpoint: str
    times: int | None
    after: int = 0


class FakeElasticsearch:
    """The server's state and fault hooks; ``url`` is where it listens (127.0.0.1, random port), without credentials.

    ``users`` (name -> password) and ``api_keys`` (``id:key`` pairs, or encoded) turn security on: every request
    must then carry one of them. ``max_content_length`` is ``http.max_content_length`` in bytes.
    """

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        api_keys: Iterable[str] = (),
        max_content_length: int = MAX_CONTENT_LENGTH,
    ) -> None:
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}
        self.searchable: dict[str, dict[str, dict[str, Any]]] = {}
        """Each index's documents as of its last refresh: what ``_count``, ``_search`` and suggestions see."""
        self.versions: dict[str, dict[str, int]] = {}
        self.uuids: dict[str, str] = {}
        self.mappings: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, set[str]] = {}
        self.write_indexes: dict[str, str] = {}
        self.not_written: set[tuple[str, str]] = set()
        """(alias, index) pairs added with ``is_write_index: false``: never the alias's write index."""
        self.templates: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, dict[str, str]] = {}
        self.users = dict(users or {})
        self.api_keys: dict[str, str] = dict(_api_key(key).split(":", 1) for key in api_keys)
        self.security = bool(self.users or self.api_keys)
        self.max_content_length = max_content_length
        self.requests: list[tuple[str, str]] = []
        self.principals: list[str | None] = []
        """Who each request authenticated as (``elastic``, ``api_key:<id>``), None when security is off."""
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

    def url_of(self, user: str) -> str:
        """The URL with ``user``'s name and password in it (the client sends them as basic auth)."""
        return self.url.replace("//", f"//{quote(user, safe='')}:{quote(self.users[user], safe='')}@", 1)

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

    def missing(self, expression: str) -> str | None:
        """The first name (not a wildcard) of ``expression`` that is neither an index nor an alias."""
        return next(
            (part for part in expression.split(",") if "*" not in part and part != "_all" and not self.resolve(part)),
            None,
        )

    def docs(self, expression: str) -> dict[str, dict[str, Any]]:
        """The documents of an index or alias, by id (realtime: refreshed or not)."""
        return {doc_id: doc for name in self.resolve(expression) for doc_id, doc in self.indexes[name].items()}

    def authenticate(self, header: str | None, path: str) -> tuple[str | None, str | None]:
        """``(principal, None)`` for valid credentials (or any, security off), else ``(None, refusal reason)``."""
        if not self.security:
            return None, None
        scheme, _, value = (header or "").strip().partition(" ")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        name, _, secret = decoded.partition(":")
        if scheme.lower() == "basic" and name and self.users.get(name) == secret:
            return name, None
        if scheme.lower() == "apikey" and name and self.api_keys.get(name) == secret:
            return f"api_key:{name}", None
        if not header:
            return None, f"missing authentication credentials for REST request [{path}]"
        if scheme.lower() == "basic" and name:
            return None, f"unable to authenticate user [{name}] for REST request [{path}]"
        return None, f"unable to authenticate with provided credentials and {NO_ANONYMOUS}"

    def create_api_key(self, body: dict[str, Any]) -> tuple[int, Any]:
        """``POST /_security/api_key``: a new key, accepted from now on."""
        key_id, key = secrets.token_urlsafe(15), secrets.token_urlsafe(16)
        self.api_keys[key_id] = key
        encoded = base64.b64encode(f"{key_id}:{key}".encode()).decode()
        return 200, {"id": key_id, "name": body.get("name"), "api_key": key, "encoded": encoded}

    # request handling (called with the lock held)

    def create_index(self, name: str, body: dict[str, Any]) -> tuple[int, Any]:
        if refusal := _invalid_index_name(name):
            return 400, _error("invalid_index_name_exception", refusal, index=name)
        if name in self.indexes:
            reason = f"index [{name}/{self.uuids[name]}] already exists"
            return 400, _error("resource_already_exists_exception", reason, index=name)
        if name in self.aliases:
            reason = f"Invalid index name [{name}], already exists as alias"
            return 400, _error("invalid_index_name_exception", reason, index=name)
        mappings = body.get("mappings") or self._template_mappings(name)
        if refusal := _definition_error(mappings):
            return 400, _error("mapper_parsing_exception", f"Failed to parse mapping: {refusal}")
        for alias in body.get("aliases", {}):
            if alias in self.indexes:
                reason = f"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias"
                return 400, _error("invalid_alias_name_exception", reason)
        self.indexes[name], self.searchable[name], self.versions[name] = {}, {}, {}
        self.uuids[name] = secrets.token_urlsafe(16)[:22]
        self.mappings[name] = mappings
        for alias, spec in body.get("aliases", {}).items():
            self.aliases.setdefault(alias, set()).add(name)
            if (spec or {}).get("is_write_index"):
                self.write_indexes[alias] = name
            if (spec or {}).get("is_write_index") is False:
                self.not_written.add((alias, name))
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def delete_indexes(self, names: list[str]) -> None:
        for name in names:
            for state in (self.indexes, self.searchable, self.versions, self.uuids, self.mappings):
                state.pop(name, None)
            for members in self.aliases.values():
                members.discard(name)
        self.aliases = {alias: members for alias, members in self.aliases.items() if members}
        self.write_indexes = {a: i for a, i in self.write_indexes.items() if a in self.aliases and i in self.indexes}
        self.not_written = {(alias, index) for alias, index in self.not_written if index in self.indexes}

    def refresh(self, names: Iterable[str]) -> None:
        """Make the indexes' current documents visible to search and count."""
        for name in names:
            self.searchable[name] = dict(self.indexes[name])

    def bulk(self, lines: list[bytes], default_index: str | None, refresh: bool) -> tuple[int, dict[str, Any]]:
        """Run NDJSON actions in order; a malformed action line refuses the whole request (400)."""
        items, written = [], set()
        position = 0
        while position < len(lines):
            try:
                ((op, meta),) = json.loads(lines[position]).items()
            except (ValueError, AttributeError):
                reason = f"Malformed action/metadata line [{position + 1}], expected START_OBJECT"
                return 400, {**_error("illegal_argument_exception", reason), "status": 400}
            if op not in ("index", "create", "update", "delete"):
                reason = (
                    f"Malformed action/metadata line [{position + 1}], expected field [create], [delete], [index] "
                    f"or [update] but found [{op}]"
                )
                return 400, {**_error("illegal_argument_exception", reason), "status": 400}
            index = meta.get("_index", default_index)
            if index is None or (op in ("update", "delete") and "_id" not in meta):
                missing = "index is missing" if index is None else "id is missing"
                reason = f"Validation Failed: 1: {missing};"
                return 400, {**_error("action_request_validation_exception", reason), "status": 400}
            source = None
            if op != "delete":
                position += 1
                source = json.loads(lines[position]) if position < len(lines) else None
            position += 1
            item = self._bulk_item(op, index, meta.get("_id"), source)
            if "error" not in item and item.get("result") not in ("not_found", "noop"):
                written.add(item["_index"])
            items.append({op: item})
        if refresh:
            self.refresh(name for name in written if name in self.indexes)
        return 200, {"took": 1, "errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _bulk_item(self, op: str, index: str, doc_id: str | None, source: Any) -> dict[str, Any]:
        """One bulk action's result: ``index`` overwrites, ``create`` refuses an existing id, ``delete``
        answers ``not_found`` for a missing one, ``update`` as :meth:`_update`."""
        if doc_id is None:
            doc_id = secrets.token_urlsafe(15)
        item: dict[str, Any] = {"_index": index, "_id": doc_id}
        target, refusal = self._write_target(index, op)
        if refusal is not None:
            return {**item, "status": refusal[0], "error": refusal[1]}
        assert target is not None
        item["_index"] = target
        docs, versions = self.indexes[target], self.versions[target]
        if op == "delete":
            if doc_id not in docs:
                return {**item, "_version": versions.get(doc_id, 0) + 1, "result": "not_found", "status": 404}
            del docs[doc_id]
            return self._written(item, target, doc_id, "deleted", 200)
        if op == "update":
            status, result = self._update(target, doc_id, source)
            if "error" in result:
                return {**item, "status": status, "error": {**result["error"], **self._where(target)}}
            if result["result"] == "noop":
                return {**item, "_version": versions.get(doc_id, 1), "result": "noop", "status": 200}
            return self._written(item, target, doc_id, result["result"], status)
        if op == "create" and doc_id in docs:
            reason = f"[{doc_id}]: version conflict, document already exists (current version [{versions[doc_id]}])"
            error = {"type": "version_conflict_engine_exception", "reason": reason, **self._where(target)}
            return {**item, "status": 409, "error": error}
        if refused := self._refusal(target, doc_id, source):
            return {**item, "status": 400, "error": {"type": refused[0], "reason": refused[1], **self._where(target)}}
        created = doc_id not in docs
        if not any(rule(doc_id) for rule in self._losses):
            docs[doc_id] = source
        return self._written(item, target, doc_id, "created" if created else "updated", 201 if created else 200)

    def _written(self, item: dict[str, Any], index: str, doc_id: str, result: str, status: int) -> dict[str, Any]:
        version = self.versions[index][doc_id] = self.versions[index].get(doc_id, 0) + 1
        shards = {"total": 1, "successful": 1, "failed": 0}
        return {**item, "_version": version, "result": result, "_shards": shards, "_seq_no": 0, "_primary_term": 1,
                "status": status}  # fmt: skip

    def _where(self, index: str) -> dict[str, str]:
        return {"index_uuid": self.uuids[index], "shard": "0", "index": index}

    def _write_target(self, index: str, op: str) -> tuple[str | None, tuple[int, dict[str, Any]] | None]:
        """The index a write to ``index`` (a name or an alias) goes to, creating it when missing (not for a
        ``delete``); or the status and error refusing it."""
        if index in self.aliases:
            members = self.aliases[index]
            if index in self.write_indexes:
                return self.write_indexes[index], None
            if len(members) == 1 and (index, only := next(iter(members))) not in self.not_written:
                return only, None
            reason = (
                f"no write index is defined for alias [{index}]. The write index may be explicitly disabled using "
                "is_write_index=false or the alias points to multiple indices without one being designated as a "
                "write index"
            )
            return None, (400, {"type": "illegal_argument_exception", "reason": reason})
        if index in self.indexes:
            return index, None
        if op == "delete":
            return None, (404, {"type": "index_not_found_exception", "reason": f"no such index [{index}]",
                                "index": index})  # fmt: skip
        status, answer = self.create_index(index, {})
        if status != 200:
            return None, (status, {k: v for k, v in answer["error"].items() if k != "root_cause"})
        return index, None

    def _update(self, index: str, doc_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One bulk ``update``: a partial ``doc`` merged (``doc_as_upsert`` inserting it when missing) or a
        stored or inline ``script`` run; a missing document is ``document_missing_exception``."""
        if unknown := sorted(set(body) - {"doc", "doc_as_upsert", "script", "detect_noop"}):
            if "upsert" in unknown or "scripted_upsert" in unknown:
                return 400, {"error": _unsupported("update with upsert")}
            return 400, {"error": _parse_error(f"[UpdateRequest] unknown field [{unknown[0]}]")}
        if ("doc" in body) == ("script" in body):
            reason = "Validation Failed: 1: script or doc is missing;" if "doc" not in body else "can't provide both"
            return 400, {"error": {"type": "action_request_validation_exception", "reason": reason}}
        docs = self.indexes[index]
        old = docs.get(doc_id)
        if old is None and not ("doc" in body and body.get("doc_as_upsert")):
            error = {"type": "document_missing_exception", "reason": f"[{doc_id}]: document missing", "index": index}
            return 404, {"error": {**error, "shard": "0"}}
        if old is None:
            new, result = copy.deepcopy(body["doc"]), "created"
        elif "doc" in body:
            new, result = _merged(old, body["doc"]), "updated"
            if new == old and body.get("detect_noop", True):
                return 200, {"result": "noop"}
        else:
            try:
                new = self._run_script(body["script"], old)
            except ScriptRefused as refused:
                return refused.status, {"error": refused.error}
            if new is None:
                return 200, {"result": "noop"}
            result = "updated"
        if refused := self._refusal(index, doc_id, new):
            return 400, {"error": {"type": refused[0], "reason": refused[1]}}
        if not any(rule(doc_id) for rule in self._losses):
            docs[doc_id] = new
        return (201 if result == "created" else 200), {"result": result}

    def _run_script(self, script: dict[str, Any], source: dict[str, Any]) -> dict[str, Any] | None:
        """Run a script the server implements on a copy of ``source``: the new source, or None for a noop."""
        if "id" in script:
            stored = self.scripts.get(script["id"])
            if stored is None:
                reason = f"unable to find script [{script['id']}] in cluster state"
                raise ScriptRefused(404, {"type": "resource_not_found_exception", "reason": reason})
            text = stored["source"]
        else:
            if script.get("lang", "painless") != "painless":
                reason = f"script_lang not supported [{script['lang']}]"
                raise ScriptRefused(400, {"type": "illegal_argument_exception", "reason": reason})
            text = script["source"]
        run = SCRIPTS.get(_digest(text))
        if run is None:
            raise ScriptRefused(400, _unknown_script(text))
        ctx = {"_source": copy.deepcopy(source), "op": "index"}
        try:
            run(ctx, script.get("params", {}))
        except Exception as error:  # a painless runtime error
            cause = {"type": "script_exception", "reason": "runtime error", "caused_by": {"reason": repr(error)}}
            raise ScriptRefused(
                400, {"type": "illegal_argument_exception", "reason": "failed to execute script", "caused_by": cause}
            ) from None
        if ctx["op"] == "noop":
            return None
        if ctx["op"] != "index":
            raise ScriptRefused(400, _unsupported(f"ctx.op [{ctx['op']}]"))
        return ctx["_source"]

    def put_script(self, script_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        script = body.get("script", {})
        if script.get("lang") != "painless":
            return 400, _error("illegal_argument_exception", f"script_lang not supported [{script.get('lang')}]")
        if _digest(script.get("source", "")) not in SCRIPTS:
            return 400, {
                **_error("script_exception", _unknown_script(script.get("source", ""))["reason"]),
                "status": 400,
            }
        self.scripts[script_id] = {"lang": "painless", "source": script["source"]}
        return 200, {"acknowledged": True}

    def put_mapping(self, names: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        """Add fields to the mappings of ``names`` (all or nothing); a changed type or ``enabled`` is refused."""
        if refusal := _definition_error(body):
            return 400, _error("mapper_parsing_exception", refusal)
        merged = {}
        for name in names:
            mappings = copy.deepcopy(self.mappings.get(name) or {})
            if conflict := _add_properties(mappings.setdefault("properties", {}), body.get("properties", {})):
                return 400, _error("illegal_argument_exception", conflict)
            merged[name] = mappings
        self.mappings.update(merged)
        return 200, {"acknowledged": True}

    def mget(self, expression: str, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        names = self.resolve(expression)
        ids = body.get("ids") or [doc["_id"] for doc in body.get("docs", ())]
        answer = []
        for doc_id in ids:
            name = next((name for name in names if doc_id in self.indexes[name]), names[0] if names else expression)
            doc = self.indexes.get(name, {}).get(doc_id)
            found = {"_index": name, "_id": doc_id, "found": doc is not None}
            if doc is not None:
                found.update(_version=1, _seq_no=0, _primary_term=1, _source=_filter_source(doc, body, query))
            answer.append(found)
        return {"docs": answer}

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
        """Apply ``add``/``remove`` actions all together, or none of them: every action is checked first. A
        ``remove`` finding no alias is skipped (404 ``aliases_not_found_exception`` with ``must_exist``, or when
        no action of the call changes anything)."""
        planned = {alias: set(members) for alias, members in self.aliases.items()}
        writes = dict(self.write_indexes)
        not_written = set(self.not_written)
        changed = False
        for action in actions:
            ((verb, spec),) = action.items()
            if verb not in ("add", "remove"):
                return 400, _error("illegal_argument_exception", f"alias action [{verb}] is not implemented")
            if unknown := sorted(set(spec) - ALIAS_ACTION_FIELDS):
                return 400, _parse_error(f"[{verb}] unknown field [{unknown[0]}]")
            names = [spec["index"]] if "index" in spec else spec.get("indices", [])
            aliases = [spec["alias"]] if "alias" in spec else spec.get("aliases", [])
            indexes = []
            for name in names:
                if missing := self.missing(name):
                    return 404, _error("index_not_found_exception", f"no such index [{missing}]", index=missing)
                indexes.extend(self.resolve(name))
            for alias in aliases:
                if verb == "add":
                    if alias in self.indexes:
                        reason = (
                            f"Invalid alias name [{alias}]: an index or data stream exists with the same name as "
                            "the alias"
                        )
                        return 400, _error("invalid_alias_name_exception", reason)
                    planned.setdefault(alias, set()).update(indexes)
                    changed = True
                    if spec.get("is_write_index"):
                        writes[alias] = indexes[-1]
                    for name in indexes:
                        (not_written.add if spec.get("is_write_index") is False else not_written.discard)((alias, name))
                    continue
                if not planned.get(alias, set()) & set(indexes):
                    if spec.get("must_exist"):
                        return 404, _error("aliases_not_found_exception", f"aliases [{alias}] missing")
                    continue  # nothing to remove: skipped, unless no action of the call does anything
                changed = True
                planned[alias] -= set(indexes)
                not_written -= {(alias, name) for name in indexes}
                if writes.get(alias) in indexes:
                    del writes[alias]
        if not changed:
            names = ",".join(spec.get("alias", "") for action in actions for spec in action.values())
            return 404, _error("aliases_not_found_exception", f"aliases [{names}] missing")
        self.alias_calls.append(actions)
        self.aliases = {alias: members for alias, members in planned.items() if members}
        self.write_indexes = {alias: index for alias, index in writes.items() if alias in self.aliases}
        self.not_written = not_written
        return 200, {"acknowledged": True}

    def search(self, expression: str, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
        """``query`` (see :class:`Query`), ``sort`` (fields, ``missing``, min/max of many values),
        ``search_after``, ``from``/``size``, ``_source`` filtering, and completion ``suggest``."""
        hits = []
        for name in self.resolve(expression):
            matcher = Query(self.mappings.get(name) or {})
            for doc_id, doc in self.searchable[name].items():
                if matcher.matches(body.get("query", {"match_all": {}}), doc):
                    hits.append({"_index": name, "_id": doc_id, "_score": 1.0, "_source": doc})
        if "sort" in body:
            hits = _sorted(hits, body["sort"], body.get("search_after"), self.mappings, expression)
        elif "search_after" in body:
            raise QueryRefused("illegal_argument_exception", "Sort must contain at least one field.")
        start, size = body.get("from", 0), body.get("size", 10)
        for hit in hits:
            hit["_source"] = _filter_source(hit["_source"], body, query)
        answer = {
            "took": 1,
            "timed_out": False,
            "hits": {"total": {"value": len(hits), "relation": "eq"}, "hits": hits[start : start + size]},
        }
        if "suggest" in body:
            answer["suggest"] = {name: self._complete(expression, spec) for name, spec in body["suggest"].items()}
        return answer

    def count(self, expression: str, body: dict[str, Any]) -> int:
        total = 0
        for name in self.resolve(expression):
            matcher = Query(self.mappings.get(name) or {})
            query = body.get("query", {"match_all": {}})
            total += sum(1 for doc in self.searchable[name].values() if matcher.matches(query, doc))
        return total

    def _complete(self, expression: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """A completion suggester: documents with an input starting with the prefix, as analysed words."""
        prefix, field = _words(spec["prefix"]), spec["completion"]["field"]
        options = []
        for name in self.resolve(expression):
            for doc_id, doc in self.searchable[name].items():
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


def _usage_script(ctx: dict[str, Any], params: dict[str, Any]) -> None:
    """``USAGE_SCRIPT`` of airflow_provider_ingest.elasticsearch.usage, line by line: merge ``params.days`` into
    ``usage.daily`` by date (the new entry wins), keep the days of the window ending at ``params.end`` (else
    the stored ``window_end``) or the newest day, whichever is later, and recompute the summary from them."""
    source = ctx["_source"]
    u = source.get("usage")
    if u is None:
        u = source["usage"] = {}
    days: dict[str, Any] = {}
    for d in u.get("daily") or []:
        days[d["date"]] = d
    for d in params["days"]:
        days[d["date"]] = d
    end = params["end"]
    if end is None:
        end = u.get("window_end")
    if days and (end is None or max(days) > end):
        end = max(days)
    if end is None:
        ctx["op"] = "noop"
        return
    start = (datetime.date.fromisoformat(end) - datetime.timedelta(days=params["window"] - 1)).isoformat()
    last = u.get("last_day")
    if days and (last is None or max(days) > last):
        last = max(days)
    kept, count, users, joined = [], 0, set(), {}
    for key in sorted(days):
        if key >= start:
            d = days[key]
            kept.append(d)
            count += d["count"]
            users.update(d["users"])
            for j in d["joined"]:
                joined[j["table"]] = joined.get(j["table"], 0) + j["count"]
    top = sorted(({"table": t, "count": c} for t, c in joined.items()), key=lambda p: (-p["count"], p["table"]))
    u["daily"] = kept
    u["count_30d"] = count
    u["users_30d"] = len(users)
    u["users"] = sorted(users)
    u["frequently_joined"] = top[: params["top"]]
    u["last_day"] = last
    u["window_end"] = end
    u["updated_at"] = params["now"]


def _lineage_script(ctx: dict[str, Any], params: dict[str, Any]) -> None:
    """``LINEAGE_SCRIPT`` of airflow_provider_ingest.elasticsearch.usage: ``upstream``, ``downstream`` and the
    column edges (``to_column`` -> ``from_columns``) unioned into ``lineage`` as sorted sets; a noop when
    nothing is new."""
    source = ctx["_source"]
    lineage = source.get("lineage")
    if lineage is None:
        lineage = source["lineage"] = {}
    changed = False
    for side in ("upstream", "downstream"):
        merged = set(lineage.get(side) or ()) | set(params[side])
        if lineage.get(side) is None or len(merged) != len(lineage[side]):
            changed = True
            lineage[side] = sorted(merged)
    columns: dict[str, set[str]] = {}
    before = 0
    if lineage.get("columns") is not None:
        for c in lineage["columns"]:
            columns[c["to_column"]] = set(c["from_columns"])
            before += len(c["from_columns"])
    for c in params["columns"]:
        columns.setdefault(c["to_column"], set()).update(c["from_columns"])
    after = sum(len(sources) for sources in columns.values())
    if lineage.get("columns") is None or after != before:
        changed = True
        lineage["columns"] = [{"to_column": k, "from_columns": sorted(v)} for k, v in sorted(columns.items())]
    if changed:
        lineage["updated_at"] = params["now"]
    else:
        ctx["op"] = "noop"


SCRIPTS: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "a848419b107d7717794c7b0b2962111e89178d22fab32ed9f014a81ca4258201": _usage_script,
    "60b87b59074c839017e6bb6ca7e2524b95c254318ad67d1e73dbe63bca89ee78": _lineage_script,
}
"""The painless scripts this server runs, by the SHA-256 of their exact source: each Python function does what
that source does. Any other script (a changed one included) is refused as a compile error."""


def _mapping_error(
    mapping: dict[str, Any], doc: dict[str, Any], path: str = "", dynamic: str | None = None
) -> tuple[str, str] | None:
    """Elasticsearch's refusal of ``doc`` under ``mapping``: an unknown field under ``strict`` (inherited by
    inner objects), a value of the wrong type (an object for a concrete field or the reverse, a number or
    date that does not parse), an immense keyword."""
    properties = mapping.get("properties", {})
    dynamic = mapping.get("dynamic", dynamic)
    for key, value in doc.items():
        field = f"{path}{key}"
        spec = properties.get(key)
        if spec is None:
            if dynamic == "strict":
                where = path.rstrip(".") or "_doc"
                reason = f"[1:2] mapping set to strict, dynamic introduction of [{key}] within [{where}] is not allowed"
                return "strict_dynamic_mapping_exception", reason
            continue
        if spec.get("enabled") is False:
            continue  # kept in _source, not parsed
        keywords = [field] if spec.get("type") == "keyword" else []
        keywords += [f"{field}.{sub}" for sub, s in spec.get("fields", {}).items() if s.get("type") == "keyword"]
        is_object = "properties" in spec or spec.get("type") in ("object", "nested")
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if is_object != isinstance(item, dict):
                reason = (
                    f"object mapping for [{field}] tried to parse field [{field}] as object, but found a concrete value"
                    if is_object
                    else f"failed to parse field [{field}] of type [{spec.get('type')}]"
                )
                return ("document_parsing_exception" if is_object else "mapper_parsing_exception"), reason
            if is_object:
                if error := _mapping_error(spec, item, f"{field}.", dynamic):
                    return error
            elif not _parses(spec.get("type", ""), item):
                return "document_parsing_exception", f"failed to parse field [{field}] of type [{spec['type']}]"
            elif keywords and isinstance(item, str) and len(item.encode()) > MAX_TERM_BYTES:
                return "illegal_argument_exception", (
                    f'Document contains at least one immense term in field="{keywords[0]}" (whose UTF8 encoding is '
                    f"longer than the max length {MAX_TERM_BYTES}), all of which were skipped."
                )
    return None


def _parses(kind: str, value: Any) -> bool:
    """Whether a field of this type takes the value (numbers coerce from numeric strings, as by default)."""
    if kind in ("long", "integer", "short", "byte", "float", "double", "scaled_float"):
        if isinstance(value, bool):
            return False
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                return False
        return isinstance(value, (int, float, str))
    if kind == "date":
        return isinstance(value, int) or (isinstance(value, str) and _date(value) is not None)
    return True


def _date(value: str) -> datetime.datetime | None:
    """A date as ``strict_date_optional_time`` reads it (a date, or a date and time with a zone), or None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?", value):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


class QueryRefused(Exception):
    """A search Elasticsearch would refuse (or one this server does not implement): answered 400."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind, self.reason = kind, reason


class ScriptRefused(Exception):
    """An update script that cannot run: its status and Elasticsearch's error object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("reason"))
        self.status, self.error = status, error


NUMERIC = ("long", "integer", "short", "byte", "float", "double", "scaled_float")


def _field_spec(mappings: dict[str, Any], field: str) -> dict[str, Any] | None:
    """The mapping of a dotted field (``usage.count_30d``, ``name.keyword``), or None when unmapped."""
    spec: dict[str, Any] | None = {"properties": mappings.get("properties", {})}
    for part in field.split("."):
        if spec is None:
            return None
        spec = spec.get("properties", {}).get(part) or spec.get("fields", {}).get(part)
    return spec


def _values(doc: Any, field: str) -> list[Any]:
    """Every value at a dotted path, arrays of objects flattened as Elasticsearch indexes them."""
    found = [doc]
    for part in field.split("."):
        step = []
        for item in found:
            for value in item if isinstance(item, list) else [item]:
                if isinstance(value, dict) and part in value:
                    step.append(value[part])
        found = step
    flat: list[Any] = []
    for value in found:
        flat.extend(value if isinstance(value, list) else [value])
    return [value for value in flat if value is not None]


class Query:
    """The query DSL this server runs on one index: ``match_all``, ``term``, ``terms``, ``match`` (any word,
    analysed as the field's analyser does), ``exists``, ``range`` (numbers and dates) and ``bool`` (``must``,
    ``filter``, ``should`` with ``minimum_should_match``, ``must_not``). Anything else is refused, 400."""

    def __init__(self, mappings: dict[str, Any]) -> None:
        self.mappings = mappings

    def matches(self, query: dict[str, Any], doc: dict[str, Any]) -> bool:
        if len(query) != 1:
            raise QueryRefused("parsing_exception", "[_na] query malformed, must start with start_object")
        ((kind, spec),) = query.items()
        if kind == "match_all":
            return True
        if kind == "bool":
            return self._bool(spec, doc)
        if kind == "exists":
            return bool(_values(doc, spec["field"]))
        if kind not in ("term", "terms", "match", "range"):
            raise QueryRefused("parsing_exception", f"unknown query [{kind}] (not implemented by the test server)")
        ((field, value),) = spec.items()
        mapped = _field_spec(self.mappings, field)
        actual = _values(doc, field.removesuffix(".keyword").removesuffix(".raw"))
        if kind == "range":
            return any(self._in_range(item, value, mapped) for item in actual)
        if kind == "terms":
            return any(self._normal(item, field) in {self._normal(v, field) for v in value} for item in actual)
        value = value.get("value", value.get("query")) if isinstance(value, dict) else value
        if kind == "term":
            return self._normal(value, field) in {self._normal(item, field) for item in actual}
        words = set(_analysed(str(value), mapped))
        return any(words & set(_analysed(str(item), mapped)) for item in actual)

    def _bool(self, spec: dict[str, Any], doc: dict[str, Any]) -> bool:
        def clauses(key: str) -> list[dict[str, Any]]:
            found = spec.get(key, [])
            return found if isinstance(found, list) else [found]

        if unknown := set(spec) - {"must", "filter", "should", "must_not", "minimum_should_match"}:
            raise QueryRefused("parsing_exception", f"[bool] query does not support [{sorted(unknown)[0]}]")
        if not all(self.matches(query, doc) for query in clauses("must") + clauses("filter")):
            return False
        if any(self.matches(query, doc) for query in clauses("must_not")):
            return False
        should = clauses("should")
        required = spec.get("minimum_should_match", 0 if clauses("must") + clauses("filter") else 1 if should else 0)
        return sum(self.matches(query, doc) for query in should) >= int(required)

    def _normal(self, value: Any, field: str) -> Any:
        """A term as the field stores it: the ``.keyword`` subfield of a name is lowercased (its normalizer)."""
        spec = _field_spec(self.mappings, field)
        return str(value).lower() if spec and spec.get("normalizer") else value

    def _in_range(self, item: Any, bounds: dict[str, Any], spec: dict[str, Any] | None) -> bool:
        if unknown := set(bounds) - {"gt", "gte", "lt", "lte", "format"}:
            raise QueryRefused("parsing_exception", f"[range] query does not support [{sorted(unknown)[0]}]")
        kind = (spec or {}).get("type")

        def key(value: Any) -> Any:
            if kind == "date":
                parsed = _date(str(value))
                if parsed is None:
                    raise QueryRefused("parse_exception", f"failed to parse date field [{value}] (no date math here)")
                return parsed
            return float(value) if kind in NUMERIC else str(value)

        value = key(item)
        tests = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
        return all(tests[op](key(bound)) for op, bound in bounds.items() if op != "format")


def _analysed(text: str, spec: dict[str, Any] | None) -> list[str]:
    """The terms a field's analyser makes: the name analyser splits at ``_`` too, ``standard`` does not;
    a keyword is one term."""
    if spec is not None and spec.get("type") == "keyword":
        return [text.lower() if spec.get("normalizer") else text]
    pattern = r"[\W_]+" if spec is not None and spec.get("analyzer") == "name_analyzer" else r"\W+"
    return [word for word in re.split(pattern, text.lower()) if word]


def _sorted(
    hits: list[dict[str, Any]],
    sort: Any,
    after: list[Any] | None,
    mappings: dict[str, dict[str, Any]],
    expression: str,
) -> list[dict[str, Any]]:
    """Hits in ``sort`` order (after ``search_after``), each with its ``sort`` values and a null ``_score``."""
    keys = []
    for entry in sort if isinstance(sort, list) else [sort]:
        field, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        options = {"order": options} if isinstance(options, str) else options
        if field in ("_doc", "_score"):
            keys.append((field, "desc" if field == "_score" else "asc", "_last", None))
            continue
        specs = [_field_spec(index_mappings, field) for index_mappings in mappings.values()]
        spec = next((spec for spec in specs if spec), None)
        if spec is None and "unmapped_type" not in options:
            raise QueryRefused("query_shard_exception", f"No mapping found for [{field}] in order to sort on")
        kind = (spec or {}).get("type", options.get("unmapped_type"))
        if kind == "text":
            raise QueryRefused(
                "illegal_argument_exception",
                f"Fielddata is disabled on [{field}] in [{expression}]. Text fields are not optimised for operations "
                "that require per-document field data like aggregations and sorting, so these operations are "
                "disabled by default. Please use a keyword field instead.",
            )
        order = options.get("order", "desc" if field == "_score" else "asc")
        keys.append((field, order, options.get("missing", "_last"), kind))

    def values(hit: dict[str, Any]) -> list[Any]:
        found = []
        for field, order, missing, kind in keys:
            if field == "_doc" or field == "_score":
                found.append(1.0 if field == "_score" else 0)
                continue
            present = _values(hit["_source"], field)
            if kind == "date":
                present = [int(_date(str(v)).timestamp() * 1000) for v in present]  # type: ignore[union-attr]
            if present:
                found.append(min(present) if order == "asc" else max(present))
            elif kind in NUMERIC or kind == "date":  # the stand-in Elasticsearch sorts and returns
                last = (missing == "_last") == (order == "asc")
                found.append(2**63 - 1 if last else -(2**63))
            else:
                found.append(None)
        return found

    def rank(sort_values: list[Any]) -> tuple[Any, ...]:
        key = []
        for (_, order, missing, _), value in zip(keys, sort_values, strict=True):
            if value is None:  # a keyword with no value: first or last as ``missing`` says
                key.append((0 if missing == "_first" else 2, 0))
            else:
                key.append((1, _Reversed(value) if order == "desc" else value))
        return tuple(key)

    for hit in hits:
        hit["sort"], hit["_score"] = values(hit), None
    ordered = sorted(hits, key=lambda hit: rank(hit["sort"]))
    if after is not None:
        if len(after) != len(keys):
            raise QueryRefused("illegal_argument_exception", "search_after has a different number of sort values")
        ordered = [hit for hit in ordered if rank(hit["sort"]) > rank(after)]
    return ordered


class _Reversed:
    """A sort value ordered backwards (for ``desc``)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    def __gt__(self, other: _Reversed) -> bool:
        return bool(self.value < other.value)


def _filter_source(doc: dict[str, Any], body: dict[str, Any], query: dict[str, list[str]]) -> Any:
    """``_source`` as asked: ``_source`` in the body (a flag, fields, or includes/excludes) or the
    ``_source_includes``/``_source_excludes`` parameters; a field names itself and everything under it."""
    spec = body.get("_source", True)
    includes = [f for value in query.get("_source_includes", ()) for f in value.split(",")]
    excludes = [f for value in query.get("_source_excludes", ()) for f in value.split(",")]
    if spec is False:
        return None
    if isinstance(spec, (str, list)):
        includes += [spec] if isinstance(spec, str) else spec
    elif isinstance(spec, dict):
        includes += spec.get("includes", [])
        excludes += spec.get("excludes", [])
    return _pick(doc, includes, excludes, "")


def _pick(doc: dict[str, Any], includes: list[str], excludes: list[str], path: str) -> dict[str, Any]:
    picked = {}
    for key, value in doc.items():
        field = f"{path}{key}"
        if any(fnmatch.fnmatchcase(field, pattern) for pattern in excludes):
            continue
        if not includes or any(fnmatch.fnmatchcase(field, p) or field.startswith(p + ".") for p in includes):
            picked[key] = _pick(value, [], excludes, f"{field}.") if isinstance(value, dict) and excludes else value
        elif isinstance(value, dict) and any(p.startswith(f"{field}.") for p in includes):
            inner = _pick(value, includes, excludes, f"{field}.")
            if inner:
                picked[key] = inner
    return picked


def _merged(old: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """A partial document merged as the update API merges it: objects key by key, anything else replaced."""
    merged = copy.deepcopy(old)
    for key, value in doc.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _add_properties(existing: dict[str, Any], added: dict[str, Any], path: str = "") -> str | None:
    """Merge new fields into ``existing``; the reason a change is refused (a type or ``enabled``), or None."""
    for name, spec in added.items():
        field, have = f"{path}{name}", existing.get(name)
        if have is None:
            existing[name] = copy.deepcopy(spec)
            continue
        types = [s.get("type", "object" if "properties" in s or "enabled" in s else None) for s in (have, spec)]
        if types[0] != types[1]:
            return f"mapper [{field}] cannot be changed from type [{types[0]}] to [{types[1]}]"
        if have.get("enabled", True) != spec.get("enabled", True):
            return f"Mapper for [{field}] conflicts with existing mapper: Cannot update parameter [enabled]"
        inner = spec.get("properties")
        if inner and (conflict := _add_properties(have.setdefault("properties", {}), inner, f"{field}.")):
            return conflict
    return None


def _words(text: str) -> str:
    """Text as the templates' name analyser sees it: lowercase words split at non-word characters and ``_``."""
    return " ".join(word for word in re.split(r"[\W_]+", text.lower()) if word)


def _error(kind: str, reason: str, **details: Any) -> dict[str, Any]:
    cause = {"type": kind, "reason": reason, **details}
    return {"error": {"root_cause": [cause], **cause}}


def _api_key(key: str) -> str:
    """An API key as ``id:key``, from that form or its base64 encoding (what ``ApiKey`` headers carry)."""
    if ":" in key:
        return key
    return base64.b64decode(key).decode()


def _invalid_index_name(name: str) -> str | None:
    """Why Elasticsearch refuses ``name`` for a new index (``Invalid index name [...], ...``), or None."""
    if any(c in FILENAME_CHARS for c in name):
        why = 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
    elif "#" in name or ":" in name:
        why = f"must not contain '{'#' if '#' in name else ':'}'"
    elif name[:1] in ("_", "-", "+"):
        why = "must not start with '_', '-', or '+'"
    elif len(name.encode()) > MAX_INDEX_NAME_BYTES:
        why = f"index name is too long, ({len(name.encode())} > {MAX_INDEX_NAME_BYTES})"
    elif name in (".", ".."):
        why = "must not be '.' or '..'"
    elif name.lower() != name:
        why = "must be lowercase"
    else:
        return None
    return f"Invalid index name [{name}], {why}"


def _definition_error(mappings: dict[str, Any], path: str = "") -> str | None:
    """Why Elasticsearch refuses a mapping definition (an unknown field type or ``dynamic`` value), or None."""
    if mappings.get("dynamic", True) not in DYNAMIC:
        return f"Could not convert [{path or '_doc'}.dynamic] to boolean, strict or runtime"
    for name, spec in (mappings.get("properties") or {}).items():
        kind = spec.get("type", "object")
        if kind not in FIELD_TYPES:
            return f"No handler for type [{kind}] declared on field [{path}{name}]"
        for sub, sub_spec in (spec.get("fields") or {}).items():
            if sub_spec.get("type", "object") not in FIELD_TYPES:
                return f"No handler for type [{sub_spec.get('type')}] declared on field [{sub}]"
        if kind in ("object", "nested") and (inner := _definition_error(spec, f"{path}{name}.")):
            return inner
    return None


def _unsupported(what: str) -> dict[str, Any]:
    """An item or request error for a feature this server does not implement (a real one would run it)."""
    return {"type": "illegal_argument_exception", "reason": f"{what} is not implemented by the test server"}


def _parse_error(reason: str) -> dict[str, Any]:
    return {"type": "x_content_parse_exception", "reason": reason}


def _digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _unknown_script(source: str) -> dict[str, Any]:
    """The refusal of a script this server does not implement, as a compile error: it runs no painless."""
    reason = f"compile error: the test server runs only the scripts it implements, not sha256 {_digest(source)}"
    return {"type": "script_exception", "reason": reason, "lang": "painless"}


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
            parts = [unquote(part) for part in url.path.split("/") if part]
            length = int(self.headers.get("Content-Length") or 0)
            with server.lock:
                server.requests.append((method, url.path))
                if parts and parts[-1] == "_bulk":
                    server.bulk_requests += 1
                fault = server.take_fault(parts[-1] if parts else "/")
                principal, refusal = server.authenticate(self.headers.get("Authorization"), url.path)
                server.principals.append(principal)
            if fault is not None:
                self.rfile.read(length)
                return self._fault(fault, url.path)
            if refusal is not None:
                self.rfile.read(length)
                header = {"WWW-Authenticate": list(CHALLENGES)}
                return self._send(401, {**_error("security_exception", refusal, header=header), "status": 401})
            if length > server.max_content_length:
                self._drain(length)
                self.close_connection = True
                return self._send(413, None)
            raw = self.rfile.read(length)
            with server.lock:
                status, body = self._answer(method, parts, raw, parse_qs(url.query, keep_blank_values=True))
            self._send(status, body, head=method == "HEAD")

        def _drain(self, length: int) -> None:
            """Read and drop a body (so the client, still sending, sees the answer and not a reset)."""
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    return
                length -= len(chunk)

        def _fault(self, fault: str, path: str) -> None:
            """Misbehave: answer with a status, or close the connection before, during or instead of answering."""
            if fault.isdigit():
                status = int(fault)
                body = _error("es_rejected_execution_exception", "queue is full")
                if status in SECURITY_ERRORS:
                    extra = {"header": {"WWW-Authenticate": list(CHALLENGES)}} if status == 401 else {}
                    reason = SECURITY_ERRORS[status].format(path=path)
                    body = {**_error("security_exception", reason, **extra), "status": status}
                return self._send(status, body)
            if fault == "hang":
                server.released.wait(60)
            elif fault == "truncate":
                self._send(200, {"took": 1, "errors": False, "items": [], "padding": "x" * 200}, cut=True)
            elif fault == "no_items":
                return self._send(200, {"took": 1, "errors": False})
            elif fault == "page":
                return self._send(200, "<html><body>Gateway says hello</body></html>", text=True)
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
            refresh = query.get("refresh", ["false"])[-1] in ("", "true", "wait_for")
            if parts[-1] == "_bulk":
                lines = [line for line in raw.split(b"\n") if line.strip()]
                return server.bulk(lines, parts[0] if len(parts) == 2 else None, refresh)
            body = json.loads(raw) if raw else {}
            if parts == ["_security", "api_key"] and method in ("PUT", "POST"):
                return server.create_api_key(body)
            if parts[0] == "_index_template":
                if method == "PUT":
                    if refusal := _definition_error(body.get("template", {}).get("mappings") or {}):
                        return 400, _error("mapper_parsing_exception", f"Failed to parse mapping: {refusal}")
                    server.templates[parts[1]] = body
                    return 200, {"acknowledged": True}
                found = parts[1] in server.templates
                if method == "DELETE" and found:
                    del server.templates[parts[1]]
                    return 200, {"acknowledged": True}
                return (
                    (200, {"index_templates": [{"name": parts[1], "index_template": server.templates[parts[1]]}]})
                    if found
                    else (
                        404,
                        _error("resource_not_found_exception", f"index template matching [{parts[1]}] not found"),
                    )
                )
            if parts[0] == "_scripts":
                script_id = parts[1]
                if method in ("PUT", "POST"):
                    return server.put_script(script_id, body)
                stored = server.scripts.get(script_id)
                if method == "DELETE" and stored is not None:
                    del server.scripts[script_id]
                    return 200, {"acknowledged": True}
                if stored is None:
                    return 404, {"_id": script_id, "found": False}
                return 200, {"_id": script_id, "found": True, "script": stored}
            if parts[0] == "_aliases":
                return server.update_aliases(body["actions"])
            if parts[0] == "_alias":
                names = server.resolve(parts[1]) if parts[1] in server.aliases else []
                if not names:
                    return 404, {"error": f"alias [{parts[1]}] missing", "status": 404}
                return 200, {name: {"aliases": {parts[1]: {}}} for name in names}
            if parts[0] == "_refresh":
                server.refresh(list(server.indexes))
                return 200, {"_shards": {"total": len(server.indexes), "successful": len(server.indexes), "failed": 0}}
            index, names = parts[0], server.resolve(parts[0])
            lenient = query.get("ignore_unavailable", ["false"])[-1] == "true"
            if len(parts) == 1:
                if method == "PUT":
                    return server.create_index(index, body)
                if (missing := server.missing(index)) and not lenient:
                    return 404, _error("index_not_found_exception", f"no such index [{missing}]", index=missing)
                if method == "DELETE":
                    if "*" in index or index == "_all":  # action.destructive_requires_name, true since 8.0
                        return 400, _error("illegal_argument_exception", "Wildcard expressions are not allowed")
                    server.delete_indexes(names)
                    return 200, {"acknowledged": True}
                return 200, {name: {"aliases": {}, "mappings": {}, "settings": {}} for name in names}
            if (missing := server.missing(index)) and not lenient:
                return 404, _error("index_not_found_exception", f"no such index [{missing}]", index=missing)
            operation = parts[1]
            if operation == "_alias":
                return 200, {
                    name: {"aliases": {a: {} for a, m in server.aliases.items() if name in m}} for name in names
                }
            if operation == "_refresh":
                server.refresh(names)
                return 200, {"_shards": {"total": len(names), "successful": len(names), "failed": 0}}
            try:
                if operation == "_count":
                    return 200, {"count": server.count(index, body)}
                if operation == "_search":
                    return 200, server.search(index, body, query)
            except QueryRefused as refused:
                return 400, {**_error(refused.kind, refused.reason), "status": 400}
            if operation == "_mget":
                return 200, server.mget(index, body, query)
            if operation == "_mapping":
                if method == "PUT":
                    return server.put_mapping(names, body)
                return 200, {name: {"mappings": server.mappings.get(name) or {}} for name in names}
            if operation == "_doc" and len(parts) == 3 and method in ("GET", "HEAD"):
                doc_id = parts[2]
                doc = server.docs(index).get(doc_id)
                found = {"_index": index, "_id": doc_id, "found": doc is not None}
                return (200, {**found, "_source": doc}) if doc is not None else (404, found)
            return 400, _error("illegal_argument_exception", f"unsupported: {method} /{'/'.join(parts)}")

        def _send(self, status: int, body: Any, head: bool = False, cut: bool = False, text: bool = False) -> None:
            """Answer (None: an empty body; ``text``: the body as HTML); ``cut`` sends half the body only (the
            caller then closes)."""
            data = b"" if body is None else body.encode() if text else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("X-Elastic-Product", "Elasticsearch")
                kind = "text/html" if text else "application/vnd.elasticsearch+json;compatible-with=8"
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            if status in (429, 503):
                self.send_header("Retry-After", server.retry_after)
            if status == 401:
                for challenge in CHALLENGES:
                    self.send_header("WWW-Authenticate", challenge)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if not head:
                self.wfile.write(data[: len(data) // 2] if cut else data)
                self.wfile.flush()

    return Handler
