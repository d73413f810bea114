"""Usage, query and lineage records published to OpenMetadata by the sink and the bulk sink: bodies checked by the
strict test server per version, after the catalog, unknown tables and columns, reruns, refused credentials,
arbitrary records, and the requests a batch costs."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from om_server import TOKEN, FakeOpenMetadata, serve
from test_openmetadata_bulk import FAST, catalog, letters, om_report, run, table

from airflow_provider_ingest.api.report import Report
from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, ServerUnavailable, Settings
from airflow_provider_ingest.openmetadata.sink import Publisher
from airflow_provider_ingest.openmetadata.usage import UsagePublisher
from airflow_provider_ingest.records import Lineage, Query, TableUsage

STEPS = ["sink", "bulk_sink"]
TODAY = datetime.datetime.now(datetime.timezone.utc).date()
JOIN_SQL = "select * from sales.orders o join sales.customers c on o.ref = c.id"


def day(offset: int) -> datetime.date:
    return TODAY - datetime.timedelta(days=offset)


def shop(tables: int = 2) -> list[Any]:
    """The catalog: schema ``sales`` with ``orders``, ``customers`` and ``t02``... (columns ``id``, ``ref``)."""
    names = ["orders", "customers", *(f"t{index:02d}" for index in range(2, tables))][:tables]
    return catalog({"sales": [table("sales", name) for name in names]})


def usage(name: str = "orders", date: datetime.date = TODAY, count: int = 5, **fields: Any) -> TableUsage:
    return TableUsage.model_validate({"table": f"shop.db.sales.{name}", "date": date, "count": count, **fields})


def joined_usage(date: datetime.date = TODAY, count: int = 5) -> TableUsage:
    """``orders`` joined with ``customers`` on ``ref = id``, with one frequent query run by a known and an unknown
    user."""
    return usage(
        date=date,
        count=count,
        users=["alice", "bob"],
        joined_tables=[{"table": "shop.db.sales.customers", "count": 2}],
        column_joins=[{"column": "ref", "joined_with": [{"column": "shop.db.sales.customers.id", "count": 2}]}],
        queries=[{"text": JOIN_SQL, "count": 2, "users": ["alice", "bob"], "duration_ms": 1500.0}],
    )


def view_lineage() -> Lineage:
    return Lineage(
        from_table="shop.db.sales.orders",
        to_table="shop.db.sales.customers",
        columns=[{"to_column": "shop.db.sales.customers.id", "from_columns": ["shop.db.sales.orders.ref"]}],
        source="view",
        sql="create view sales.customers as select ref as id from sales.orders",
    )


def checksum(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def usage_calls(server: FakeOpenMetadata) -> list[tuple[str, str]]:
    """The usage, joins, query and lineage requests, in order (method, path without query)."""
    found = []
    for call in server.calls:
        path = call.path.split("?", 1)[0]
        if path.startswith(("/api/v1/usage/", "/api/v1/queries", "/api/v1/lineage")) or path.endswith("/joins"):
            found.append((call.method, path))
    return found


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenMetadata]:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve() as state:
        yield state


# What each version holds


@pytest.mark.parametrize("version", ["1.1.2", "1.4.3", "1.5.4", "1.10.0", "2.0.7"])
def test_bodies_are_what_each_version_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """The strict server of each version takes every body (its schemas and rules refuse anything else with a 400,
    which would fail the record); what a version lacks is left out and counted."""
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve(FakeOpenMetadata(version=version)) as server:
        result = run(tmp_path, server, [*shop(), view_lineage(), joined_usage()], "bulk_sink")
        report = om_report(result)
        assert report.failure_count == 0, report.failures
        assert report.records == 7
        assert server.usage == {("shop.db.sales.orders", TODAY.isoformat()): 5}
        assert server.joined("shop.db.sales.orders.ref") == {"shop.db.sales.customers.id": 2}
        details = server.lineage[("shop.db.sales.orders", "shop.db.sales.customers")]
        assert details["columnsLineage"] == [
            {"fromColumns": ["shop.db.sales.orders.ref"], "toColumn": "shop.db.sales.customers.id"}
        ]
        assert details["sqlQuery"].startswith("create view")
        if tuple(map(int, version.split("."))) < (1, 2):
            assert "source" not in details
            assert server.queries == {}
            assert any("queries are not published: OpenMetadata 1.1" in warning for warning in report.warnings)
        else:
            assert details["source"] == "ViewLineage"
            query = server.queries[f"shop.{checksum(JOIN_SQL)}"]
            assert [ref["fullyQualifiedName"] for ref in query["queryUsedIn"]] == ["shop.db.sales.orders"]
            assert [user["name"] for user in query["users"]] == ["alice"]
            assert query["usedBy"] == ["alice", "bob"]
            assert query["duration"] == 1500.0
            assert query["query_type"] == "SELECT"
            assert query["queryDate"] == int(
                datetime.datetime.combine(TODAY, datetime.time(), datetime.timezone.utc).timestamp() * 1000
            )
            assert any("published by name only (usedBy) (1 users: bob)" in w for w in report.warnings)


def test_queries_before_1_3_take_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CreateQuery's ``duration`` is in seconds up to 1.2 (its schema says so), in milliseconds from 1.3."""
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve(FakeOpenMetadata(version="1.2.0")) as server:
        run(tmp_path, server, [*shop(), joined_usage()], "sink")
        assert server.queries[f"shop.{checksum(JOIN_SQL)}"]["duration"] == 1.5


