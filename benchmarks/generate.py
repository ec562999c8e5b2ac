"""Generate a large provider invoice in the provider folder format, with reference data that resolves it.

    python -m benchmarks.generate --lines 1000000 --bad-share 0.01 --format csv --out benchmarks/data/1m
    python -m benchmarks.generate --lines 1000000 --shape realistic --out benchmarks/data/1m-realistic

Two reference shapes: `small` (200 customers, 5 subscriptions each, one product, 50 meters) and `realistic`
(20,000 customers, 150,000 subscriptions, 4,000 products, 4,000 meters, the lines spread over all of them;
each line's subscription belongs to its customer's account and carries the subscription's product).
Lines are made by DuckDB (so 10 million take seconds); amounts are exact decimals with up to six
places. Bad rows (a share of them) carry an amount that is not a number and an unmapped customer.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb

PROVIDER = "bench-csp"
CUSTOMERS = 200
SUBSCRIPTIONS_PER_CUSTOMER = 5
# The realistic shape's line n uses subscription (n * SPREAD) % subscriptions: a prime, so coprime with any
# subscription count below it, the first `subscriptions` lines use every subscription once (then again, in turn).
SPREAD = 104_729


@dataclass(frozen=True)
class Shape:
    """How many reference records the lines spread over; `small` keeps the benchmark's original layout."""

    name: str
    customers: int
    subscriptions: int
    products: int
    meters: int

    def scaled(self, factor: float) -> Shape:
        """The same shape with every count multiplied by `factor` (at least 1 each), e.g. for a fast test."""
        counts = (max(1, round(n * factor)) for n in (self.customers, self.subscriptions, self.products, self.meters))
        return Shape(self.name, *counts)


SHAPES = {
    "small": Shape("small", CUSTOMERS, CUSTOMERS * SUBSCRIPTIONS_PER_CUSTOMER, 1, 50),
    "realistic": Shape("realistic", 20_000, 150_000, 4_000, 4_000),
}

# Per shape: the line's customer, subscription, product, meter and meter name, as SQL over the line number i.
SMALL_REFERENCES = """
    CASE WHEN {bad} THEN 'unmapped-tenant' ELSE 'tenant-' || (i % {customers})::VARCHAR END AS customer_id,
    'sub-' || (i % {customers})::VARCHAR || '-' || ((i // {customers}) % {subs})::VARCHAR AS subscription_id,
    'AZURE-PLAN' AS product_id,"""
REALISTIC_REFERENCES = """
    CASE WHEN {bad} THEN 'unmapped-tenant'
         ELSE 'tenant-' || (((i * {spread}) % {subscriptions}) % {customers})::VARCHAR END AS customer_id,
    'sub-' || ((i * {spread}) % {subscriptions})::VARCHAR AS subscription_id,
    'P-' || lpad((((i * {spread}) % {subscriptions}) % {products})::VARCHAR, 5, '0') AS product_id,"""
SMALL_METER = "'meter-' || (i % 50)::VARCHAR AS meter_id, 'Virtual Machines D2s v5' AS meter_name,"
REALISTIC_METER = "'meter-' || (i % {meters})::VARCHAR AS meter_id, 'Meter ' || (i % {meters})::VARCHAR AS meter_name,"

LINES_SQL = """
SELECT
    'U' || lpad(i::VARCHAR, 10, '0') AS line_id,{references}
    DATE '2026-10-01' AS charge_start_date,
    DATE '2026-10-31' AS charge_end_date,
    ((i % 97) + 1)::DECIMAL(18, 4) / 4 AS quantity,
    (((i * 7919) % 100000) / 1000000)::DECIMAL(18, 6) AS unit_price,
    CASE WHEN {bad} THEN 'not-a-number'
         ELSE ((((i % 97) + 1)::DECIMAL(18, 4) / 4) * (((i * 7919) % 100000) / 1000000)::DECIMAL(18, 6))
              ::DECIMAL(18, 6)::VARCHAR END AS amount,
    'USD' AS currency,
    (DATE '2026-10-01' + (i % 31)::INTEGER) AS usage_date,
    {meter}
    '1 Hour' AS unit
FROM range({lines}) r(i)
"""


def lines_sql(lines: int, bad_share: float, shape: Shape) -> str:
    """The query that makes the invoice's lines (every value as the provider writes it)."""
    every = round(1 / bad_share) if bad_share else 0
    bad = f"i % {every} = {every - 1}" if every else "false"
    small = shape.name == "small"
    counts = {
        "customers": shape.customers,
        "subs": SUBSCRIPTIONS_PER_CUSTOMER,
        "subscriptions": shape.subscriptions,
        "products": shape.products,
        "meters": shape.meters,
        "spread": SPREAD,
    }
    references = (SMALL_REFERENCES if small else REALISTIC_REFERENCES).format(bad=bad, **counts)
    meter = SMALL_METER if small else REALISTIC_METER.format(**counts)
    return LINES_SQL.format(bad=bad, references=references, meter=meter, lines=lines)


