"""Benchmark the import of one large invoice against DuckDB's raw scan of the same file, in the same run.

    python -m benchmarks.run --sizes 100000 1000000 10000000 --bad-share 0.01 --work /tmp/invoice-bench
    python -m benchmarks.run --sizes 1000000 --warehouse-url postgresql+psycopg://postgres@127.0.0.1/bench

For each size it generates the invoice (CSV), then measures, each in a fresh process:
- the baseline: DuckDB alone, `SELECT count(*), sum(amount) FROM read_csv(...)` with explicit types;
- the import: `invoice-pipeline sync --invoice bench-csp:BENCH-<N>` (the whole CLI path, through Dagster);
and prints wall time, peak resident memory, rows per second and the ratio to the baseline, and the time of
the import step alone as Dagster recorded it (the CLI's time without Python, Dagster and the run around it). With
`--warehouse-url` the lines land in that warehouse (e.g. an empty PostgreSQL database, migrated first).
Timings are ratios against a baseline measured on the same machine in the same run, never absolute asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.generate import generate, write_config

SCAN = """
import duckdb, sys
columns = ['line_id', 'customer_id', 'subscription_id', 'product_id', 'charge_start_date', 'charge_end_date',
           'quantity', 'unit_price', 'amount', 'currency', 'usage_date', 'meter_id', 'meter_name', 'unit']
types = {c: 'VARCHAR' for c in columns}  # in the file's order; the amount is cast as the import casts it
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("SET enable_progress_bar = false")
query = "SELECT count(*), sum(TRY_CAST(amount AS DECIMAL(28, 10))) FROM read_csv($p, header = true, columns = $t)"
print(con.sql(query, params={"p": sys.argv[1], "t": types}).fetchall())
"""


STEP_SECONDS = """
import dagster as dg
instance = dg.DagsterInstance.get()
run = instance.get_run_records(limit=1)[0].dagster_run
print(sum(s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id) if s.start_time and s.end_time))
"""


@dataclass(frozen=True)
class Measure:
    """One process: wall seconds, peak resident set in MB, exit code, last output line."""

    seconds: float
    peak_mb: float
    returncode: int
    output: str


def measure(command: list[str], env: dict[str, str], cwd: Path) -> Measure:
    """Run a command and measure its wall time and peak RSS (its own and its waited-for children)."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    output = process.stdout.read() if process.stdout else ""
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return Measure(seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), lines[-1] if lines else "")


def run(sizes: list[int], bad_share: float, work: Path, warehouse_url: str | None = None) -> list[dict[str, object]]:
    """Generate, measure and return one row per size (into `warehouse_url` when given, else a DuckDB file)."""
    cli = str(Path(sys.executable).parent / "invoice-pipeline")
    rows = []
    for size in sizes:
        folder = work / f"n{size}"
        if folder.exists():
            shutil.rmtree(folder)
        invoice = generate(folder, size, bad_share, "csv")
        config = write_config(folder)
        csv_path = invoice / "usage_summaries.csv"
        env = {
            **os.environ,
            "INVOICE_PIPELINE_CONFIG": str(config),
            "INVOICE_PIPELINE_DATA_DIR": str(folder / "data"),
            "DAGSTER_HOME": str(folder / "dagster_home"),
            "PYTHONWARNINGS": "ignore",
            **({"INVOICE_PIPELINE_WAREHOUSE_URL": warehouse_url} if warehouse_url else {}),
        }
        (folder / "dagster_home").mkdir()
        (folder / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        if warehouse_url:
            subprocess.run([cli, "warehouse", "upgrade"], env=env, cwd=folder, check=True, capture_output=True)
        scan = measure([sys.executable, "-c", SCAN, str(csv_path)], env, folder)
        if scan.returncode != 0:
            raise SystemExit(f"the baseline scan failed: {scan.output}")
        imported = measure([cli, "sync", "--invoice", f"bench-csp:BENCH-{size}"], env, folder)
        step = subprocess.run([sys.executable, "-c", STEP_SECONDS], env=env, cwd=folder, capture_output=True, text=True)
        step_s = float(step.stdout.strip().splitlines()[-1]) if step.returncode == 0 and step.stdout.strip() else None
        rows.append(
            {
                "lines": size,
                "file_mb": csv_path.stat().st_size / 1e6,
                "scan_s": scan.seconds,
                "scan_mb": scan.peak_mb,
                "import_s": imported.seconds,
                "import_mb": imported.peak_mb,
                "rows_per_s": size / imported.seconds,
                "ratio": imported.seconds / scan.seconds,
                "step_s": step_s,
                "step_ratio": step_s / scan.seconds if step_s else None,
                "outcome": imported.output[:140],
                "exit": imported.returncode,
            }
        )
        print(_format(rows[-1]), flush=True)
    return rows


def _format(row: dict[str, object]) -> str:
    return (
        f"{row['lines']:>10,} lines {row['file_mb']:>7.0f} MB | scan {row['scan_s']:6.2f} s {row['scan_mb']:6.0f} MB"
        f" | import {row['import_s']:6.2f} s {row['import_mb']:6.0f} MB {row['rows_per_s']:>10,.0f} rows/s"
        f" | ratio {row['ratio']:5.1f}x | import step {row['step_s'] or float('nan'):6.2f} s"
        f" ({row['step_ratio'] or float('nan'):4.1f}x) | exit {row['exit']} | {row['outcome']}"
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument("--work", type=Path, default=Path("benchmarks/data"))
    parser.add_argument("--warehouse-url", help="import into this (empty) warehouse instead of a DuckDB file")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, bad share {args.bad_share}")
    run(args.sizes, args.bad_share, args.work.resolve(), args.warehouse_url)


if __name__ == "__main__":
    main()