# A staged file of usage and lineage, after the catalog


@pytest.mark.parametrize("step", STEPS)
def test_usage_and_lineage_follow_the_catalog(tmp_path: Path, server: FakeOpenMetadata, step: str) -> None:
    records = [*shop(3), view_lineage(), joined_usage(), usage("customers", day(1), 3), usage("t02", day(40), 1)]
    result = run(tmp_path, server, records, step)
    report = om_report(result)
    assert report.failure_count == 0, report.failures
    assert report.records == len(records)
    first_usage = next(
        i for i, call in enumerate(server.calls) if call.path.startswith(("/api/v1/usage", "/api/v1/lin"))
    )
    assert all(
        not call.path.startswith(("/api/v1/tables/bulk", "/api/v1/databaseSchemas"))
        for call in server.calls[first_usage:]
    )
    assert server.usage == {
        ("shop.db.sales.orders", TODAY.isoformat()): 5,
        ("shop.db.sales.customers", day(1).isoformat()): 3,
        ("shop.db.sales.t02", day(40).isoformat()): 1,
    }
    assert server.rollups[("database", "shop.db", TODAY.isoformat())] == 5
    assert server.rollups[("databaseSchema", "shop.db.sales", day(1).isoformat())] == 3
    assert report.counters["usage_published"] == 3
    assert report.counters["joins_published"] == 1
    assert report.counters["lineage_published"] == 1
    assert report.counters["queries_created"] == 1
    assert server.percentiles == [("table", TODAY.isoformat()), ("database", TODAY.isoformat())]


def test_joins_without_a_column_pair_are_direct_and_old_days_are_counted(
    tmp_path: Path, server: FakeOpenMetadata
) -> None:
    """A joined table without a column pair goes to ``directTableJoins``; OpenMetadata refuses joins dated more
    than 29 days back, so those are left out with a warning, the usage count still published."""
    records = [
        *shop(3),
        usage(joined_tables=[{"table": "shop.db.sales.t02", "count": 4}]),
        usage("customers", day(45), 2, joined_tables=[{"table": "shop.db.sales.t02", "count": 1}]),
    ]
    report = om_report(run(tmp_path, server, records, "bulk_sink"))
    assert report.failure_count == 0
    assert server.joined("shop.db.sales.orders") == {"shop.db.sales.t02": 4}
    assert server.usage[("shop.db.sales.customers", day(45).isoformat())] == 2
    assert any("joins of days outside the last 29 are not published" in w for w in report.warnings)


# What OpenMetadata lacks


