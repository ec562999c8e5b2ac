"""What people look at of a period's reconciliation: a CSV per finding kind, margins and totals for spreadsheets
(formula-safe, exact decimals), the same as JSON, and an HTML report with its charts drawn in (no network)."""

from __future__ import annotations

import base64
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import markupsafe

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from invoice_pipeline.domain.display import shown
from invoice_pipeline.domain.money import decimal_text, format_money
from invoice_pipeline.reconciliation.findings import FINDING_MEANING, INVOICE_FINDINGS, LEAKAGE, Finding, FindingKind
from invoice_pipeline.reconciliation.tie_out import Reconciliation
from invoice_pipeline.reconciliation.totals import CurrencyTotals, Margin
from invoice_pipeline.validation.notes import csv_text

SHOWN = 20  # rows a screen shows of a list that grows with the customers
LINE_FINDING_COLUMNS = (  # what a reader needs first on a narrow screen: what, whose, how much, why
    "kind",
    "account_id",
    "currency",
    "effect",
    "explanation",
    "product_id",
    "billing_contract_id",
    "subscription_ids",
    "provider_quantity",
    "contract_quantity",
    "cost",
    "billed",
    "expected",
)
INVOICE_FINDING_COLUMNS = (  # a provider invoice's findings: which invoice, how much, why, its totals
    "kind",
    "invoice",
    "currency",
    "effect",
    "explanation",
    "header_total",
    "lines_total",
    "new_total",
    "accepted_by",
)
# Every kind's columns (JSON, the UI's table of the largest findings): a customer's first, then an invoice's.
FINDING_COLUMNS = (
    *LINE_FINDING_COLUMNS[:5],
    "invoice",
    *LINE_FINDING_COLUMNS[5:],
    *INVOICE_FINDING_COLUMNS[5:],
)
MONEY_COLUMNS = ("effect", "cost", "billed", "expected", "header_total", "lines_total", "new_total")
MARGIN_COLUMNS = (
    "account_id",
    "product_id",
    "currency",
    "billed_cost",
    "revenue",
    "margin",
    "exact_billed_cost",
    "exact_revenue",
    "exact_margin",
)
TOTAL_COLUMNS = (
    "currency",
    "provider_cost",
    "billed_cost",
    "unbilled_cost",
    "no_contract_cost",
    "revenue",
    "margin",
    "unbilled_amount",
    "overbilled_amount",
    "header_total",
    "lines_total",
    "accepted_difference",
    "pending_change",
)


def finding_columns(kind: FindingKind) -> tuple[str, ...]:
    """The columns of a kind's CSV file and report table."""
    return INVOICE_FINDING_COLUMNS if kind in INVOICE_FINDINGS else LINE_FINDING_COLUMNS


def finding_row(finding: Finding) -> dict[str, Any]:
    """A finding with its amounts as exact decimal text (quantities without storage padding)."""
    units = finding.minor_units
    return {  # in FINDING_COLUMNS' order
        "kind": finding.kind.value,
        "account_id": finding.account_id,
        "currency": finding.currency,
        "effect": decimal_text(finding.effect, units),
        "explanation": finding.explanation,
        "invoice": finding.invoice,
        "product_id": finding.product_id,
        "billing_contract_id": finding.billing_contract_id,
        "subscription_ids": finding.subscription_ids,
        "provider_quantity": _quantity(finding.provider_quantity),
        "contract_quantity": _quantity(finding.contract_quantity),
        "cost": decimal_text(finding.cost, units),
        "billed": decimal_text(finding.billed, units),
        "expected": decimal_text(finding.expected, units),
        "header_total": decimal_text(finding.header_total, units),
        "lines_total": decimal_text(finding.lines_total, units),
        "new_total": decimal_text(finding.new_total, units),
        "accepted_by": finding.accepted_by,
    }


SHOWN_PER_KIND = 10  # rows of each kind's table in the UI (the report shows 20, the CSV files all)
EXPLANATION_SHOWN = 80  # characters of an explanation the UI's table shows; the report and CSV files have it whole
IDENTIFIER_SHOWN = 24  # characters of an identifier it shows (a GUID's first 23, enough to tell two apart)
# What the UI shows of each kind's findings, to be read at 1280 px (a table of the partition's metadata gets about
# 500 px there): whose, the money effect, and the explanation that carries the kind's other figures.
_CUSTOMER_PRODUCT_COLUMNS = ("account", "product", "currency", "effect", "explanation")
_CUSTOMER_SUBSCRIPTION_COLUMNS = ("account", "subscription", "currency", "effect", "explanation")
_INVOICE_COLUMNS = ("invoice", "currency", "effect", "explanation")
FINDING_SUMMARY_COLUMNS: dict[FindingKind, tuple[str, ...]] = {
    FindingKind.UNBILLED_SEATS: _CUSTOMER_PRODUCT_COLUMNS,
    FindingKind.OVERBILLED_SEATS: _CUSTOMER_PRODUCT_COLUMNS,
    FindingKind.UNBILLED_USAGE: _CUSTOMER_SUBSCRIPTION_COLUMNS,
    FindingKind.USAGE_BILLED_DIFFERENTLY: _CUSTOMER_SUBSCRIPTION_COLUMNS,
    FindingKind.BELOW_COST: _CUSTOMER_PRODUCT_COLUMNS,
    FindingKind.NO_CONTRACT: _CUSTOMER_SUBSCRIPTION_COLUMNS,
    FindingKind.ACCEPTED_CHECKSUM_DIFFERENCE: _INVOICE_COLUMNS,
    FindingKind.PENDING_PROVIDER_CHANGE: _INVOICE_COLUMNS,
}
_SUMMARY_COLUMN_FIELDS = {"account": "account_id", "product": "product_id", "subscription": "subscription_ids"}


