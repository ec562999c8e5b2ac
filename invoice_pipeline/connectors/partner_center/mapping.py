"""Partner Center line items as the pipeline's line summaries: canonical columns plus the provider's own.

Licence-based and one-time (new commerce) billing lines become license summaries; daily-rated usage
becomes usage summaries. Keys are matched case-insensitively (v1 answers in camelCase, export blobs may
use PascalCase). Values stay the exact text Partner Center sent: numbers are never floats.

Rules for the canonical columns, each keeping what Partner Center sent in a provider column:

- Dates: a date-time with an offset or `Z` is its UTC calendar date (`2026-10-01T00:00:00+02:00` is
  2026-09-30); without a zone, the date as written. A date-time that is not one is left as sent, for the line
  schema to refuse by name.
- charge_end_date: perpetual software (a one-time purchase) has an empty or absent `chargeEndDate`; the line is
  charged on its start date, so its end date is its charge start date. `provider_charge_end_date` keeps the
  value as sent (empty for those lines).
- customer_id: `normalise_customer_id` (`org:<GUID>` and upper-case GUIDs as the lower-case GUID; anything else
  as sent, trimmed). `provider_customer_id` keeps the value as sent; an empty one stays empty (the line schema
  refuses the line by name).
- subscription_id: a GUID in lower case (`normalise_subscription_id`), anything else trimmed. GUIDs in the
  reference data must be written in lower case to be found.
- Licence-based (legacy) lines: the subscription is the Partner Center subscription,
  `syndicationPartnerSubscriptionNumber`, when given, else `subscriptionId` (the billing platform's id, kept as
  `billing_subscription_id`); the product is `durableOfferId`, else `offerId` (kept as `offer_id`).
- Daily-rated unit: `unitOfMeasure`, else `unit`.
- Fields the mapping does not list (anything Microsoft adds) are kept in one column, `extra_fields`: a compact
  JSON object of those keys as sent (numbers as their exact text, since the client parses them as text); empty
  when there are none. The v1 envelope's `attributes` (`{"objectType": <the kind>}`) is not one: the kind is
  the `line_item_type` column; any other attribute is kept.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS, USAGE_COLUMNS

MONEY_COLUMNS = frozenset({"quantity", "unit_price", "amount"})
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_COLUMNS = frozenset({"charge_start_date", "charge_end_date", "usage_date"})
CANONICAL_COLUMNS = frozenset(COMMON_COLUMNS) | frozenset(USAGE_COLUMNS)
LINE_ITEM_TYPE_COLUMN = "line_item_type"
EXTRA_FIELDS_COLUMN = "extra_fields"
_DATE_WITH_TIME = re.compile(r"^([0-9]{4}-[0-9]{2}-[0-9]{2})[T ]")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_ORG_PREFIX = "org:"
_EXPONENT = re.compile(r"^-?[0-9.]+[eE][-+]?[0-9]+$")


def snake_case(name: str) -> str:
    """A provider field name as a column name: `billingPreTaxTotal` -> `billing_pre_tax_total`."""
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", spaced).lower()


def normalise_customer_id(text: str) -> str:
    """A customer id as the canonical column holds it: a GUID, lower-case, whether sent as `org:<GUID>` (the
    prefix matched case-insensitively, blanks around it ignored) or in upper case; anything that is not a GUID
    (with or without the prefix) is kept as sent, trimmed. Empty stays empty."""
    trimmed = text.strip()
    bare = trimmed[len(_ORG_PREFIX) :].strip() if trimmed.lower().startswith(_ORG_PREFIX) else trimmed
    return bare.lower() if _GUID.match(bare) else trimmed


def normalise_subscription_id(text: str) -> str:
    """A subscription id as the canonical column holds it: a GUID in lower case (Microsoft writes subscription GUIDs
    in either case: get-invoiceline-items examples 1 and 4), anything else trimmed, as sent."""
    trimmed = text.strip()
    return trimmed.lower() if _GUID.match(trimmed) else trimmed


@dataclass(frozen=True)
class LineItemKind:
    """One kind of Partner Center line item: which summary it becomes and where its canonical values come from.

    `canonical` maps a canonical column to its provider field, or to fields tried in turn (the first one with a
    value). `provider_fields` are kept under their snake_case name, or a (field, column) pair under that column
    (also when the field feeds a canonical column: the value as sent next to the canonical one)."""

    item_type: str
    summary: LineKind
    line_id_prefix: str
    canonical: dict[str, str | tuple[str, ...]]
    provider_fields: tuple[str | tuple[str, str], ...]
    provider_columns: dict[str, str] = field(init=False)
    sources: dict[str, tuple[str, ...]] = field(init=False)  # canonical column -> lower-case fields, in turn
    listed: frozenset[str] = field(init=False)  # every field the mapping reads, lower-case

    def __post_init__(self) -> None:
        sources = {
            column: tuple(name.lower() for name in ((source,) if isinstance(source, str) else source))
            for column, source in self.canonical.items()
        }
        canonical_fields = {name for names in sources.values() for name in names}
        columns = {}
        for entry in self.provider_fields:
            if isinstance(entry, tuple):
                columns[entry[0]] = entry[1]
                continue
            if entry.lower() in canonical_fields:
                continue  # already a canonical column
            column = snake_case(entry)
            # A provider field named like a canonical column it does not feed (license-based `amount` is
            # before discount; the canonical amount is the subtotal) keeps its value under another name.
            columns[entry] = f"provider_{column}" if column in CANONICAL_COLUMNS else column
        object.__setattr__(self, "provider_columns", columns)
        object.__setattr__(self, "sources", sources)
        object.__setattr__(self, "listed", frozenset(canonical_fields | {name.lower() for name in columns}))


# Kept as sent for every kind, next to the canonical value made from them (see the module's rules).
AS_SENT_FIELDS = (("customerId", "provider_customer_id"), ("chargeEndDate", "provider_charge_end_date"))


def _canonical(
    product_id: str | tuple[str, ...], amount: str, currency: str, **usage: str | tuple[str, ...]
) -> dict[str, str | tuple[str, ...]]:
    """Canonical column -> provider field(s); only the product, amount and currency fields differ between kinds."""
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
    summary=LineKind.LICENSE,
    line_id_prefix="LB",
    canonical=_canonical(("durableOfferId", "offerId"), "subtotal", "currency")
    | {"subscription_id": ("syndicationPartnerSubscriptionNumber", "subscriptionId")},
    provider_fields=(
        *AS_SENT_FIELDS,
        ("subscriptionId", "billing_subscription_id"),
        ("offerId", "offer_id"),
        "partnerId",
        "customerName",
        "orderId",
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
    summary=LineKind.LICENSE,
    line_id_prefix="OT",
    canonical=_canonical("productId", "subtotal", "currency"),
    provider_fields=(
        *AS_SENT_FIELDS,
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
    summary=LineKind.USAGE,
    line_id_prefix="DR",
    canonical=_canonical(
        "productId",
        "billingPreTaxTotal",
        "billingCurrency",
        usage_date="usageDate",
        meter_id="meterId",
        meter_name="meterName",
        unit=("unitOfMeasure", "unit"),
    ),
    provider_fields=(
        *AS_SENT_FIELDS,
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


def summary_columns(summary: LineKind) -> list[str]:
    """The columns of one summary file: canonical, then the kind of line item, then every kind's provider columns,
    then the fields no kind lists (`extra_fields`)."""
    columns = [*COMMON_COLUMNS, *(USAGE_COLUMNS if summary == LineKind.USAGE else ()), LINE_ITEM_TYPE_COLUMN]
    for kind in LINE_ITEM_KINDS:
        if kind.summary == summary:
            columns += [c for c in kind.provider_columns.values() if c not in columns]
    return [*columns, EXTRA_FIELDS_COLUMN]


def cell_text(value: Any) -> str:
    """A JSON value as one CSV cell: text as is, nested objects (tags) as compact JSON, null as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def date_text(text: str) -> str:
    """A Partner Center date as an ISO date: a date-time with an offset or `Z` as its UTC calendar date, one without
    a zone as the date written; a date as is, and a date-time that is not one as sent (the schema refuses it)."""
    found = _DATE_WITH_TIME.match(text)
    if not found:
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    return found.group(1) if moment.tzinfo is None else moment.astimezone(UTC).date().isoformat()


