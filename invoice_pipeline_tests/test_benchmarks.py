"""The benchmark's realistic invoice resolves against its reference data, the anchor commits or rolls back, and each
measurement's config keeps its warehouse in that measurement's own data folder."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pytest

from benchmarks.anchor import anchor
from benchmarks.floors import line_layouts, one_pass, postgres_copy
from benchmarks.generate import SHAPES, generate, write_config
from benchmarks.reconcile import write_contracts
from benchmarks.run import ANCHOR_STOPPED, Measure, Row, fresh_environment, large_row, markdown, successes
from invoice_pipeline.composition import connector_for, open_warehouse
from invoice_pipeline.config import load_config
from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.operations.billing import bill_customers
from invoice_pipeline.reconciliation.findings import FindingKind
from invoice_pipeline.reconciliation.period import reconcile_period
from invoice_pipeline.schemas.reference_data import BillingContractsSchema
from invoice_pipeline_tests.postgres_schemas import TEST_POSTGRES_URL

LINES = 2_000
SHAPE = SHAPES["realistic"].scaled(0.01)  # 200 customers, 1,500 subscriptions, 40 products, 40 meters


@pytest.fixture
def invoice(tmp_path: Path) -> Path:
    """A clean 2,000-line invoice of the realistic shape, scaled down."""
    return generate(tmp_path, LINES, 0.0, "csv", shape=SHAPE)


def _rows(invoice: Path) -> list[dict[str, str]]:
    with (invoice / "usage_summaries.csv").open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def _rewrite(invoice: Path, change: Callable[[dict[str, str]], None]) -> None:
    """Apply `change` to the invoice's 100th line."""
    rows = _rows(invoice)
    change(rows[99])
    with (invoice / "usage_summaries.csv").open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_realistic_lines_resolve_every_reference_and_spread_over_all_of_them(invoice: Path) -> None:
    """Each line's customer is mapped, its subscription belongs to that customer's account and carries the line's
    product, which products.csv lists; the lines use every customer, subscription, product and meter."""
    reference = invoice.parents[2] / "reference"
    con = duckdb.connect()
    for name in ("provider_accounts", "subscriptions", "products"):
        con.execute(
            f"CREATE TABLE {name} AS FROM read_csv($p, all_varchar = true)", {"p": str(reference / f"{name}.csv")}
        )
    con.execute(
        "CREATE TABLE lines AS FROM read_csv($p, all_varchar = true)", {"p": str(invoice / "usage_summaries.csv")}
    )
    unresolved = con.execute(
        """SELECT count(*) FROM lines l
           LEFT JOIN provider_accounts a ON a.provider = 'bench-csp' AND a.provider_account_id = l.customer_id
           LEFT JOIN subscriptions s ON s.provider = 'bench-csp' AND s.subscription_id = l.subscription_id
           LEFT JOIN products p ON p.product_id = l.product_id
           WHERE a.account_id IS NULL OR s.account_id IS DISTINCT FROM a.account_id
              OR s.product_id IS DISTINCT FROM l.product_id OR p.name IS NULL"""
    ).fetchall()[0][0]
    used = con.execute(
        "SELECT count(*), count(DISTINCT customer_id), count(DISTINCT subscription_id), count(DISTINCT product_id),"
        " count(DISTINCT meter_id) FROM lines"
    ).fetchall()[0]
    listed = [
        con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for t in ("provider_accounts", "subscriptions", "products")
    ]

    assert unresolved == 0
    assert used == (LINES, SHAPE.customers, SHAPE.subscriptions, SHAPE.products, SHAPE.meters)
    assert listed == [SHAPE.customers, SHAPE.subscriptions, SHAPE.products]


def test_realistic_header_total_is_the_exact_sum_of_the_amounts_in_cents(invoice: Path) -> None:
    """The header's total is the lines' amounts summed as exact decimals, rounded half-even to cents."""
    total = sum((Decimal(row["amount"]) for row in _rows(invoice)), Decimal(0))
    header = json.loads((invoice / "header.json").read_text(encoding="utf-8"))

    assert header["total_amount"] == str(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))
    assert total != 0


