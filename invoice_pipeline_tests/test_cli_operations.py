"""Manual operations through the `invoice-pipeline` command, run in this process through click's runner over
one workspace:
sync, bill, deactivate (refused, then after unlink), sync again, checksum override, offered invoices,
and a manual invoice created and activated; each operation's history says who and why."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from invoice_pipeline_tests.builders import (
    ADVENTURE_WORKS,
    LINE_COLUMNS,
    ProviderWorkspace,
    license_line,
    make_workspace,
    usage_line,
    write_csv,
)
from invoice_pipeline_tests.cli_runner import Completed, run_cli
from invoice_pipeline_tests.postgres_schemas import postgres_warehouse_url

G1, G2, G3 = "contoso-csp:G1", "contoso-csp:G2", "contoso-csp:G3"
FAB = "fabrikam-distribution:FAB-1"
WHO = f"cli:{getpass.getuser()}"
WHY = {
    "unlink": "customers credited, ticket 101",
    "deactivate": "provider reissued G1, ticket 102",
    "override": "provider confirmed a rounding difference, ticket 103",
    "create": "vendor invoice received by post, ticket 104",
    "activate": "lines checked against the vendor's PDF, ticket 105",
}


def _env(**values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("INVOICE_PIPELINE_CONFIG", "INVOICE_PIPELINE_DATA_DIR", "DAGSTER_HOME")
    }
    env.update(values)
    return env


class Cycle:
    """One workspace taken through the whole cycle; every command's completed process, by step name."""

    def __init__(self, root: Path, warehouse_url: str | None) -> None:
        self.workspace: ProviderWorkspace = make_workspace(root / "workspace", warehouse_url)
        home = root / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        self.env = _env(INVOICE_PIPELINE_CONFIG=str(self.workspace.config_path), DAGSTER_HOME=str(home))
        self.cwd = root
        self.home = home
        self.steps: dict[str, Completed] = {}
        self.dagster: dict[str, dict[str, object]] = {}

    def look_in_dagster(self, step: str, key: str) -> None:
        """What the Dagster instance shows of one invoice after a step: partition, materialized, last observation."""
        with dg.DagsterInstance.from_config(str(self.home)) as instance:
            invoice = dg.AssetKey("provider_invoice")
            observations = instance.fetch_observations(
                dg.AssetRecordsFilter(asset_key=invoice, asset_partitions=[key]), limit=1
            ).records
            materializations = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=invoice, asset_partitions=[key]), limit=1
            ).records
            self.dagster[step] = {
                "partition": instance.has_dynamic_partition("provider_invoices", key),
                "observed": {k: v.value for k, v in observations[0].asset_observation.metadata.items()}
                if observations
                else {},
                "materialized": {k: v.value for k, v in materializations[0].asset_materialization.metadata.items()}
                if materializations
                else {},
            }

    def run(self, step: str, *args: str) -> Completed:
        completed = run_cli(*args, env=self.env, cwd=self.cwd)
        self.steps[step] = completed
        return completed

    def __getitem__(self, step: str) -> Completed:
        return self.steps[step]

    def shown(self, step: str) -> dict:
        completed = self.steps[step]
        assert completed.returncode == 0, completed.stderr
        return json.loads(completed.stdout)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def cycle(request, tmp_path_factory) -> Iterator[Cycle]:
    """Runs every step once on each warehouse engine (no assertions here: the tests below check each step)."""
    root = tmp_path_factory.mktemp("operations")
    if request.param == "postgresql":
        with postgres_warehouse_url() as url:
            yield _run_cycle(Cycle(root, url))
    else:
        yield _run_cycle(Cycle(root, None))


