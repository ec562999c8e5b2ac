"""The Dagster UI's page loads at 1,000 and 10,000 provider invoices (issue #30): seconds per page, from its GraphQL.

For each N, a fresh Dagster home holds N provider invoices as partitions of `provider_invoices`: two in three are
materialized (`provider_invoice` and the assets its import writes, runless, with the import's metadata shape), one
in three failed (a run of the import job per invoice, created and marked failed without executing: the planned
materialization Dagster logs at run creation, an observation saying Error, then the run's failure, so the partition
reads "failed" as an invoice in Error does). A real `dagster-webserver -w workspace.yaml` then answers the
queries the UI sends, taken verbatim from the webapp's source maps, median of `--repeat` after one warm-up.

    .venv/bin/python -m benchmarks.ui_load --invoices 10 1000 10000 --work /tmp/ui-load
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa
from dagster._core.execution.api import create_execution_plan
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from graphql import FragmentSpreadNode, OperationDefinitionNode, parse, print_ast, visit
from graphql.language import Visitor
from sqlalchemy.pool import NullPool

from invoice_pipeline.dagster_defs.invoice_state import (
    BILLABLE_USAGE_ASSET,
    INVOICE_ASSET,
    LINE_ASSETS,
    error_metadata,
    invoice_metadata,
    line_asset_metadata,
    status_observation,
)
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.dagster_defs.metadata import shown_metadata, table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_KEY, import_run_tags
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
from invoice_pipeline_tests.dagster_ui import DagsterWebserver, dagster_env

PROVIDER = "bench-csp"
CHUNKS = Path(dg.__file__).parents[1] / "dagster_webserver/webapp/build/_next/static/chunks"
ASSET_KEYS = [INVOICE_ASSET, *LINE_ASSETS.values(), BILLABLE_USAGE_ASSET]
PAGES: dict[str, list[str]] = {
    "partitions page": ["AssetViewDefinitionQuery", "PartitionHealthQuery"],
    "partition pane": ["AssetPartitionDetailQuery"],
    "runs page, tag filter": ["RunsFeedRootQuery", "RunFeedTabsCountQuery"],
    "run filter: tag values": ["RunTagValuesQuery"],
    "asset catalog": ["AssetCatalogTableQuery", "AssetGraphLiveQuery", "AssetHealthQuery"],
}


def partition_key(index: int) -> str:
    """The partition of the `index`-th benchmark invoice, `bench-csp:BENCH-00001` onwards."""
    return f"{PROVIDER}:BENCH-{index + 1:05d}"


def is_failed(index: int) -> bool:
    """One invoice in three is in Error (a failed import run), the others Active (materialized)."""
    return index % 3 == 2


def _record(key: str, status: Status) -> InvoiceRecord:
    """A plausible invoice record: what the import's metadata is made of."""
    provider, invoice_id = key.split(":", 1)
    now = datetime.now(UTC)
    active = status == Status.ACTIVE
    return InvoiceRecord(
        record_id=f"rec-{invoice_id}",
        provider=provider,
        invoice_id=invoice_id,
        status=status,
        is_manual=False,
        created_at=now,
        updated_at=now,
        current_key=key,
        message="Imported" if active else "Checksum mismatch: header 1234.56, lines 1234.19 (difference 0.37)",
        currency="EUR",
        minor_units=2,
        total_amount=Decimal("1234.56"),
        usage_total=Decimal("1000.00"),
        license_total=Decimal("234.56") if active else Decimal("234.19"),
        difference=Decimal("0") if active else Decimal("0.37"),
        usage_line_count=4,
        license_line_count=1,
        tax_amount=Decimal("0"),
    )


def _billable_metadata() -> dict[str, Any]:
    """The billable usage's metadata shape (`billable_summary_metadata`): counts, totals and largest rows."""
    rows = [
        {"account": f"acct-{i}", "subscription": f"sub-{i}", "currency": "EUR", "amount": f"{250 - i}.00"}
        for i in range(4)
    ]
    totals = [{"currency": "EUR", "row_count": 4, "line_count": 4, "amount": "1000.00"}]
    return shown_metadata(
        {
            "row_count": 4,
            "line_count": 4,
            "totals_by_currency": table_metadata(totals, ["currency", "row_count", "line_count", "amount"]),
            "largest_rows": table_metadata(rows),
        }
    )