def finding_summary_row(finding: Finding) -> dict[str, Any]:
    """A finding as its kind's table in the UI shows it (`FINDING_SUMMARY_COLUMNS`): its figures, texts cut short."""
    row = finding_row(finding)
    summary = {}
    for column in FINDING_SUMMARY_COLUMNS[finding.kind]:
        value = row[_SUMMARY_COLUMN_FIELDS.get(column, column)]
        limit = EXPLANATION_SHOWN if column == "explanation" else IDENTIFIER_SHOWN
        summary[column] = value[: limit - 1].rstrip() + "…" if isinstance(value, str) and len(value) > limit else value
    return summary


def margin_row(margin: Margin) -> dict[str, Any]:
    """A customer and product's margin in minor units, as its share of the currency's totals (the margins add up to
    the totals' margin), then exact."""
    units = margin.minor_units
    return {
        "account_id": margin.account_id,
        "product_id": margin.product_id,
        "currency": margin.currency,
        "billed_cost": decimal_text(margin.rounded_billed_cost, units),
        "revenue": decimal_text(margin.rounded_revenue, units),
        "margin": decimal_text(margin.rounded_margin, units),
        "exact_billed_cost": decimal_text(margin.billed_cost, units),
        "exact_revenue": decimal_text(margin.revenue, units),
        "exact_margin": decimal_text(margin.margin, units),
    }


def totals_row(totals: CurrencyTotals) -> dict[str, Any]:
    """A currency's totals in its minor units, tying out as printed (see `CurrencyTotals.rounded`)."""
    units = totals.minor_units
    return {"currency": totals.currency} | {name: decimal_text(v, units) for name, v in totals.rounded().items()}


def exact_totals_row(totals: CurrencyTotals) -> dict[str, Any]:
    """A currency's totals as exact sums of the lines (they tie out to the last digit)."""
    units = totals.minor_units
    return {"currency": totals.currency} | {
        name: decimal_text(getattr(totals, name), units) for name in TOTAL_COLUMNS if name != "currency"
    }