def _canonical_text(column: str, value: Any) -> str:
    text = cell_text(value)
    if column in DATE_COLUMNS:
        return date_text(text)
    if column == "customer_id":
        return normalise_customer_id(text)
    if column == "subscription_id":
        return normalise_subscription_id(text)
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
    for column, sources in kind.sources.items():
        value = next((by_name[s] for s in sources if by_name.get(s) not in (None, "")), None)
        row[column] = _canonical_text(column, value)
    if not row["charge_end_date"]:
        row["charge_end_date"] = row["charge_start_date"]  # perpetual: charged on its start date
    for source, column in kind.provider_columns.items():
        row[column] = cell_text(by_name.get(source.lower()))
    extra = {
        str(key): value
        for key, value in item.items()
        if str(key).lower() not in kind.listed and not _is_object_type(key, value, kind)
    }
    row[EXTRA_FIELDS_COLUMN] = cell_text(extra) if extra else ""
    return row


def _is_object_type(key: Any, value: Any, kind: LineItemKind) -> bool:
    """The v1 envelope's `attributes` naming the kind alone: already the line_item_type column."""
    return str(key).lower() == "attributes" and isinstance(value, dict) and value == {"objectType": kind.item_type}


class LineSummaryFiles:
    """Writes an invoice's usage and license summary CSVs row by row (a file only for a kind that has lines)."""

    def __init__(self, folder: Path, invoice_id: str) -> None:
        self.folder = folder
        self.invoice_id = invoice_id
        self._handles: dict[str, IO[str]] = {}
        self._writers: dict[str, csv.DictWriter] = {}
        self._counts: dict[str, int] = {}
        self.charge_span: tuple[str, str] | None = None  # earliest charge start, latest charge end (ISO dates)

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
        row = summary_row(item, kind, f"{self.invoice_id}-{kind.line_id_prefix}{rank:07d}")
        self._widen_charge_span(row["charge_start_date"], row["charge_end_date"])
        writer.writerow(row)

    def _widen_charge_span(self, start: str, end: str) -> None:
        if not (_ISO_DATE.fullmatch(start) and _ISO_DATE.fullmatch(end)):
            return  # the line schema names the line whose date is not a date
        first, last = self.charge_span or (start, end)
        self.charge_span = (min(first, start), max(last, end))

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