def _materialize(instance: dg.DagsterInstance, key: str) -> None:
    """An Active invoice: its record and the three assets its import writes, materialized outside any run."""
    record = _record(key, Status.ACTIVE)
    report = instance.report_runless_asset_event
    report(dg.AssetMaterialization(INVOICE_ASSET, partition=key, metadata=invoice_metadata(record, "benchmark")))
    for kind, asset in LINE_ASSETS.items():
        report(dg.AssetMaterialization(asset, partition=key, metadata=line_asset_metadata(record, kind)))
    report(dg.AssetMaterialization(BILLABLE_USAGE_ASSET, partition=key, metadata=_billable_metadata()))


def _fail(instance: dg.DagsterInstance, job: dg.JobDefinition, plan: Any, key: str) -> None:
    """An invoice in Error: an import run of its partition (planned materialization), the Error observation
    with the failure's metadata, then the run marked failed (never executed: no process, no step events)."""
    record = _record(key, Status.ERROR)
    tags = {"dagster/partition": key, **import_run_tags(InvoiceKey.parse(key))}
    run = instance.create_run_for_job(job, execution_plan=plan, tags=tags, asset_selection={INVOICE_ASSET})
    observation = status_observation(InvoiceKey.parse(key), Status.ERROR, f"imported by run {run.run_id}", record)
    metadata = dict(observation.metadata) | error_metadata(record, f"dagster run {run.run_id}", {})
    event = dg.AssetObservation(INVOICE_ASSET, partition=key, metadata=metadata)
    instance.report_runless_asset_event(event)
    instance.report_run_failed(run, f"{key} is in Error: {record.message}")


def _sqlite_without_fsync(connection: Any, _record: Any) -> None:
    """Made in this process only, so the data are made in minutes: SQLite commits without waiting for the disk
    (the webserver that is timed reads them as usual)."""
    if connection.__class__.__module__.startswith("sqlite3"):
        connection.execute("PRAGMA synchronous=OFF")


@contextmanager
def _fast_sqlite_event_log() -> Iterator[None]:
    """While the data are made: the index shard and the runless shard keep one engine each (Dagster opens one per
    statement), and a new run's shard is a copy of an empty, migrated shard (Dagster migrates each with Alembic,
    about 0.3 s). The files written are the same; only how fast they are written changes."""
    original = SqliteEventLogStorage._connect
    engines: dict[str, sa.Engine] = {}
    templates: set[Path] = set()

    @contextmanager
    def connect(self: SqliteEventLogStorage, shard: str) -> Iterator[sa.Connection]:
        with self._db_lock:
            if shard in (INDEX_SHARD_NAME, ""):
                if shard not in engines:
                    engines[shard] = sa.create_engine(self.conn_string_for_shard(shard))
                    self._initdb(engines[shard])
                    self._initialized_dbs.add(shard)
                with engines[shard].connect() as conn, conn.begin():
                    yield conn
                return
            path = Path(self.path_for_shard(shard))
            template = path.parent / ".empty-run-shard"
            if shard not in self._initialized_dbs and not path.exists():
                if not template.exists():
                    engine = sa.create_engine(self.conn_string_for_shard(template.stem), poolclass=NullPool)
                    self._initdb(engine)
                    engine.dispose()
                    Path(self.path_for_shard(template.stem)).rename(template)
                    templates.add(template)
                shutil.copyfile(template, path)
                self._initialized_dbs.add(shard)
        with original(self, shard) as conn:
            yield conn

    SqliteEventLogStorage._connect = connect  # type: ignore[method-assign]
    try:
        yield
    finally:
        SqliteEventLogStorage._connect = original  # type: ignore[method-assign]
        for engine in engines.values():
            engine.dispose()
        for template in templates:
            template.unlink(missing_ok=True)


