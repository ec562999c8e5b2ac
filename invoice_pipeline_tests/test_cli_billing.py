"""`invoice-pipeline billing run|issue|invoices|show|export` and `invoices unlink` as a billing team uses them: what
they print, their JSON, their files, their exit statuses and refusals (nothing changed)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from invoice_pipeline.cli import cli
from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, usage_line

G1 = "contoso-csp:G1"


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="invoice-pipeline")


@pytest.fixture
def billed(workspace, warehouse):
    """G1 imported: Northwind 126.45 + 100.00 USD (10 %), Adventure Works 7.25 USD (8.5 %), then `billing run`."""
    workspace.add_invoice(
        "G1",
        usage=[
            usage_line("U1", "126.45"),
            usage_line("U2", "100.00"),
            usage_line("U3", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
    )
    import_provider_invoice(workspace.config(), warehouse, InvoiceKey.parse(G1), connectors=connector_for, actor="test")
    result = _run("billing", "run", "--period", "2026-10")
    assert result.exit_code == 0, result.output
    return result


def _listed(period: str = "2026-10") -> list[dict]:
    result = _run("billing", "invoices", "--period", period, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_billing_run_prints_each_draft_and_how_to_issue_them(billed):
    lines = billed.output.strip().splitlines()
    drafts = sorted(line.split("\t")[1:] for line in lines if line.startswith("CI-"))
    # 226.45 x 1.10 = 249.095 -> 249.10; 7.25 x 1.085 = 7.86625 -> 7.87
    assert drafts == [
        ["invoice", "draft", "ACC-1001", "2026-10", "249.10 USD", "2 lines", "rounding difference 0.005 USD"],
        ["invoice", "draft", "ACC-1002", "2026-10", "7.87 USD", "1 line", "rounding difference 0.00375 USD"],
    ]
    assert (
        lines[-1] == "review the drafts of 2026-10, then issue them: `invoice-pipeline billing issue --period 2026-10`"
    )


def test_billing_invoices_json_has_the_fields_a_billing_system_reads(billed):
    listed = _listed()
    assert {key for row in listed for key in row} >= {
        "customer_invoice_id",
        "kind",
        "status",
        "account_id",
        "currency",
        "period",
        "total_amount",
        "line_count",
        "corrects",
    }
    assert sorted((r["account_id"], r["total_amount"], r["line_count"], r["corrects"]) for r in listed) == [
        ("ACC-1001", "249.10", 2, None),
        ("ACC-1002", "7.87", 1, None),
    ]
    assert _run("billing", "invoices", "--account", "ACC-1002").output.count("CI-") == 1


def test_billing_show_lists_each_lines_cost_markup_and_price_and_the_history(billed):
    [northwind] = [r for r in _listed() if r["account_id"] == "ACC-1001"]

    shown = json.loads(_run("billing", "show", northwind["customer_invoice_id"], "--json").output)

    assert [
        (line["line_id"], line["cost"], line["usage_markup_percent"], line["price"]) for line in shown["lines"]
    ] == [
        ("U1", "126.45", "10", "139.095"),
        ("U2", "100.00", "10", "110.00"),
    ]
    assert [line["provider_invoice"] for line in shown["lines"]] == [G1, G1]
    assert [(h["from_status"], h["to_status"]) for h in shown["history"]] == [(None, "draft")]
    text = _run("billing", "show", northwind["customer_invoice_id"]).output
    assert "cost 126.45\tmarkup 10%\tprice 139.095" in text


def test_billing_export_writes_the_document_its_lines_and_json(billed, tmp_path):
    [northwind] = [r for r in _listed() if r["account_id"] == "ACC-1001"]
    document_id = northwind["customer_invoice_id"]

    result = _run("billing", "export", document_id, "--out", str(tmp_path / "out"))

    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / f"{document_id}-lines.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(Decimal(row["price"]) for row in rows) == Decimal("249.095")
    exported = json.loads((tmp_path / "out" / f"{document_id}.json").read_text(encoding="utf-8"))
    assert exported["total_amount"] == "249.10" and len(exported["lines"]) == 2


def test_issue_then_unlink_credits_the_issued_invoice_and_the_net_is_zero(billed):
    issued = _run("billing", "issue", "--period", "2026-10")
    assert issued.exit_code == 0, issued.output
    assert all("\tissued\t" in line for line in issued.output.strip().splitlines())

    unlinked = _run("invoices", "unlink", G1, "--reason", "re-issued by the provider")

    assert unlinked.exit_code == 0, unlinked.output
    listed = _listed()
    notes = [r for r in listed if r["kind"] == "credit_note"]
    assert sorted((r["account_id"], r["total_amount"], r["status"]) for r in notes) == [
        ("ACC-1001", "-249.10", "issued"),
        ("ACC-1002", "-7.87", "issued"),
    ]
    invoices = {r["customer_invoice_id"] for r in listed if r["kind"] == "invoice"}
    assert {r["corrects"] for r in notes} == invoices
    assert sum(Decimal(r["total_amount"]) for r in listed) == 0
    assert "credit note CN-" in unlinked.output


def test_refusals_say_why_exit_1_and_change_nothing(billed):
    before = _listed()
    [northwind] = [r for r in before if r["account_id"] == "ACC-1001"]
    assert _run("billing", "issue", northwind["customer_invoice_id"]).exit_code == 0
    before = _listed()

    again = _run("billing", "issue", northwind["customer_invoice_id"])
    unknown = _run("billing", "show", "CI-NOPE")
    empty = _run("billing", "issue", "--period", "2025-01")

    assert (again.exit_code, unknown.exit_code, empty.exit_code) == (1, 1, 1)
    assert "is issued, not a draft" in again.output
    assert "no customer invoice 'CI-NOPE'; `invoice-pipeline billing invoices` lists them" in unknown.output
    assert "no draft customer invoice for 2025-01" in empty.output
    assert _listed() == before


def test_usage_errors_exit_2(billed):
    assert _run("billing", "run", "--period", "2026-13").exit_code == 2
    assert _run("billing", "issue").exit_code == 2
    assert _run("billing", "issue", "CI-X", "--period", "2026-10").exit_code == 2