def _quantity(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def reconciliation_json(result: Reconciliation) -> dict[str, Any]:
    """The whole reconciliation as JSON-ready values: totals, counts per finding kind, every finding, margins."""
    return {
        "period": str(result.period),
        "totals": [totals_row(totals) for totals in _totals_by_currency(result)],
        "exact_totals": [exact_totals_row(totals) for totals in _totals_by_currency(result)],
        "finding_counts": {kind.value: len(result.of_kind(kind)) for kind in FindingKind},
        "findings": [finding_row(finding) for finding in result.findings],
        "margins": [margin_row(margin) for margin in result.margins],
    }


def _totals_by_currency(result: Reconciliation) -> list[CurrencyTotals]:
    return [result.totals[code] for code in sorted(result.totals)]


def write_reports(result: Reconciliation, out: Path, history: Sequence[Reconciliation] = ()) -> list[Path]:
    """Write the period's CSV files, JSON and HTML report into `out` (created); `history`, the periods before it
    oldest first, feeds the cost against revenue chart. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def write(name: str, text: str) -> None:
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)

    period = str(result.period)
    for kind in FindingKind:
        write(
            f"{period}-{kind.value}.csv", _csv_file_text(finding_columns(kind), map(finding_row, result.of_kind(kind)))
        )
    write(f"{period}-margins.csv", _csv_file_text(MARGIN_COLUMNS, map(margin_row, result.margins)))
    write(f"{period}-totals.csv", _csv_file_text(TOTAL_COLUMNS, map(totals_row, _totals_by_currency(result))))
    write(f"{period}-reconciliation.json", json.dumps(reconciliation_json(result), indent=2) + "\n")
    write(f"{period}-reconciliation.html", report_html(result, history))
    return written


def _csv_file_text(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    return csv_text(columns, ([row[name] for name in columns] for row in rows))


def report_file(out: Path, result: Reconciliation) -> Path:
    """Where `write_reports` puts the period's HTML report."""
    return out / f"{result.period}-reconciliation.html"


def report_html(result: Reconciliation, history: Sequence[Reconciliation] = ()) -> str:
    """The period's HTML report: totals, the largest findings of each kind, the lowest margins, and per currency
    charts of leakage and margin by customer and cost against revenue over the periods shown."""
    template = _report_templates().get_template("report.html.j2")
    currencies = []
    for totals in _totals_by_currency(result):
        code, units = totals.currency, totals.minor_units
        series = [*history, result]
        currencies.append(
            {
                "totals": {name: format_money(value, units) for name, value in totals.rounded().items()},
                "code": code,
                "ties_out": totals.billed_cost + totals.unbilled_cost + totals.no_contract_cost == totals.provider_cost,
                "leakage_chart": _bar_chart(
                    f"Leakage by customer ({code})", _leakage_by_account(result.findings, code), units
                ),
                "margin_chart": _bar_chart(f"Margin by customer ({code})", _margins_by_account(result, code), units),
                "trend_chart": _trend_chart(code, series),
            }
        )
    sections = []
    for kind in FindingKind:
        findings = result.of_kind(kind)
        sections.append(
            {
                "kind": kind.value,
                "meaning": FINDING_MEANING[kind],
                "count": len(findings),
                "rows": [finding_row(finding) for finding in findings[:SHOWN]],
                "columns": finding_columns(kind)[1:],
                "effects": _effects_by_currency(findings),
            }
        )
    lowest = sorted(result.margins, key=lambda margin: (margin.rounded_margin, margin.margin))[:SHOWN]
    return template.render(
        period=str(result.period),
        currencies=currencies,
        sections=sections,
        margins=[margin_row(margin) for margin in lowest],
        margin_count=len(result.margins),
        shown=SHOWN,
        money_columns=MONEY_COLUMNS,
    )


def _leakage_by_account(findings: list[Finding], currency: str) -> dict[str, Decimal]:
    """Per customer, the money billed too little: the positive effects of the billing findings (`LEAKAGE`)."""
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for finding in findings:
        if finding.currency == currency and finding.kind in LEAKAGE and finding.effect > 0:
            amounts[finding.account_id] += finding.effect
    return dict(amounts)


def _margins_by_account(result: Reconciliation, currency: str) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for margin in result.margins:
        if margin.currency == currency:
            amounts[margin.account_id] += margin.rounded_margin
    return dict(amounts)


def _effects_by_currency(findings: list[Finding]) -> str:
    amounts: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for finding in findings:
        amounts[(finding.currency, finding.minor_units)] += finding.effect
    return ", ".join(format_money(amount, units, code) for (code, units), amount in sorted(amounts.items()))


def _figure(width: float, height: float) -> Figure:
    """A matplotlib figure of that size in inches, drawn without a display."""
    # Imported here: matplotlib costs every process that loads the Dagster definitions a quarter of a second.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _svg_image(figure: Figure) -> str:
    """The figure as an `<img>` data URL: each chart its own SVG document (no id clashes), nothing fetched."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bar_chart(title: str, amounts: dict[str, Decimal], minor_units: int) -> str | None:
    """Horizontal bars, the largest first (at most `SHOWN`), each labelled with its exact amount; None when empty.
    Amounts become floats only as bar lengths; the labels are the decimals."""
    if not amounts:
        return None
    largest = sorted(amounts.items(), key=lambda item: (-abs(item[1]), item[0]))[:SHOWN]
    figure = _figure(7, 0.45 * len(largest) + 1.2)
    axes = figure.subplots()
    names = [name for name, _ in reversed(largest)]
    values = [amount for _, amount in reversed(largest)]
    lengths = [float(v) for v in values]  # ok: bar lengths only; the labels are the exact decimals
    bars = axes.barh(names, lengths, color=["#c0392b" if v < 0 else "#2c7fb8" for v in values])
    axes.bar_label(bars, labels=[format_money(v, minor_units) for v in values], padding=3, fontsize=8)
    axes.axvline(0, color="#555", linewidth=0.8)
    axes.set_title(title)
    axes.margins(x=0.25)
    if not any(values):  # all zero: matplotlib's default axis would read ±0.06 of a currency
        axes.set_xlim(-1, 1)
        axes.set_xticks([0])
    return _svg_image(figure)


def _trend_chart(currency: str, series: Sequence[Reconciliation]) -> str:
    """Provider cost against revenue per period, in one currency (a period without it shows zero)."""
    figure = _figure(7, 3.2)
    axes = figure.subplots()
    periods = [str(result.period) for result in series]
    empty = CurrencyTotals(currency, 0)
    costs = [float(result.totals.get(currency, empty).provider_cost) for result in series]  # ok: chart geometry
    revenues = [float(result.totals.get(currency, empty).revenue) for result in series]  # ok: chart geometry
    axes.plot(periods, costs, marker="o", label="provider cost", color="#c0392b")
    axes.plot(periods, revenues, marker="o", label="revenue", color="#2c7fb8")
    axes.set_title(f"Cost and revenue per period ({currency})")
    axes.legend()
    axes.tick_params(axis="x", labelrotation=30)
    return _svg_image(figure)


def _report_templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("invoice_pipeline.reconciliation", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        finalize=_as_the_report_shows,
    )


def _as_the_report_shows(value: Any) -> Any:
    """Every value the report writes, as a person may see it (`display.shown`); markup the template made stays."""
    return shown(value) if isinstance(value, str) and not isinstance(value, markupsafe.Markup) else value
