"""Chained processors in a generated DAG: sql source -> filter -> pii -> enrich -> file sink, by dag.test()."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.dags import run_dag, task_states, xcoms

from airflow_provider_ingest.records import Entity
from airflow_provider_ingest.samples import build_shop
from airflow_provider_ingest.staging import read_records

DAG_ID = "h8_processors_chain"
WORKFLOW = """\
source:
  type: sql
  config: {{url: "sqlite:///{shop}", service_name: shop, sample_rows: 20}}
processors:
  - type: filter
    config:
      kinds: [database_schema, table]
      fqn: {{exclude: ['.*\\.(products|order_items|daily_revenue|daily_sales|customer_segments)']}}
      columns: {{exclude: ['.*\\.customers\\.(loyalty_tier|country_code|city)', '.*\\.orders\\.(status|shipped_at)']}}
  - type: pii
  - type: enrich
    config:
      rules:
        - {{fqn: 'shop\\.shop\\.main\\.customers', owners: ['team:crm'], custom_properties: {{domain: crm}}}}
        - {{column: '.*\\.email', tags: [{{tag_fqn: Glossary.ContactEmail, source: glossary}}]}}
      file: glossary/terms.csv
sink:
  type: file
  config: {{path: "{output}"}}
workflow: {{staging_root: "{staging}"}}
airflow: {{dag_id: {dag_id}, retries: 0}}
"""
GLOSSARY = """\
fqn,column,description,tags,overwrite
shop\\.shop\\.main,,Everything the shop sells and who buys it.,,
.*\\.payments,,Card payments.,Tier.Tier1,yes
,.*\\.orders\\.order_number,Shown to the customer; not a card number.,,
,.*\\.payments\\.ip_address,,Security.NetworkData,
"""

S, N = "PII.Sensitive", "PII.NonSensitive"
CONTACT = ("Glossary.ContactEmail", None, "glossary")
NETWORK = ("Security.NetworkData", None, "classification")


def pii(tag: str, confidence: float) -> tuple[str, float, str]:
    return (tag, confidence, "classification")


EXPECTED = [
    ("shop.shop.main", "Everything the shop sells and who buys it.", [], [], {}, None),
    (
        "shop.shop.main.customer_order_summary",
        "Orders and spending per customer.",
        [],
        [],
        {},
        [
            ("customer_id", None, []),
            ("email", None, [pii(S, 0.95), CONTACT]),
            ("order_count", None, []),
            ("total_spent", None, []),
        ],
    ),
    (
        "shop.shop.main.customers",
        "People who have an account in the shop.",
        [("crm", "team")],
        [],
        {"domain": "crm"},
        [
            ("customer_id", "Surrogate key.", []),
            ("first_name", "Given name.", [pii(S, 0.9)]),
            ("last_name", "Family name.", [pii(S, 0.9)]),
            ("email", "Login and contact email address.", [pii(S, 0.95), CONTACT]),
            ("phone", "Contact phone number, international format.", [pii(N, 0.95)]),
            ("street_address", "Street and house number.", [pii(N, 0.7)]),
            ("postal_code", None, [pii(N, 0.7)]),
            ("birth_date", "Date of birth.", [pii(N, 0.95)]),
            ("national_id", "US social security number.", [pii(S, 0.95)]),
            ("created_at", "When the account was opened.", []),
        ],
    ),
    (
        "shop.shop.main.orders",
        "One checkout by a customer.",
        [],
        [],
        {},
        [
            ("order_id", None, []),
            ("order_number", "Number shown to the customer.", []),
            ("customer_id", None, []),
            ("created_at", None, []),
            ("total_amount", "Sum of the order's lines.", []),
        ],
    ),
    (
        "shop.shop.main.payments",
        "Card payments.",
        [],
        [("Tier.Tier1", None, "classification")],
        {},
        [
            ("payment_id", None, []),
            ("order_id", None, []),
            ("card_number", "Card number (test numbers).", [pii(S, 0.95)]),
            ("card_holder_name", None, [pii(S, 0.9)]),
            ("iban", "Refund account.", [pii(S, 0.95)]),
            ("amount", None, []),
            ("paid_at", None, []),
            ("ip_address", "Where the payment was made from.", [pii(S, 0.95), NETWORK]),
        ],
    ),
]
"""Every output record: FQN, description, owners, tags, custom properties and, for tables, each column."""


def summary(record: Entity) -> tuple:
    columns = getattr(record, "columns", None)
    return (
        record.fqn,
        record.description,
        [(owner.name, owner.type) for owner in record.owners],
        [(tag.tag_fqn, tag.confidence, tag.source) for tag in record.tags],
        record.custom_properties,
        None
        if columns is None
        else [(c.name, c.description, [(t.tag_fqn, t.confidence, t.source) for t in c.tags]) for c in columns],
    )


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.sqlite"
    build_shop(path)
    return path


def test_source_filter_pii_enrich_file_sink_as_a_generated_dag(dags_folder: Path, shop: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "catalog.jsonl"
    (dags_folder / "glossary").mkdir()
    (dags_folder / "glossary" / "terms.csv").write_text(GLOSSARY)
    (dags_folder / "chain.yaml").write_text(
        WORKFLOW.format(shop=shop, output=output, staging=tmp_path / "staging", dag_id=DAG_ID)
    )
    dag_run = run_dag(dags_folder, DAG_ID)
    assert task_states(dag_run) == dict.fromkeys(
        ["source", "filter", "pii", "enrich", "sink", "cleanup_staging"], "success"
    )
    records = list(read_records(str(output)))
    assert [summary(record) for record in records] == EXPECTED
    tables = records[1:]
    assert all(not column.samples for table in tables for column in table.columns)  # type: ignore[attr-defined]
    reasons = {(t.name, c.name): c.tags[0].reason for t in tables for c in t.columns if c.tags}  # type: ignore[attr-defined]
    assert (
        reasons[("customers", "national_id")] == "rule 'ssn': 20 of 20 sample values pass the ssn check (US SSN format)"
    )
    assert reasons[("customers", "first_name")] == (
        "rule 'person_name_open': 16 of 16 sample values pass the person_name check (given name 16); "
        "the column name matches"
    )

    results = xcoms(dag_run)
    counts = {task: (xcom["records"], xcom["failures"]) for task, xcom in results.items() if task != "cleanup_staging"}
    assert counts == {
        "source": (12, 0),
        "filter": (12, 0),
        "pii": (5, 0),
        "enrich": (5, 0),
        "sink": (5, 0),
    }
    handed_over = [r for r in read_records(results["source"]["uri"]) if r.kind == "table"]
    assert any(column.samples for table in handed_over for column in table.columns)  # type: ignore[attr-defined]
    after_pii = [r for r in read_records(results["pii"]["uri"]) if r.kind == "table"]
    assert not any(column.samples for table in after_pii for column in table.columns)  # type: ignore[attr-defined]
    assert results["filter"]["summary"]["filtered"] == 7
    assert results["filter"]["summary"]["counters"] == {
        "filtered_database_service": 1,
        "filtered_database": 1,
        "filtered_table": 5,
        "columns_dropped": 5,
    }
    assert results["pii"]["summary"]["counters"] == {
        "columns": 27,
        "tags_added:PII.Sensitive": 9,
        "tags_added:PII.NonSensitive": 4,
    }
    assert results["enrich"]["summary"]["counters"] == {
        "descriptions_set": 2,
        "descriptions_kept": 1,
        "tags_added:Tier.Tier1": 1,
        "owners_added": 1,
        "custom_properties_set": 1,
        "tags_added:Glossary.ContactEmail": 2,
        "tags_added:Security.NetworkData": 1,
    }
