"""The reconciliation at a real partner's shape: one generated invoice imported, then one period reconciled.

    python -m benchmarks.reconcile --lines 10000000 --shape realistic --engines duckdb postgresql \
        --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/bench --work /tmp/reconcile-bench

For each engine, in its own fresh data folder and warehouse: `invoice-pipeline sync --invoice` (not measured here:
see `benchmarks.run`), then `invoice-pipeline billing run --period 2026-10` (every priced line on a draft, the rest
held back) and `invoice-pipeline reconcile --period 2026-10 --out DIR` (the period, the five before it for the
report's chart, every CSV, the JSON and the HTML report; revenue from the drafts), each measured for its wall time
and peak RSS. The
reference folder gets a `billing_contracts.csv` with usage terms (10% markup) for nine of every ten of the
generated subscriptions' account, contract and product, so both matched and unmatched usage are found.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

from benchmarks.generate import PROVIDER, generate
from benchmarks.run import cli_path, measure, warehouse_for
from invoice_pipeline.schemas.reference_data import BillingContractsSchema

PERIOD = "2026-10"
CONTRACT_COLUMNS = list(BillingContractsSchema.to_schema().columns)


def write_contracts(reference: Path) -> int:
    """Usage terms for nine of every ten account, contract and product of the generated subscriptions; how many."""
    with (reference / "subscriptions.csv").open(encoding="utf-8") as handle:
        keys = sorted(
            {(row["billing_contract_id"], row["account_id"], row["product_id"]) for row in csv.DictReader(handle)}
        )
    kept = [key for number, key in enumerate(keys) if number % 10 != 9 and key[2]]
    with (reference / "billing_contracts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CONTRACT_COLUMNS)
        writer.writerows(
            [contract, account, product, "usage", "USD", "", "", "10", "2026-01-01", ""]
            for contract, account, product in kept
        )
    return len(kept)


def main() -> None:
    """Generate, import, reconcile; print one line per engine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--shape", choices=["small", "realistic"], default="realistic")
    parser.add_argument("--engines", nargs="+", choices=["duckdb", "postgresql"], default=["duckdb"])
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--work", type=Path, default=Path("/tmp/reconcile-bench"))
    args = parser.parse_args()
    folder = args.work / f"{args.shape}-n{args.lines}"
    shutil.rmtree(folder, ignore_errors=True)
    generate(folder, args.lines, 0.0, "csv", shape=args.shape)
    contracts = write_contracts(folder / "reference")
    print(f"{args.lines:,} lines, {args.shape} shape, {contracts:,} contract terms", flush=True)
    for engine in args.engines:
        with warehouse_for(engine, args.postgres_url, folder / engine) as env:
            imported = measure(
                [cli_path(), "sync", "--invoice", f"{PROVIDER}:BENCH-{args.lines}"], env, folder / engine
            )
            if imported.returncode != 0:
                raise SystemExit(f"the import failed: {imported.output}")
            billed = measure([cli_path(), "billing", "run", "--period", PERIOD], env, folder / engine)
            if billed.returncode != 0:
                raise SystemExit(f"the billing run failed: {billed.output}")
            out = folder / engine / "report"
            reconciled = measure([cli_path(), "reconcile", "--period", PERIOD, "--out", str(out)], env, folder / engine)
            if reconciled.returncode != 0:
                raise SystemExit(f"the reconciliation failed: {reconciled.output}")
            counts = json.loads((out / f"{PERIOD}-reconciliation.json").read_text(encoding="utf-8"))["finding_counts"]
        found = ", ".join(f"{kind} {count:,}" for kind, count in counts.items() if count)
        print(
            f"{engine:>10} | import {imported.seconds:.2f} s | billing run {billed.seconds:.2f} s "
            f"{billed.peak_mb:,.0f} MB | reconcile {reconciled.seconds:.2f} s "
            f"{reconciled.peak_mb:,.0f} MB | {found}",
            flush=True,
        )


if __name__ == "__main__":
    main()