@pytest.mark.parametrize("step", STEPS)
def test_a_table_or_column_not_in_openmetadata_fails_its_record(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    records = [
        *shop(),
        usage("missing"),
        Lineage(from_table="shop.db.sales.orders", to_table="shop.db.sales.gone"),
        Lineage(
            from_table="shop.db.sales.orders",
            to_table="shop.db.sales.customers",
            columns=[{"to_column": "shop.db.sales.customers.nope", "from_columns": ["shop.db.sales.orders.id"]}],
        ),
        usage(
            "customers",
            joined_tables=[{"table": "shop.db.other.x", "count": 1}],
            column_joins=[{"column": "id", "joined_with": [{"column": "shop.db.sales.orders.ghost", "count": 1}]}],
        ),
    ]
    result = run(tmp_path, server, records, step)
    report = om_report(result)
    assert report.failure_count == 3
    errors = {letter.fqn: letter.error for letter in letters(result)}
    assert "table shop.db.sales.missing not in OpenMetadata: publish the catalog first" in errors[records[-4].fqn]
    assert "table shop.db.sales.gone not in OpenMetadata: publish the catalog first" in errors[records[-3].fqn]
    assert (
        "column shop.db.sales.customers.nope not in OpenMetadata: publish the catalog first" in errors[records[-2].fqn]
    )
    assert server.lineage == {}
    # joins with what OpenMetadata lacks are left out, counted; the usage count is published
    assert server.usage == {("shop.db.sales.customers", TODAY.isoformat()): 5}
    assert any(
        "joins with tables or columns that are not in OpenMetadata" in w and "2 joins" in w for w in report.warnings
    )


def test_a_malformed_fqn_fails_its_record(tmp_path: Path, server: FakeOpenMetadata) -> None:
    records = [*shop(), usage(), TableUsage(table="orders", date=TODAY, count=1)]
    result = run(tmp_path, server, records, "bulk_sink")
    assert om_report(result).failure_count == 1
    [letter] = letters(result)
    assert "'orders' is not a table's FQN" in letter.error
    assert server.usage == {("shop.db.sales.orders", TODAY.isoformat()): 5}


# Reruns


@pytest.mark.parametrize("step", STEPS)
def test_a_rerun_counts_nothing_twice(tmp_path: Path, server: FakeOpenMetadata, step: str) -> None:
    """OpenMetadata's ``POST /usage`` replaces the table's count of the day but adds it to the schema's and the
    database's again: a rerun reads the table's counts first and posts none that the server holds."""
    records = [*shop(), view_lineage(), joined_usage(), usage("customers", day(2), 7)]
    run(tmp_path / "first", server, records, step)
    held = (dict(server.usage), dict(server.rollups), json.dumps(server.queries, sort_keys=True), dict(server.lineage))
    joins = {key: dict(days) for key, days in server.joins.items()}
    server.calls.clear()
    report = om_report(run(tmp_path / "again", server, records, step))
    assert report.failure_count == 0
    assert (
        dict(server.usage),
        dict(server.rollups),
        json.dumps(server.queries, sort_keys=True),
        dict(server.lineage),
    ) == held
    assert server.joins == joins
    assert not server.requests("POST", "/api/v1/usage/table/")
    assert not server.requests("PUT", "/api/v1/queries")
    assert report.counters["usage_unchanged"] == 2
    assert report.counters["queries_unchanged"] == 1
    # a day whose count changed is posted again: the table's count replaced
    changed = [*shop(), joined_usage(count=9)]
    report = om_report(run(tmp_path / "changed", server, changed, step))
    assert server.usage[("shop.db.sales.orders", TODAY.isoformat())] == 9
    assert report.counters["usage_published"] == 1


def test_a_query_keeps_the_tables_and_users_it_had(tmp_path: Path, server: FakeOpenMetadata) -> None:
    """A ``PUT /queries`` replaces the users and tables of a query: what the server holds is merged in."""
    first = usage(queries=[{"text": JOIN_SQL, "count": 1, "users": ["alice"]}])
    second = usage("customers", queries=[{"text": JOIN_SQL, "count": 1, "users": ["carol"]}])
    run(tmp_path / "a", server, [*shop(), first], "sink")
    report = om_report(run(tmp_path / "b", server, [*shop(), second], "sink"))
    assert report.counters["queries_updated"] == 1
    query = server.queries[f"shop.{checksum(JOIN_SQL)}"]
    assert sorted(ref["fullyQualifiedName"] for ref in query["queryUsedIn"]) == [
        "shop.db.sales.customers",
        "shop.db.sales.orders",
    ]
    assert query["usedBy"] == ["alice", "carol"]


def test_query_records_are_published_with_their_tables(tmp_path: Path, server: FakeOpenMetadata) -> None:
    record = Query(
        service="shop",
        dialect="postgresql",
        text="insert into sales.customers select * from sales.orders",
        user="alice",
        start_time=datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc),
        duration_ms=20.0,
        analysis={
            "query_type": "insert",
            "source_tables": ["shop.db.sales.orders", "shop.db.elsewhere.x"],
            "target_tables": ["shop.db.sales.customers"],
        },
    )
    report = om_report(run(tmp_path, server, [*shop(), record], "bulk_sink"))
    assert report.failure_count == 0
    query = server.queries[f"shop.{checksum(record.text)}"]
    assert query["query_type"] == "INSERT"
    assert query["queryDate"] == 1714564800000
    assert sorted(ref["fullyQualifiedName"] for ref in query["queryUsedIn"]) == [
        "shop.db.sales.customers",
        "shop.db.sales.orders",
    ]
    assert any("left out of its queryUsedIn (1 tables: shop.db.elsewhere.x)" in w for w in report.warnings)