def test_anchor_commits_a_clean_invoice_whose_lines_match_the_header(invoice: Path, tmp_path: Path) -> None:
    """The anchor stores every line and says the lines total is the header's."""
    database = tmp_path / "anchor" / "anchor.duckdb"
    database.parent.mkdir()
    header = json.loads((invoice / "header.json").read_text(encoding="utf-8"))

    verdict = anchor(invoice, invoice.parents[2] / "reference", database)

    assert verdict == f"committed ({LINES} lines, total {header['total_amount']} USD, header {header['total_amount']})"
    assert duckdb.connect(str(database)).execute("SELECT count(*) FROM lines").fetchall() == [(LINES,)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda row: row.update(amount="not-a-number"),
            'the lines cannot be read: Error when converting column "amount"',
        ),
        (lambda row: row.update(quantity="-" + row["quantity"]), "rolled back: 1 negative quantities"),
        (lambda row: row.update(customer_id="unmapped-tenant"), "rolled back: 1 unmapped lines"),
        (lambda row: row.update(charge_start_date="2026-11-01"), "rolled back: 1 charge starts after its end"),
        (lambda row: row.update(currency="EUR"), "rolled back: 1 lines in a foreign currency"),
    ],
    ids=["bad amount", "negative quantity", "unmapped customer", "start after end", "foreign currency"],
)
def test_anchor_rolls_back_a_bad_invoice_saying_why(
    invoice: Path, tmp_path: Path, change: Callable[[dict[str, str]], None], reason: str
) -> None:
    """A bad amount fails the strict read; a negative quantity, an unmapped customer, a charge that starts after its
    end or a line in another currency than the header's fails the check: nothing is stored and the verdict names
    the problem."""
    _rewrite(invoice, change)
    database = tmp_path / "anchor" / "anchor.duckdb"
    database.parent.mkdir()

    verdict = anchor(invoice, invoice.parents[2] / "reference", database)

    assert verdict.startswith("rolled back: ")
    assert reason in verdict
    tables = duckdb.connect(str(database)).execute("SELECT table_name FROM information_schema.tables").fetchall()
    assert tables == []


def test_write_config_keeps_data_relative_by_default_and_writes_a_given_data_dir_absolute(invoice: Path) -> None:
    """`write_config(root)` still says `data_dir: data`; with `data_dir` the config names that folder, absolutely."""
    root = invoice.parents[2]
    default = write_config(root).read_text(encoding="utf-8")
    given = write_config(root, "other.yaml", data_dir=root / "providers" / ".." / "m" / "data")

    assert default.splitlines()[0] == "data_dir: data"
    assert given.read_text(encoding="utf-8").splitlines()[0] == f'data_dir: "{root / "m" / "data"}"'
    assert load_config(given).data_dir == root / "m" / "data"
    assert given.read_text(encoding="utf-8").splitlines()[1:] == default.splitlines()[1:]