def populate(dagster_home: Path, invoices: int, progress: Callable[[str], None] = print) -> dict[str, int]:
    """Make `invoices` benchmark invoices in the Dagster home (created, must be empty): partitions, then 2/3
    materialized and 1/3 failed. Returns how many of each and the seconds it took."""
    dagster_env(dagster_home)  # creates the home and its dagster.yaml (telemetry off)
    if not sa.event.contains(sa.engine.Engine, "connect", _sqlite_without_fsync):
        sa.event.listen(sa.engine.Engine, "connect", _sqlite_without_fsync)
    from invoice_pipeline.definitions import defs

    job = defs.resolve_job_def(IMPORT_JOB)
    started = time.monotonic()
    with _fast_sqlite_event_log(), dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        name = provider_invoice_partitions.name
        assert name is not None
        keys = [partition_key(i) for i in range(invoices)]
        instance.add_dynamic_partitions(name, keys)
        plan = create_execution_plan(job, instance_ref=instance.get_ref(), tags={"dagster/partition": keys[0]})
        failed = 0
        for index, key in enumerate(keys):
            if is_failed(index):
                _fail(instance, job, plan, key)
                failed += 1
            else:
                _materialize(instance, key)
            if (index + 1) % 1000 == 0:
                progress(f"  {index + 1}/{invoices} invoices ({time.monotonic() - started:.0f} s)")
    seconds = round(time.monotonic() - started)
    return {"invoices": invoices, "materialized": invoices - failed, "failed": failed, "seconds": seconds}


def ui_queries() -> dict[str, str]:
    """Every GraphQL operation the UI sends, with the fragments it spreads, read from the webapp's source maps."""
    definitions: dict[str, Any] = {}
    for path in glob.glob(str(CHUNKS / "*.js.map")):
        source_map = json.loads(Path(path).read_text(encoding="utf-8"))
        for content in source_map.get("sourcesContent") or []:
            if not content or "gql`" not in content:
                continue
            for literal in re.findall(r"gql`(.*?)`", content, re.S):
                try:
                    document = parse(re.sub(r"\$\{[^}]*\}", "", literal))
                except Exception:  # noqa: BLE001 - a template literal of a library, not a query
                    continue
                definitions |= {d.name.value: d for d in document.definitions if getattr(d, "name", None)}
    queries: dict[str, str] = {}
    for name, definition in definitions.items():
        if isinstance(definition, OperationDefinitionNode):
            queries[name] = _with_fragments(name, definitions)
    return queries


def _with_fragments(name: str, definitions: dict[str, Any]) -> str:
    """The operation `name` and every fragment it spreads, transitively, as one document."""
    seen: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)

        class Spreads(Visitor):
            def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
                pending.append(node.name.value)

        visit(definitions[current], Spreads())
    return "\n".join(print_ast(definitions[n]) for n in seen)


def page_variables(invoices: int) -> dict[str, dict[str, Any]]:
    """The variables the UI sends for each query, on provider_invoice and a failed invoice's partition."""
    asset = {"path": ["provider_invoice"]}
    failed = partition_key(2 if invoices > 2 else 0)
    tag_filter = {"tags": [{"key": RUN_TAG_KEY, "value": failed}]}
    all_assets = [{"path": k.path} for k in ASSET_KEYS]
    return {
        "AssetViewDefinitionQuery": {"assetKey": asset},
        "PartitionHealthQuery": {"assetKey": asset},
        "AssetPartitionDetailQuery": {"assetKey": asset, "partitionKey": failed},
        "RunsFeedRootQuery": {"limit": 30, "cursor": None, "filter": tag_filter, "view": "ROOTS"},
        "RunFeedTabsCountQuery": {
            "queuedFilter": tag_filter | {"statuses": ["QUEUED"]},
            "inProgressFilter": tag_filter | {"statuses": ["STARTED", "STARTING", "CANCELING"]},
            "view": "ROOTS",
        },
        "RunTagValuesQuery": {"tagKeys": [RUN_TAG_KEY]},
        "AssetCatalogTableQuery": {"cursor": None, "limit": 1000},
        "AssetGraphLiveQuery": {"assetKeys": all_assets},
        "AssetHealthQuery": {"assetKeys": all_assets},
    }


@dataclass
class PageTime:
    """One page's median seconds (its queries one after another, as a cold page load sends them), and each
    query's median."""

    page: str
    seconds: float
    queries: dict[str, float]