# Refused credentials


@pytest.mark.parametrize("step", STEPS)
def test_refused_credentials_mid_way_stop_the_step(tmp_path: Path, server: FakeOpenMetadata, step: str) -> None:
    """The token is revoked once the usage has begun, so every request is refused from then on: the step fails with
    an AuthenticationError, the records left are dead-lettered as not attempted, none is lost."""
    records = [*shop(6), *(usage(f"t{index:02d}", day(offset)) for index in range(2, 6) for offset in range(5))]
    server.inject("revoke", path="/api/v1/usage/table/", after=3)
    result = run(tmp_path, server, records, step, batch_size=5)
    report = om_report(result)
    assert not result.success
    assert "refused the credentials" in (result.error or "")
    published = len(server.requests("POST", "/api/v1/usage/table/")) - sum(
        call.status == 401 for call in server.requests("POST", "/api/v1/usage/table/")
    )
    dead = letters(result)
    assert len(dead) == report.failure_count
    assert report.records + report.failure_count == len(records)
    assert report.records == 9 + published  # the catalog and the usage posted before the refusals
    assert sum(letter.error.startswith("not attempted: OpenMetadata refused the credentials") for letter in dead) >= 1
    assert report.counters["not_attempted"] == sum(letter.error.startswith("not attempted") for letter in dead)


def test_a_post_is_retried_only_where_the_server_did_not_handle_it(server: FakeOpenMetadata) -> None:
    client = OpenMetadataClient(Settings(server_url=server.url, token=TOKEN, retries=2, backoff_factor=0.01))
    server.inject("503", times=1, path="/api/v1/usage/compute")
    assert client.post("/api/v1/usage/compute.percentile/table/2024-01-01", {})[0] == 201
    server.inject("502", times=1, path="/api/v1/usage/compute")
    with pytest.raises(ServerUnavailable, match="502 after 1 attempt"):
        client.post("/api/v1/usage/compute.percentile/table/2024-01-01", {})
    assert [call.status for call in server.requests("POST", "/api/v1/usage/compute")] == [503, 201, 502]


# Arbitrary records


class _Component:
    """What a publisher reports to: a report and warnings (the component's role in a run)."""

    def __init__(self) -> None:
        self.report = Report(component="test:openmetadata")

    def warn(self, message: str) -> None:
        self.report.add_warning(message)


