"""Publishing through OpenMetadata's bulk endpoint: request counts, per-item results, fallback, foreign keys,
dropped connections, the token, reruns and a server lost mid-batch, for the sink and the bulk sink."""

from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from om_server import TOKEN, FakeOpenMetadata, serve

from airflow_provider_ingest.cli import main
from airflow_provider_ingest.errors import ConfigurationError, InputError
from airflow_provider_ingest.openmetadata.client import OpenMetadataClient, ServerUnavailable, Settings
from airflow_provider_ingest.openmetadata.mapping import ENDPOINTS
from airflow_provider_ingest.openmetadata.sink import OpenMetadataConfig
from airflow_provider_ingest.records import (
    Column,
    Database,
    DatabaseSchema,
    DatabaseService,
    DataType,
    Owner,
    Table,
    TagLabel,
)
from airflow_provider_ingest.run import RunResult, run_workflow
from airflow_provider_ingest.staging import StagedFileWriter
from airflow_provider_ingest.staging.deadletters import DeadLetter, read_dead_letters
from airflow_provider_ingest.workflow.loader import load_workflow

FAST = {"retries": 2, "backoff_factor": 0.01, "connect_timeout": 5, "read_timeout": 30}  # faults set their own
BULK = "/bulk?async=false&overrideMetadata=false"
STEPS = ["sink", "bulk_sink"]


def foreign_key(schema: str, table: str, column: str = "id") -> dict[str, Any]:
    return {
        "constraint_type": "foreign_key",
        "columns": ["ref"],
        "referred_table": f"shop.db.{schema}.{table}",
        "referred_columns": [column],
    }


def table(schema: str, name: str, *refers: dict[str, Any]) -> Table:
    """A table of two columns (``id``, ``ref``) with the given foreign keys."""
    return Table.model_validate(
        {
            "service": "shop",
            "database": "db",
            "database_schema": schema,
            "name": name,
            "columns": [
                Column(name="id", data_type=DataType.INT, nullable=False),
                Column(name="ref", data_type=DataType.INT),
            ],
            "constraints": list(refers),
        }
    )


def catalog(schemas: dict[str, list[Table]]) -> list[Any]:
    """A service, a database, then each schema followed by its tables, as a source emits them."""
    records: list[Any] = [DatabaseService(name="shop", service_type="Postgres"), Database(name="db", service="shop")]
    for schema, tables in schemas.items():
        records += [DatabaseSchema(name=schema, service="shop", database="db"), *tables]
    return records


def big_catalog(schemas: int = 20, tables: int = 110) -> list[Any]:
    """The bench's shape: ``schemas`` x ``tables`` tables (2,200 by default)."""
    return catalog({f"s{s:02d}": [table(f"s{s:02d}", f"t{t:03d}") for t in range(tables)] for s in range(schemas)})