def time_pages(server: DagsterWebserver, invoices: int, repeat: int) -> list[PageTime]:
    """Median seconds of each page's queries after one warm-up; fails loudly on a GraphQL error."""
    queries, variables = ui_queries(), page_variables(invoices)
    missing = [name for names in PAGES.values() for name in names if name not in queries]
    if missing:
        raise RuntimeError(f"not in the webapp's source maps: {missing}")
    results = []
    for page, names in PAGES.items():
        samples: list[float] = []
        each: dict[str, list[float]] = {name: [] for name in names}
        for attempt in range(repeat + 1):
            total = 0.0
            for name in names:
                started = time.perf_counter()
                server.graphql(queries[name], variables[name])
                seconds = time.perf_counter() - started
                total += seconds
                if attempt:  # the first is the warm-up
                    each[name].append(seconds)
            if attempt:
                samples.append(total)
        medians = {name: statistics.median(values) for name, values in each.items()}
        results.append(PageTime(page, statistics.median(samples), medians))
    return results


def check_statuses(server: DagsterWebserver, counts: dict[str, int]) -> None:
    """The partitions page shows what was made: so many materialized, so many failed."""
    queries = ui_queries()
    node = server.graphql(queries["PartitionHealthQuery"], {"assetKey": {"path": ["provider_invoice"]}})
    statuses = node["assetNodeOrError"]["assetPartitionStatuses"]
    shown = (len(statuses["materializedPartitions"]), len(statuses["failedPartitions"]))
    if shown != (counts["materialized"], counts["failed"]):
        raise AssertionError(f"the UI shows {shown} materialized/failed, expected {counts}")


def browser_load(server: DagsterWebserver) -> float | None:
    """Seconds for headless Chromium to show the partitions page's list (None when Selenium is not there)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        url = f"{server.url}/assets/provider_invoice?view=partitions"
        driver.get(f"{server.url}/assets")  # warm-up: the app's scripts cached
        WebDriverWait(driver, 120).until(lambda d: "provider_invoice" in d.page_source)
        started = time.perf_counter()
        driver.get(url)
        WebDriverWait(driver, 300).until(lambda d: d.find_elements(By.XPATH, f"//*[text()='{partition_key(0)}']"))
        return time.perf_counter() - started
    finally:
        driver.quit()


def measure(invoices: int, work: Path, repeat: int, browser: bool) -> dict[str, Any]:
    """One N: a fresh Dagster home populated, a webserver on it, the pages timed, the webserver stopped."""
    home = work / f"home-{invoices}"
    if home.exists():
        raise SystemExit(f"{home} exists: give an empty --work folder")
    counts = populate(home, invoices)
    print(f"N={invoices}: made {counts}", flush=True)
    server = DagsterWebserver(dagster_env(home), work / f"webserver-{invoices}.log")
    try:
        check_statuses(server, counts)
        pages = time_pages(server, invoices, repeat)
        chromium = browser_load(server) if browser else None
    finally:
        server.stop()
    return {
        "counts": counts,
        "pages": {p.page: p.seconds for p in pages},
        "queries": {name: seconds for p in pages for name, seconds in p.queries.items()},
        "chromium": chromium,
    }


def markdown(results: dict[int, dict[str, Any]]) -> str:
    """The table: seconds per page at each N and the ratio to the smallest N."""
    sizes = sorted(results)
    header = "| page (queries) | " + " | ".join(f"N={n:,} s" for n in sizes) + " | "
    header += " | ".join(f"x N={sizes[0]} at {n:,}" for n in sizes[1:]) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(sizes) - 1)]
    rows = [(page, f"{page} ({', '.join(names)})") for page, names in PAGES.items()]
    if all(results[n]["chromium"] is not None for n in sizes):
        rows.append(("chromium", "headless Chromium: partitions page until the list shows"))
    for page, label in rows:

        def value(n: int, page: str = page) -> float:
            return results[n]["chromium"] if page == "chromium" else results[n]["pages"][page]

        seconds = " | ".join(f"{value(n):.3f}" for n in sizes)
        ratios = " | ".join(f"{value(n) / value(sizes[0]):.1f}" for n in sizes[1:])
        lines.append(f"| {label} | {seconds} | {ratios} |")
    return "\n".join(lines)


def main() -> None:
    """Measure each --invoices N into --work and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="skip the headless Chromium page load")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    results = {}
    for invoices in args.invoices:
        results[invoices] = measure(invoices, args.work.resolve(), args.repeat, not args.no_browser)
        print(f"N={invoices}: {results[invoices]['pages']} chromium={results[invoices]['chromium']}", flush=True)
        print(f"load average: {os.getloadavg()}", flush=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print(markdown(results))


if __name__ == "__main__":
    main()
