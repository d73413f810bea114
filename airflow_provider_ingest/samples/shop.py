"""The sample shop: a SQLite database generated deterministically (fixed seed, fixed dates) at first use.

Customers, products, orders, order items and payments, with realistic personal data for the PII
processor to find: emails, phone numbers, addresses, birth dates, US SSNs, Luhn-valid test card
numbers, IBANs and IP addresses; two reporting tables the ETL fills from them (``daily_sales``,
``customer_segments``: the query log ``shop_queries.csv`` holds the queries that do it). SQLite has no
COMMENT statement: comments are ``-- text`` in the DDL.
"""

from __future__ import annotations

import datetime
import os
import random
import sqlite3
from decimal import Decimal
from pathlib import Path

SCHEMA_VERSION = 2
SEED = 20240601
TODAY = datetime.datetime(2025, 6, 30, 18, 0, 0)
CUSTOMERS, PRODUCTS, ORDERS = 200, 50, 1000

DDL = """\
CREATE TABLE customers ( -- People who have an account in the shop.
    customer_id INTEGER PRIMARY KEY, -- Surrogate key.
    first_name TEXT NOT NULL, -- Given name.
    last_name TEXT NOT NULL, -- Family name.
    email TEXT NOT NULL UNIQUE, -- Login and contact email address.
    phone TEXT, -- Contact phone number, international format.
    street_address TEXT, -- Street and house number.
    city TEXT,
    postal_code TEXT,
    country_code TEXT, -- ISO 3166-1 alpha-2 country code.
    birth_date DATE, -- Date of birth.
    national_id TEXT, -- US social security number.
    created_at TIMESTAMP NOT NULL, -- When the account was opened.
    loyalty_tier TEXT DEFAULT 'bronze' -- bronze, silver, gold or platinum.
);
CREATE TABLE products ( -- What the shop sells.
    product_id INTEGER PRIMARY KEY,
    sku TEXT NOT NULL UNIQUE, -- Stock keeping unit.
    name TEXT NOT NULL,
    description TEXT,
    category TEXT,
    unit_price NUMERIC(10,2) NOT NULL, -- Current price in EUR.
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE orders ( -- One checkout by a customer.
    order_id INTEGER PRIMARY KEY,
    order_number TEXT NOT NULL, -- Number shown to the customer.
    customer_id INTEGER NOT NULL REFERENCES customers (customer_id),
    status TEXT NOT NULL, -- placed, paid, shipped, delivered or cancelled.
    created_at TIMESTAMP NOT NULL,
    shipped_at TIMESTAMP,
    total_amount NUMERIC(12,2) NOT NULL -- Sum of the order's lines.
);
CREATE TABLE order_items ( -- The lines of an order.
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    line_number INTEGER NOT NULL, -- Position of the line in the order, from 1.
    product_id INTEGER NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL,
    unit_price NUMERIC(10,2) NOT NULL, -- Price when ordered.
    PRIMARY KEY (order_id, line_number)
);
CREATE TABLE payments ( -- Card payments of orders.
    payment_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (order_id),
    card_number TEXT NOT NULL, -- Card number (test numbers).
    card_holder_name TEXT,
    iban TEXT, -- Refund account.
    amount NUMERIC(12,2) NOT NULL,
    paid_at TIMESTAMP NOT NULL,
    ip_address TEXT -- Where the payment was made from.
);
CREATE TABLE daily_sales ( -- Sales per day of payment and product category, loaded nightly by the ETL.
    day DATE NOT NULL, -- Day the payments were made.
    category TEXT NOT NULL, -- Product category.
    order_count INTEGER NOT NULL, -- Paid orders with a line in the category.
    units_sold INTEGER NOT NULL,
    revenue NUMERIC(12,2) NOT NULL, -- Sum of quantity times unit price, in EUR.
    PRIMARY KEY (day, category)
);
CREATE TABLE customer_segments ( -- Customers grouped by spending, rebuilt weekly by the ETL.
    customer_id INTEGER PRIMARY KEY REFERENCES customers (customer_id),
    segment TEXT NOT NULL, -- new, occasional, regular or vip.
    order_count INTEGER NOT NULL, -- Orders not cancelled.
    total_spent NUMERIC(12,2) NOT NULL, -- Sum of those orders, in EUR.
    first_order_at TIMESTAMP,
    last_order_at TIMESTAMP
);
CREATE VIEW customer_order_summary AS -- Orders and spending per customer.
SELECT c.customer_id, c.email, count(o.order_id) AS order_count,
       coalesce(sum(o.total_amount), 0) AS total_spent
FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id
GROUP BY c.customer_id, c.email;
CREATE VIEW daily_revenue AS -- Revenue per day of payment.
SELECT date(paid_at) AS day, sum(amount) AS revenue FROM payments GROUP BY date(paid_at);
"""