def _run_cycle(c: Cycle) -> Cycle:
    ws = c.workspace
    ws.add_invoice(
        "G1",
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "5.50"),
            usage_line("U3", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
        license=[license_line("L1", "36.00")],
    )
    ws.add_invoice("G2", usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total="10000.00")
    ws.add_invoice("G3", usage=[usage_line("U1", "10.00")], adjust_total="125.00")

    c.run("sync", "sync")
    c.run("bill", "billing", "run")
    c.run("deactivate refused", "invoices", "deactivate", G1, "--reason", "should be refused")
    c.run("unlink", "invoices", "unlink", G1, "--reason", WHY["unlink"])
    c.look_in_dagster("unlink", G1)
    c.run("deactivate", "invoices", "deactivate", G1, "--reason", WHY["deactivate"])
    c.look_in_dagster("deactivate", G1)
    c.run("sync again", "sync", "--invoice", G1)
    c.look_in_dagster("sync again", G1)
    c.run("override", "invoices", "override", G2, "--difference", "0.37", "--reason", WHY["override"])
    c.run("override refused", "invoices", "override", G3, "--difference", "125.00", "--reason", "please accept 125")
    ws.add_invoice("G4", usage=[usage_line("U1", "1.00")])  # offered after the sync: not imported
    c.run("offered", "providers", "invoices", "contoso-csp")
    c.run(
        "create",
        "invoices",
        "create",
        FAB,
        "--reason",
        WHY["create"],
        "--invoice-date",
        "2026-11-05",
        "--period-start",
        "2026-10-01",
        "--period-end",
        "2026-10-31",
        "--currency",
        "USD",
        "--total",
        "135.00",
    )
    c.look_in_dagster("create", FAB)
    c.run("sync manual", "sync", "--invoice", FAB)
    c.run("activate refused", "invoices", "activate", FAB, "--reason", "too early")  # no lines: 0.00 vs 135.00
    fab_line = license_line(
        "F1",
        "135.00",
        customer_id="FAB-CUST-77",
        subscription_id="FAB-SUB-1",
        product_id="BACKUP-TB",
        quantity="3",
        unit_price="45.00",
    )
    write_csv(ws.provider_folder("fabrikam-distribution") / "FAB-1" / "license_summaries.csv", [fab_line], LINE_COLUMNS)
    c.run("activate", "invoices", "activate", FAB, "--reason", WHY["activate"])
    c.look_in_dagster("activate", FAB)
    c.run("delete", "invoices", "delete", G3, "--reason", "provider cancelled G3", "--yes")
    c.look_in_dagster("delete", G3)
    c.run("show G1", "invoices", "show", G1, "--json")
    c.run("show G2", "invoices", "show", G2, "--json")
    c.run("show FAB", "invoices", "show", FAB, "--json")
    c.run("consumption", "billing", "consumption", "--json")
    # After the cycle: what a deletion leaves, an automatic sync after it, a typo, an unreadable header.
    c.run("show G3 deleted", "invoices", "show", G3)
    c.run("show G3 deleted json", "invoices", "show", G3, "--json")
    c.run("sync after delete", "sync")
    c.run("sync typo", "sync", "--invoice", "contoso-csp:G33")
    c.run("show typo", "invoices", "show", "contoso-csp:G33")
    ws.add_invoice("G5", usage=[usage_line("U1", "1.00")], header={"currency": None})
    c.run("offered after delete", "providers", "invoices", "contoso-csp")
    return c


