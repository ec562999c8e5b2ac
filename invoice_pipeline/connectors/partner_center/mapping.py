"""Partner Center line items as the pipeline's line summaries: canonical columns plus the provider's own.

Licence-based and one-time (new commerce) billing lines become license summaries; daily-rated usage
becomes usage summaries. Keys are matched case-insensitively (v1 answers in camelCase, export blobs may
use PascalCase). Values stay the exact text Partner Center sent: numbers are never floats.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.schemas.line_summaries import COMMON_COLUMNS, USAGE_COLUMNS

MONEY_COLUMNS = frozenset({"quantity", "unit_price", "amount"})
DATE_COLUMNS = frozenset({"charge_start_date", "charge_end_date", "usage_date"})
CANONICAL_COLUMNS = frozenset(COMMON_COLUMNS) | frozenset(USAGE_COLUMNS)
LINE_ITEM_TYPE_COLUMN = "line_item_type"
_DATE_WITH_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]")
_EXPONENT = re.compile(r"^-?[0-9.]+[eE][-+]?[0-9]+$")


def snake_case(name: str) -> str:
    """A provider field name as a column name: `billingPreTaxTotal` -> `billing_pre_tax_total`."""
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", spaced).lower()


@dataclass(frozen=True)
class LineItemKind:
    """One kind of Partner Center line item: which summary it becomes and where its canonical values come from."""

    item_type: str
    summary: str
    line_id_prefix: str
    canonical: dict[str, str]
    provider_fields: tuple[str, ...]
    provider_columns: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        sources = {source.lower() for source in self.canonical.values()}
        columns = {}
        for name in self.provider_fields:
            if name.lower() in sources:
                continue  # already a canonical column
            column = snake_case(name)
            # A provider field named like a canonical column it does not feed (license-based `amount` is
            # before discount; the canonical amount is the subtotal) keeps its value under another name.
            columns[name] = f"provider_{column}" if column in CANONICAL_COLUMNS else column
        object.__setattr__(self, "provider_columns", columns)


def _canonical(product_id: str, amount: str, currency: str, **usage: str) -> dict[str, str]:
    """Canonical column -> provider field; only the product, amount and currency fields differ between kinds."""
    return {
        "customer_id": "customerId",
        "subscription_id": "subscriptionId",
        "product_id": product_id,
        "charge_start_date": "chargeStartDate",
        "charge_end_date": "chargeEndDate",
        "quantity": "quantity",
        "unit_price": "unitPrice",
        "amount": amount,
        "currency": currency,
        **usage,
    }


# Amounts are pre-tax, after discounts, in the billing currency (`subtotal`, `billingPreTaxTotal`): the
# reference does not say which figure the invoice total adds up; tax and totals for the customer are kept
# as provider columns, so a checksum failure caused by tax shows in the lines.
LICENSE_BASED = LineItemKind(
    item_type="LicenseBasedLineItem",
    summary="license",
    line_id_prefix="LB",
    canonical=_canonical("offerId", "subtotal", "currency"),
    provider_fields=(
        "partnerId",
        "customerName",
        "orderId",
        "durableOfferId",
        "offerName",
        "domainName",
        "billingCycleType",
        "subscriptionName",
        "chargeType",
        "amount",
        "totalOtherDiscount",
        "tax",
        "totalForCustomer",
    ),
)

ONE_TIME = LineItemKind(
    item_type="OneTimeInvoiceLineItem",
    summary="license",
    line_id_prefix="OT",
    canonical=_canonical("productId", "subtotal", "currency"),
    provider_fields=(
        "partnerId",
        "customerName",
        "customerDomainName",
        "customerCountry",
        "invoiceNumber",
        "mpnId",
        "orderId",
        "orderDate",
        "skuId",
        "availabilityId",
        "productName",
        "skuName",
        "chargeType",
        "effectiveUnitPrice",
        "unitType",
        "taxTotal",
        "totalForCustomer",
        "publisherName",
        "subscriptionDescription",
        "termAndBillingCycle",
        "priceAdjustmentDescription",
        "billableQuantity",
        "billingFrequency",
        "pricingCurrency",
        "pcToBCExchangeRate",
        "meterDescription",
        "reservationOrderId",
        "creditReasonCode",
        "referenceId",
    ),
)

DAILY_RATED = LineItemKind(
    item_type="DailyRatedUsageLineItem",
    summary="usage",
    line_id_prefix="DR",
    canonical=_canonical(
        "productId",
        "billingPreTaxTotal",
        "billingCurrency",
        usage_date="usageDate",
        meter_id="meterId",
        meter_name="meterName",
        unit="unitOfMeasure",
    ),
    provider_fields=(
        "partnerId",
        "customerName",
        "invoiceNumber",
        "skuId",
        "availabilityId",
        "skuName",
        "productName",
        "publisherName",
        "meterType",
        "meterCategory",
        "meterSubCategory",
        "meterRegion",
        "resourceLocation",
        "consumedService",
        "resourceGroup",
        "resourceUri",
        "tags",
        "additionalInfo",
        "chargeType",
        "unitType",
        "pricingPreTaxTotal",
        "pricingCurrency",
        "effectiveUnitPrice",
        "pcToBCExchangeRate",
        "entitlementId",
        "rateOfPartnerEarnedCredit",
        "rateOfCredit",
        "creditType",
    ),
)

LINE_ITEM_KINDS = (LICENSE_BASED, ONE_TIME, DAILY_RATED)


def summary_columns(summary: str) -> list[str]:
    """The columns of one summary file: canonical, then the kind of line item, then every kind's provider columns."""
    columns = [*COMMON_COLUMNS, *(USAGE_COLUMNS if summary == "usage" else ()), LINE_ITEM_TYPE_COLUMN]
    for kind in LINE_ITEM_KINDS:
        if kind.summary == summary:
            columns += [c for c in kind.provider_columns.values() if c not in columns]
    return columns