NAMES = ["orders", "customers", "t02", "absent", "a.b"]
COLUMNS = ["id", "ref", "nope"]
tables_ = st.sampled_from(NAMES).map(
    lambda name: f"shop.db.sales.{name}" if "." not in name else f'shop.db.sales."{name}"'
)
columns_ = st.builds(lambda table, column: f"{table}.{column}", tables_, st.sampled_from(COLUMNS))
users_ = st.lists(st.sampled_from(["alice", "bob", "carol.d"]), max_size=3, unique=True)
queries_ = st.lists(
    st.fixed_dictionaries(
        {"text": st.text(min_size=1, max_size=40), "count": st.integers(1, 50), "users": users_},
        optional={"duration_ms": st.floats(0, 1e7), "query_type": st.sampled_from(["select", "insert", "other"])},
    ),
    max_size=3,
)
usages_ = st.builds(
    lambda table, offset, count, users, joined, pairs, queries: TableUsage.model_validate(
        {
            "table": table,
            "date": day(offset),
            "count": count,
            "users": users,
            "joined_tables": [{"table": name, "count": n} for name, n in joined],
            "column_joins": [
                {"column": column, "joined_with": [{"column": other, "count": n}]} for column, other, n in pairs
            ],
            "queries": queries,
        }
    ),
    tables_,
    st.integers(-2, 60),
    st.integers(1, 10**6),
    users_,
    st.lists(st.tuples(tables_, st.integers(1, 9)), max_size=2),
    st.lists(st.tuples(st.sampled_from(COLUMNS), columns_, st.integers(1, 9)), max_size=2),
    queries_,
)
lineages_ = st.builds(
    lambda source, target, edges, kind, sql: Lineage(
        from_table=source,
        to_table=target,
        columns=[{"to_column": f"{target}.{to}", "from_columns": froms} for to, froms in edges],
        source=kind,
        sql=sql,
    ),
    tables_,
    tables_,
    st.lists(st.tuples(st.sampled_from(COLUMNS), st.lists(columns_, min_size=1, max_size=2)), max_size=2),
    st.sampled_from(["query", "view"]),
    st.none() | st.text(max_size=30),
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeOpenMetadata]:
    """A server holding the shop's catalog (and a table whose name holds a dot)."""
    with pytest.MonkeyPatch.context() as patch, serve() as state:
        patch.setenv("OM_TEST_TOKEN", TOKEN)
        records = [*shop(3), table("sales", "a.b")]
        report = om_report(run(tmp_path_factory.mktemp("catalog"), state, records, "bulk_sink"))
        assert report.failure_count == 0
        yield state


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(usages_ | lineages_, min_size=1, max_size=6))
def test_arbitrary_records_are_accepted_or_refused_with_a_reason(
    loaded: FakeOpenMetadata, records: list[TableUsage | Lineage]
) -> None:
    """Whatever valid records come, the strict server takes each one's requests, or the record fails with a
    reason: never a crash, never a silent drop."""
    client = OpenMetadataClient(Settings(server_url=loaded.url, token=TOKEN, **FAST))
    component = _Component()
    publisher = UsagePublisher(Publisher(client, component))  # type: ignore[arg-type]
    outcomes = publisher.publish_batch(records)
    assert [record for record, _ in outcomes] == records
    for record, error in outcomes:
        if error is not None:
            assert str(error), record
            assert "not in OpenMetadata" in str(error) or "not a" in str(error) or str(error)[:3].isdigit(), error
            assert not str(error).startswith("5"), error  # the server never failed on a body
    refused = [call for call in loaded.calls if 400 <= call.status < 500 and "/name/" not in call.path]
    assert not refused, [(call.path, call.body) for call in refused]  # every body sent was valid
    loaded.calls.clear()
    client.close()


# Requests


def test_ids_are_resolved_once_per_table_and_usage_read_once_per_table(
    tmp_path: Path, server: FakeOpenMetadata
) -> None:
    """200 usage records over 20 tables, 10 days each, each joined with the next table: 20 lookups of table ids,
    one read of the server's counts per table, one POST per record, one PUT of joins per record."""
    names = [f"t{index:02d}" for index in range(20)]
    records: list[Any] = catalog({"sales": [table("sales", name) for name in names]})
    for index, name in enumerate(names):
        other = names[(index + 1) % 20]
        for offset in range(10):
            records.append(
                usage(
                    name,
                    day(offset),
                    3 + offset,
                    column_joins=[
                        {"column": "ref", "joined_with": [{"column": f"shop.db.sales.{other}.id", "count": 1}]}
                    ],
                )
            )
    report = om_report(run(tmp_path, server, records, "bulk_sink", max_workers=4))
    assert report.failure_count == 0
    lookups = [call for call in server.calls if call.path.startswith("/api/v1/tables/name/")]
    assert len(lookups) == 20
    assert len({call.path for call in lookups}) == 20
    assert len([c for c in server.calls if c.method == "GET" and c.path.startswith("/api/v1/usage/table/")]) == 20
    assert len(server.requests("POST", "/api/v1/usage/table/")) == 200
    assert len([c for c in server.calls if c.path.endswith("/joins")]) == 200
    assert len(server.usage) == 200