def generate(out: Path, lines: int, bad_share: float, file_format: str, *, shape: str | Shape = "small") -> Path:
    """Write `<out>/providers/bench-csp/BENCH-<lines>/` and `<out>/reference/`; return the invoice folder.

    `shape` is `small`, `realistic` or a `Shape` (e.g. `SHAPES["realistic"].scaled(0.01)`).
    """
    shape = SHAPES[shape] if isinstance(shape, str) else shape
    invoice_id = f"BENCH-{lines}"
    folder = out / "providers" / PROVIDER / invoice_id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    query = lines_sql(lines, bad_share, shape)
    target = folder / ("usage_summaries.parquet" if file_format == "parquet" else "usage_summaries.csv")
    options = "FORMAT parquet" if file_format == "parquet" else "FORMAT csv, HEADER true"
    con.execute(f"COPY ({query}) TO '{target}' ({options})")
    total = con.execute(f"SELECT sum(TRY_CAST(amount AS DECIMAL(28, 10))) FROM ({query})").fetchall()[0][0]
    header = {
        "invoice_id": invoice_id,
        "invoice_date": "2026-11-05",
        "billing_period_start": "2026-10-01",
        "billing_period_end": "2026-10-31",
        "currency": "USD",
        "total_amount": str(Decimal(total).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)),
    }
    (folder / "header.json").write_text(json.dumps(header, indent=2), encoding="utf-8")
    if shape.name == "small":
        _write_small_reference(out / "reference", con)
    else:
        _write_realistic_reference(out / "reference", con, shape)
    return folder


def _write_small_reference(folder: Path, con: duckdb.DuckDBPyConnection) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT '{PROVIDER}' AS provider, 'tenant-' || i AS provider_account_id, 'ACC-' || i AS account_id,"
        f" 'Customer ' || i AS account_name FROM range({CUSTOMERS}) r(i)) TO '{folder / 'provider_accounts.csv'}'"
    )
    con.execute(
        f"COPY (SELECT '{PROVIDER}' AS provider, 'sub-' || c || '-' || s AS subscription_id, 'ACC-' || c AS account_id,"
        f" 'BC-' || c AS billing_contract_id, 'AZURE-PLAN' AS product_id"
        f" FROM range({CUSTOMERS}) a(c), range({SUBSCRIPTIONS_PER_CUSTOMER}) b(s)) TO '{folder / 'subscriptions.csv'}'"
    )
    (folder / "products.csv").write_text("product_id,name\nAZURE-PLAN,Azure plan\n", encoding="utf-8")
    (folder / "currencies.csv").write_text("code,minor_units\nUSD,2\n", encoding="utf-8")


def _write_realistic_reference(folder: Path, con: duckdb.DuckDBPyConnection, shape: Shape) -> None:
    # Subscription s belongs to customer s % customers (account ACC-<customer>) and sells product s % products.
    folder.mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT '{PROVIDER}' AS provider, 'tenant-' || i AS provider_account_id, 'ACC-' || i AS account_id,"
        f" 'Customer ' || i AS account_name FROM range({shape.customers}) r(i))"
        f" TO '{folder / 'provider_accounts.csv'}' (FORMAT csv, HEADER true)"
    )
    con.execute(
        f"COPY (SELECT '{PROVIDER}' AS provider, 'sub-' || s AS subscription_id,"
        f" 'ACC-' || (s % {shape.customers}) AS account_id, 'BC-' || (s % {shape.customers}) AS billing_contract_id,"
        f" 'P-' || lpad((s % {shape.products})::VARCHAR, 5, '0') AS product_id FROM range({shape.subscriptions}) r(s))"
        f" TO '{folder / 'subscriptions.csv'}' (FORMAT csv, HEADER true)"
    )
    con.execute(
        f"COPY (SELECT 'P-' || lpad(p::VARCHAR, 5, '0') AS product_id, 'Product ' || p AS name"
        f" FROM range({shape.products}) r(p)) TO '{folder / 'products.csv'}' (FORMAT csv, HEADER true)"
    )
    (folder / "currencies.csv").write_text("code,minor_units\nUSD,2\n", encoding="utf-8")


def generate_many(out: Path, count: int, lines: int = 5) -> list[str]:
    """Write `count` small invoices of `lines` lines each (small shape), `BENCH-<lines>-0001`... under
    `<out>/providers/bench-csp/`, with their reference data in `<out>/reference/`; return their invoice ids.

    One invoice is generated, then copied with its own id in each header (its lines need not be unique across
    invoices: each invoice is its own partition and record)."""
    template = generate(out, lines, 0.0, "csv", shape="small")
    ids = [f"BENCH-{lines}-{n:04d}" for n in range(1, count + 1)]
    header = json.loads((template / "header.json").read_text(encoding="utf-8"))
    for invoice_id in ids:
        folder = template.parent / invoice_id
        shutil.copytree(template, folder)
        (folder / "header.json").write_text(json.dumps({**header, "invoice_id": invoice_id}, indent=2), "utf-8")
    shutil.rmtree(template)
    return ids


def write_config(out: Path, name: str = "config.yaml", *, data_dir: Path | None = None) -> Path:
    """A pipeline config for the generated provider, with its own warehouse under `out/data`, or under `data_dir`
    (written as an absolute path; a config's `data_dir` wins over `INVOICE_PIPELINE_DATA_DIR`)."""
    config = out / name
    config.write_text(
        f"data_dir: {'data' if data_dir is None else json.dumps(str(data_dir.resolve()))}\n"
        "reference_data: reference\n"
        "providers:\n"
        f"  - id: {PROVIDER}\n    name: Benchmark CSP\n    sync: automatic\n    connector: folder\n"
        f'    path: providers/{PROVIDER}\n    checksum_tolerance: "0.00"\n',
        encoding="utf-8",
    )
    return config


def main() -> None:
    """Command line: generate one invoice."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small", help="the reference data's shape")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    folder = generate(args.out, args.lines, args.bad_share, args.format, shape=args.shape)
    write_config(args.out)
    print(folder)


if __name__ == "__main__":
    main()