def cell_text(value: Any) -> str:
    """A JSON value as one CSV cell: text as is, nested objects (tags) as compact JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _canonical_text(column: str, value: Any) -> str:
    text = cell_text(value)
    if column in DATE_COLUMNS:
        found = _DATE_WITH_TIME.match(text)
        return found.group(1) if found else text
    if column in MONEY_COLUMNS and _EXPONENT.match(text):
        try:
            return format(Decimal(text), "f")
        except InvalidOperation:
            return text
    return text


def summary_row(item: dict[str, Any], kind: LineItemKind, line_id: str) -> dict[str, str]:
    """One line item as a summary row: the canonical columns, then the provider's own columns under their names."""
    by_name = {str(key).lower(): value for key, value in item.items()}
    row = {"line_id": line_id, LINE_ITEM_TYPE_COLUMN: kind.item_type}
    for column, source in kind.canonical.items():
        row[column] = _canonical_text(column, by_name.get(source.lower()))
    for source, column in kind.provider_columns.items():
        row[column] = cell_text(by_name.get(source.lower()))
    return row


class LineSummaryFiles:
    """Writes an invoice's usage and license summary CSVs row by row (a file only for a kind that has lines)."""

    def __init__(self, folder: Path, invoice_id: str) -> None:
        self.folder = folder
        self.invoice_id = invoice_id
        self._handles: dict[str, IO[str]] = {}
        self._writers: dict[str, csv.DictWriter] = {}
        self._counts: dict[str, int] = {}

    def write(self, item: dict[str, Any], kind: LineItemKind) -> None:
        """Append one line item; its line_id is the invoice id, the kind's prefix and its rank in that kind."""
        writer = self._writers.get(kind.summary)
        if writer is None:
            path = self.folder / f"{LINE_FILE_STEMS[kind.summary]}.csv"
            handle = path.open("w", newline="", encoding="utf-8")
            self._handles[kind.summary] = handle
            writer = self._writers[kind.summary] = csv.DictWriter(handle, fieldnames=summary_columns(kind.summary))
            writer.writeheader()
        rank = self._counts[kind.item_type] = self._counts.get(kind.item_type, 0) + 1
        writer.writerow(summary_row(item, kind, f"{self.invoice_id}-{kind.line_id_prefix}{rank:07d}"))

    @property
    def paths(self) -> dict[str, Path]:
        """The files written, by summary kind."""
        return {summary: Path(handle.name) for summary, handle in self._handles.items()}

    def close(self) -> None:
        """Flush and close the files."""
        for handle in self._handles.values():
            handle.close()

    def __enter__(self) -> LineSummaryFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