def run(folder: Path, server: FakeOpenMetadata, records: list[Any], step: str, **options: Any) -> RunResult:
    """Run file source -> openmetadata sink, or -> file stage -> openmetadata bulk sink, in this process."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "records.jsonl"
    if not source.exists():
        with StagedFileWriter(str(source), producer="test") as out:
            for record in records:
                out.write(record)
    config = {"server_url": server.url + "/api", "jwt_token": "${OM_TEST_TOKEN}", **FAST, **options}
    workflow: dict[str, Any] = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "workflow": {"staging_root": str(folder / "staging"), "success_threshold": 0},
    }
    if step == "bulk_sink":
        workflow.update({"stage": {"type": "file"}, "bulk_sink": {"type": "openmetadata", "config": config}})
    else:
        workflow["sink"] = {"type": "openmetadata", "config": config}
    path = folder / "workflow.yaml"
    path.write_text(json.dumps(workflow))
    return run_workflow(load_workflow(path), run_id=f"run{len(list(folder.glob('staging/*/*')))}")


def om_report(result: RunResult) -> Any:
    return next(report for report in result.reports if report.component.endswith(":openmetadata"))


def letters(result: RunResult) -> list[DeadLetter]:
    return list(read_dead_letters(result.dead_letter_uri)) if result.dead_letter_uri else []


def table_puts(server: FakeOpenMetadata) -> list[str]:
    return [call.path for call in server.puts() if call.path.startswith(ENDPOINTS["table"])]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenMetadata]:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    with serve() as state:
        yield state


def chunks(kinds: list[str], size: int) -> list[list[str]]:
    return [kinds[start : start + size] for start in range(0, len(kinds), size)]


def openmetadata_puts(kinds: list[str], batch_size: int = 100) -> int:
    """The PUTs OpenMetadata's ``metadata-rest`` sink makes for create requests of these kinds, in this order.

    Services go alone; every other request is buffered, and a full buffer is flushed with one bulk request per
    kind in it (``bulk_create_or_update`` groups by type), as in metadata/ingestion/sink/metadata_rest.py.
    """
    rest = [kind for kind in kinds if kind != "database_service"]
    return kinds.count("database_service") + sum(len(set(chunk)) for chunk in chunks(rest, batch_size))


# Request counts


@pytest.mark.parametrize("step", STEPS)
def test_a_2200_table_catalog_takes_openmetadatas_request_count_or_fewer(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    records = big_catalog()
    result = run(tmp_path, server, records, step)
    assert result.success, result.error
    assert om_report(result).counters == {"created": len(records)}
    puts = server.puts()
    theirs = openmetadata_puts([record.kind for record in records])
    assert theirs == 1 + 1 + 20 + 23  # the service; 23 flushes of 100, one holding the database, 20 a schema
    if step == "bulk_sink":  # the service; the database; the 20 schemas in one batch; the tables in batches of 100
        assert len(puts) == 1 + 1 + 1 + 22
    else:  # the sink sends as the records come: its batches hold several kinds, as OpenMetadata's do
        assert len(puts) == sum(len(set(chunk)) for chunk in chunks([record.kind for record in records], 100))
        assert len(puts) <= theirs
    assert all(call.path.endswith(BULK) for call in puts[1:])
    assert len(server.fqns("table")) == 2200 and len(server.bodies(ENDPOINTS["table"])) == 2200


def test_tables_stream_with_at_most_max_workers_batches_in_flight(tmp_path: Path, server: FakeOpenMetadata) -> None:
    server.latency = 0.02
    result = run(tmp_path, server, big_catalog(2, 40), "bulk_sink", max_workers=3, batch_size=5)
    assert result.success, result.error
    assert len(table_puts(server)) == 16
    assert 2 <= server.max_in_flight <= 3  # the pool's workers, each sending one batch; never more


def test_batch_size_is_validated() -> None:
    base = {"server_url": "http://om", "jwt_token": "${T}"}
    assert OpenMetadataConfig(**base).batch_size == 100
    for wrong in (0, 1001, "many"):
        with pytest.raises(ValueError, match="batch_size"):
            OpenMetadataConfig(**base, batch_size=wrong)


# Per-item results


@pytest.mark.parametrize("answers_with", ["fqn", "request"])
@pytest.mark.parametrize("step", STEPS)
def test_a_refused_item_is_dead_lettered_alone_and_the_others_published(
    tmp_path: Path, server: FakeOpenMetadata, step: str, answers_with: str
) -> None:
    server.bulk_answers_with = answers_with
    tables = [table("public", f"t{index}") for index in range(6)]
    server.refuse["shop.db.public.t2"] = "Entity name t2 is reserved"
    result = run(tmp_path, server, catalog({"public": tables}), step)
    report = om_report(result)
    assert report.records == 8 and report.failure_count == 1
    assert report.counters == {"created": 8}
    [letter] = letters(result)
    assert letter.fqn == "shop.db.public.t2" and letter.error == "400: Entity name t2 is reserved"
    assert table_puts(server) == [ENDPOINTS["table"] + BULK, ENDPOINTS["table"]]  # the batch, then the refused alone
    assert server.fqns("table") == {f"shop.db.public.t{index}" for index in (0, 1, 3, 4, 5)}


@pytest.mark.parametrize("step", STEPS)
def test_a_tag_the_server_lacks_or_two_exclusive_tags_fail_their_table_with_the_servers_message(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    server.glossary_terms = {"Glossary.Customer"}
    email = Column(name="email", data_type=DataType.TEXT, tags=[TagLabel(tag_fqn="PII.Sensitive")])
    tagged = {
        "t1": {"tags": [TagLabel(tag_fqn="Tier.Gold")]},
        "t2": {"columns": [email.model_copy(update={"tags": [*email.tags, TagLabel(tag_fqn="PII.NonSensitive")]})]},
        "t3": {"tags": [TagLabel(tag_fqn="Glossary.Client", source="glossary")]},
        "t4": {"tags": [TagLabel(tag_fqn="Glossary.Customer", source="glossary"), TagLabel(tag_fqn="Tier.Tier1")]},
        "t5": {"columns": [email]},
    }
    tables = [table("public", f"t{index}").model_copy(update=tagged.get(f"t{index}", {})) for index in range(6)]
    result = run(tmp_path, server, catalog({"public": tables}), step)
    assert {letter.fqn: letter.error for letter in letters(result)} == {
        "shop.db.public.t1": "404: tag instance for Tier.Gold not found",
        "shop.db.public.t2": "400: Tag labels PII.Sensitive and PII.NonSensitive are mutually exclusive and can't be"
        " assigned together",
        "shop.db.public.t3": "404: glossaryTerm instance for Glossary.Client not found",
    }
    assert server.fqns("table") == {"shop.db.public.t0", "shop.db.public.t4", "shop.db.public.t5"}
    assert om_report(result).records == 6 and om_report(result).failure_count == 3


@pytest.mark.parametrize("step", STEPS)
def test_a_batch_too_large_for_the_proxy_is_split_and_a_table_too_large_alone_fails_with_the_pages_title(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    wide = [Column(name=f"column_{index:04d}", data_type=DataType.INT) for index in range(2000)]
    tables = [table("public", f"t{index:02d}") for index in range(40)]
    tables[17] = tables[17].model_copy(update={"columns": wide})
    server.max_body_bytes = 5_000  # about 10 small tables
    result = run(tmp_path, server, catalog({"public": tables}), step, batch_size=40)
    [letter] = letters(result)
    assert letter.fqn == "shop.db.public.t17" and letter.error == "413: 413 Request Entity Too Large"
    assert server.fqns("table") == {f"shop.db.public.t{index:02d}" for index in range(40) if index != 17}
    assert om_report(result).records == 42 and om_report(result).failure_count == 1
    assert len(table_puts(server)) < 40 // 2  # halves until they pass, not one PUT per table
    alone = [call.body["name"] for call in server.puts() if call.path == ENDPOINTS["table"]]
    assert alone == ["t17"]  # the one table too large even alone is tried once more by itself, and fails


@pytest.mark.parametrize("answers_with", ["fqn", "request"])
def test_a_table_twice_in_a_batch_refused_once_is_dead_lettered_once(
    tmp_path: Path, server: FakeOpenMetadata, answers_with: str
) -> None:
    """The sink's batches take records as they come (the bulk sink's file stage keeps the last of an FQN)."""
    server.bulk_answers_with = answers_with
    tagged = table("public", "t1").model_copy(update={"tags": [TagLabel(tag_fqn="Tier.Gold")]})
    tables = [table("public", "t0"), tagged, table("public", "t1"), table("public", "t2")]
    result = run(tmp_path, server, catalog({"public": tables}), "sink")
    [letter] = letters(result)
    assert letter.fqn == "shop.db.public.t1" and letter.error == "404: tag instance for Tier.Gold not found"
    assert om_report(result).records == 6 and om_report(result).failure_count == 1
    assert server.fqns("table") == {"shop.db.public.t0", "shop.db.public.t1", "shop.db.public.t2"}
    assert "tags" not in server.entities[("table", "shop.db.public.t1")]


@pytest.mark.parametrize("step", STEPS)
def test_a_team_that_cannot_own_entities_is_left_out_with_a_warning(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    owners = [Owner(name="engineering", type="team"), Owner(name="data-platform", type="team")]
    tables = [table("public", f"t{index}").model_copy(update={"owners": owners}) for index in range(3)]
    result = run(tmp_path, server, catalog({"public": tables}), step)
    report = om_report(result)
    assert (
        result.success
        and report.failure_count == 0
        and server.fqns("table") == {f"shop.db.public.t{i}" for i in range(3)}
    )
    assert all(
        body["owners"] == [{"id": body["owners"][0]["id"], "type": "team"}] for body in server.bodies("/api/v1/tables")
    )
    assert report.warnings == [
        "owner team 'engineering' is a Department: OpenMetadata lets only teams of type Group own entities;"
        " published without it"
    ]


@pytest.mark.parametrize("step", STEPS)
def test_owners_are_several_users_or_one_team_and_the_rest_a_warning(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    server.users |= {"bob"}
    alice, bob, team = Owner(name="alice"), Owner(name="bob"), Owner(name="data-platform", type="team")
    owned = {"t0": [alice, bob], "t1": [team, alice], "t2": [alice, team, bob], "t3": [team]}
    tables = [table("public", name).model_copy(update={"owners": owners}) for name, owners in owned.items()]
    result = run(tmp_path, server, catalog({"public": tables}), step)
    report = om_report(result)
    assert result.success and report.failure_count == 0, letters(result)
    sent = {body["name"]: [owner["type"] for owner in body["owners"]] for body in server.bodies(ENDPOINTS["table"])}
    assert sent == {"t0": ["user", "user"], "t1": ["team"], "t2": ["user", "user"], "t3": ["team"]}
    assert report.warnings == [
        "owners besides several users or one team are not published: OpenMetadata takes either (2 entities)"
    ]


@pytest.mark.parametrize("step", STEPS)
def test_a_record_without_a_body_fails_alone(
    tmp_path: Path, server: FakeOpenMetadata, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    from airflow_provider_ingest.openmetadata.mapping import Mapper

    body = Mapper.body

    def refusing(self: Mapper, record: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if record.name == "t1":
            raise InputError("table t1: a name OpenMetadata cannot represent")
        return body(self, record, *args, **kwargs)

    monkeypatch.setattr(Mapper, "body", refusing)
    records = catalog({"public": [table("public", f"t{index}", foreign_key("public", "t0")) for index in range(3)]})
    result = run(tmp_path, server, records, step)
    [letter] = letters(result)
    assert letter.fqn == "shop.db.public.t1" and "a name OpenMetadata cannot represent" in letter.error
    assert om_report(result).records == len(records) - 1 and om_report(result).failure_count == 1
    assert server.fqns("table") == {"shop.db.public.t0", "shop.db.public.t2"}
    assert [len(call.body) for call in server.puts() if call.path.startswith(ENDPOINTS["table"])] == [2, 2]


@pytest.mark.parametrize("fault", ["refuse", "omit"])
def test_an_item_refused_or_missing_in_the_batch_is_published_alone(
    tmp_path: Path, server: FakeOpenMetadata, fault: str
) -> None:
    server.bulk_item_faults = {"shop.db.public.t1": fault, "shop.db.public": fault}
    records = catalog({"public": [table("public", f"t{index}") for index in range(4)]})
    result = run(tmp_path, server, records, "bulk_sink")
    assert result.success, result.error
    assert om_report(result).counters == {"created": len(records)} and not letters(result)
    alone = [call for call in server.puts() if BULK not in call.path]
    assert [call.body["name"] for call in alone] == ["shop", "public", "t1"]
    assert all(call.status == 201 for call in alone)


@pytest.mark.parametrize("status", [404, 405])
@pytest.mark.parametrize("step", STEPS)
def test_a_server_without_the_bulk_endpoint_gets_one_put_per_record(
    tmp_path: Path, server: FakeOpenMetadata, caplog: pytest.LogCaptureFixture, step: str, status: int
) -> None:
    server.bulk, server.no_bulk_status = False, status
    records = catalog({"a": [table("a", "t0", foreign_key("b", "t1"))], "b": [table("b", "t1"), table("b", "t2")]})
    result = run(tmp_path, server, records, step)
    assert result.success, result.error
    assert om_report(result).counters == {"created": len(records)}
    statuses = [(call.path, call.status) for call in server.puts()]
    assert statuses[:2] == [(ENDPOINTS["database_service"], 201), (ENDPOINTS["database"] + BULK, status)]
    assert all(BULK not in path for path, _ in statuses[2:])
    assert len(statuses) == 2 + len(records) - 1 + 1  # one bulk attempt; every record alone; t0 again, in full
    notices = [r.getMessage() for r in caplog.records if "no bulk endpoint" in r.getMessage()]
    assert len(notices) == 1 and f"{status}: " in notices[0]


# Foreign keys


@pytest.mark.parametrize("step", STEPS)
def test_foreign_keys_across_schemas_and_to_later_tables_go_in_a_second_pass(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    records = catalog(
        {
            "sales": [
                table("sales", "orders", foreign_key("sales", "customers"), foreign_key("stock", "items")),
                table("sales", "customers"),
            ],
            "stock": [table("stock", "items", foreign_key("stock", "items")), table("stock", "kinds")],
        }
    )
    result = run(tmp_path, server, records, step)
    assert result.success, result.error
    assert om_report(result).counters == {"created": len(records)}
    assert table_puts(server) == [ENDPOINTS["table"] + BULK] * 2  # every table without its keys; two in full
    second = server.puts()[-1].body
    assert [body["name"] for body in second] == ["orders", "items"]
    orders = server.entities[("table", "shop.db.sales.orders")]
    assert [c["referredColumns"] for c in orders["tableConstraints"]] == [
        ["shop.db.sales.customers.id"],
        ["shop.db.stock.items.id"],
    ]
    rerun = run(tmp_path, server, records, step)
    assert om_report(rerun).counters == {"updated": len(records)} and not letters(rerun)


@pytest.mark.parametrize("step", STEPS)
def test_a_table_whose_foreign_key_is_refused_is_dead_lettered_not_published(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    records = catalog(
        {
            "public": [
                table("public", "ghost_ref", foreign_key("public", "ghost")),
                table("public", "bad_column", foreign_key("public", "target", column="nope")),
                table("public", "target"),
                table("public", "fine", foreign_key("public", "target")),
            ]
        }
    )
    result = run(tmp_path, server, records, step)
    report = om_report(result)
    assert report.records == len(records) - 2 and report.failure_count == 2
    assert report.counters == {"created": len(records)}  # all four tables went in, two of them without their key
    errors = {letter.fqn: letter.error for letter in letters(result)}
    assert errors == {
        "shop.db.public.ghost_ref": "published without its foreign keys, which failed: "
        "404: table instance for shop.db.public.ghost not found",
        "shop.db.public.bad_column": "published without its foreign keys, which failed: "
        "400: Invalid fully qualified column name shop.db.public.target.nope",
    }
    assert "tableConstraints" not in server.entities[("table", "shop.db.public.ghost_ref")]
    assert server.entities[("table", "shop.db.public.fine")]["tableConstraints"]


@pytest.mark.parametrize("step", STEPS)
def test_a_foreign_key_to_a_table_that_failed_is_left_out_and_the_others_published(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    refused = table("public", "a").model_copy(update={"tags": [TagLabel(tag_fqn="Tier.Gold")]})
    referring = table("other", "c", foreign_key("public", "a"), foreign_key("public", "b"))
    referring = referring.model_copy(
        update={"columns": [*referring.columns, Column(name="ref2", data_type=DataType.INT)]}
    )
    referring.constraints[1].columns[0] = "ref2"
    records = catalog({"public": [refused, table("public", "b")], "other": [referring]})
    result = run(tmp_path, server, records, step)
    assert {letter.fqn: letter.error for letter in letters(result)} == {
        "shop.db.public.a": "404: tag instance for Tier.Gold not found"
    }
    keys = server.entities[("table", "shop.db.other.c")]["tableConstraints"]
    assert keys == [{"constraintType": "FOREIGN_KEY", "columns": ["ref2"], "referredColumns": ["shop.db.public.b.id"]}]
    assert om_report(result).warnings == [
        "foreign keys to tables that failed in this run are not published (1 keys: shop.db.other.c to shop.db.public.a)"
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    count=st.integers(1, 10),
    batch_size=st.integers(1, 4),
    step=st.sampled_from(STEPS),
    bulk=st.booleans(),
)
def test_any_foreign_key_graph_is_published_in_full(
    monkeypatch: pytest.MonkeyPatch, data: st.DataObject, count: int, batch_size: int, step: str, bulk: bool
) -> None:
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    names = [(data.draw(st.sampled_from(["a", "b"])), f"t{index}") for index in range(count)]
    targets = st.sampled_from([*names, ("a", "ghost")])
    refers = {name: data.draw(st.lists(targets, max_size=2, unique=True)) for name in names}
    schemas: dict[str, list[Table]] = {"a": [], "b": []}
    for schema, name in data.draw(st.permutations(names)):
        schemas[schema].append(table(schema, name, *(foreign_key(*target) for target in refers[(schema, name)])))
    records = catalog(schemas)
    with serve() as server, tempfile.TemporaryDirectory() as folder:
        server.bulk = bulk
        result = run(Path(folder), server, records, step, batch_size=batch_size)
        dead = {letter.fqn for letter in letters(result)}
    ghosts = {f"shop.db.{schema}.{name}" for (schema, name), targets in refers.items() if ("a", "ghost") in targets}
    assert dead == ghosts
    assert server.fqns("table") == {f"shop.db.{schema}.{name}" for schema, name in names}
    for (schema, name), targets in refers.items():
        keys = server.entities[("table", f"shop.db.{schema}.{name}")].get("tableConstraints", [])
        expected = [] if ("a", "ghost") in targets else [[f"shop.db.{s}.{t}.id"] for s, t in targets]
        assert [key["referredColumns"] for key in keys] == expected
    with_keys = sum(1 for targets in refers.values() if targets)
    if bulk:  # the bulk sink batches tables alone; the sink batches records as they come
        kinds = [record.kind for record in records]
        first = (
            sum("table" in chunk for chunk in chunks(kinds, batch_size)) if step == "sink" else -(-count // batch_size)
        )
        assert len(table_puts(server)) == first + -(-with_keys // batch_size) + len(ghosts)  # ghosts: sent alone too
    else:
        assert len(table_puts(server)) == count + with_keys


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sent=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans()), min_size=1, max_size=9),
    batch_size=st.integers(1, 5),
    answers_with=st.sampled_from(["fqn", "request"]),
    reversed_answer=st.booleans(),
)
def test_any_batch_of_refused_and_accepted_records_of_any_fqns_is_accounted_record_by_record(
    monkeypatch: pytest.MonkeyPatch,
    sent: list[tuple[str, bool]],
    batch_size: int,
    answers_with: str,
    reversed_answer: bool,
) -> None:
    """Tables sent in order (a name may repeat), each refused by the server (a tag it lacks) or not: exactly the
    refused ones are dead-lettered, and each table on the server is the last of its name the server took."""
    monkeypatch.setenv("OM_TEST_TOKEN", TOKEN)
    bad = [TagLabel(tag_fqn="Tier.Gold")]
    tables = [
        table("public", name).model_copy(update={"description": f"#{index}", "tags": bad if refused else []})
        for index, (name, refused) in enumerate(sent)
    ]
    with serve() as server, tempfile.TemporaryDirectory() as folder:
        server.bulk_answers_with, server.bulk_answers_reversed = answers_with, reversed_answer
        result = run(Path(folder), server, catalog({"public": tables}), "sink", batch_size=batch_size)
        dead = sorted(letter.record["description"] for letter in letters(result))
    refused = [f"#{index}" for index, (_, refused) in enumerate(sent) if refused]
    assert dead == sorted(refused)
    assert om_report(result).failure_count == len(refused) and om_report(result).records == 3 + len(sent) - len(refused)
    last = {name: f"#{index}" for index, (name, refused) in enumerate(sent) if not refused}
    assert {fqn: entity["description"] for (kind, fqn), entity in server.entities.items() if kind == "table"} == {
        f"shop.db.public.{name}": description for name, description in last.items()
    }


# Dropped connections


@pytest.mark.parametrize("step", STEPS)
def test_a_bulk_request_cut_mid_answer_is_retried_to_completion(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    server.inject("truncate", 1, path=ENDPOINTS["table"])  # headers and half the body, then the connection closes
    server.inject("drop", 1, path=ENDPOINTS["table"])  # closed before any answer
    server.inject("truncate", 1, path=ENDPOINTS["database_schema"])
    records = catalog({"public": [table("public", f"t{index}") for index in range(5)]})
    result = run(tmp_path, server, records, step)
    assert result.success, result.error
    assert om_report(result).counters == {"created": len(records)} and not server.faults
    assert [call.status for call in server.puts() if call.path.startswith(ENDPOINTS["table"])] == [0, 0, 200]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("truncate", "the connection dropped mid-answer 3 times: ChunkedEncodingError: "),
        ("stall", "the connection dropped mid-answer 3 times: ConnectionError: "),
        ("drop", "no answer after 3 attempts: ConnectionError: "),
    ],
)
def test_a_connection_dropped_every_time_says_how_many_attempts_were_made(
    server: FakeOpenMetadata, fault: str, message: str
) -> None:
    server.slow_seconds = 1.0
    client = OpenMetadataClient(Settings(server_url=server.url, token=TOKEN, retries=2, backoff_factor=0.01))
    client.check_version()
    server.inject(fault, None, path=ENDPOINTS["database"])
    client.settings = Settings(server_url=server.url, token=TOKEN, retries=2, backoff_factor=0.01, read_timeout=0.3)
    with pytest.raises(ServerUnavailable) as raised:
        client.put_bulk(ENDPOINTS["database"], [{"name": "db", "service": "shop"}])
    assert str(raised.value).startswith(f"PUT {server.url}{ENDPOINTS['database']}{BULK}: {message}")
    assert server.requests_to(ENDPOINTS["database"]) == 3
    client.close()


# The token


def shown(*texts: str) -> list[str]:
    """The token's forms, stripped or not, found in ``texts``."""
    forms = {TOKEN, TOKEN + "\n", json.dumps(TOKEN + "\n")[1:-1], repr(TOKEN + "\n")[1:-1]}
    return [form for form in forms for text in texts if form in text]


