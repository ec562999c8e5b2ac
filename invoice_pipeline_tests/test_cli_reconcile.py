"""`invoice-pipeline reconcile`: the demo's example report in two commands (sync, reconcile), every finding kind,
the files for spreadsheets and people, and clear refusals."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from collections.abc import Iterator
from decimal import Decimal

import pytest
import yaml
from click.testing import CliRunner

from invoice_pipeline.cli import cli
from invoice_pipeline.config import DEMO_CONFIG_PATH
from invoice_pipeline.reconciliation.findings import FindingKind
from invoice_pipeline_tests.cli_runner import CLI
from invoice_pipeline_tests.test_cli import Demo

DEMO_COUNTS = {
    "unbilled_seats": 1,
    "overbilled_seats": 1,
    "unbilled_usage": 3,
    "usage_billed_differently": 0,
    "below_cost": 1,
    "no_contract": 3,
    "accepted_checksum_difference": 0,
    "pending_provider_change": 0,
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    """The bundled demo synced once (DuckDB)."""
    synced = Demo(tmp_path_factory.mktemp("reconcile-demo"))
    assert synced.run("sync").returncode == 0
    yield synced


def _counts(stdout: str) -> dict[str, int]:
    kinds = {kind.value for kind in FindingKind}
    return {
        parts[0]: int(parts[1]) for parts in (line.split("\t") for line in stdout.splitlines()) if parts[0] in kinds
    }


def test_reconcile_prints_totals_that_tie_out_as_printed_and_how_many_of_each_finding(demo):
    completed = demo.run("reconcile", "--period", "2026-10")

    assert completed.returncode == 0, completed.stderr
    assert _counts(completed.stdout) == DEMO_COUNTS
    assert (
        "USD\tprovider cost 1,455.26 = billed 868.00 + unbilled 320.76 + without contract 266.50\trevenue 918.00"
        "\tmargin 50.00\tunbilled amount 341.40"
    ) in completed.stdout
    assert "JPY\tprovider cost 17,089 = billed 0 + unbilled 11,089 + without contract 6,000" in completed.stdout


def test_reconcile_out_writes_a_csv_per_finding_kind_margins_totals_json_and_the_html_report(demo):
    out = demo.root / "report"

    completed = demo.run("reconcile", "--period", "2026-10", "--out", str(out))

    assert completed.returncode == 0, completed.stderr
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [f"2026-10-{kind}.csv" for kind in DEMO_COUNTS]
        + ["2026-10-margins.csv", "2026-10-totals.csv", "2026-10-reconciliation.json", "2026-10-reconciliation.html"]
    )
    with (out / "2026-10-unbilled_seats.csv").open(encoding="utf-8") as handle:
        [seats] = list(csv.DictReader(handle))
    assert (seats["account_id"], seats["provider_quantity"], seats["contract_quantity"], seats["effect"]) == (
        "ACC-1001",
        "20",
        "18",
        "70.00",
    )
    html = (out / "2026-10-reconciliation.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/svg+xml;base64,') == 6  # per currency: leakage, margin, cost and revenue
    assert "http://" not in html and "https://" not in html  # nothing to fetch when it is opened
    assert f"the report: {out / '2026-10-reconciliation.html'}" in completed.stdout


def test_reconcile_json_gives_exact_decimals_and_every_finding(demo):
    completed = demo.run("reconcile", "--period", "2026-10", "--json")

    data = json.loads(completed.stdout)
    assert data["finding_counts"] == DEMO_COUNTS
    assert len(data["findings"]) == sum(DEMO_COUNTS.values())
    usd = next(row for row in data["exact_totals"] if row["currency"] == "USD")
    assert usd["provider_cost"] == "1455.26445"


def test_a_difference_accepted_within_tolerance_and_an_invoice_changed_after_import_are_printed_and_filed(tmp_path):
    """Issue #27, point 5, end to end: the demo with a tolerance of 0.40 USD imports G100000003 and its 0.37
    difference; then the provider re-issues G100000001 with 200.00 more and the next sync sees it."""
    (tmp_path / "demo").mkdir()
    demo = Demo(tmp_path / "demo")
    bundled = DEMO_CONFIG_PATH.parent
    for folder in ("reference", "providers"):
        shutil.copytree(bundled / folder, tmp_path / folder)
    config = yaml.safe_load(DEMO_CONFIG_PATH.read_text(encoding="utf-8"))
    config["reference_data"] = str(tmp_path / "reference")
    for provider in config["providers"]:
        provider["path"] = str(tmp_path / "providers" / provider["id"])
    config["providers"][0]["checksum_tolerance"] = "0.40"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    demo.env["INVOICE_PIPELINE_CONFIG"] = str(tmp_path / "config.yaml")
    assert demo.run("sync").returncode == 0
    header = tmp_path / "providers" / "contoso-csp" / "G100000001" / "header.json"
    reissued = json.loads(header.read_text(encoding="utf-8"))
    imported_total = Decimal(reissued["total_amount"])
    reissued["total_amount"] = str(imported_total + 200)
    header.write_text(json.dumps(reissued), encoding="utf-8")
    assert demo.run("sync").returncode == 0
    out = tmp_path / "report"

    completed = demo.run("reconcile", "--period", "2026-10", "--out", str(out))

    assert completed.returncode == 0, completed.stderr
    counts = _counts(completed.stdout)
    assert (counts["accepted_checksum_difference"], counts["pending_provider_change"]) == (1, 1)
    usd = next(line for line in completed.stdout.splitlines() if line.startswith("USD\t"))
    assert "= accepted difference 0.37\tpending provider changes 200.00" in usd
    with (out / "2026-10-accepted_checksum_difference.csv").open(encoding="utf-8") as handle:
        [accepted] = list(csv.DictReader(handle))
    assert (accepted["invoice"], accepted["effect"], accepted["header_total"]) == (
        "contoso-csp:G100000003",
        "0.37",
        "1679.63",
    )
    assert "within contoso-csp's checksum tolerance of 0.40 USD" in accepted["explanation"]
    with (out / "2026-10-pending_provider_change.csv").open(encoding="utf-8") as handle:
        [pending] = list(csv.DictReader(handle))
    assert (pending["invoice"], pending["effect"], Decimal(pending["new_total"])) == (
        "contoso-csp:G100000001",
        "200.00",
        imported_total + 200,
    )


def test_after_the_billing_run_the_demo_month_has_no_unbilled_or_differently_billed_usage(tmp_path):
    billed = Demo(tmp_path)
    assert billed.run("sync").returncode == 0
    assert billed.run("billing", "run").returncode == 0

    counts = _counts(billed.run("reconcile", "--period", "2026-10").stdout)

    assert counts["usage_billed_differently"] == 0 and counts["unbilled_usage"] == 0


@pytest.mark.parametrize("period", ["2026-13", "October", "2026-10-01", "2026/10", "2026-00"])
def test_a_period_that_is_not_a_month_is_a_usage_error_exit_2_saying_how_to_write_it(demo, period):
    completed = demo.run("reconcile", "--period", period)

    assert completed.returncode == 2
    assert f"Invalid value for --period: period '{period}' is not a month: give it as YYYY-MM, e.g. 2026-10" in (
        completed.stderr
    )


def test_a_period_without_active_lines_says_so_and_what_to_do(demo):
    completed = demo.run("reconcile", "--period", "2026-09")

    assert completed.returncode == 0, completed.stderr
    assert (
        "no lines of Active provider invoices charge in 2026-09: nothing to reconcile; import that month's invoices "
        "(invoice-pipeline sync; invoice-pipeline invoices list shows those in Error or Inactive), or check the period"
    ) in completed.stdout


def test_an_out_folder_that_cannot_be_written_is_exit_2_saying_so(demo):
    blocked = demo.root / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")

    completed = demo.run_process("reconcile", "--period", "2026-10", "--out", str(blocked / "report"))

    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        f"invoice-pipeline: cannot write the reconciliation's files to {blocked / 'report'} (Not a directory); "
        "give --out a folder you can write to"
    ]


def test_the_files_are_written_even_when_the_summary_s_reader_stops_early(demo):
    out = demo.root / "piped"

    subprocess.run(
        f"'{CLI}' reconcile --period 2026-10 --out '{out}' | head -1",
        shell=True,
        env=demo.env,
        cwd=demo.root,
        capture_output=True,
        check=True,
        timeout=600,
    )

    assert (out / "2026-10-reconciliation.html").is_file() and len(list(out.iterdir())) == 12


def test_missing_billing_contracts_end_with_exit_2_naming_the_file_and_its_columns(workspace):
    (workspace.root / "reference" / "billing_contracts.csv").unlink()

    result = CliRunner().invoke(cli, ["reconcile", "--period", "2026-10"])

    assert result.exit_code == 2
    assert "billing_contracts.csv is missing; add it with columns billing_contract_id, account_id" in result.stderr
    assert "README (Reconciliation)" in result.stderr


def test_contracts_with_overlaps_missing_seats_misplaced_terms_or_bad_dates_are_refused_with_their_lines(workspace):
    contracts = workspace.root / "reference" / "billing_contracts.csv"
    contracts.write_text(
        contracts.read_text(encoding="utf-8")
        + "BC-2001,ACC-1001,M365-E3,license,USD,20,30.00,,2026-06-01,\n"
        + "BC-2009,ACC-1001,M365-E3,license,USD,,30.00,,2026-06-01,2026-05-01\n"
        + "BC-2009,ACC-1001,AZURE-PLAN,usage,USD,5,2.00,10,2026-06-01,\n"
        + "BC-2010,ACC-1001,M365-E3,license,USD,5,2.00,10,2026-06-01,\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(cli, ["reconcile", "--period", "2026-10"])

    assert result.exit_code == 2
    for problem in (
        "one_term_per_contract_product_and_day fails on lines 2, 7 (Terms of one contract, product, kind and currency "
        "must not overlap in time: one holds on any day) (line 2: billing_contract_id='BC-2001'",
        "license_terms_have_seats_and_unit_price fails on line 8 (A licence row says",
        "usage_terms_have_no_seats_or_unit_price fails on line 9 (A usage row bills cost plus its markup: seats and "
        "a unit price there would be ignored, so refused)",
        "license_terms_have_no_markup fails on line 10 (A licence row bills seats at their unit price: a markup "
        "there would be ignored, so refused)",
        "valid_dates_in_order fails on line 8 (valid_from and valid_to are real days, e.g. not 2026-11-31",
    ):
        assert problem in result.stderr
