"""Generate a large provider invoice in the provider folder format, with reference data that resolves it.

    python -m benchmarks.generate --lines 1000000 --bad-share 0.01 --format csv --out benchmarks/data/1m

Lines are made by DuckDB (so 10 million take seconds); amounts are exact decimals with up to six
places. Bad rows (a share of them) carry an amount that is not a number and an unmapped customer.
"""

from __future__ import annotations

import argparse
import json
import shutil
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb

PROVIDER = "bench-csp"
CUSTOMERS = 200
SUBSCRIPTIONS_PER_CUSTOMER = 5

LINES_SQL = """
SELECT
    'U' || lpad(i::VARCHAR, 10, '0') AS line_id,
    CASE WHEN {bad} THEN 'unmapped-tenant' ELSE 'tenant-' || (i % {customers})::VARCHAR END AS customer_id,
    'sub-' || (i % {customers})::VARCHAR || '-' || ((i // {customers}) % {subs})::VARCHAR AS subscription_id,
    'AZURE-PLAN' AS product_id,
    DATE '2026-10-01' AS charge_start_date,
    DATE '2026-10-31' AS charge_end_date,
    ((i % 97) + 1)::DECIMAL(18, 4) / 4 AS quantity,
    (((i * 7919) % 100000) / 1000000)::DECIMAL(18, 6) AS unit_price,
    CASE WHEN {bad} THEN 'not-a-number'
         ELSE ((((i % 97) + 1)::DECIMAL(18, 4) / 4) * (((i * 7919) % 100000) / 1000000)::DECIMAL(18, 6))
              ::DECIMAL(18, 6)::VARCHAR END AS amount,
    'USD' AS currency,
    (DATE '2026-10-01' + (i % 31)::INTEGER) AS usage_date,
    'meter-' || (i % 50)::VARCHAR AS meter_id,
    'Virtual Machines D2s v5' AS meter_name,
    '1 Hour' AS unit
FROM range({lines}) r(i)
"""


def generate(out: Path, lines: int, bad_share: float, file_format: str) -> Path:
    """Write `<out>/providers/bench-csp/BENCH-<lines>/` and `<out>/reference/`; return the invoice folder."""
    invoice_id = f"BENCH-{lines}"
    folder = out / "providers" / PROVIDER / invoice_id
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    every = round(1 / bad_share) if bad_share else 0
    bad = f"i % {every} = {every - 1}" if every else "false"
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    query = LINES_SQL.format(bad=bad, customers=CUSTOMERS, subs=SUBSCRIPTIONS_PER_CUSTOMER, lines=lines)
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
    _write_reference(out / "reference", con)
    return folder


def _write_reference(folder: Path, con: duckdb.DuckDBPyConnection) -> None:
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


def write_config(out: Path, name: str = "config.yaml") -> Path:
    """A pipeline config for the generated provider, with its own warehouse under `out/data`."""
    config = out / name
    config.write_text(
        "data_dir: data\n"
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
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    folder = generate(args.out, args.lines, args.bad_share, args.format)
    write_config(args.out)
    print(folder)


if __name__ == "__main__":
    main()
