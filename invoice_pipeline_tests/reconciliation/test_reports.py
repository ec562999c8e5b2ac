"""The reconciliation's files for people: the HTML report says what it does not chart, and a finding's columns
lead with what a reader needs first."""

from __future__ import annotations

from invoice_pipeline.reconciliation.findings import reconcile
from invoice_pipeline.reconciliation.reports import FINDING_COLUMNS, finding_row, report_html
from invoice_pipeline_tests.reconciliation.test_findings import OCTOBER, licence_terms, licences


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
