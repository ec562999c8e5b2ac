"""The reconciliation's files for people: the HTML report says what it does not chart, and a finding's columns
lead with what a reader needs first."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

from invoice_pipeline.reconciliation.reconcile import reconcile
from invoice_pipeline.reconciliation.reports import (
    FINDING_COLUMNS,
    INVOICE_FINDING_COLUMNS,
    LINE_FINDING_COLUMNS,
    finding_row,
    report_html,
    write_reports,
)
from invoice_pipeline.validation.notes import csv_text
from invoice_pipeline_tests.unit.reconciliation.test_findings import (
    OCTOBER,
    licence_terms,
    licences,
    pending_change,
    period_invoice,
)


def test_a_currency_without_leakage_says_so_instead_of_a_missing_chart():
    result = reconcile(OCTOBER, [licences("12", "264.00")], [], [licence_terms(12, "25.00")])

    html = report_html(result)

    assert "No leakage in USD: no customer is billed too little." in html
    assert html.count('src="data:image/svg+xml;base64,') == 2  # margin, cost against revenue


def test_findings_lead_with_kind_account_currency_effect_and_explanation():
    result = reconcile(OCTOBER, [licences("20", "720.00")], [], [licence_terms(18, "40.00")])

    row = finding_row(result.findings[0])

    assert FINDING_COLUMNS[:5] == ("kind", "account_id", "currency", "effect", "explanation")
    assert list(row) == list(FINDING_COLUMNS)
    assert [row[column] for column in FINDING_COLUMNS[:5]] == [
        "unbilled_seats",
        "ACC-1",
        "USD",
        "80.00",
        "20 seats at the provider, 18 billed at 40.00 USD",
    ]


def test_a_provider_invoice_s_findings_name_it_with_its_totals_in_their_files_the_totals_and_the_report(tmp_path):
    invoice = period_invoice(
        "G-OVERRIDE",
        "3056.62",
        "3056.45",
        accepted_difference=Decimal("0.17"),
        overridden_by="alice@example.com",
        override_reason="rounding at the provider",
    )
    changed = pending_change("G-REISSUED", "1000.00", "1200.00")
    result = reconcile(
        OCTOBER, [licences("12", "264.00")], [], [licence_terms(12, "25.00")], invoices=[invoice], changes=[changed]
    )

    write_reports(result, tmp_path)

    [accepted] = _rows(tmp_path / "2026-10-accepted_checksum_difference.csv")
    assert list(accepted) == list(INVOICE_FINDING_COLUMNS)
    assert [accepted[name] for name in ("invoice", "effect", "header_total", "lines_total", "accepted_by")] == [
        "contoso-csp:G-OVERRIDE",
        "0.17",
        "3056.62",
        "3056.45",
        "alice@example.com",
    ]
    [pending] = _rows(tmp_path / "2026-10-pending_provider_change.csv")
    assert [pending[name] for name in ("invoice", "effect", "header_total", "new_total")] == [
        "contoso-csp:G-REISSUED",
        "200.00",
        "1000.00",
        "1200.00",
    ]
    header = (tmp_path / "2026-10-unbilled_seats.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(LINE_FINDING_COLUMNS)  # a customer's findings keep their columns
    [usd] = _rows(tmp_path / "2026-10-totals.csv")
    assert [usd[name] for name in ("header_total", "lines_total", "accepted_difference", "pending_change")] == [
        "3056.62",
        "3056.45",
        "0.17",
        "200.00",
    ]
    data = json.loads((tmp_path / "2026-10-reconciliation.json").read_text(encoding="utf-8"))
    assert (
        data["finding_counts"]["accepted_checksum_difference"],
        data["finding_counts"]["pending_provider_change"],
    ) == (
        1,
        1,
    )
    html = (tmp_path / "2026-10-reconciliation.html").read_text(encoding="utf-8")
    assert '<td>checksum differences accepted (header minus lines)</td><td class="money">0.17</td>' in html
    assert "<td>contoso-csp:G-REISSUED</td>" in html


def _rows(path):
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_bidi_overrides_and_controls_from_a_provider_are_escaped_in_the_report_and_its_csv():
    hostile = "ACC-\u202eevil\x1b[2J"
    result = reconcile(OCTOBER, [licences("20", "720.00", account_id=hostile)], [], [licence_terms(18, "40.00")])

    html = report_html(result)
    findings = csv_text(FINDING_COLUMNS, [[finding_row(f)[c] for c in FINDING_COLUMNS] for f in result.findings])

    for shown in (html, findings):
        assert "\u202e" not in shown and "\x1b" not in shown
        assert "ACC-\\u202eevil\\x1b[2J" in shown
