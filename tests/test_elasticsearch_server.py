"""The Elasticsearch rules tests/es_server.py keeps, each refused as Elasticsearch refuses it.

Tests taking ``cluster`` state what Elasticsearch 8/9 does, so they run against the test server and against
the cluster ``INGEST_TEST_ES_URL`` names (skipped when unset): the same answers from both. Tests taking
``fake`` check what only the test server can be set up to do (its credentials, a small request limit).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from es_server import CHALLENGES, FakeElasticsearch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_elasticsearch import Cluster, cluster_fixtures

from airflow_provider_ingest.elasticsearch.client import build_client

STRICT = {"dynamic": "strict", "properties": {"name": {"type": "keyword"}, "count": {"type": "long"}}}


cluster, fake = cluster_fixtures(
    "needs the test server: checks its own answers, with credentials or limits set for the test"
)


def refusal(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    """The status and ``error`` object of a request Elasticsearch refuses."""
    from elasticsearch import ApiError

    with pytest.raises(ApiError) as refused:
        call()
    body = refused.value.body
    return refused.value.meta.status, body.get("error", body) if isinstance(body, dict) else body


def raw(url: str, path: str, method: str = "GET", body: bytes | None = None, **headers: str) -> tuple[int, Any, Any]:
    """A request without the client: status, headers and the decoded body (None when empty)."""
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, received, data = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, received, data = error.code, error.headers, error.read()
    return status, received, json.loads(data) if data else None


def items(answer: Any) -> list[tuple[str, int, str]]:
    """``(action, status, result or error type)`` of each bulk item."""
    found = []
    for item in answer["items"]:
        ((action, outcome),) = item.items()
        found.append((action, outcome["status"], outcome["error"]["type"] if "error" in outcome else outcome["result"]))
    return found


def test_requests_without_valid_credentials_are_refused_401(fake: Cluster) -> None:
    """Security on: no credentials, a wrong password, an unknown API key are each 401 ``security_exception``
    with Elasticsearch's challenges; a user's password and an API key both pass."""
    server = FakeElasticsearch(users={"ingest": "right"}, api_keys=["kid:ksecret"])
    try:
        status, headers, body = raw(server.url, "/_count")
        assert status == 401 and headers.get_all("WWW-Authenticate") == list(CHALLENGES)
        reason = "missing authentication credentials for REST request [/_count]"
        error = {"type": "security_exception", "reason": reason, "header": {"WWW-Authenticate": list(CHALLENGES)}}
        assert body == {"error": {"root_cause": [error], **error}, "status": 401}
        wrong = "Basic " + base64.b64encode(b"ingest:wrong").decode()
        status, _, body = raw(server.url, "/", Authorization=wrong)
        assert (status, body["error"]["reason"]) == (401, "unable to authenticate user [ingest] for REST request [/]")
        unknown = "ApiKey " + base64.b64encode(b"kid:other").decode()
        status, _, body = raw(server.url, "/", Authorization=unknown)
        assert status == 401 and body["error"]["reason"].startswith("unable to authenticate with provided credentials")
        right = "Basic " + base64.b64encode(b"ingest:right").decode()
        key = "ApiKey " + base64.b64encode(b"kid:ksecret").decode()
        assert [raw(server.url, "/", Authorization=header)[0] for header in (right, key)] == [200, 200]
        assert server.principals == [None, None, None, "ingest", "api_key:kid"]
        client = build_client({"hosts": [server.url], "api_key": base64.b64encode(b"kid:ksecret").decode()})
        assert client.info()["version"]["number"] and server.principals[-1] == "api_key:kid"
        client.close()
    finally:
        server.close()
    server = FakeElasticsearch()  # no credentials configured: security off, anything is let through
    try:
        assert raw(server.url, "/")[0] == 200 and server.principals == [None]
    finally:
        server.close()


def test_writes_are_searchable_only_after_a_refresh(cluster: Cluster) -> None:
    """``_count`` and ``_search`` see what the last refresh made searchable; ``_doc`` and ``_mget`` are realtime."""
    index = f"{cluster.prefix}-rules-refresh"
    cluster.client.indices.create(index=index, settings={"refresh_interval": "-1"}, mappings=STRICT)

    def add(*ids: str, **options: Any) -> None:
        lines = [line for doc_id in ids for line in ({"index": {"_id": doc_id}}, {"name": doc_id})]
        assert cluster.client.bulk(index=index, operations=lines, **options)["errors"] is False

    def counted() -> tuple[int, int]:
        hits = cluster.client.search(index=index, query={"match_all": {}})["hits"]["total"]["value"]
        return cluster.client.count(index=index)["count"], hits

    add("a", "b", "c")
    assert counted() == (0, 0)
    assert cluster.client.get(index=index, id="b")["_source"] == {"name": "b"}
    assert [doc["found"] for doc in cluster.client.mget(index=index, ids=["a", "c", "x"])["docs"]] == [
        True,
        True,
        False,
    ]
    cluster.client.indices.refresh(index=index)
    assert counted() == (3, 3)
    add("d", refresh="wait_for")
    assert counted() == (4, 4)
    add("e", refresh=True)
    add("f")
    assert counted() == (5, 5)


def test_bulk_honours_each_action(cluster: Cluster) -> None:
    """``create`` refuses an existing id (409), ``index`` overwrites, ``delete`` of a missing id is ``not_found``
    (not an error), ``update`` of a missing document is ``document_missing_exception``."""
    index = f"{cluster.prefix}-rules-bulk"
    cluster.client.indices.create(index=index, mappings=STRICT)
    answer = cluster.client.bulk(
        index=index,
        operations=[
            {"create": {"_id": "a"}}, {"name": "first"},
            {"create": {"_id": "a"}}, {"name": "again"},
            {"index": {"_id": "a"}}, {"name": "overwritten"},
            {"index": {"_id": "b"}}, {"name": "b"},
            {"delete": {"_id": "missing"}},
            {"update": {"_id": "missing"}}, {"doc": {"name": "x"}},
            {"update": {"_id": "b"}}, {"doc": {"count": 2}},
            {"delete": {"_id": "b"}},
        ],
    )  # fmt: skip
    assert answer["errors"] is True
    assert items(answer) == [
        ("create", 201, "created"),
        ("create", 409, "version_conflict_engine_exception"),
        ("index", 200, "updated"),
        ("index", 201, "created"),
        ("delete", 404, "not_found"),
        ("update", 404, "document_missing_exception"),
        ("update", 200, "updated"),
        ("delete", 200, "deleted"),
    ]
    conflict = answer["items"][1]["create"]["error"]
    assert (
        conflict["reason"].startswith("[a]: version conflict, document already exists") and conflict["index"] == index
    )
    assert cluster.client.get(index=index, id="a")["_source"] == {"name": "overwritten"}
    assert refusal(lambda: cluster.client.get(index=index, id="b"))[0] == 404
    quiet = cluster.client.bulk(index=index, operations=[{"delete": {"_id": "never"}}])
    assert quiet["errors"] is False and items(quiet) == [("delete", 404, "not_found")]


NAMES = {
    "UPPER": "must be lowercase",
    "with space": "must not contain the following characters",
    "a,b": "must not contain the following characters",
    "a*b": "must not contain the following characters",
    'q"uote': "must not contain the following characters",
    "a<b>": "must not contain the following characters",
    "pi|pe": "must not contain the following characters",
    "a?b": "must not contain the following characters",
    "hash#": "must not contain '#'",
    "co:lon": "must not contain ':'",
}


def test_index_names_are_checked(cluster: Cluster) -> None:
    """Lowercase, none of the forbidden characters, no leading ``-_+``, at most 255 bytes: else 400
    ``invalid_index_name_exception``; an existing index is ``resource_already_exists_exception``."""
    create = cluster.client.indices.create
    for suffix, why in NAMES.items():
        name = f"{cluster.prefix}-{suffix}"
        status, error = refusal(lambda name=name: create(index=name))
        assert (status, error["type"]) == (400, "invalid_index_name_exception"), name
        assert error["reason"].startswith(f"Invalid index name [{name}], {why}"), error["reason"]
    for name in ("-dash", "_under", "+plus"):
        status, error = refusal(lambda name=name: create(index=f"{name}-{cluster.prefix}"))
        assert (status, error["type"]) == (400, "invalid_index_name_exception")
        assert error["reason"].endswith("must not start with '_', '-', or '+'")
    longest = f"{cluster.prefix}-" + "é" * ((255 - len(cluster.prefix) - 1) // 2)
    longest += "x" * (255 - len(longest.encode()))
    status, error = refusal(lambda: create(index=longest + "x"))
    assert (status, error["type"]) == (400, "invalid_index_name_exception")
    assert error["reason"].endswith("index name is too long, (256 > 255)")
    assert create(index=longest)["acknowledged"] is True
    status, error = refusal(lambda: create(index=longest))
    assert (status, error["type"]) == (400, "resource_already_exists_exception")
    create(index=f"{cluster.prefix}-aliased", aliases={f"{cluster.prefix}-alias": {}})
    status, error = refusal(lambda: create(index=f"{cluster.prefix}-alias"))
    assert (status, error["type"]) == (400, "invalid_index_name_exception")
    assert error["reason"].endswith("already exists as alias")


def test_dot_names_are_refused(fake: Cluster) -> None:
    """``.`` and ``..`` (sent encoded: clients and proxies fold them out of a path)."""
    for encoded in ("%2E", "%2E%2E"):
        status, _, body = raw(fake.address, f"/{encoded}", "PUT", Authorization=_basic(fake))
        assert (status, body["error"]["type"]) == (400, "invalid_index_name_exception")
        assert body["error"]["reason"].endswith("must not be '.' or '..'")


def _basic(cluster: Cluster) -> str:
    return "Basic " + base64.b64encode(f"{cluster.username}:{cluster.password}".encode()).decode()


def test_mappings_are_checked(cluster: Cluster) -> None:
    """An unknown field type is ``mapper_parsing_exception`` (index, template, mapping update); a ``strict``
    index refuses a document with an unknown field, item by item; ``nested`` fields are accepted."""
    index = f"{cluster.prefix}-rules-mappings"
    unknown = {"properties": {"name": {"type": "strnig"}}}
    status, error = refusal(lambda: cluster.client.indices.create(index=index, mappings=unknown))
    assert (status, error["type"]) == (400, "mapper_parsing_exception")
    assert "No handler for type [strnig] declared on field [name]" in error["reason"]
    status, error = refusal(
        lambda: cluster.client.indices.put_index_template(
            name=f"{cluster.prefix}-rules",
            index_patterns=[f"{cluster.prefix}-rules-t-*"],
            template={"mappings": unknown},
        )
    )
    assert status == 400 and "No handler for type [strnig]" in json.dumps(error)
    nested = {"properties": {"columns": {"type": "nested", "properties": {"name": {"type": "keyword"}}}}}
    cluster.client.indices.create(
        index=index, mappings={**STRICT, "properties": {**STRICT["properties"], **nested["properties"]}}
    )
    status, error = refusal(lambda: cluster.client.indices.put_mapping(index=index, properties=unknown["properties"]))
    assert (status, error["type"]) == (400, "mapper_parsing_exception")
    answer = cluster.client.bulk(
        index=index,
        operations=[
            {"index": {"_id": "ok"}}, {"name": "t", "columns": [{"name": "id"}, {"name": "total"}]},
            {"index": {"_id": "extra"}}, {"name": "t", "owner": "someone"},
            {"index": {"_id": "deep"}}, {"name": "t", "columns": [{"name": "id", "type": "int"}]},
        ],
    )  # fmt: skip
    assert answer["errors"] is True
    assert items(answer) == [
        ("index", 201, "created"),
        ("index", 400, "strict_dynamic_mapping_exception"),
        ("index", 400, "strict_dynamic_mapping_exception"),
    ]
    assert (
        "dynamic introduction of [owner] within [_doc] is not allowed" in answer["items"][1]["index"]["error"]["reason"]
    )


def test_alias_actions_are_atomic(cluster: Cluster) -> None:
    """One ``_aliases`` call applies every action or none: one naming a missing index fails it whole, 404."""
    old, new, alias = (f"{cluster.prefix}-rules-{name}" for name in ("old", "new", "live"))
    cluster.client.indices.create(index=old, aliases={alias: {}})
    cluster.client.indices.create(index=new)
    missing = f"{cluster.prefix}-rules-missing"
    actions = [{"remove": {"index": old, "alias": alias}}, {"add": {"index": new, "alias": alias}}]
    status, error = refusal(
        lambda: cluster.client.indices.update_aliases(actions=[*actions, {"add": {"index": missing, "alias": alias}}])
    )
    assert (status, error["type"]) == (404, "index_not_found_exception") and missing in error["reason"]
    assert list(cluster.client.indices.get_alias(name=alias).body) == [old]  # the remove was not applied either
    status, error = refusal(
        lambda: cluster.client.indices.update_aliases(actions=[{"remove": {"index": new, "alias": alias}}])
    )
    assert (status, error["type"]) == (404, "aliases_not_found_exception")
    cluster.client.indices.update_aliases(actions=actions)
    assert list(cluster.client.indices.get_alias(name=alias).body) == [new]


def test_writes_through_an_alias_go_to_its_write_index(cluster: Cluster) -> None:
    """An alias's only index takes its writes, unless added with ``is_write_index: false``; an alias action with
    a field Elasticsearch does not know fails the call, 400."""
    index, alias = f"{cluster.prefix}-rules-one", f"{cluster.prefix}-rules-written"
    cluster.client.indices.create(index=index)

    def add(**spec: Any) -> Any:
        return cluster.client.indices.update_aliases(actions=[{"add": {"index": index, "alias": alias, **spec}}])

    def write(doc_id: str) -> list[tuple[str, int, str]]:
        return items(cluster.client.bulk(operations=[{"index": {"_index": alias, "_id": doc_id}}, {"n": 1}]))

    status, error = refusal(lambda: add(is_write=True))
    assert (status, error["type"]) == (400, "x_content_parse_exception") and "is_write" in json.dumps(error)
    assert cluster.client.indices.get_alias(index=index).body[index]["aliases"] == {}  # nothing applied
    add(is_write_index=False)
    assert write("a") == [("index", 400, "illegal_argument_exception")]  # no write index
    add(is_write_index=True)
    assert write("b") == [("index", 201, "created")]
    add()
    assert write("c") == [("index", 201, "created")]  # its only index again


def test_a_request_over_the_size_limit_is_answered_413(fake: Cluster) -> None:
    """``http.max_content_length`` (here 2 KiB): a larger body is 413 with no body; one at the limit passes."""
    server = FakeElasticsearch(max_content_length=2048)
    client = build_client({"hosts": [server.url]})
    try:
        line = b'{"index":{"_index":"sized","_id":"%d"}}\n{"name":"%s"}\n'
        small = b"".join(line % (i, b"x" * 10) for i in range(3))
        padded = small + b"\n" * (2048 - len(small))
        assert client.bulk(operations=padded)["errors"] is False
        status, body = refusal(lambda: client.bulk(operations=padded + b"\n"))
        assert (status, body) == (413, None)
        assert client.info()["version"]["number"]  # the connection closed, a new one is served
    finally:
        client.close()
        server.close()


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["index", "create", "delete", "update"]), st.sampled_from("abc")), max_size=12
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ACTIONS)
def test_bulk_items_follow_the_documents_there(cluster: Cluster, actions: list[tuple[str, str]]) -> None:
    """Whatever the sequence of actions on a few ids, each item's status and result follow from whether its
    document exists at that point, and what is left is what a dict of the writes holds."""
    index = f"{cluster.prefix}-rules-{uuid.uuid4().hex[:8]}"
    cluster.client.indices.create(index=index, mappings=STRICT)
    model: dict[str, int] = {}
    expected, operations = [], []
    for step, (action, doc_id) in enumerate(actions):
        operations.append({action: {"_id": doc_id}})
        there = doc_id in model
        if action == "delete":
            expected.append((action, 200, "deleted") if there else (action, 404, "not_found"))
            model.pop(doc_id, None)
            continue
        operations.append({"doc": {"count": step}} if action == "update" else {"name": doc_id, "count": step})
        if action == "create" and there:
            expected.append((action, 409, "version_conflict_engine_exception"))
        elif action == "update" and not there:
            expected.append((action, 404, "document_missing_exception"))
        else:
            expected.append((action, 200, "updated") if there else (action, 201, "created"))
            model[doc_id] = step
    if operations:
        answer = cluster.client.bulk(index=index, operations=operations, refresh=True)
        assert items(answer) == expected
        assert answer["errors"] is any(status >= 400 and result != "not_found" for _, status, result in expected)
    hits = cluster.client.search(index=index, query={"match_all": {}}, size=10)["hits"]["hits"]
    assert {hit["_id"]: hit["_source"]["count"] for hit in hits} == model
    cluster.client.indices.delete(index=index)


@settings(max_examples=40, deadline=None)
@given(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,230}", fullmatch=True))
def test_every_index_prefix_the_config_takes_makes_names_the_cluster_takes(prefix: str) -> None:
    """``index_prefix`` passes the sinks' validation only if every physical index name it leads to is one
    Elasticsearch creates (the test server refuses names as Elasticsearch does)."""
    from pydantic import ValidationError

    from airflow_provider_ingest.elasticsearch.mappings import aliases, new_index_name
    from airflow_provider_ingest.elasticsearch.sink import ElasticsearchConfig, stamp

    server = FakeElasticsearch()
    client = build_client({"hosts": [server.url]})
    try:
        try:
            ElasticsearchConfig.model_validate({"hosts": [server.url], "index_prefix": prefix})
        except ValidationError:
            accepted = False
        else:
            accepted = True
        names = [new_index_name(alias, stamp()) for alias in aliases(prefix).values()]
        created = []
        for name in names:
            status = client.options(ignore_status=400).indices.create(index=name).meta.status
            created.append(status == 200)
        assert accepted == all(created), (prefix, created)
    finally:
        client.close()
        server.close()
