"""Reading a provider invoice's header (`header.json`): strict JSON, its fields' rules, the optional tax, document
type and amended invoice. No engine is loaded here (the lines are staged by `provider_files`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoice_pipeline.connectors.base import ProviderFileRefused, open_regular_file
from invoice_pipeline.connectors.folder import HEADER_MAX_BYTES
from invoice_pipeline.connectors.line_file_limits import byte_size_text
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN
from invoice_pipeline.domain.provider_documents import DocumentType, parse_document_type
from invoice_pipeline.schemas.invoice_header import HEADER_FIELDS, header_problems

# Optional header fields: the tax the lines carry (total_amount is then the total before tax, the provider's amount
# due less that tax), the document's kind, and the invoice a note amends.
OPTIONAL_HEADER_FIELDS = ("tax_amount", "document_type", "amends_invoice_id")
_TAX_PATTERN = re.compile(r"^-?[0-9]{1,18}(\.[0-9]{1,10})?$")


class ProviderFileError(Exception):
    """A provider file that cannot be read or is not valid; the message names the file and the problem."""


@dataclass(frozen=True)
class InvoiceHeader:
    """A validated provider invoice header."""

    invoice_id: str
    invoice_date: date
    billing_period_start: date
    billing_period_end: date
    currency: str
    total_amount: Decimal
    tax_amount: Decimal | None = None
    document_type: DocumentType = DocumentType.INVOICE
    amends_invoice_id: str | None = None


def _refuse_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ProviderFileError(f"header.json: key(s) {', '.join(duplicated)} appear more than once")
    return dict(pairs)


def _refuse_constant(name: str) -> object:
    raise ProviderFileError(f"header.json: {name} is not a number; write amounts as decimal strings")


def read_header(path: Path, expected_invoice_id: str) -> InvoiceHeader:
    """Read and validate `header.json`; its invoice_id must match the invoice's folder or key.

    Only a regular file is read (never a link, a FIFO or a device), and at most HEADER_MAX_BYTES of it."""
    try:
        with open_regular_file(path) as handle:
            content = handle.read(HEADER_MAX_BYTES + 1)
    except ProviderFileRefused as error:
        raise ProviderFileError(str(error)) from None
    if len(content) > HEADER_MAX_BYTES:
        raise ProviderFileError(
            f"header.json: larger than {byte_size_text(HEADER_MAX_BYTES)}; a header holds only the invoice's fields"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ProviderFileError("header.json: not UTF-8 text; save it as UTF-8") from error
    try:
        data = json.loads(
            text,
            object_pairs_hook=_refuse_duplicate_keys,
            parse_float=str,
            parse_int=str,
            parse_constant=_refuse_constant,
        )
    except json.JSONDecodeError as error:
        raise ProviderFileError(f"header.json: not valid JSON ({error.msg} at line {error.lineno})") from error
    if not isinstance(data, dict):
        raise ProviderFileError("header.json: must be a JSON object with " + ", ".join(HEADER_FIELDS))
    missing = [f for f in HEADER_FIELDS if data.get(f) in (None, "")]
    if missing:
        raise ProviderFileError(f"header.json: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(HEADER_FIELDS) - set(OPTIONAL_HEADER_FIELDS))
    if unknown:
        raise ProviderFileError(
            f"header.json: unknown field(s) {', '.join(unknown)}; expected {', '.join(HEADER_FIELDS)} "
            f"(and optionally {', '.join(OPTIONAL_HEADER_FIELDS)})"
        )
    tax_amount, document_type, amends_invoice_id = _optional_fields(data)
    not_text = [f for f in HEADER_FIELDS if not isinstance(data[f], str)]
    if not_text:
        raise ProviderFileError(f"header.json: field(s) {', '.join(not_text)} must be strings or numbers")
    with_controls = [f for f in HEADER_FIELDS if re.search(r"[\x00-\x1f\x7f]", data[f])]
    if with_controls:
        raise ProviderFileError(f"header.json: field(s) {', '.join(with_controls)} contain control characters")
    problems = header_problems({f: data[f] for f in HEADER_FIELDS})
    if problems:
        raise ProviderFileError("header.json: " + "; ".join(problems))
    if data["invoice_id"] != expected_invoice_id:
        raise ProviderFileError(
            f"header.json: invoice_id {data['invoice_id']!r} differs from the invoice's folder "
            f"{expected_invoice_id!r}; rename the folder or fix the header"
        )
    return InvoiceHeader(
        invoice_id=data["invoice_id"],
        invoice_date=date.fromisoformat(data["invoice_date"]),
        billing_period_start=date.fromisoformat(data["billing_period_start"]),
        billing_period_end=date.fromisoformat(data["billing_period_end"]),
        currency=data["currency"],
        total_amount=Decimal(data["total_amount"]),
        tax_amount=tax_amount,
        document_type=document_type,
        amends_invoice_id=amends_invoice_id,
    )


def _optional_fields(data: dict[str, object]) -> tuple[Decimal | None, DocumentType, str | None]:
    """The optional header fields, validated: tax a decimal, a known document type (an invoice when not given), the
    invoice a note amends."""
    given = {f: data[f] for f in OPTIONAL_HEADER_FIELDS if data.get(f) not in (None, "")}
    if any(not isinstance(value, str) for value in given.values()):
        raise ProviderFileError(f"header.json: field(s) {', '.join(given)} must be strings or numbers")
    values: dict[str, Any] = {"tax_amount": None, "document_type": DocumentType.INVOICE, "amends_invoice_id": None}
    if "tax_amount" in given:
        if not _TAX_PATTERN.fullmatch(str(given["tax_amount"])):
            raise ProviderFileError(
                f"header.json: tax_amount {given['tax_amount']!r} is not a decimal number with at most 18 digits "
                "before the point and 10 after"
            )
        values["tax_amount"] = Decimal(str(given["tax_amount"]))
    if "document_type" in given:
        try:
            values["document_type"] = parse_document_type(str(given["document_type"]))
        except ValueError as error:
            raise ProviderFileError(f"header.json: {error}; write one of them in document_type") from None
    if "amends_invoice_id" in given:
        if not INVOICE_ID_PATTERN.fullmatch(str(given["amends_invoice_id"])):
            raise ProviderFileError(
                f"header.json: amends_invoice_id {given['amends_invoice_id']!r} is not an invoice id"
            )
        values["amends_invoice_id"] = given["amends_invoice_id"]
    return values["tax_amount"], values["document_type"], values["amends_invoice_id"]
