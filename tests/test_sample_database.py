"""The bundled sample shop: deterministic content, the exact tables PII tests rely on, and the sample workflow."""

from __future__ import annotations

import datetime
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_ingest.samples import build_shop, sample_database_path
from airflow_provider_ingest.samples.shop import SCHEMA_VERSION, luhn_check_digit

REPO = Path(__file__).resolve().parents[1]

TABLES = {
    "customers": [
        ("customer_id", "INTEGER"),
        ("first_name", "TEXT"),
        ("last_name", "TEXT"),
        ("email", "TEXT"),
        ("phone", "TEXT"),
        ("street_address", "TEXT"),
        ("city", "TEXT"),
        ("postal_code", "TEXT"),
        ("country_code", "TEXT"),
        ("birth_date", "DATE"),
        ("national_id", "TEXT"),
        ("created_at", "TIMESTAMP"),
        ("loyalty_tier", "TEXT"),
    ],
    "products": [
        ("product_id", "INTEGER"),
        ("sku", "TEXT"),
        ("name", "TEXT"),
        ("description", "TEXT"),
        ("category", "TEXT"),
        ("unit_price", "NUMERIC(10,2)"),
        ("created_at", "TIMESTAMP"),
    ],
    "orders": [
        ("order_id", "INTEGER"),
        ("order_number", "TEXT"),
        ("customer_id", "INTEGER"),
        ("status", "TEXT"),
        ("created_at", "TIMESTAMP"),
        ("shipped_at", "TIMESTAMP"),
        ("total_amount", "NUMERIC(12,2)"),
    ],
    "order_items": [
        ("order_id", "INTEGER"),
        ("line_number", "INTEGER"),
        ("product_id", "INTEGER"),
        ("quantity", "INTEGER"),
        ("unit_price", "NUMERIC(10,2)"),
    ],
    "payments": [
        ("payment_id", "INTEGER"),
        ("order_id", "INTEGER"),
        ("card_number", "TEXT"),
        ("card_holder_name", "TEXT"),
        ("iban", "TEXT"),
        ("amount", "NUMERIC(12,2)"),
        ("paid_at", "TIMESTAMP"),
        ("ip_address", "TEXT"),
    ],
    "daily_sales": [
        ("day", "DATE"),
        ("category", "TEXT"),
        ("order_count", "INTEGER"),
        ("units_sold", "INTEGER"),
        ("revenue", "NUMERIC(12,2)"),
    ],
    "customer_segments": [
        ("customer_id", "INTEGER"),
        ("segment", "TEXT"),
        ("order_count", "INTEGER"),
        ("total_spent", "NUMERIC(12,2)"),
        ("first_order_at", "TIMESTAMP"),
        ("last_order_at", "TIMESTAMP"),
    ],
}
VIEWS = {
    "customer_order_summary": ["customer_id", "email", "order_count", "total_spent"],
    "daily_revenue": ["day", "revenue"],
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    build_shop(path)
    connection = sqlite3.connect(path)
    yield connection
    connection.close()


def luhn_valid(number: str) -> bool:
    return luhn_check_digit(number[:-1]) == int(number[-1])


def iban_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def test_exact_tables_columns_and_keys(shop: sqlite3.Connection) -> None:
    objects = dict(shop.execute("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite%'").fetchall())
    assert objects == {**dict.fromkeys(TABLES, "table"), **dict.fromkeys(VIEWS, "view")}
    for table, columns in TABLES.items():
        assert [(row[1], row[2]) for row in shop.execute(f"PRAGMA table_info({table})")] == columns
    for view, columns in VIEWS.items():
        assert [row[1] for row in shop.execute(f"PRAGMA table_info({view})")] == columns
    primary = {
        t: [r[1] for r in sorted(shop.execute(f"PRAGMA table_info({t})"), key=lambda r: r[5]) if r[5]] for t in TABLES
    }
    assert primary == {
        "customers": ["customer_id"],
        "products": ["product_id"],
        "orders": ["order_id"],
        "order_items": ["order_id", "line_number"],
        "payments": ["payment_id"],
        "daily_sales": ["day", "category"],
        "customer_segments": ["customer_id"],
    }
    foreign = {t: sorted((r[3], r[2], r[4]) for r in shop.execute(f"PRAGMA foreign_key_list({t})")) for t in TABLES}
    assert foreign == {
        "customers": [],
        "products": [],
        "orders": [("customer_id", "customers", "customer_id")],
        "order_items": [("order_id", "orders", "order_id"), ("product_id", "products", "product_id")],
        "payments": [("order_id", "orders", "order_id")],
        "daily_sales": [],
        "customer_segments": [("customer_id", "customers", "customer_id")],
    }


def test_row_counts_and_realistic_values(shop: sqlite3.Connection) -> None:
    counts = {t: shop.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    assert (counts["customers"], counts["products"], counts["orders"]) == (200, 50, 1000)
    assert counts["order_items"] >= 1000 and counts["payments"] >= 500
    for email, phone, birth, ssn, created in shop.execute(
        "SELECT email, phone, birth_date, national_id, created_at FROM customers"
    ):
        assert re.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z.]+\.(com|org|net)", email)
        assert re.fullmatch(r"\+\d{1,2}[- ][\d -]+", phone)
        assert datetime.date(1940, 1, 1) <= datetime.date.fromisoformat(birth) <= datetime.date(2005, 12, 31)
        assert re.fullmatch(r"(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}", ssn)
        assert "2022" <= created[:4] <= "2025"
    assert all(len(n) == 16 and not luhn_valid(n) for (n,) in shop.execute("SELECT order_number FROM orders"))
    cards = [n for (n,) in shop.execute("SELECT card_number FROM payments")]
    assert all(len(n) == 16 and luhn_valid(n) for n in cards)
    ibans = [i for (i,) in shop.execute("SELECT iban FROM payments WHERE iban IS NOT NULL")]
    assert ibans and all(iban_valid(i) for i in ibans)
    assert all(re.fullmatch(r"(\d{1,3}\.){3}\d{1,3}", ip) for (ip,) in shop.execute("SELECT ip_address FROM payments"))


def test_reporting_tables_hold_what_the_etl_computes(shop: sqlite3.Connection) -> None:
    """daily_sales and customer_segments agree with the orders, lines and payments, recomputed here in Python."""
    status = dict(shop.execute("SELECT order_id, status FROM orders"))
    category = dict(shop.execute("SELECT product_id, category FROM products"))
    paid_on = {order: paid[:10] for order, paid in shop.execute("SELECT order_id, paid_at FROM payments")}
    sales: dict[tuple[str, str], list] = {}
    for order, product, quantity, price in shop.execute(
        "SELECT order_id, product_id, quantity, unit_price FROM order_items"
    ):
        if order in paid_on and status[order] != "cancelled":
            row = sales.setdefault((paid_on[order], category[product]), [set(), 0, 0.0])
            row[0].add(order)
            row[1] += quantity
            row[2] += quantity * price
    expected = {key: (len(orders), units, round(revenue, 2)) for key, (orders, units, revenue) in sales.items()}
    loaded = {(d, c): (n, u, r) for d, c, n, u, r in shop.execute("SELECT * FROM daily_sales")}
    assert loaded.keys() == expected.keys() and len(loaded) > 1000
    assert all(loaded[key][:2] == expected[key][:2] for key in loaded)
    assert all(abs(loaded[key][2] - expected[key][2]) < 0.005 for key in loaded)

    spent: dict[int, list[float]] = {}
    for customer, total, state in shop.execute("SELECT customer_id, total_amount, status FROM orders"):
        if state != "cancelled":
            spent.setdefault(customer, []).append(total)
    segments = dict(shop.execute("SELECT customer_id, segment FROM customer_segments"))
    assert len(segments) == 200
    for customer, segment in segments.items():
        totals = spent.get(customer, [])
        rule = (
            "new" if not totals else "vip" if sum(totals) >= 7500 else "regular" if len(totals) >= 5 else "occasional"
        )
        assert segment == rule, customer
    assert set(segments.values()) == {"new", "occasional", "regular", "vip"}


def test_generation_is_deterministic(tmp_path: Path, shop: sqlite3.Connection) -> None:
    build_shop(tmp_path / "again.sqlite")
    again = sqlite3.connect(tmp_path / "again.sqlite")
    try:
        assert list(again.iterdump()) == list(shop.iterdump())
    finally:
        again.close()


def test_sample_database_path_builds_once_in_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = sample_database_path()
    assert path == tmp_path / "airflow-provider-ingest" / f"shop-{SCHEMA_VERSION}.sqlite"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial file left behind
    built = path.stat().st_mtime_ns
    assert sample_database_path() == path and path.stat().st_mtime_ns == built


def test_the_sample_workflow_runs_with_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_ingest.cli import main
    from airflow_provider_ingest.staging import read_records

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    workflow = tmp_path / "dags" / "sample_shop.yaml"
    workflow.parent.mkdir()
    shutil.copy(REPO / "dags" / "sample_shop.yaml", workflow)
    assert main(["run", str(workflow), "--quiet"]) == 0
    assert "run succeeded" in capsys.readouterr().out
    records = list(read_records(str(tmp_path / "output" / "sample_shop.jsonl")))
    assert [r.fqn for r in records[:3]] == ["sample_shop", "sample_shop.shop", "sample_shop.shop.main"]
    assert sorted(r.name for r in records[3:]) == sorted([*TABLES, *VIEWS])
    published = list(read_records(str(tmp_path / "output" / "sample_shop_published.jsonl")))
    assert published == records
    from airflow_provider_ingest.workflow.loader import load_workflow

    airflow = load_workflow(workflow).spec.airflow
    assert (airflow.dag_id, airflow.schedule) == ("sample_shop", "@daily")