DAILY_SALES = """\
SELECT date(p.paid_at) AS day, pr.category, count(DISTINCT o.order_id) AS order_count,
       sum(oi.quantity) AS units_sold, round(sum(oi.quantity * oi.unit_price), 2) AS revenue
FROM payments p
JOIN orders o ON o.order_id = p.order_id
JOIN order_items oi ON oi.order_id = o.order_id
JOIN products pr ON pr.product_id = oi.product_id
WHERE o.status <> 'cancelled'{day}
GROUP BY date(p.paid_at), pr.category"""
"""The ETL's load of ``daily_sales`` (``day``: the condition on one day, or nothing for every day)."""

CUSTOMER_SEGMENTS = """\
WITH spend AS (
    SELECT customer_id, count(*) AS order_count, round(sum(total_amount), 2) AS total_spent,
           min(created_at) AS first_order_at, max(created_at) AS last_order_at
    FROM orders
    WHERE status <> 'cancelled'
    GROUP BY customer_id
)
SELECT c.customer_id,
       CASE WHEN s.customer_id IS NULL THEN 'new'
            WHEN s.total_spent >= 7500 THEN 'vip'
            WHEN s.order_count >= 5 THEN 'regular'
            ELSE 'occasional' END AS segment,
       coalesce(s.order_count, 0) AS order_count, coalesce(s.total_spent, 0) AS total_spent,
       s.first_order_at, s.last_order_at
FROM customers c
LEFT JOIN spend s ON s.customer_id = c.customer_id"""
"""The ETL's weekly rebuild of ``customer_segments`` (the query after ``CREATE TABLE ... AS``)."""

FIRST_NAMES = [
    "Emma",
    "Liam",
    "Olivia",
    "Noah",
    "Ava",
    "Elijah",
    "Sophia",
    "James",
    "Isabella",
    "Lucas",
    "Mia",
    "Mason",
    "Amelia",
    "Ethan",
    "Harper",
    "Logan",
    "Evelyn",
    "Jacob",
    "Abigail",
    "Michael",
    "Emily",
    "Daniel",
    "Elena",
    "Henry",
    "Sofia",
    "Jackson",
    "Camila",
    "Sebastian",
    "Aria",
    "Aiden",
    "Lena",
    "Jonas",
    "Marie",
    "Paul",
    "Chloe",
    "Hugo",
    "Lea",
    "Louis",
    "Giulia",
    "Marco",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Dubois",
    "Moreau",
    "Rossi",
    "Bianchi",
    "Novak",
]
DOMAINS = ("example.com", "example.org", "mail.example.net", "inbox.example.com")
STREETS = [
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Lake",
    "Hill",
    "Park",
    "Main",
    "River",
    "Sunset",
    "Washington",
    "Lincoln",
    "Church",
]
SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Boulevard")
CITIES = (  # city, country, postal code prefix, phone area code
    ("New York", "US", "100", "212"),
    ("Chicago", "US", "606", "312"),
    ("Austin", "US", "787", "512"),
    ("Seattle", "US", "981", "206"),
    ("Boston", "US", "021", "617"),
    ("Denver", "US", "802", "303"),
    ("Berlin", "DE", "10", "30"),
    ("Munich", "DE", "80", "89"),
    ("Vienna", "AT", "1", "1"),
    ("Paris", "FR", "75", "1"),
)
COUNTRY_DIALS = {"US": "+1", "DE": "+49", "AT": "+43", "FR": "+33"}
TIERS = ("bronze", "bronze", "bronze", "silver", "silver", "gold", "platinum")
CATEGORIES = {
    "Kitchen": ("Kettle", "Knife Set", "Cutting Board", "Coffee Grinder", "Pan"),
    "Garden": ("Hose", "Pruning Shears", "Planter", "Watering Can", "Rake"),
    "Office": ("Desk Lamp", "Notebook", "Fountain Pen", "Monitor Stand", "Chair Mat"),
    "Outdoor": ("Tent", "Sleeping Bag", "Headlamp", "Water Bottle", "Backpack"),
    "Home": ("Throw Blanket", "Candle", "Picture Frame", "Doormat", "Wall Clock"),
}
ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Pro", "Essential", "Premium", "Travel", "Smart", "Mini")
STATUSES = ("placed", "paid", "shipped", "shipped", "delivered", "delivered", "delivered", "cancelled")