def test_each_measurement_has_its_own_emptied_data_folder_whatever_the_environment_says(
    invoice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The measurement's config (next to its folder) points at its own data folder, emptied, so two engines or two
    repeats never share a warehouse or reference data cache; the invoice and references still resolve."""
    root = invoice.parents[2]
    monkeypatch.setenv("INVOICE_PIPELINE_DATA_DIR", str(root / "data"))
    (root / "duckdb" / "data").mkdir(parents=True)
    (root / "duckdb" / "data" / "warehouse.duckdb").write_text("left by the last repeat", encoding="utf-8")

    duckdb_env, postgres_env = fresh_environment(root / "duckdb", None), fresh_environment(root / "postgresql", None)
    configs = [load_config(env["INVOICE_PIPELINE_CONFIG"]) for env in (duckdb_env, postgres_env)]

    assert [c.data_dir for c in configs] == [root / "duckdb" / "data", root / "postgresql" / "data"]
    assert not (root / "duckdb" / "data").exists()
    assert configs[0].warehouse_url == f"duckdb:///{root / 'duckdb' / 'data' / 'warehouse.duckdb'}"
    assert configs[0].reference_data == root / "reference"
    assert configs[0].providers[0].folder == root / "providers" / "bench-csp"


def test_a_run_that_failed_is_no_figure_and_the_verdict_says_how_it_failed() -> None:
    """The median is of the runs that exited 0; the first that did not is named with its exit code and last line."""
    refused = Measure(
        9.0, 400.0, 1, "invoice-pipeline: invoice bench-csp:BENCH-100 is Active and cannot be downloaded again"
    )
    runs = [Measure(1.0, 400.0, 0, "Active"), refused, Measure(3.0, 400.0, 0, "Active")]

    assert successes(runs) == (2.0, f"FAILED (exit 1: {refused.output})")
    assert successes([refused]) == (None, f"FAILED (exit 1: {refused.output})")
    assert successes(runs[:1]) == (1.0, None)


def _large_row(csv_path: Path, engine: str, lines: int, cli: Measure, billable_s: float, bad_rows: bool) -> Row:
    """A large-invoice row from made-up measurements: scan and anchor 10 s, import step 8 s."""
    baseline = Measure(10.0, 500.0, 0, "committed")
    steps = {"provider_invoice_import": 8.0, "billable_usage": billable_s}
    return large_row("small", lines, engine, csv_path, baseline, baseline, cli, steps, bad_rows)


@pytest.mark.parametrize(
    ("engine", "lines", "cli_seconds", "cli_mark"),
    [
        ("postgresql", 10_000_000, 56.0, "ok"),
        ("postgresql", 10_000_000, 57.0, "OVER"),
        ("duckdb", 10_000_000, 9.0, "n/a"),
        ("postgresql", 1_000_000, 9.0, "n/a"),
    ],
)
def test_large_rows_mark_billable_usage_at_every_size_and_postgresql_whole_cli_at_10m_lines(
    invoice: Path, engine: str, lines: int, cli_seconds: float, cli_mark: str
) -> None:
    """`billable_usage` under 1 s at any size; PostgreSQL's whole CLI at most 56 s at 10M lines, n/a otherwise."""
    cli = Measure(cli_seconds, 900.0, 0, "bench-csp:BENCH-N\tActive\tImported")
    row = _large_row(invoice / "usage_summaries.csv", engine, lines, cli, 0.99, False)
    slow = _large_row(invoice / "usage_summaries.csv", engine, lines, cli, 1.0, False)

    assert (row["cli_s_mark"], row["billable_usage_mark"], slow["billable_usage_mark"]) == (cli_mark, "ok", "OVER")
    assert f"| {cli_seconds:.2f} s {cli_mark} | 900 MB ok | 8.00 s | 0.99 s ok |" in markdown([row])


def test_with_bad_rows_no_ratio_against_the_anchor_and_a_non_zero_exit_shows_in_the_outcome(invoice: Path) -> None:
    """The anchor stops at the first bad value: the ratios say so (the seconds stay); the CLI's exit code is shown."""
    cli = Measure(20.0, 900.0, 3, "bench-csp:BENCH-2000\tError\t20 lines cannot be read")

    row = _large_row(invoice / "usage_summaries.csv", "duckdb", LINES, cli, 0.1, True)

    assert (row["cli_per_anchor"], row["step_per_anchor"]) == (None, None)
    assert (
        markdown([row])
        .splitlines()[-1]
        .endswith(
            f"| 20.00 s n/a | 900 MB ok | 8.00 s | 0.10 s ok | {ANCHOR_STOPPED} | {ANCHOR_STOPPED} | exit 3: Error |"
        )
    )


def test_one_pass_floor_measures_every_part_and_leaves_nothing_stored(invoice: Path, tmp_path: Path) -> None:
    """The floor times the anchor, the read, the checks, both passes and the import's one pass; it rolls back."""
    work = tmp_path / "floor"
    work.mkdir()

    figures = one_pass(invoice, invoice.parents[2] / "reference", work)

    assert set(figures) == {
        "anchor",
        "plain read of the file",
        "validation pass",
        "the schema's checks alone",
        "publishing pass",
        "one pass",
        "two passes",
    }
    assert all(seconds > 0 for seconds in figures.values())
    stored = duckdb.connect(str(work / "floor.duckdb")).execute("SELECT count(*) FROM usage_summaries").fetchall()
    assert stored == [(0,)]


def test_line_layouts_floor_writes_the_same_lines_each_way_and_leaves_nothing_stored(
    invoice: Path, tmp_path: Path
) -> None:
    """The layouts floor writes the validated lines into the line table, a table and a Parquet file of the record's
    own, the same lines each way (it stops otherwise); it rolls back and removes the file."""
    work = tmp_path / "floor"
    work.mkdir()

    figures = line_layouts(invoice, invoice.parents[2] / "reference", work)

    files = ["a Parquet file of the record's own", "an uncompressed Parquet file of the record's own"]
    layouts = ["the one line table", "a table of the record's own", *files]
    assert set(figures) == {"anchor", "validation pass"} | {f"bytes of {file}" for file in files} | {
        f"{part} {layout}" for layout in layouts for part in ("write into", "aggregate over")
    }
    assert all(value > 0 for value in figures.values())
    con = duckdb.connect(str(work / "floor.duckdb"))
    assert con.sql("SELECT count(*) FROM usage_summaries").fetchall() == [(0,)]
    assert con.sql("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'record_lines'").fetchall() == [(0,)]
    assert not list(work.glob("*.parquet"))


@pytest.mark.postgresql
def test_postgres_copy_floor_times_the_copy_and_one_records_partition_and_drops_its_tables(
    invoice: Path, tmp_path: Path
) -> None:
    """The PostgreSQL floor times the COPY with and without the index, then the lines as one record's partition
    (loaded, indexed, checked, attached) and drops every table it made."""
    work = tmp_path / "floor"
    work.mkdir()

    figures = postgres_copy(invoice, invoice.parents[2] / "reference", work, TEST_POSTGRES_URL)

    assert {"partition: COPY into it", "partition: its unique index, after the load", "partition: attach"} <= set(
        figures
    )
    with psycopg.connect(TEST_POSTGRES_URL.replace("postgresql+psycopg", "postgresql")) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'floor%'").fetchall()
    assert left == [(0,)]


def test_one_pass_floor_refuses_an_invoice_that_breaks_a_rule(invoice: Path, tmp_path: Path) -> None:
    """A line that breaks a rule: there is no floor to report, and the floor says why."""
    _rewrite(invoice, lambda row: row.update(amount="1e5"))
    work = tmp_path / "floor"
    work.mkdir()

    with pytest.raises(SystemExit, match="a floor is measured on an invoice that imports: Schema validation failed"):
        one_pass(invoice, invoice.parents[2] / "reference", work)


def test_reconcile_benchmark_contracts_cover_nine_of_ten_subscription_terms_and_pass_the_schema(invoice: Path) -> None:
    """The reconciliation benchmark's billing_contracts.csv is valid reference data, and leaves one in ten
    account, contract and product without terms so that unmatched usage is found too."""
    reference = invoice.parents[2] / "reference"
    written = write_contracts(reference)
    contracts = pd.read_csv(reference / "billing_contracts.csv", dtype=str, keep_default_na=False).replace("", None)
    with (reference / "subscriptions.csv").open(newline="", encoding="utf-8") as file:
        terms = {(r["billing_contract_id"], r["account_id"], r["product_id"]) for r in csv.DictReader(file)}

    BillingContractsSchema.validate(contracts, lazy=True)
    assert written == len(contracts) == len(terms) - len(terms) // 10


def test_after_billing_a_generated_partners_month_reconcile_finds_no_unbilled_or_differently_billed_usage(
    invoice: Path,
) -> None:
    """The realistic shape (scaled down) with terms for nine of ten contracts: the billing run prices every line
    that has terms, holds back the others, and the reconciliation agrees with it to the cent."""
    out = invoice.parents[2]
    write_contracts(out / "reference")
    config = load_config(write_config(out))
    warehouse = open_warehouse(config)
    try:
        key = InvoiceKey("bench-csp", invoice.name)
        assert (
            import_provider_invoice(config, warehouse, key, connectors=connector_for, actor="test").status
            == Status.ACTIVE
        )
        period = BillingPeriod(2026, 10)
        run = bill_customers(warehouse, config.reference_data, actor="test", period=period)
        result = reconcile_period(warehouse, config.reference_data, period)
    finally:
        warehouse.dispose()

    assert run.drafts and run.held_back
    assert result.of_kind(FindingKind.UNBILLED_USAGE) == []
    assert result.of_kind(FindingKind.USAGE_BILLED_DIFFERENTLY) == []
    held_back = sum((held.cost for held in run.held_back), Decimal(0))
    assert result.totals["USD"].no_contract_cost == held_back
    billed = sum((draft.total_amount - draft.rounding_difference for draft in run.drafts), Decimal(0))
    assert result.totals["USD"].revenue == billed


def test_many_small_invoices_are_each_their_own_invoice_the_folder_provider_offers(tmp_path: Path) -> None:
    """`--many-invoices` generates N distinct invoices of a few lines, each with its own id in its header."""
    from benchmarks.generate import PROVIDER, generate_many
    from invoice_pipeline.config import ProviderConfig
    from invoice_pipeline.connectors.base import ConnectorContext
    from invoice_pipeline.connectors.folder import FolderConnector

    ids = generate_many(tmp_path, 3, 5)
    folder = tmp_path / "providers" / PROVIDER
    provider = ProviderConfig(id=PROVIDER, name="Benchmark CSP", sync="automatic", connector="folder", path=folder)
    connector = FolderConnector(provider.settings, ConnectorContext(PROVIDER, provider.line_file_limits, tmp_path))
    assert [offered.invoice_id for offered in connector.list_invoices()] == ids
    for invoice_id in ids:
        assert json.loads((folder / invoice_id / "header.json").read_text())["invoice_id"] == invoice_id
        assert len(_rows(folder / invoice_id)) == 5


def test_many_invoices_row_reports_seconds_per_invoice_and_its_parts_and_never_a_failed_run() -> None:
    from benchmarks.run import many_row

    runs = [["daily_provider_sync", 2.0], ["import_provider_invoice", 1.0], ["import_provider_invoice", 1.5]]
    steps = {"provider_invoice_import": 1.0, "billable_usage": 0.5}
    good = Measure(10.0, 300.0, 0, "x\tActive", 8.0)
    row = many_row(2, [(good, steps, runs), (Measure(20.0, 300.0, 0, "", 9.0), steps, runs)])
    assert row["cli_s"] == 15.0 and row["per_invoice_s"] == 7.5 and row["per_invoice_mark"] == "OVER"
    assert row["cpu_per_invoice_s"] == 4.25
    assert row["import_runs_s"] == 2.5 and row["daily_sync_run_s"] == 2.0 and row["import_step_s_each"] == 0.5
    assert row["outside_runs_s"] == 10.5  # the median of 10 - 4.5 and 20 - 4.5 (three runs of 4.5 s)
    failed = many_row(2, [(good, steps, runs), (Measure(3.0, 1.0, 3, "broke"), {}, [])])
    assert failed["cli_s"] == 10.0 and str(failed["per_invoice_mark"]).startswith("FAILED (exit 3: broke)")


def test_ui_load_generator_makes_invoice_partitions_two_in_three_materialized_one_failed(tmp_path: Path) -> None:
    """`benchmarks.ui_load` makes N invoice partitions: Active ones materialized with their line assets, one in
    three in Error (a failed import run tagged with its invoice), as the UI's partitions page then shows them."""
    import dagster as dg

    from benchmarks.ui_load import ASSET_KEYS, partition_key, populate
    from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
    from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_KEY

    counts = populate(tmp_path / "home", 3, progress=lambda _: None)
    assert (counts["materialized"], counts["failed"]) == (2, 1)
    keys = [partition_key(i) for i in range(3)]
    assert keys[0] == "bench-csp:BENCH-00001"
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        assert instance.get_dynamic_partitions("provider_invoices") == keys
        for asset in ASSET_KEYS:
            assert instance.get_materialized_partitions(asset) == set(keys[:2]), asset
        [failed_run] = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: keys[2]}))
        assert failed_run.status == dg.DagsterRunStatus.FAILURE
        statuses = instance.get_status_by_partition(ASSET_KEYS[0], keys, provider_invoice_partitions)
        assert statuses is not None and statuses[keys[2]] == dg.AssetPartitionStatus.FAILED