def test_a_token_with_a_line_break_works_and_never_shows(
    tmp_path: Path,
    server: FakeOpenMetadata,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OM_TEST_TOKEN", f" {TOKEN}\n")
    records = catalog({"public": [table("public", "t0"), table("public", "t1")]})
    published = run(tmp_path / "ok", server, records, "bulk_sink")
    assert published.success, published.error
    assert {call.authorization for call in server.calls} == {f"Bearer {TOKEN}"}

    server.inject("echo", 2, path=ENDPOINTS["table"])  # a proxy quoting the request's headers: the batch, then t0
    echoed = run(tmp_path / "echo", server, records, "sink")
    [letter] = letters(echoed)
    assert letter.error == "400: bad request headers: Authorization: Bearer ***"

    server.token = "another-token"
    refused = run(tmp_path / "refused", server, records, "bulk_sink")
    assert "401: Not Authorized! Token not valid" in (refused.error or "")

    config = OpenMetadataConfig(server_url=server.url, jwt_token=f"{TOKEN}\n")
    assert config.jwt_token == TOKEN
    settings_ = Settings(server_url=server.url, token=f"\t{TOKEN}\r\n")
    assert settings_.token == TOKEN
    outputs = [caplog.text, *capsys.readouterr(), repr(config), str(config), repr(settings_)]
    for result in (published, echoed, refused):
        outputs += [result.error or "", repr(result.reports), *(letter.model_dump_json() for letter in letters(result))]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            outputs.append(path.read_text(errors="replace"))
    assert not shown(*outputs)


@pytest.mark.parametrize("written", ["\ufeff{}\r\n", "\ufeff {}", " \ufeff{}\n"])
def test_a_token_from_a_file_saved_with_a_byte_order_mark_works(
    tmp_path: Path, server: FakeOpenMetadata, monkeypatch: pytest.MonkeyPatch, written: str
) -> None:
    monkeypatch.setenv("OM_TEST_TOKEN", written.format(TOKEN))
    result = run(tmp_path, server, catalog({"public": [table("public", "t0")]}), "sink")
    assert result.success, result.error
    assert {call.authorization for call in server.calls} == {f"Bearer {TOKEN}"}
    assert Settings(server_url=server.url, token=written.format(TOKEN)).token == TOKEN


@pytest.mark.parametrize("suffix", ["", "/", "/api", "/api/", "/api/v1", "/api/v1/"])
def test_a_server_url_with_or_without_the_api_path_reaches_the_api(
    tmp_path: Path, server: FakeOpenMetadata, suffix: str
) -> None:
    result = run(tmp_path, server, catalog({"public": [table("public", "t0")]}), "sink", server_url=server.url + suffix)
    assert result.success, result.error
    assert {call.path.split("?")[0] for call in server.calls} >= {"/api/v1/system/version", "/api/v1/tables/bulk"}


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("step", STEPS)
def test_a_server_url_that_redirects_fails_the_step_naming_where_to_not_publishing_nothing(
    tmp_path: Path, server: FakeOpenMetadata, step: str, status: int
) -> None:
    """Following a redirect, requests turns a PUT into a GET (302, 303) or drops its body (301): nothing would be
    written while the GETs (the lists of entities) answer 200."""
    server.redirect = status
    result = run(tmp_path, server, catalog({"public": [table("public", "t0")]}), step)
    assert not result.success and not server.entities
    assert result.error == (
        f"ServerRedirected: OpenMetadata server {server.url} answered {status}, redirecting to"
        f" {server.url}/moved/api/v1/system/version: set the server URL to where it redirects"
    )
    assert [call.method for call in server.calls] == ["GET"]


@pytest.mark.parametrize("inside", ["\n", " ", "\x00", "\u20ac"])
def test_a_token_with_a_break_inside_is_refused_without_showing_it(
    server: FakeOpenMetadata, monkeypatch: pytest.MonkeyPatch, inside: str
) -> None:
    from airflow_provider_ingest.openmetadata.hook import OpenMetadataHook

    broken = TOKEN[:20] + inside + TOKEN[20:]
    refused = "holds a space, a line break, a control character or a character that is not ASCII"
    with pytest.raises(ConfigurationError, match=refused) as raised:
        Settings(server_url=server.url, token=broken)
    connection = {"conn_type": "openmetadata", "host": server.url, "password": broken + "\n"}
    monkeypatch.setenv("AIRFLOW_CONN_OM_BROKEN", json.dumps(connection))
    ok, message = OpenMetadataHook("om_broken").test_connection()
    assert not ok and "line break" in message
    assert not shown(str(raised.value), message) and TOKEN[:20] not in message + str(raised.value)


# Reruns and failures


@pytest.mark.parametrize("step", STEPS)
def test_a_rerun_creates_what_was_missing_and_updates_the_rest(
    tmp_path: Path, server: FakeOpenMetadata, step: str
) -> None:
    records = catalog({"a": [table("a", "t0", foreign_key("b", "t1"))], "b": [table("b", "t1"), table("b", "t2")]})
    server.bulk_item_faults = {"shop.db.b.t1": "refuse"}  # refused in its batch...
    server.inject(
        "500", 3, path=ENDPOINTS["table"], after=1
    )  # ...and alone, 3 times: t1 fails, t0 goes without its key
    first = run(tmp_path, server, records, step)
    assert {letter.fqn: letter.error[-40:] for letter in letters(first)} == {
        "shop.db.b.t1": "/api/v1/tables: 500 after 3 attempts: injected 500"[-40:],
    }
    assert om_report(first).counters == {"created": len(records) - 1} and om_report(first).records == len(records) - 1
    assert "tableConstraints" not in server.entities[("table", "shop.db.a.t0")]
    server.bulk_item_faults = {}
    second = run(tmp_path, server, records, step)
    assert second.success and not letters(second)
    assert om_report(second).counters == {"created": 1, "updated": len(records) - 1}
    assert len(server.entities) == len(records)
    assert server.entities[("table", "shop.db.a.t0")]["tableConstraints"][0]["referredColumns"] == ["shop.db.b.t1.id"]
    third = run(tmp_path, server, records, step)
    assert om_report(third).counters == {"updated": len(records)} and len(server.entities) == len(records)


def test_a_server_lost_mid_batch_fails_the_step_with_every_record_accounted(
    tmp_path: Path, server: FakeOpenMetadata
) -> None:
    records = big_catalog(2, 30)
    server.inject("hang", None, path=ENDPOINTS["table"], after=2)  # two batches answered, then nothing
    result = run(tmp_path, server, records, "bulk_sink", batch_size=5, max_workers=2, read_timeout=0.3)
    assert not result.success and result.error.startswith(
        "ServiceUnavailableError: OpenMetadata is unavailable, stopped: PUT "
    )
    dead = letters(result)
    fqns = [letter.fqn for letter in dead]
    assert len(fqns) == len(set(fqns)) and not set(fqns) & {fqn for _, fqn in server.entities}
    assert set(fqns) | {fqn for _, fqn in server.entities} == {record.fqn for record in records}
    not_attempted = [letter for letter in dead if letter.error.startswith("not attempted: ")]
    assert len(server.fqns("table")) == 10 and len(dead) - len(not_attempted) in (5, 10)  # the batches in flight
    assert f"; {len(not_attempted)} records not attempted (dead-lettered)" in result.error
    assert om_report(result).counters["not_attempted"] == len(not_attempted)


def test_an_interrupted_bulk_sink_stops_within_the_batches_in_flight_and_the_rerun_completes(
    tmp_path: Path, server: FakeOpenMetadata, capsys: pytest.CaptureFixture[str]
) -> None:
    records = big_catalog(2, 100)
    server.latency = 0.05
    folder = tmp_path / "flow"
    folder.mkdir()
    source = folder / "records.jsonl"
    with StagedFileWriter(str(source), producer="test") as out:
        for record in records:
            out.write(record)
    config = {"server_url": server.url, "jwt_token": "${OM_TEST_TOKEN}", **FAST, "batch_size": 10, "max_workers": 2}
    workflow = {
        "source": {"type": "file", "config": {"path": str(source)}},
        "stage": {"type": "file"},
        "bulk_sink": {"type": "openmetadata", "config": config},
        "workflow": {"staging_root": str(folder / "staging")},
    }
    (folder / "flow.yaml").write_text(json.dumps(workflow))
    seen: list[int] = []

    def stop_once_tables_are_sent() -> None:
        while server.requests_to(ENDPOINTS["table"]) < 3:
            threading.Event().wait(0.005)
        seen.append(server.requests_to(ENDPOINTS["table"]))
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_once_tables_are_sent)
    stopper.start()
    code = main(["run", str(folder / "flow.yaml"), "--quiet"])
    stopper.join()
    sent = server.requests_to(ENDPOINTS["table"])
    assert code == 143 and sent <= seen[0] + 2 + 1 < 20  # the 2 batches in flight finish (+1 answered meanwhile)
    assert len(server.fqns("table")) == 10 * sent
    capsys.readouterr()
    assert main(["run", str(folder / "flow.yaml"), "--quiet"]) == 0
    assert len(server.fqns("table")) == 200 and server.requests_to(ENDPOINTS["table"]) == sent + 20