def sample_database_path() -> Path:
    """Path of the sample shop database, generated on first use in the user's cache folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "airflow-provider-ingest"
    path = cache / f"shop-{SCHEMA_VERSION}.sqlite"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            build_shop(temp)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    return path


def sample_query_log_path() -> Path:
    """Path of the sample shop's query log: two weeks of its queries in OpenMetadata's query-log CSV format."""
    return Path(__file__).with_name("shop_queries.csv")


def build_shop(path: str | Path) -> None:
    """Write the sample shop database to ``path`` (which must not exist); same content every time."""
    rng = random.Random(SEED)
    connection = sqlite3.connect(path)
    try:
        connection.executescript(DDL)
        customers = _customers(rng)
        products = _products(rng)
        orders, items = _orders(rng, customers, products)
        payments = _payments(rng, orders, customers)
        for table, rows in (
            ("customers", customers),
            ("products", products),
            ("orders", orders),
            ("order_items", items),
            ("payments", payments),
        ):
            marks = ", ".join("?" * len(rows[0]))
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        connection.execute("INSERT INTO daily_sales " + DAILY_SALES.format(day=""))
        connection.execute("INSERT INTO customer_segments " + CUSTOMER_SEGMENTS)
        connection.commit()
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _before_today(rng: random.Random, days: int) -> datetime.datetime:
    return TODAY - datetime.timedelta(seconds=rng.randint(0, days * 86400))


def _customers(rng: random.Random) -> list[tuple]:
    rows = []
    for customer_id in range(1, CUSTOMERS + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        city, country, postal_prefix, area = rng.choice(CITIES)
        postal = postal_prefix + "".join(str(rng.randint(0, 9)) for _ in range(5 - len(postal_prefix)))
        if country == "AT":
            postal = postal_prefix + f"{rng.randint(10, 23):02d}0"
        phone = (
            f"+1-{area}-555-{rng.randint(100, 199):04d}"
            if country == "US"
            else f"{COUNTRY_DIALS[country]} {area} {rng.randint(1000000, 9999999)}"
        )
        birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randint(0, 65 * 365 + 15))
        ssn = f"{rng.choice([rng.randint(1, 665), rng.randint(667, 899)]):03d}-{rng.randint(1, 99):02d}-"
        ssn += f"{rng.randint(1, 9999):04d}"
        rows.append(
            (
                customer_id,
                first,
                last,
                f"{first}.{last}{customer_id}@{rng.choice(DOMAINS)}".lower(),
                phone,
                f"{rng.randint(1, 2400)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}",
                city,
                postal,
                country,
                birth.isoformat(),
                ssn,
                _timestamp(_before_today(rng, 3 * 365)),
                rng.choice(TIERS),
            )
        )
    return rows


def _products(rng: random.Random) -> list[tuple]:
    names = [(category, noun) for category, nouns in CATEGORIES.items() for noun in nouns]
    rows = []
    for product_id in range(1, PRODUCTS + 1):
        category, noun = names[(product_id - 1) % len(names)]
        adjective = ADJECTIVES[(product_id - 1) // len(names) * 3 % len(ADJECTIVES) + rng.randint(0, 2)]
        price = Decimal(rng.randint(399, 24999)) / 100
        rows.append(
            (
                product_id,
                f"{category[:3].upper()}-{product_id:04d}",
                f"{adjective} {noun}",
                f"A {adjective.lower()} {noun.lower()} for everyday use.",
                category,
                float(price),
                _timestamp(_before_today(rng, 4 * 365)),
            )
        )
    return rows


def _orders(rng: random.Random, customers: list[tuple], products: list[tuple]) -> tuple[list, list]:
    orders, items = [], []
    for order_id in range(1, ORDERS + 1):
        created = _before_today(rng, 365)
        status = rng.choice(STATUSES)
        shipped = created + datetime.timedelta(hours=rng.randint(12, 120))
        total = Decimal(0)
        for line in range(1, rng.randint(1, 5) + 1):
            product = rng.choice(products)
            quantity = rng.randint(1, 4)
            price = Decimal(str(product[5]))
            total += price * quantity
            items.append((order_id, line, product[0], quantity, float(price)))
        orders.append(
            (
                order_id,
                _luhn_invalid(rng),
                rng.choice(customers)[0],
                status,
                _timestamp(created),
                _timestamp(shipped) if status in ("shipped", "delivered") else None,
                float(total),
            )
        )
    return orders, items


def _payments(rng: random.Random, orders: list[tuple], customers: list[tuple]) -> list[tuple]:
    names = {row[0]: f"{row[1]} {row[2]}" for row in customers}
    rows = []
    for order in orders:
        if order[3] in ("placed", "cancelled"):
            continue
        paid = datetime.datetime.strptime(order[4], "%Y-%m-%d %H:%M:%S")
        paid += datetime.timedelta(minutes=rng.randint(1, 90))
        rows.append(
            (
                len(rows) + 1,
                order[0],
                _card_number(rng),
                names[order[2]].upper(),
                _iban(rng) if rng.random() < 0.4 else None,
                order[6],
                _timestamp(paid),
                f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            )
        )
    return rows


def luhn_check_digit(digits: str) -> int:
    """The digit that makes ``digits`` followed by it pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return (10 - total % 10) % 10


def _card_number(rng: random.Random) -> str:
    prefix = rng.choice(("4", "51", "52", "53", "54", "55"))
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(15 - len(prefix)))
    return body + str(luhn_check_digit(body))


def _luhn_invalid(rng: random.Random) -> str:
    body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(14))
    return body + str((luhn_check_digit(body) + rng.randint(1, 9)) % 10)


def _iban(rng: random.Random) -> str:
    country, length = rng.choice((("DE", 18), ("AT", 16)))
    bban = "".join(str(rng.randint(0, 9)) for _ in range(length))
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"
