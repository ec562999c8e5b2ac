"""The anchor: the least an import must do, by hand in DuckDB, as the yardstick of the product's import.

    python -m benchmarks.anchor INVOICE_FOLDER REFERENCE_FOLDER DUCKDB_FILE      # from the repository's root only
    python path/to/benchmarks/anchor.py INVOICE_FOLDER REFERENCE_FOLDER DUCKDB_FILE  # from anywhere

(`benchmarks` is not an installed package, so `-m` finds it only in the current folder; the file imports nothing
of the project, so it also runs as a script, as `benchmarks/run.py` runs it.)

A typed strict read of the usage lines (a bad value fails the read), stored in a DuckDB file inside a
transaction, one query counting unmapped lines, distinct line ids, rule violations and the amount total,
compared with the header; then COMMIT or ROLLBACK. No history, no notes, no Dagster. Prints one line.
"""

from __future__ import annotations

import json
import sys
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb

COLUMNS = ["line_id", "customer_id", "subscription_id", "product_id", "charge_start_date", "charge_end_date",
           "quantity", "unit_price", "amount", "currency", "usage_date", "meter_id", "meter_name", "unit"]  # fmt: skip
# In the file's order (read_csv's `columns` are positional): ids as text, dates as DATE, money as DECIMAL.
TYPES = dict.fromkeys(COLUMNS, "VARCHAR") | dict.fromkeys(
    ("charge_start_date", "charge_end_date", "usage_date"), "DATE"
)
TYPES |= {"quantity": "DECIMAL(38, 18)", "unit_price": "DECIMAL(38, 18)", "amount": "DECIMAL(28, 10)"}
CHECK = """
SELECT count(*), count(DISTINCT l.line_id), sum(l.amount),
       count(*) FILTER (WHERE a.account_id IS NULL OR s.account_id IS NULL) AS "unmapped lines",
       count(*) FILTER (WHERE l.quantity < 0) AS "negative quantities",
       count(*) FILTER (WHERE l.charge_start_date > l.charge_end_date) AS "charge starts after its end",
       count(*) FILTER (WHERE l.currency <> $currency) AS "lines in a foreign currency"
FROM lines l
LEFT JOIN (SELECT * FROM ref_accounts WHERE provider = $provider) a ON a.provider_account_id = l.customer_id
LEFT JOIN (SELECT * FROM ref_subscriptions WHERE provider = $provider) s ON s.subscription_id = l.subscription_id
"""


def anchor(invoice: Path, reference: Path, database: Path) -> str:
    """Import the invoice's usage lines into `database` or roll back; return the verdict."""
    header = json.loads((invoice / "header.json").read_text(encoding="utf-8"))
    # As the product's DuckDB (DuckDBSettings; its temp files next to the warehouse file, in data_dir/duckdb_tmp).
    settings = {"threads": 2, "memory_limit": "1GB", "preserve_insertion_order": False}
    con = duckdb.connect(str(database), config=settings | {"temp_directory": str(database.parent / "duckdb_tmp")})
    minor = con.execute(
        "SELECT minor_units FROM read_csv($p, all_varchar = true) WHERE code = $c",
        {"p": str(reference / "currencies.csv"), "c": header["currency"]},
    ).fetchall()
    exponent = Decimal(1).scaleb(-int(minor[0][0]) if minor else -2)
    read = "read_csv($path, header = true, auto_detect = false, strict_mode = true, columns = $types)"
    con.execute("BEGIN")
    try:
        for name, file in (("ref_accounts", "provider_accounts"), ("ref_subscriptions", "subscriptions")):
            con.execute(
                f"CREATE TEMP TABLE {name} AS FROM read_csv($p, all_varchar = true)",
                {"p": str(reference / f"{file}.csv")},
            )
        con.execute(
            f"CREATE TABLE lines AS SELECT * FROM {read}",
            {"path": str(invoice / "usage_summaries.csv"), "types": TYPES},
        )
        params = {"provider": invoice.parent.name, "currency": header["currency"]}
        result = con.execute(CHECK, params)
        names = [d[0] for d in result.description]
        (lines, distinct, total, *broken) = result.fetchall()[0]
    except duckdb.Error as error:
        con.execute("ROLLBACK")
        con.close()
        message = str(error).splitlines()
        why = next((line for line in message if line.startswith("Error when converting")), message[0])
        return f"rolled back: the lines cannot be read: {why[:200]}"
    lines_total = Decimal(total or 0).quantize(exponent, ROUND_HALF_EVEN)
    header_total = Decimal(header["total_amount"]).quantize(exponent, ROUND_HALF_EVEN)
    problems = [f"{count} {name}" for name, count in zip(names[3:], broken, strict=True) if count]
    problems += [f"{lines - distinct} repeated line ids"] if distinct != lines else []
    problems += [f"lines total {lines_total} <> header {header_total}"] if lines_total != header_total else []
    con.execute("ROLLBACK" if problems else "COMMIT")
    con.close()
    verdict = "rolled back: " + "; ".join(problems) if problems else "committed"
    return f"{verdict} ({lines} lines, total {lines_total} {header['currency']}, header {header_total})"


def main() -> None:
    """Command line: INVOICE_FOLDER REFERENCE_FOLDER DUCKDB_FILE."""
    invoice, reference, database = (Path(a) for a in sys.argv[1:4])
    print(anchor(invoice, reference, database), flush=True)


if __name__ == "__main__":
    main()
