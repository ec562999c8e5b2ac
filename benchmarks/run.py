"""Benchmark the import of one invoice against a hand-written anchor and DuckDB's raw scan, in the same run.

    python -m benchmarks.run --sizes 100000 1000000 --shapes small realistic --engines duckdb postgresql
    python -m benchmarks.run --sizes 1000000 --bad-share 0.01 --work /tmp/invoice-bench-bad
    python -m benchmarks.run --small-invoice --engines duckdb
    python -m benchmarks.run --many-invoices 1 10 100 --repeat 3

For each shape and size it generates the invoice (CSV), then measures, each in a fresh process (wall time, and the
peak resident memory from `os.wait4`):
- `scan`: DuckDB alone, `SELECT count(*), sum(amount) FROM read_csv(...)`;
- `anchor`: `benchmarks/anchor.py` into a fresh DuckDB file, the least an import must do (the yardstick of both
  engines; DuckDB only);
- per engine, `cli`: `invoice-pipeline sync --invoice bench-csp:BENCH-<N>` (the whole CLI path, through Dagster) into
  a fresh warehouse (a DuckDB file, or a PostgreSQL database created for it and migrated), then, from the run's
  Dagster instance, the seconds of the import step and of the `billable_usage` step;
and marks each figure against its target: whole CLI within 1.3x the anchor, import step within 1.0x, peak RSS at
most 1.5 GB, the `billable_usage` step under 1 s, PostgreSQL's whole CLI at 10M lines at most 56 s (with
`--bad-share` the anchor stops at the first bad value: no ratio against it). Every measurement (engine, repeat) has
its own emptied data folder (warehouse, validated reference data, Dagster home) and its own config pointing at it.
`--small-invoice` measures a 100-line invoice against the realistic reference data instead: the whole CLI against a
trivial one-asset Dagster materialize (target 1.2x), and the start time of commands that need no Dagster (under
1.5 s each); a command that exits non-zero is no figure, its row says `FAILED (exit N: <last line>)`. Rows print
as they complete; a markdown table at the end; `<work>/results.json`.
`--many-invoices N...` measures `invoice-pipeline sync` (the daily sync, then one import run per invoice) of N
5-line invoices into a fresh data folder and Dagster home: seconds per invoice (target at most 1 s), and where they
go (the daily sync run, the import runs and their steps as the instance recorded them, the rest of the process);
then, during one more such sync of the largest N, `invoices list` again and again (target: answers within 2 s, or
says on stderr what it waits for).
Timings are ratios against baselines measured on the same machine in the same run, never absolute asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from benchmarks.generate import PROVIDER, SHAPES, generate, generate_many, write_config

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

# Every step of every run in the (fresh) instance: {step key: seconds}, summed over runs.
STEP_SECONDS = """
import json
import dagster as dg
instance = dg.DagsterInstance.get()
steps = {}
for record in instance.get_run_records():
    for s in instance.get_run_step_stats(record.dagster_run.run_id):
        if s.start_time and s.end_time:
            steps[s.step_key] = steps.get(s.step_key, 0.0) + s.end_time - s.start_time
print(json.dumps(steps))
"""

# Every run in the (fresh) instance: its job and its wall seconds (start to end as the instance recorded them).
RUN_SECONDS = """
import json
import dagster as dg
instance = dg.DagsterInstance.get()
runs = []
for record in instance.get_run_records():
    if record.start_time and record.end_time:
        runs.append([record.dagster_run.job_name, record.end_time - record.start_time])
print(json.dumps(runs))
"""

TRIVIAL_MATERIALIZE = """
import dagster as dg
@dg.asset
def one():
    return 1