def _ok(completed: Completed) -> list[list[str]]:
    assert completed.returncode == 0, (completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    return [line.split("\t") for line in completed.stdout.strip().splitlines()]


def _refused(completed: Completed) -> str:
    """A refusal: exit 1, nothing on stdout, one sentence on stderr; returns the sentence."""
    assert completed.returncode == 1, (completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("invoice-pipeline: ")
    return lines[0].removeprefix("invoice-pipeline: ")


def _drafts(cycle) -> list[list[str]]:
    return [row for row in _ok(cycle["bill"]) if row[0].startswith("CI-")]


def _customer_invoices(cycle) -> list[str]:
    return sorted(row[0] for row in _drafts(cycle))


# Sync and billing -----------------------------------------------------------------------------------------


def test_sync_imports_the_automatic_providers_invoices_only(cycle):
    rows = _ok(cycle["sync"])
    assert {row[0]: row[1] for row in rows} == {G1: "Active", G2: "Error", G3: "Error"}
    assert rows[1][2].endswith("difference 0.37 USD") and rows[2][2].endswith("difference 125.00 USD")


def test_billing_run_creates_one_draft_per_account_currency_and_month_priced_by_the_contracts(cycle):
    rows = _drafts(cycle)
    # Northwind's terms add 10 % (15.50 -> 17.05), Adventure Works' 8.5 % (7.25 -> 7.86625 -> 7.87).
    assert sorted((row[1], row[2], row[3], row[4], row[5], row[6]) for row in rows) == [
        ("invoice", "draft", "ACC-1001", "2026-10", "17.05 USD", "2 lines"),
        ("invoice", "draft", "ACC-1002", "2026-10", "7.87 USD", "1 line"),
    ]
    assert len({row[0] for row in rows}) == 2
    assert _ok(cycle["bill"])[-1] == [
        "review the drafts of 2026-10, then issue them: `invoice-pipeline billing issue --period 2026-10`"
    ]


# Deactivate refused, unlink, deactivate, sync again ------------------------------------------------------------


def test_deactivate_of_a_billed_invoice_is_refused_with_exit_1_listing_the_customer_invoices(cycle):
    sentence = _refused(cycle["deactivate refused"])
    ids = _customer_invoices(cycle)
    assert sentence == (
        f"{G1} cannot be deactivated: 3 of its lines are invoiced to customer invoice(s) {', '.join(ids)}; "
        f"remove those references first with `invoice-pipeline invoices unlink {G1}`"
    )


def test_unlink_then_deactivate_succeed(cycle):
    ids = _customer_invoices(cycle)
    voided = "; ".join(f"draft {i} void (no line left)" for i in ids)
    assert _ok(cycle["unlink"]) == [[G1, f"unlinked 3 lines: {voided}"]]
    assert _ok(cycle["deactivate"]) == [[G1, "Inactive", f"to import it again: `invoice-pipeline sync --invoice {G1}`"]]


def test_sync_of_the_deactivated_invoice_imports_it_again_as_a_new_record(cycle):
    assert _ok(cycle["sync again"]) == [[G1, "Active", "Imported"]]
    records = cycle.shown("show G1")["records"]
    assert [r["status"] for r in records] == ["Active", "Inactive"]
    assert records[0]["record_id"] != records[1]["record_id"]
    assert records[0]["usage_line_count"] == records[1]["usage_line_count"] == 3


def test_the_refused_deactivation_left_no_trace_and_every_operation_on_g1_says_who_and_why(cycle):
    shown = cycle.shown("show G1")
    history = [(h["from_status"], h["to_status"], h["actor"], h["reason"]) for h in shown["history"]]
    ids = _customer_invoices(cycle)
    assert [h[:2] for h in history] == [
        (None, "Populating"),
        ("Populating", "Active"),
        ("Active", "Active"),
        ("Active", "Inactive"),
        (None, "Populating"),
        ("Populating", "Active"),
    ]
    assert history[2][2:] == (WHO, f"unlinked 3 lines from customer invoice(s) {', '.join(ids)}: {WHY['unlink']}")
    assert history[3][2:] == (WHO, f"deactivated: {WHY['deactivate']}")
    assert not any("should be refused" in h[3] for h in history)
    old, new = shown["records"][1]["record_id"], shown["records"][0]["record_id"]
    assert [h["record_id"] for h in shown["history"]] == [old] * 4 + [new] * 2


# Checksum override -------------------------------------------------------------------------------------------


def test_override_of_a_0_37_difference_imports_the_invoice_as_active(cycle):
    rows = _ok(cycle["override"])
    assert rows == [
        [G2, "checksum override", "approving a difference of 0.37 USD"],
        [G2, "Active", "Imported with accepted checksum difference 0.37 USD"],
    ]
    (record,) = cycle.shown("show G2")["records"]
    assert (record["status"], record["accepted_difference"], record["difference"]) == ("Active", "0.37", "0.37")


def test_override_history_says_who_asked_and_why(cycle):
    history = cycle.shown("show G2")["history"]
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        (None, "Populating"),
        ("Populating", "Error"),
        ("Error", "Error"),
        ("Error", "Populating"),
        ("Populating", "Active"),
    ]
    assert (history[2]["actor"], history[2]["reason"]) == (
        WHO,
        f"checksum override requested, approving a difference of 0.37 USD: {WHY['override']}",
    )
    assert {h["actor"] for h in history[2:]} == {WHO}


def test_override_of_a_125_difference_is_refused_with_exit_1_saying_contact_the_provider(cycle):
    assert _refused(cycle["override refused"]) == (
        f"{G3}: the checksum difference 125.00 USD is not below the override maximum 0.50 USD; contact the provider"
    )


# An override binds to the figure approved (issue #27, 6 and 7) ----------------------------------------------

Y1 = "contoso-csp:Y1"


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def approvals(request, tmp_path_factory) -> Iterator[Cycle]:
    """Overrides and an activation approving the wrong figure, then the right one, on each warehouse engine."""
    root = tmp_path_factory.mktemp("approvals")
    if request.param == "postgresql":
        with postgres_warehouse_url() as url:
            yield _run_approvals(Cycle(root, url))
    else:
        yield _run_approvals(Cycle(root, None))


def _g1_lines(ws: ProviderWorkspace, total: str) -> None:
    ws.add_invoice("G1", usage=[usage_line("U1", "6000.00")], license=[license_line("L1", "3999.63")], total=total)


def _run_approvals(c: Cycle) -> Cycle:
    ws = c.workspace
    _g1_lines(ws, "10000.00")  # difference 0.37
    ws.add_invoice("G2", usage=[usage_line("U1", "10.00")], total="9.55")  # difference -0.45: lines exceed header
    ws.add_invoice("Y1", usage=[usage_line("U1", "1000", currency="JPY")], currency="JPY", total="1003")  # 3 JPY
    c.run("sync", "sync")
    c.run("show G1 after sync", "invoices", "show", G1, "--json")
    c.run("no difference", "invoices", "override", G1, "--reason", "approved")
    c.run("not a difference", "invoices", "override", G1, "--difference", "0.37 USD", "--reason", "approved")
    c.run("another figure", "invoices", "override", G1, "--difference", "0.10", "--reason", "approved 0.10")
    c.run("opposite sign", "invoices", "override", G2, "--difference", "0.45", "--reason", "approved 0.45")
    c.run("show G1 after refusals", "invoices", "show", G1, "--json")
    _g1_lines(ws, "10000.08")  # the provider changes the header meanwhile: the difference is 0.45 now
    c.run("changed at the provider", "invoices", "override", G1, "--difference", "0.37", "--reason", "approved 0.37")
    c.run("show G1 changed", "invoices", "show", G1, "--json")
    c.run("approved again", "invoices", "override", G1, "--difference", "0.45", "--reason", "provider confirmed 0.45")
    c.run("yen under one maximum", "invoices", "override", Y1, "--difference", "3", "--reason", "rounding per line")
    data = yaml.safe_load(ws.config_path.read_text())
    data["checksum_override_maximum"] = {"default": "0.50", "JPY": "50"}
    ws.config_path.write_text(yaml.safe_dump(data))
    c.run("yen", "invoices", "override", Y1, "--difference", "3", "--reason", "rounding per line")
    fab_line = license_line(
        "F1", "135.00", customer_id="FAB-CUST-77", subscription_id="FAB-SUB-1", product_id="BACKUP-TB"
    )
    ws.add_invoice("FAB-1", license=[fab_line], provider="fabrikam-distribution", total="135.37")
    c.run("create", "invoices", "create", FAB, "--reason", "vendor invoice by post")
    c.run("activate without the figure", "invoices", "activate", FAB, "--reason", "x", "--accept-checksum-difference")
    c.run(
        "activate another figure", "invoices", "activate", FAB, "--reason", "ok", "--accept-checksum-difference", "0.10"
    )
    c.run("activate", "invoices", "activate", FAB, "--reason", "lines checked", "--accept-checksum-difference", "0.37")
    return c


def _usage_error(completed: Completed) -> str:
    """A usage error: exit 2, nothing done; returns stderr."""
    assert completed.returncode == 2, (completed.returncode, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr and completed.stdout == ""
    return completed.stderr


def test_override_without_the_difference_is_a_usage_error_naming_the_option(approvals):
    assert "Missing option '--difference'" in _usage_error(approvals["no difference"])


def test_override_with_a_difference_not_written_as_a_decimal_is_a_usage_error_saying_how_to_write_it(approvals):
    assert (
        "Invalid value for '--difference': '0.37 USD' is not a difference; write it as the invoice's message shows "
        "it (header total minus lines total, in the invoice's currency), a plain decimal such as 0.37 or -0.45"
    ) in " ".join(_usage_error(approvals["not a difference"]).split())


def test_override_approving_another_figure_is_refused_with_both_figures_and_changes_nothing(approvals):
    assert _refused(approvals["another figure"]) == (
        f"{G1}: the override approves a difference of 0.10 USD, but the invoice's checksum difference is 0.37 USD "
        "(header total minus lines total: the header exceeds the lines); nothing was accepted: look at the invoice "
        "again and approve 0.37 USD if it is acceptable"
    )
    assert approvals.shown("show G1 after refusals") == approvals.shown("show G1 after sync")


def test_override_approving_the_opposite_sign_is_refused_showing_both_figures(approvals):
    assert _refused(approvals["opposite sign"]) == (
        "contoso-csp:G2: the override approves a difference of 0.45 USD, but the invoice's checksum difference is "
        "-0.45 USD (header total minus lines total: the lines exceed the header); nothing was accepted: look at the "
        "invoice again and approve -0.45 USD if it is acceptable"
    )


def test_override_whose_difference_changed_at_the_provider_ends_in_error_naming_both_figures_with_exit_1(approvals):
    completed = approvals["changed at the provider"]
    assert completed.returncode == 1, (completed.stdout, completed.stderr)
    rows = [line.split("\t") for line in completed.stdout.strip().splitlines()]
    assert rows[0] == [G1, "checksum override", "approving a difference of 0.37 USD"]
    assert rows[1][:2] == [G1, "Error"]
    assert (
        "difference 0.45 USD; checksum override refused: the override approves a difference of 0.37 USD, but the "
        "invoice's checksum difference is 0.45 USD"
    ) in rows[1][2]
    assert completed.stderr.strip() == (
        f"invoice-pipeline: the checksum override of {G1} was not applied: it is in Error (its message above says "
        "why); nothing was imported"
    )
    (record,) = approvals.shown("show G1 changed")["records"]
    assert (record["status"], record["difference"], record["accepted_difference"]) == ("Error", "0.45", None)


def test_the_history_says_who_approved_which_figure(approvals):
    history = approvals.shown("show G1 changed")["history"]
    approved = [h for h in history if h["reason"].startswith("checksum override requested")]
    assert [(h["actor"], h["reason"]) for h in approved] == [
        (WHO, "checksum override requested, approving a difference of 0.37 USD: approved 0.37")
    ]
    assert (history[-1]["to_status"], history[-1]["actor"]) == ("Error", WHO)


def test_override_approving_the_new_figure_then_imports_the_invoice(approvals):
    assert _ok(approvals["approved again"]) == [
        [G1, "checksum override", "approving a difference of 0.45 USD"],
        [G1, "Active", "Imported with accepted checksum difference 0.45 USD"],
    ]


def test_a_yen_override_under_one_maximum_for_every_currency_is_refused_saying_how_to_allow_it(approvals):
    assert _refused(approvals["yen under one maximum"]) == (
        f"{Y1}: the checksum difference 3 JPY is not below the override maximum 0.5 JPY, and no JPY difference can "
        "be: its smallest is 1 JPY; set a maximum for JPY in the configuration (checksum_override_maximum: "
        '{default: "0.50", JPY: "50"}, for example), or contact the provider'
    )


def test_a_yen_override_within_the_yens_maximum_is_accepted(approvals):
    assert _ok(approvals["yen"]) == [
        [Y1, "checksum override", "approving a difference of 3 JPY"],
        [Y1, "Active", "Imported with accepted checksum difference 3 JPY"],
    ]


def test_activate_accepting_a_difference_needs_the_figure(approvals):
    assert "Option '--accept-checksum-difference' requires an argument" in _usage_error(
        approvals["activate without the figure"]
    )


def test_activate_accepting_another_figure_is_refused_with_exit_1_naming_both(approvals):
    assert _refused(approvals["activate another figure"]).startswith(
        f"{FAB} cannot be activated: Checksum failed: header 135.37 USD; usage 0.00 + license 135.00 = 135.00; "
        "difference 0.37 USD; checksum override refused: the override approves a difference of 0.10 USD, but the "
        "invoice's checksum difference is 0.37 USD"
    )


def test_activate_accepting_the_difference_found_sets_the_manual_invoice_active(approvals):
    assert _ok(approvals["activate"]) == [[FAB, "Active", "Imported with accepted checksum difference 0.37 USD"]]


# Offered invoices --------------------------------------------------------------------------------------------


def test_providers_invoices_shows_each_offered_invoices_status_including_not_imported(cycle):
    rows = _ok(cycle["offered"])
    assert [row[:2] for row in rows] == [["G1", "Active"], ["G2", "Active"], ["G3", "Error"], ["G4", "not imported"]]
    assert [Decimal(row[2].removesuffix(" USD")) for row in rows] == [
        Decimal("58.75"),
        Decimal("10000.00"),
        Decimal("135.00"),
        Decimal("1.00"),
    ]


def test_providers_invoices_shows_totals_as_the_provider_wrote_them(cycle):
    # header.json says "10000.00" and "1.00"; before manual operations this command printed them so.
    assert [row[2] for row in _ok(cycle["offered"])] == ["58.75 USD", "10000.00 USD", "135.00 USD", "1.00 USD"]


# A manual invoice -------------------------------------------------------------------------------------------


def test_create_from_header_fields_starts_the_manual_invoice_populating(cycle):
    rows = _ok(cycle["create"])
    assert rows[0][:2] == [FAB, "Populating"]
    assert f"invoice-pipeline invoices activate {FAB}" in rows[0][2]
    header = json.loads(
        (cycle.workspace.provider_folder("fabrikam-distribution") / "FAB-1" / "header.json").read_text()
    )
    assert (header["invoice_id"], header["total_amount"], header["billing_period_end"]) == (
        "FAB-1",
        "135.00",
        "2026-10-31",
    )


def test_sync_of_a_manual_providers_invoice_is_refused_naming_create_and_activate(cycle):
    assert _refused(cycle["sync manual"]) == (
        f"{FAB} is a manual provider's invoice: it becomes Active only through activation; create it with "
        f"`invoice-pipeline invoices create {FAB} --reason ...`, then `invoice-pipeline invoices activate {FAB} "
        "--reason ...`"
    )


def test_activate_failing_the_checksum_is_refused_with_exit_1_the_imports_message_and_how_to_fix_it(cycle):
    folder = cycle.workspace.provider_folder("fabrikam-distribution") / "FAB-1"
    assert _refused(cycle["activate refused"]) == (
        f"{FAB} cannot be activated: Checksum failed: header 135.00 USD; usage 0.00 + license 0.00 = 0.00; "
        f"difference 135.00 USD; it stays Populating: fix its files in {folder} or the reference data (135.00 USD is "
        "not below the checksum override maximum 0.50 USD), then `invoice-pipeline invoices activate "
        f"{FAB} --reason ...` again; its notes: `invoice-pipeline invoices notes {FAB} --out DIR`"
    )


def test_a_refused_activation_is_in_the_history_of_the_manual_invoice(cycle):
    history = cycle.shown("show FAB")["history"]
    refused = [h for h in history if h["reason"].startswith("activation refused (asked: too early): Checksum failed")]
    assert [(h["from_status"], h["to_status"], h["actor"]) for h in refused] == [("Populating", "Populating", WHO)]


def test_activate_with_its_lines_in_the_folder_sets_the_manual_invoice_active(cycle):
    assert _ok(cycle["activate"]) == [[FAB, "Active", "Imported"]]
    shown = cycle.shown("show FAB")
    (record,) = shown["records"]
    assert (record["status"], record["is_manual"], record["license_line_count"]) == ("Active", True, 1)
    history = [(h["from_status"], h["to_status"], h["actor"]) for h in shown["history"]]
    assert history == [(None, "Populating", WHO), ("Populating", "Populating", WHO), ("Populating", "Active", WHO)]
    assert shown["history"][0]["reason"] == f"created by hand: {WHY['create']}"


def test_activate_takes_a_reason_and_keeps_it_in_the_history_like_every_other_operation(cycle):
    attempt = cycle["activate"]
    assert attempt.returncode == 0, attempt.stderr
    activation = cycle.shown("show FAB")["history"][-1]
    assert activation["to_status"] == "Active"
    assert WHY["activate"] in activation["reason"]


# Billing after the cycle ------------------------------------------------------------------------------------


def test_billable_consumption_after_the_cycle_is_the_new_g1_record_and_g2_usage_only(cycle):
    rows = json.loads(_ok_text(cycle["consumption"]))
    assert [(r["account_id"], r["subscription_id"], r["line_count"], Decimal(r["amount"])) for r in rows] == [
        ("ACC-1001", "SUB-AZ-1001", 3, Decimal("6015.50")),  # G1 U1 + U2 (new record) and G2 U1
        ("ACC-1002", "SUB-AZ-1002", 1, Decimal("7.25")),
    ]


def _ok_text(completed: Completed) -> str:
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


# What the Dagster UI shows after each operation -------------------------------------------------------------


def test_a_deactivated_invoice_leaves_the_partitions_with_an_observation_saying_who_and_why(cycle):
    seen = cycle.dagster["deactivate"]
    assert seen["partition"] is False  # no longer shown as a successful materialization
    assert seen["observed"]["status"] == "Inactive"
    assert seen["observed"]["change"] == f"deactivated by {WHO}: {WHY['deactivate']}"


def test_an_unlinked_invoice_stays_materialized_and_its_observation_says_who_and_why(cycle):
    seen = cycle.dagster["unlink"]
    assert seen["partition"] is True  # still Active: only its customer invoice references went
    assert seen["observed"]["status"] == "Active"
    assert seen["observed"]["change"] == f"unlinked by {WHO}: {WHY['unlink']}"


def test_importing_the_deactivated_invoice_again_brings_its_partition_back_materialized(cycle):
    seen = cycle.dagster["sync again"]
    assert seen["partition"] is True
    assert seen["materialized"]["status"] == "Active"
    assert seen["materialized"]["record_id"] == cycle.shown("show G1")["records"][0]["record_id"]


def test_a_created_manual_invoice_is_a_partition_observed_populating(cycle):
    seen = cycle.dagster["create"]
    assert seen["partition"] is True and seen["materialized"] == {}
    assert (seen["observed"]["status"], seen["observed"]["change"]) == (
        "Populating",
        f"manual invoice created by {WHO}: {WHY['create']}",
    )


def test_an_activated_manual_invoice_is_materialized_active_at_once(cycle):
    seen = cycle.dagster["activate"]
    assert (seen["materialized"]["status"], seen["materialized"]["is_manual"]) == ("Active", True)
    assert seen["materialized"]["total_amount"] == "135.00"


def test_a_deleted_invoice_leaves_the_partitions_and_its_observation_says_deleted(cycle):
    _ok(cycle["delete"])
    seen = cycle.dagster["delete"]
    assert seen["partition"] is False
    assert seen["observed"]["status"] == "Deleted"


# After a deletion, a typo, an unreadable header ---------------------------------------------------------------


def test_invoices_show_of_a_deleted_invoice_says_who_deleted_it_and_why_and_prints_its_history(cycle):
    lines = _ok(cycle["show G3 deleted"])
    first = "\t".join(lines[0])
    assert first.startswith(f"{G3} was deleted (its record, lines and notes removed) by {WHO} on ")
    assert first.endswith(
        f"(deleted: provider cancelled G3); to import it again: `invoice-pipeline sync --invoice {G3}`"
    )
    text = cycle["show G3 deleted"].stdout
    assert "history:" in text and "-> Deleted  deleted: provider cancelled G3" in text
    shown = cycle.shown("show G3 deleted json")
    assert (shown["standing"], shown["records"], shown["removed"]["by"]) == ("Deleted", [], WHO)
    assert shown["history"][-1]["to_status"] == "Deleted"


def test_an_automatic_sync_never_reimports_a_deleted_invoice_and_says_how_to(cycle):
    rows = {row[0]: row[1:] for row in _ok(cycle["sync after delete"])}
    outcome, reason = rows[G3]
    assert outcome == "skipped"
    assert reason.startswith(f"deleted by {WHO} on ")
    assert reason.endswith(f"; sync it explicitly with `invoice-pipeline sync --invoice {G3}` to import it again")


def test_sync_of_an_invoice_the_provider_does_not_offer_is_refused_naming_what_it_offers_and_creates_nothing(cycle):
    assert _refused(cycle["sync typo"]) == (
        "contoso-csp does not offer invoice 'G33'; it offers G1, G2, G3, G4 "
        "(list them with `invoice-pipeline providers invoices contoso-csp`)"
    )
    assert "has never been imported" in _refused(cycle["show typo"])


def test_providers_invoices_tells_deleted_invoices_and_unreadable_headers(cycle):
    rows = {row[0]: row[1:] for row in _ok(cycle["offered after delete"])}
    assert rows["G3"] == ["Deleted", "135.00 USD"]
    assert rows["G5"] == ["not imported", "header unreadable: header.json: missing field(s) currency"]
