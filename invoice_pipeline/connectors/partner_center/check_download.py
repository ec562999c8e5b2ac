"""The last two steps of `providers check`: one invoice as the real connector downloaded it, and its totals as the
import would compare them."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from invoice_pipeline.connectors.base import InvoiceFiles
from invoice_pipeline.connectors.partner_center.answers import field as json_field
from invoice_pipeline.connectors.partner_center.check_observer import Observations
from invoice_pipeline.connectors.partner_center.check_steps import (
    DOWNLOAD,
    FAILED,
    OK,
    TOTALS,
    WARNING,
    CheckStep,
    plural,
    present,
)
from invoice_pipeline.connectors.partner_center.connector import CONSUMPTION_AGGREGATES_FILE
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.provider_documents import parse_document_type, voids_amended_invoice
from invoice_pipeline.validation.checksum import check_checksum

SAMPLE_LINES = 3
SUMMARIES = ((LineKind.USAGE, "usage_summaries.csv"), (LineKind.LICENSE, "license_summaries.csv"))
PERIOD_FIELDS = ("billingPeriodStartDate", "billingPeriodEndDate")


def downloaded_step(
    which: str, files: InvoiceFiles, document: dict[str, Any], seconds: float, seen: Observations
) -> CheckStep:
    """The download step: what the connector downloaded, from where, with samples of its lines."""
    header = _header(files)
    status = OK
    said = [f"{which} downloaded by the connector into a temporary folder in {seconds:.1f} s"]
    said.append(seen.exports_text(complete=True))
    counts, details = [], []
    for summary, name in SUMMARIES:
        path = files.header_path.parent / name
        if not path.is_file():
            counts.append(f"{summary} 0 lines")
            continue
        rows = 0
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows += 1
                if rows <= SAMPLE_LINES:
                    details.append(_sample(summary, row))
        counts.append(f"{summary} {plural(rows, 'line')}")
    said.append(", ".join(counts))
    aggregates = files.header_path.parent / CONSUMPTION_AGGREGATES_FILE
    if aggregates.is_file():
        with aggregates.open(newline="", encoding="utf-8") as handle:
            kept = sum(1 for _ in csv.DictReader(handle))
        said.append(
            f"{plural(kept, 'Azure consumption aggregate')} of the reconciliation set aside (detailed in the "
            "daily-rated usage)"
        )
    period = (header.get("billing_period_start"), header.get("billing_period_end"))
    if all(period):
        derived = " (from the lines)" if counts != ["usage 0 lines", "license 0 lines"] else " (its invoice date)"
        origin = "" if all(present(json_field(document, n)) for n in PERIOD_FIELDS) else derived
        said.append(f"billing period {period[0]} to {period[1]}{origin}")
    else:
        status = FAILED
        said.append("header.json has no billing period: the import would put the invoice in Error")
    said.append(f"document type {header.get('document_type', '(none)')}")
    if not details and not _voids(header, has_lines=False):
        status = WARNING if status == OK else status
        said.append("no line items: an invoice without lines")
    return CheckStep(DOWNLOAD, status, "; ".join(said), tuple(details))


def totals_step(files: InvoiceFiles, tolerance: Decimal, minor_units: Mapping[str, int]) -> CheckStep:
    """The totals step: the header's total against the lines' sum, in the currency's decimals as the import
    compares them (exactly when the reference data does not know the currency)."""
    header = _header(files)
    currency = str(header.get("currency") or "")
    try:
        total = Decimal(str(header.get("total_amount")))
        tax = Decimal(str(header.get("tax_amount") or "0"))
    except InvalidOperation:
        return CheckStep(TOTALS, FAILED, f"header.json's total_amount {header.get('total_amount')!r} is no amount")
    sums: dict[str, Decimal] = {}
    other_currencies: Counter[str] = Counter()
    for summary, name in SUMMARIES:
        path = files.header_path.parent / name
        sums[summary] = Decimal(0)
        if not path.is_file():
            continue
        with path.open(newline="", encoding="utf-8") as handle, localcontext() as exact:
            exact.prec = 80  # the sum is exact
            for row in csv.DictReader(handle):
                try:
                    sums[summary] += Decimal(row["amount"])
                except InvalidOperation:
                    return CheckStep(
                        TOTALS, FAILED, f"line {row['line_id']}: amount {row['amount']!r} is not a decimal"
                    )
                if row["currency"] != currency:
                    other_currencies[row["currency"]] += 1
    with localcontext() as exact:
        exact.prec = 80
        lines = sums[LineKind.USAGE] + sums[LineKind.LICENSE]
        provider_total = total + tax
    header_said = (
        f"header total_amount {total} {currency} (Partner Center's totalCharges {provider_total} less the lines' "
        f"tax, tax_amount {tax})"
    )
    lines_said = f"lines {lines} exactly (usage {sums[LineKind.USAGE]} + license {sums[LineKind.LICENSE]})"
    if _voids(header, has_lines=bool(files.line_files)):
        return CheckStep(TOTALS, OK, f"{header_said}; a note that voids the invoice it amends: no checksum")
    units = minor_units.get(currency)
    if units is None:
        difference = total - lines
        passed = abs(difference) <= tolerance
        verdict = (
            f"difference {difference} {currency} compared exactly: {currency} is not in the reference data's "
            "currencies (the import would not evaluate the checksum)"
        )
        status = WARNING if passed else FAILED
    else:
        checksum = check_checksum(
            header_total=total,
            usage_total=sums[LineKind.USAGE],
            license_total=sums[LineKind.LICENSE],
            currency=currency,
            minor_units=units,
            tolerance=tolerance,
        )
        passed = checksum.passed
        shown = f"{{:.{units}f}}"
        verdict = (
            f"in {currency}'s {units} decimals: lines {shown.format(checksum.lines_total)}, header "
            f"{shown.format(checksum.header_total)}, difference {shown.format(checksum.difference)} {currency} "
            f"(tolerance {tolerance})"
        )
        status = OK if passed else FAILED
    if not passed:
        verdict += "; beyond the tolerance: the import would put the invoice in Error"
    said = [header_said, lines_said, verdict]
    if other_currencies:
        status = FAILED
        said.append(
            "lines in another currency than the header's: "
            + ", ".join(f"{code or '(none)'} {n}" for code, n in sorted(other_currencies.items()))
        )
    return CheckStep(TOTALS, status, "; ".join(said))


def _header(files: InvoiceFiles) -> dict[str, Any]:
    header = json.loads(files.header_path.read_text(encoding="utf-8"))
    return header if isinstance(header, dict) else {}


def _voids(header: Mapping[str, Any], *, has_lines: bool) -> bool:
    """Whether the downloaded document withdraws the invoice it amends (then the import checks no totals)."""
    try:
        document = parse_document_type(str(header.get("document_type") or "invoice"))
    except ValueError:
        return False
    return voids_amended_invoice(document, has_lines=has_lines)


def _sample(summary: str, row: Mapping[str, str]) -> str:
    return (
        f"{summary} {row.get('line_id')}: customer {row.get('customer_id')}, subscription {row.get('subscription_id')}"
        f", product {row.get('product_id')}, charged {row.get('charge_start_date')} to {row.get('charge_end_date')}, "
        f"amount {row.get('amount')} {row.get('currency')}"
    )