dg.materialize([one], instance=dg.DagsterInstance.get())
"""

ANCHOR = Path(__file__).resolve().parent / "anchor.py"
IMPORT_STEP = "provider_invoice_import"
BILLABLE_STEP = "billable_usage"
CLI_PER_ANCHOR = 1.3
STEP_PER_ANCHOR = 1.0
PEAK_MB = 1536.0
BILLABLE_SECONDS = 1.0  # "well under a second at 10M lines": marked at every size
POSTGRES_CLI_SECONDS = 56.0  # "at most 0.5x today's 112 s": PostgreSQL's whole CLI at 10M lines only
POSTGRES_CLI_LINES = 10_000_000
ANCHOR_STOPPED = "n/a (anchor stopped at the first bad value)"
SMALL_CLI_PER_TRIVIAL = 1.2
START_SECONDS = 1.0  # #31: `--help` and `invoices list` start in at most 1.0 s (median)
NO_DAGSTER_COMMANDS = (["--help"], ["providers", "list"], ["invoices", "list"])
MANY_LINES = 5  # lines per invoice in --many-invoices
SECONDS_PER_INVOICE = 1.0
LIST_WHILE_IMPORTING_SECONDS = 2.0
WAITING_SAID = "locked by"  # what `invoices list` says on stderr while it waits for the warehouse

Row = dict[str, object]


@dataclass(frozen=True)
class Measure:
    """One process: wall seconds, peak resident set in MB, exit code, last output line, and its CPU seconds (user
    and system, its own and its waited-for children's: a figure the machine's load changes less than the wall)."""

    seconds: float
    peak_mb: float
    returncode: int
    output: str
    cpu_s: float = 0.0


def measure(command: list[str], env: dict[str, str], cwd: Path) -> Measure:
    """Run a command and measure its wall time and peak RSS (its own and its waited-for children)."""
    log = cwd / "last-measure.log"  # a file, not a pipe: a chatty process never blocks on a full pipe
    with log.open("w", encoding="utf-8") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    lines = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return Measure(
        seconds,
        usage.ru_maxrss / 1024,
        os.waitstatus_to_exitcode(status),
        lines[-1] if lines else "",
        usage.ru_utime + usage.ru_stime,
    )


def mark(value: float | None, target: float, *, strict: bool = False) -> str:
    """`ok` when the value meets its target (at most it, or below it with `strict`), `OVER` when not."""
    if value is None:
        return "n/a"
    return "ok" if (value < target if strict else value <= target) else "OVER"


def cli_path() -> str:
    """The `invoice-pipeline` console script of this interpreter's environment."""
    return str(Path(sys.executable).parent / "invoice-pipeline")


def fresh_environment(folder: Path, warehouse_url: str | None) -> dict[str, str]:
    """The CLI's environment for one measurement in `folder`, directly under the generated invoice's root: a fresh
    (emptied) data folder and Dagster home under `folder`, this warehouse, and the measurement's own config next to
    `folder` (`<root>/config-<folder name>.yaml`), whose `data_dir` is that data folder (a config's `data_dir` wins
    over `INVOICE_PIPELINE_DATA_DIR`, so the variable alone would not move the warehouse)."""
    data = folder / "data"
    for sub in (data, folder / "dagster_home"):
        shutil.rmtree(sub, ignore_errors=True)
    (folder / "dagster_home").mkdir(parents=True)
    (folder / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    config = write_config(folder.parent, f"config-{folder.name}.yaml", data_dir=data)
    return {
        **os.environ,
        "INVOICE_PIPELINE_CONFIG": str(config),
        "INVOICE_PIPELINE_DATA_DIR": str(data),
        "DAGSTER_HOME": str(folder / "dagster_home"),
        "PYTHONWARNINGS": "ignore",
        **({"INVOICE_PIPELINE_WAREHOUSE_URL": warehouse_url} if warehouse_url else {}),
    }


def _recreate_database(url: str, *, create: bool) -> None:
    import sqlalchemy as sa

    target = sa.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = admin.dialect.identifier_preparer.quote(target.database or "")
    try:
        with admin.connect() as con:
            con.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            if create:
                con.execute(sa.text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()


@contextmanager
def warehouse_for(engine: str, postgres_url: str, folder: Path) -> Iterator[dict]:
    """The CLI's fresh environment in `folder` (see `fresh_environment`) on a fresh warehouse: DuckDB's file in the
    fresh data folder, or a PostgreSQL database created for this measurement, migrated with
    `invoice-pipeline warehouse upgrade`, and dropped after it."""
    if engine == "duckdb":
        yield fresh_environment(folder, None)
        return
    _recreate_database(postgres_url, create=True)
    try:
        env = fresh_environment(folder, postgres_url)
        upgrade = subprocess.run([cli_path(), "warehouse", "upgrade"], env=env, capture_output=True, text=True)
        if upgrade.returncode != 0:
            raise SystemExit(f"invoice-pipeline warehouse upgrade failed: {upgrade.stdout}{upgrade.stderr}")
        yield env
    finally:
        _recreate_database(postgres_url, create=False)


def step_seconds(env: dict[str, str], cwd: Path) -> dict[str, float]:
    """The seconds of each step Dagster recorded in the environment's instance, by step key."""
    found = subprocess.run([sys.executable, "-c", STEP_SECONDS], env=env, cwd=cwd, capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout.strip():
        print(f"  (no step stats: {found.stderr.strip().splitlines()[-1:]})", flush=True)
        return {}
    return dict(json.loads(found.stdout.strip().splitlines()[-1]))


def run(
    sizes: list[int],
    shapes: list[str],
    engines: list[str],
    bad_share: float,
    work: Path,
    postgres_url: str,
) -> list[Row]:
    """Generate, measure and return one row per shape, size and engine (the scan and anchor shared by the engines)."""
    rows: list[Row] = []
    steps_said = False
    for shape in shapes:
        for size in sizes:
            folder = work / f"{shape}-n{size}"
            shutil.rmtree(folder, ignore_errors=True)
            invoice = generate(folder, size, bad_share, "csv", shape=shape)
            csv_path = invoice / "usage_summaries.csv"
            scan = measure([sys.executable, "-c", SCAN, str(csv_path)], dict(os.environ), folder)
            if scan.returncode != 0:
                raise SystemExit(f"the baseline scan failed: {scan.output}")
            anchor_db = folder / "anchor" / "anchor.duckdb"
            anchor_db.parent.mkdir()
            anchor_command = [sys.executable, str(ANCHOR), str(invoice), str(folder / "reference"), str(anchor_db)]
            anchor = measure(anchor_command, dict(os.environ), folder)
            if anchor.returncode != 0:
                raise SystemExit(f"the anchor failed: {anchor.output}")
            for engine in engines:  # each in its own data folder: warehouse, reference data cache, Dagster home
                with warehouse_for(engine, postgres_url, folder / engine) as env:
                    cli = measure([cli_path(), "sync", "--invoice", f"{PROVIDER}:BENCH-{size}"], env, folder / engine)
                    steps = step_seconds(env, folder / engine)
                if not steps_said:
                    print(f"  Dagster step keys: {', '.join(steps) or 'none'}", flush=True)
                    steps_said = True
                rows.append(large_row(shape, size, engine, csv_path, scan, anchor, cli, steps, bad_share > 0))
                print(_format(rows[-1]), flush=True)
    return rows


def large_row(
    shape: str,
    size: int,
    engine: str,
    csv_path: Path,
    scan: Measure,
    anchor: Measure,
    cli: Measure,
    steps: dict,
    bad_rows: bool,
) -> Row:
    """One large-invoice row; with bad rows the anchor stops at the first bad value, so no ratio against it."""
    import_s, billable_s = steps.get(IMPORT_STEP), steps.get(BILLABLE_STEP)
    cli_ratio = None if bad_rows else cli.seconds / anchor.seconds
    step_ratio = None if bad_rows or import_s is None else import_s / anchor.seconds
    postgres_10m = engine == "postgresql" and size == POSTGRES_CLI_LINES
    return {
        "mode": "large",
        "shape": shape,
        "lines": size,
        "engine": engine,
        "file_mb": csv_path.stat().st_size / 1e6,
        "scan_s": scan.seconds,
        "scan_mb": scan.peak_mb,
        "anchor_s": anchor.seconds,
        "anchor_mb": anchor.peak_mb,
        "anchor_verdict": anchor.output[:200],
        "cli_s": cli.seconds,
        "cli_s_mark": mark(cli.seconds if postgres_10m else None, POSTGRES_CLI_SECONDS),
        "cli_mb": cli.peak_mb,
        "import_step_s": import_s,
        "billable_usage_s": billable_s,
        "billable_usage_mark": mark(billable_s, BILLABLE_SECONDS, strict=True),
        "steps": steps,
        "cli_per_anchor": cli_ratio,
        "cli_per_anchor_mark": ANCHOR_STOPPED if bad_rows else mark(cli_ratio, CLI_PER_ANCHOR),
        "step_per_anchor": step_ratio,
        "step_per_anchor_mark": ANCHOR_STOPPED if bad_rows else mark(step_ratio, STEP_PER_ANCHOR),
        "cli_mb_mark": mark(cli.peak_mb, PEAK_MB),
        "outcome": cli.output[:200],
        "exit": cli.returncode,
    }


def run_small_invoice(engines: list[str], work: Path, postgres_url: str, repeat: int) -> list[Row]:
    """A 100-line invoice against the realistic reference data: the whole CLI against a trivial Dagster materialize
    (each in a fresh Dagster home, median of `repeat`), and the start time of commands that need no Dagster."""
    folder = work / "small-invoice"
    shutil.rmtree(folder, ignore_errors=True)
    generate(folder, 100, 0.0, "csv", shape="realistic")
    rows: list[Row] = []
    for engine in engines:
        trivial, syncs, starts = [], [], {" ".join(c): [] for c in NO_DAGSTER_COMMANDS}
        outcome = ""
        for _ in range(repeat):
            env = fresh_environment(folder / "trivial", None)
            materialize = measure([sys.executable, "-c", TRIVIAL_MATERIALIZE], env, folder / "trivial")
            if materialize.returncode != 0:
                raise SystemExit(f"the trivial materialize failed: {materialize.output}")
            trivial.append(materialize)
            with warehouse_for(engine, postgres_url, folder / engine) as env:  # emptied for every repeat
                sync = measure([cli_path(), "sync", "--invoice", f"{PROVIDER}:BENCH-100"], env, folder / engine)
                syncs.append(sync)
                outcome = sync.output
                for command in NO_DAGSTER_COMMANDS:
                    starts[" ".join(command)].append(measure([cli_path(), *command], env, folder / engine))
        trivial_s = statistics.median(m.seconds for m in trivial)
        cli_s, cli_failed = successes(syncs)
        cli_ratio = cli_s / trivial_s if cli_s is not None else None
        row: Row = {
            "mode": "small-invoice",
            "shape": "realistic",
            "lines": 100,
            "engine": engine,
            "trivial_s": trivial_s,
            "trivial_mb": max(m.peak_mb for m in trivial),
            "cli_s": cli_s,
            "cli_mb": max((m.peak_mb for m in syncs if m.returncode == 0), default=None),
            "cli_per_trivial": cli_ratio,
            "cli_per_trivial_mark": cli_failed or mark(cli_ratio, SMALL_CLI_PER_TRIVIAL),
            "outcome": outcome[:200],
            "exit": max(m.returncode for m in syncs),
        }
        for command, measures in starts.items():
            seconds, failed = successes(measures)
            row[f"start {command}"] = seconds
            row[f"start {command} mark"] = failed or mark(seconds, START_SECONDS)
            row[f"start {command} exit"] = max(m.returncode for m in measures)
        rows.append(row)
        print(_format_small(row), flush=True)
    return rows


def run_start_up(engines: list[str], work: Path, postgres_url: str, repeat: int) -> list[Row]:
    """The start-up alone: each command that needs no Dagster (`NO_DAGSTER_COMMANDS`) run `repeat` times against a
    warehouse already set up (`warehouse upgrade` first, as after any earlier command), its median marked against
    START_SECONDS. No invoice is imported: what is timed is starting, reading the configuration and the warehouse."""
    folder = work / "start-up"
    shutil.rmtree(folder, ignore_errors=True)
    generate(folder, 100, 0.0, "csv", shape="small")
    rows: list[Row] = []
    for engine in engines:
        with warehouse_for(engine, postgres_url, folder / engine) as env:
            set_up = measure([cli_path(), "warehouse", "upgrade"], env, folder / engine)
            if set_up.returncode != 0:
                raise SystemExit(f"invoice-pipeline warehouse upgrade failed: {set_up.output}")
            starts = {
                " ".join(command): [measure([cli_path(), *command], env, folder / engine) for _ in range(repeat)]
                for command in NO_DAGSTER_COMMANDS
            }
        row: Row = {"mode": "start-up", "engine": engine, "repeat": repeat}
        for command, measures in starts.items():
            seconds, failed = successes(measures)
            row[f"start {command}"] = seconds
            row[f"start {command} mark"] = failed or mark(seconds, START_SECONDS)
            row[f"start {command} exit"] = max(m.returncode for m in measures)
            row[f"start {command} cpu_s"] = statistics.median(m.cpu_s for m in measures)
        rows.append(row)
        print(_format_start_up(row), flush=True)
    return rows


def _instance_json(script: str, env: dict[str, str], cwd: Path) -> list:
    found = subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True)
    if found.returncode != 0 or not found.stdout.strip():
        print(f"  (instance not read: {found.stderr.strip().splitlines()[-1:]})", flush=True)
        return []
    return list(json.loads(found.stdout.strip().splitlines()[-1]))


def run_many_invoices(counts: list[int], work: Path, repeat: int, list_during: int | None = None) -> list[Row]:
    """`invoice-pipeline sync` of N small invoices (each count, median of `repeat`, each into a fresh data folder
    and Dagster home): seconds per invoice and where they go; then `invoices list` during one more sync."""
    rows: list[Row] = []
    for count in counts:
        folder = work / f"many-{count}"
        shutil.rmtree(folder, ignore_errors=True)
        generate_many(folder, count, MANY_LINES)
        measured: list[tuple[Measure, dict[str, float], list]] = []
        for _ in range(repeat):
            env = fresh_environment(folder / "duckdb", None)
            sync = measure([cli_path(), "sync"], env, folder / "duckdb")
            runs = _instance_json(RUN_SECONDS, env, folder / "duckdb")
            measured.append((sync, step_seconds(env, folder / "duckdb"), runs))
        rows.append(many_row(count, measured))
        print(_format_many(rows[-1]), flush=True)
    during = list_during if list_during in counts else max(counts, default=None)
    if during is not None:
        row = next(r for r in rows if r["invoices"] == during)
        row.update(list_while_importing(work / f"many-{during}"))
        print(_format_list_while(row), flush=True)
    return rows


def many_row(count: int, measured: list[tuple[Measure, dict[str, float], list]]) -> Row:
    """One count's row: medians over the repeats of the whole CLI and of each part."""
    ok = [(m, steps, runs) for m, steps, runs in measured if m.returncode == 0]
    cli_s, failed = successes([m for m, _, _ in measured])

    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def run_sum(runs: list, job: str, *, other: bool = False) -> float:
        return sum(seconds for name, seconds in runs if (name != job) == other)

    imports = [run_sum(runs, "import_provider_invoice") for _, _, runs in ok]
    sync_runs = [run_sum(runs, "import_provider_invoice", other=True) for _, _, runs in ok]
    per_invoice = cli_s / count if cli_s is not None else None
    return {
        "mode": "many-invoices",
        "invoices": count,
        "lines_each": MANY_LINES,
        "cli_s": cli_s,
        "per_invoice_s": per_invoice,
        "per_invoice_mark": failed or mark(per_invoice, SECONDS_PER_INVOICE),
        "cpu_s": median([m.cpu_s for m, _, _ in ok]),
        "cpu_per_invoice_s": median([m.cpu_s / count for m, _, _ in ok]),
        "daily_sync_run_s": median(sync_runs),
        "import_runs_s": median(imports),
        "import_run_s_each": median([s / count for s in imports]),
        "import_step_s_each": median([steps.get(IMPORT_STEP, 0.0) / count for _, steps, _ in ok]),
        "billable_step_s_each": median([steps.get(BILLABLE_STEP, 0.0) / count for _, steps, _ in ok]),
        "outside_runs_s": median([m.seconds - sum(s for _, s in runs) for m, _, runs in ok]),
        "cli_mb": max((m.peak_mb for m, _, _ in ok), default=None),
        "outcome": measured[-1][0].output[:200],
        "exit": max(m.returncode for m, _, _ in measured),
    }


def list_while_importing(folder: Path) -> Row:
    """During a sync of the invoices in `folder` (fresh data folder and Dagster home), `invoices list` again and
    again until the sync ends: its median and longest seconds, and how many said on stderr what they waited for."""
    env = fresh_environment(folder / "duckdb", None)
    listing: list[Measure] = []
    said = 0
    with (folder / "sync-while-listing.log").open("w", encoding="utf-8") as out:
        sync = subprocess.Popen([cli_path(), "sync"], env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT)
        while sync.poll() is None:
            started = time.perf_counter()
            done = subprocess.run([cli_path(), "invoices", "list"], env=env, cwd=folder, capture_output=True, text=True)
            listing.append(Measure(time.perf_counter() - started, 0.0, done.returncode, done.stderr.strip()[-200:]))
            said += WAITING_SAID in done.stderr
            time.sleep(0.5)
    answered = [m.seconds for m in listing if m.returncode == 0]
    longest = max(answered, default=None)
    return {
        "list_while_importing_n": len(listing),
        "list_while_importing_median_s": statistics.median(answered) if answered else None,
        "list_while_importing_max_s": longest,
        "list_while_importing_mark": mark(longest, LIST_WHILE_IMPORTING_SECONDS),
        "list_while_importing_said_waiting": said,
        "list_while_importing_failed": [m.output for m in listing if m.returncode != 0][:3],
    }


def successes(measures: list[Measure]) -> tuple[float | None, str | None]:
    """The median seconds of the measurements that exited 0 (None if none did), and `FAILED (exit N: <last line>)`
    for the first that did not (None if none): a run that failed is never a figure."""
    seconds = [m.seconds for m in measures if m.returncode == 0]
    failed = next((m for m in measures if m.returncode != 0), None)
    verdict = f"FAILED (exit {failed.returncode}: {failed.output[:200]})" if failed else None
    return (statistics.median(seconds) if seconds else None), verdict


def _seconds(value: object) -> str:
    return f"{value:.2f} s" if isinstance(value, float) else "n/a"


def _mb(value: object) -> str:
    return f"{value:,.0f} MB" if isinstance(value, float) else "n/a"


def _ratio(value: object, verdict: object) -> str:
    return f"{value:.2f}x {verdict}" if isinstance(value, float) else str(verdict)


def _format(row: Row) -> str:
    return (
        f"{row['shape']:>9} {row['lines']:>10,} lines {row['file_mb']:>6.0f} MB {row['engine']:>10}"
        f" | scan {_seconds(row['scan_s'])} {row['scan_mb']:.0f} MB | anchor {_seconds(row['anchor_s'])}"
        f" {row['anchor_mb']:.0f} MB | cli {_seconds(row['cli_s'])} {row['cli_s_mark']} (≤56 s)"
        f" {row['cli_mb']:.0f} MB {row['cli_mb_mark']} | import step {_seconds(row['import_step_s'])}"
        f" | billable_usage {_seconds(row['billable_usage_s'])} {row['billable_usage_mark']} (<1 s)"
        f" | cli/anchor {_ratio(row['cli_per_anchor'], row['cli_per_anchor_mark'])}"
        f" | step/anchor {_ratio(row['step_per_anchor'], row['step_per_anchor_mark'])}"
        f" | exit {row['exit']} | {row['outcome']} | anchor: {row['anchor_verdict']}"
    )


def _format_small(row: Row) -> str:
    starts = " | ".join(
        f"{c} {_seconds(row[f'start {c}'])} {row[f'start {c} mark']}"
        for c in (" ".join(x) for x in NO_DAGSTER_COMMANDS)
    )
    return (
        f"small invoice (100 lines, realistic references) {row['engine']:>10} | cli {_seconds(row['cli_s'])}"
        f" {_mb(row['cli_mb'])} | trivial materialize {_seconds(row['trivial_s'])}"
        f" | cli/trivial {_ratio(row['cli_per_trivial'], row['cli_per_trivial_mark'])} | {starts}"
        f" | exit {row['exit']} | {row['outcome']}"
    )


def _format_start_up(row: Row) -> str:
    starts = " | ".join(
        f"{c} {_seconds(row[f'start {c}'])} {row[f'start {c} mark']} (CPU {_seconds(row[f'start {c} cpu_s'])})"
        for c in (" ".join(x) for x in NO_DAGSTER_COMMANDS)
    )
    return f"start-up {row['engine']:>10}, median of {row['repeat']} (≤{START_SECONDS:g} s) | {starts}"


def _format_many(row: Row) -> str:
    return (
        f"{row['invoices']:>4} invoices of {row['lines_each']} lines | sync {_seconds(row['cli_s'])}"
        f" | {_seconds(row['per_invoice_s'])}/invoice {row['per_invoice_mark']} (≤1 s)"
        f" | CPU {_seconds(row['cpu_s'])}, {_seconds(row['cpu_per_invoice_s'])}/invoice"
        f" | daily sync run {_seconds(row['daily_sync_run_s'])} | import runs {_seconds(row['import_runs_s'])}"
        f" ({_seconds(row['import_run_s_each'])} each: import step {_seconds(row['import_step_s_each'])},"
        f" billable_usage {_seconds(row['billable_step_s_each'])}) | outside runs {_seconds(row['outside_runs_s'])}"
        f" | {_mb(row['cli_mb'])} | exit {row['exit']} | {row['outcome']}"
    )


def _format_list_while(row: Row) -> str:
    return (
        f"`invoices list` during the sync of {row['invoices']}: {row['list_while_importing_n']} runs, median"
        f" {_seconds(row['list_while_importing_median_s'])}, longest {_seconds(row['list_while_importing_max_s'])}"
        f" {row['list_while_importing_mark']} (≤2 s); said what it waited for:"
        f" {row['list_while_importing_said_waiting']}; failed: {row['list_while_importing_failed'] or 'none'}"
    )


def markdown(rows: list[Row]) -> str:
    """The rows as markdown tables (large invoices, the small invoice, start-up, many invoices), to paste into
    BENCHMARKS.md."""
    out: list[str] = []
    large = [r for r in rows if r["mode"] == "large"]
    if large:
        out += [
            "| shape | lines | engine | CSV | scan | anchor | anchor RSS | whole CLI (≤56 s: PostgreSQL, 10M)"
            " | CLI RSS (≤1.5 GB) | import step | billable_usage (<1 s) | CLI/anchor (≤1.3) | step/anchor (≤1.0)"
            " | outcome |",
            "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for r in large:
            out.append(
                f"| {r['shape']} | {r['lines']:,} | {r['engine']} | {r['file_mb']:,.0f} MB | {_seconds(r['scan_s'])}"
                f" | {_seconds(r['anchor_s'])} | {r['anchor_mb']:,.0f} MB | {_seconds(r['cli_s'])} {r['cli_s_mark']}"
                f" | {r['cli_mb']:,.0f} MB {r['cli_mb_mark']} | {_seconds(r['import_step_s'])}"
                f" | {_seconds(r['billable_usage_s'])} {r['billable_usage_mark']}"
                f" | {_ratio(r['cli_per_anchor'], r['cli_per_anchor_mark'])}"
                f" | {_ratio(r['step_per_anchor'], r['step_per_anchor_mark'])} | {_outcome(r['outcome'], r['exit'])} |"
            )
    small = [r for r in rows if r["mode"] == "small-invoice"]
    if small:
        commands = [" ".join(c) for c in NO_DAGSTER_COMMANDS]
        out += [
            "",
            "| engine | whole CLI (100 lines) | trivial materialize | CLI/trivial (≤1.2) | "
            + " | ".join(f"`{c}` (≤{START_SECONDS:g} s)" for c in commands)
            + " |",
            "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in commands) + " |",
        ]
        for r in small:
            starts = " | ".join(f"{_seconds(r[f'start {c}'])} {r[f'start {c} mark']}" for c in commands)
            out.append(
                f"| {r['engine']} | {_seconds(r['cli_s'])} | {_seconds(r['trivial_s'])}"
                f" | {_ratio(r['cli_per_trivial'], r['cli_per_trivial_mark'])} | {starts} |"
            )
    start_up = [r for r in rows if r["mode"] == "start-up"]
    if start_up:
        commands = [" ".join(c) for c in NO_DAGSTER_COMMANDS]
        out += [
            "",
            "| engine | " + " | ".join(f"`{c}` (≤{START_SECONDS:g} s), CPU" for c in commands) + " |",
            "| --- | " + " | ".join("---:" for _ in commands) + " |",
        ]
        for r in start_up:
            starts = " | ".join(
                f"{_seconds(r[f'start {c}'])} {r[f'start {c} mark']}, {_seconds(r[f'start {c} cpu_s'])}"
                for c in commands
            )
            out.append(f"| {r['engine']} | {starts} |")
    many = [r for r in rows if r["mode"] == "many-invoices"]
    if many:
        out += [
            "",
            "| invoices | whole CLI | s/invoice (≤1) | CPU/invoice | daily sync run | import run, each"
            " | import step, each | billable_usage step, each | outside the runs |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in many:
            out.append(
                f"| {r['invoices']} | {_seconds(r['cli_s'])} | {_ratio(r['per_invoice_s'], r['per_invoice_mark'])}"
                f" | {_seconds(r['cpu_per_invoice_s'])} | {_seconds(r['daily_sync_run_s'])}"
                f" | {_seconds(r['import_run_s_each'])}"
                f" | {_seconds(r['import_step_s_each'])} | {_seconds(r['billable_step_s_each'])}"
                f" | {_seconds(r['outside_runs_s'])} |"
            )
        out += ["", *(_format_list_while(r) for r in many if "list_while_importing_n" in r)]
    return "\n".join(out)


def _outcome(output: object, exit_code: object) -> str:
    """The CLI's outcome (Active, Error, refused...), after its exit code when that is not 0."""
    fields = str(output).split("\t")
    outcome = " ".join(fields[1:2]) or str(output)[:40]
    return f"exit {exit_code}: {outcome}" if exit_code else outcome


def machine() -> str:
    """Python, DuckDB and Dagster versions, cores and memory."""
    memory = next(
        (
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if "MemTotal" in line
        ),
        0.0,
    )
    return (
        f"python {sys.version.split()[0]}, duckdb {version('duckdb')}, dagster {version('dagster')},"
        f" {os.cpu_count()} cores, {memory:.0f} GB"
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["small", "realistic"])
    parser.add_argument("--engines", nargs="+", choices=["duckdb", "postgresql"], default=["duckdb", "postgresql"])
    parser.add_argument("--bad-share", type=float, default=0.0)
    parser.add_argument(
        "--postgres-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/bench",
        help="the PostgreSQL warehouse's database: dropped and created again for every measurement",
    )
    parser.add_argument(
        "--small-invoice",
        action="store_true",
        help="instead: a 100-line invoice against the realistic reference data, CLI against a trivial materialize",
    )
    parser.add_argument(
        "--start-up",
        action="store_true",
        help=f"instead: the start time of {', '.join(' '.join(c) for c in NO_DAGSTER_COMMANDS)} (median of --repeat)",
    )
    parser.add_argument(
        "--many-invoices",
        type=int,
        nargs="+",
        metavar="N",
        help=f"instead: `invoice-pipeline sync` of N invoices of {MANY_LINES} lines, seconds per invoice and its parts",
    )
    parser.add_argument(
        "--list-during",
        type=int,
        metavar="N",
        help="many-invoices mode: run `invoices list` during a sync of this count (default: the largest)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="small-invoice, start-up and many-invoices modes: measurements per figure (median)",
    )
    parser.add_argument("--work", type=Path, default=Path("benchmarks/data"))
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"{machine()}; bad share {args.bad_share}", flush=True)
    if args.many_invoices:
        rows = run_many_invoices(args.many_invoices, work, args.repeat, args.list_during)
    elif args.start_up:
        rows = run_start_up(args.engines, work, args.postgres_url, args.repeat)
    elif args.small_invoice:
        rows = run_small_invoice(args.engines, work, args.postgres_url, args.repeat)
    else:
        rows = run(args.sizes, args.shapes, args.engines, args.bad_share, work, args.postgres_url)
    print()
    print(markdown(rows))
    (work / "results.json").write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    print(f"\n{work / 'results.json'}")


if __name__ == "__main__":
    main()
