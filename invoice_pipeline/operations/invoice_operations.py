"""Operations a person runs on a provider invoice: deactivate, delete, unlink, checksum override, manual invoices.

Each one writes the invoice's history (who, when, what, why) and refuses with one sentence that says
why and what to do instead; a refusal changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, verdict
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import invoice_standing, standing_of
from invoice_pipeline.importing.import_refusals import ConnectorFactory
from invoice_pipeline.importing.voided_invoices import voided_by
from invoice_pipeline.validation.checksum import override_refusal
from invoice_pipeline.validation.reference_errors import ReferenceDataError

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig, ProviderConfig
    from invoice_pipeline.warehouse.customer_documents import Unlinked
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.protocols import InvoiceLookups, RecordOperations


class OperationRefused(ImportRefused):
    """An operation that must not happen now; the message says why and what to do instead."""


def _current(
    warehouse: RecordOperations, key: InvoiceKey, action: Action, *, manual_provider: bool = False
) -> InvoiceRecord:
    """The invoice's current record when the lifecycle lets `action` happen to it, else OperationRefused saying
    why (deactivate, delete and unlink do not depend on the provider's kind)."""
    record = warehouse.current_record(key)
    decided = verdict(action, standing_of(warehouse, key, record, None), manual_provider=manual_provider)
    if record is None or not decided.allowed:
        raise OperationRefused(decided.reason)
    return record


def _refuse_if_invoiced(warehouse: RecordOperations, record: InvoiceRecord, action: str) -> None:
    invoiced = warehouse.invoiced_lines(record.record_id)
    if invoiced.line_count:
        shown = ", ".join(invoiced.customer_invoice_ids[:10])
        more = f" and {len(invoiced.customer_invoice_ids) - 10} more" if len(invoiced.customer_invoice_ids) > 10 else ""
        raise OperationRefused(
            f"{record.key} cannot be {action}: {invoiced.line_count} of its lines are invoiced to customer invoice(s) "
            f"{shown}{more}; remove those references first with `invoice-pipeline invoices unlink {record.key}`"
        )


def deactivate_invoice(warehouse: RecordOperations, key: InvoiceKey, *, actor: str, reason: str) -> InvoiceRecord:
    """Keep the record as Inactive (history, lines, notes kept) and free the invoice to be synced again."""
    with warehouse.kept_open():
        record = _current(warehouse, key, Action.DEACTIVATE)
        _refuse_if_invoiced(warehouse, record, "deactivated")
        return warehouse.set_status(record, Status.INACTIVE, f"deactivated: {reason}", actor=actor)


def delete_invoice(warehouse: RecordOperations, key: InvoiceKey, *, actor: str, reason: str) -> None:
    """Remove the invoice's current record with its lines and notes; its history stays, with a Deleted entry."""
    with warehouse.kept_open():
        record = _current(warehouse, key, Action.DELETE)
        _refuse_if_invoiced(warehouse, record, "deleted")
        if not warehouse.delete_record(record, f"deleted: {reason}", actor=actor):
            raise OperationRefused(f"{key} changed while it was being deleted; look at it again, then retry")


def unlink_invoice(warehouse: RecordOperations, key: InvoiceKey, *, actor: str, reason: str) -> Unlinked:
    """Remove the references from customer invoices to the invoice's lines (after which it can be deactivated),
    correcting what they bill: drafts recomputed (void when no line is left), issued invoices credited."""
    with warehouse.kept_open():
        return _unlink(warehouse, key, actor=actor, reason=reason)


def _unlink(warehouse: RecordOperations, key: InvoiceKey, *, actor: str, reason: str) -> Unlinked:
    record = _current(warehouse, key, Action.UNLINK)
    invoiced = warehouse.invoiced_lines(record.record_id)
    if not invoiced.line_count:
        raise OperationRefused(f"{key} has no lines invoiced to customers; nothing to unlink")
    lines = f"{invoiced.line_count} line{'s' if invoiced.line_count != 1 else ''}"
    invoices = ", ".join(invoiced.customer_invoice_ids)
    return warehouse.unlink_lines(
        record, reason, actor=actor, history_reason=f"unlinked {lines} from customer invoice(s) {invoices}: {reason}"
    )


@dataclass(frozen=True)
class ChecksumOverrideRequest:
    """A person's checksum override: the difference they approve (header total minus lines total, as the
    invoice's message shows it, sign included) and why it is acceptable. It accepts that figure and no other."""

    difference: Decimal
    reason: str


def checksum_override_difference(
    config: PipelineConfig, warehouse: RecordOperations, key: InvoiceKey, *, approved: Decimal
) -> Decimal:
    """The invoice's checksum difference when an override approving `approved` may import it: the same figure,
    below the currency's override maximum; else OperationRefused naming both figures (nothing is changed)."""
    record = _current(warehouse, key, Action.OVERRIDE, manual_provider=config.provider(key.provider).sync == "manual")
    if record.difference is None or record.failures != (ImportFailure.CHECKSUM,):
        raise OperationRefused(
            f"{key} is not in Error because of its checksum ({record.status}: {(record.message or '')[:120]}); "
            "an override only accepts a checksum difference"
        )
    currency = record.currency or ""
    refusal = override_refusal(
        approved=approved,
        found=record.difference,
        maximum=config.checksum_override_maximum_in(currency),
        currency=currency,
        minor_units=record.minor_units,
    )
    if refusal is not None:
        raise OperationRefused(f"{key}: {refusal}")
    return record.difference


def request_checksum_override(
    config: PipelineConfig,
    warehouse: RecordOperations,
    key: InvoiceKey,
    *,
    actor: str,
    reason: str,
    difference: Decimal,
) -> Decimal:
    """Check an override approving `difference` may import the invoice, record who approved which figure and why,
    and return the difference to accept (the import accepts it only if it finds that very figure again)."""
    if not reason.strip():
        raise OperationRefused(f"a checksum override of {key} needs a reason; say why the difference is acceptable")
    accepted = checksum_override_difference(config, warehouse, key, approved=difference)
    record = _current(warehouse, key, Action.OVERRIDE)
    warehouse.note_in_history(
        record,
        f"checksum override requested, approving a difference of {decimal_text(accepted, record.minor_units)} "
        f"{record.currency}: {reason}",
        actor=actor,
    )
    return accepted


def create_manual_invoice(
    config: PipelineConfig,
    warehouse: RecordOperations,
    key: InvoiceKey,
    *,
    connectors: ConnectorFactory,
    actor: str,
    reason: str,
    header: dict[str, str] | None = None,
) -> InvoiceRecord:
    """Create a manual provider invoice (status Populating) from its folder, or from the header fields alone.

    With `header`, the header.json is written into the provider's folder, so that activation reads
    the same provider folder format; line files may be added there before activation.
    """
    provider = config.provider(key.provider)
    decided = verdict(Action.CREATE, invoice_standing(warehouse, key, None), manual_provider=provider.sync == "manual")
    if not decided.allowed:
        raise OperationRefused(decided.reason)
    if provider.settings.folder is None:
        raise OperationRefused(f"{key} cannot be created by hand: provider {key.provider} has no provider folder")
    folder = provider.settings.folder / key.invoice_id
    if header is not None:
        if (folder / "header.json").exists():
            raise OperationRefused(f"{folder / 'header.json'} already exists; create the invoice from that folder")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "header.json").write_text(json.dumps({"invoice_id": key.invoice_id, **header}, indent=2), "utf-8")
    from invoice_pipeline.importing.invoice_headers import ProviderFileError, read_header

    try:
        files = connectors(provider, config).fetch_invoice(key.invoice_id)
        parsed = read_header(files.header_path, key.invoice_id)
    except (ProviderFileError, ConnectorError) as error:
        if header is not None:
            (folder / "header.json").unlink(missing_ok=True)
        raise OperationRefused(f"{key} cannot be created: {error}") from None
    record = warehouse.create_manual_record(
        key,
        actor=actor,
        reason=f"created by hand: {reason}",
        values={
            "invoice_date": parsed.invoice_date,
            "billing_period_start": parsed.billing_period_start,
            "billing_period_end": parsed.billing_period_end,
            "currency": parsed.currency,
            "minor_units": _minor_units(config, parsed.currency),
            "total_amount": parsed.total_amount,
        },
    )
    return record


def _minor_units(config: PipelineConfig, currency: str) -> int | None:
    from invoice_pipeline.validation.reference_data import load_reference_data  # DuckDB and pandera: when it reads

    try:
        return load_reference_data(config.reference_data, config.data_dir).minor_units(currency)
    except ReferenceDataError:
        return None  # activation reports the reference data problem


def header_fields(
    *, invoice_date: date, billing_period_start: date, billing_period_end: date, currency: str, total_amount: str
) -> dict[str, str]:
    """Header fields as the provider folder format writes them."""
    return {
        "invoice_date": invoice_date.isoformat(),
        "billing_period_start": billing_period_start.isoformat(),
        "billing_period_end": billing_period_end.isoformat(),
        "currency": currency,
        "total_amount": total_amount,
    }


@dataclass(frozen=True)
class OfferedInvoiceStatus:
    """An invoice a provider offers, its header total as offered, and where it stands here."""

    invoice_id: str
    status: str  # its record's status, `not imported`, `Inactive (deactivated)` or `Deleted`
    currency: str | None
    total_amount: Decimal | None  # as the provider writes it ("46.00" keeps its minor units)
    header_problem: str | None  # why its header.json cannot be read (provider folders only)

    def text(self) -> str:
        """The invoice as `providers invoices` lists it: id, status, and its total or why its header is unreadable."""
        total = f"{'-' if self.total_amount is None else f'{self.total_amount:f}'} {self.currency or '-'}"
        if self.header_problem:
            total = f"header unreadable: {self.header_problem}"
        return f"{self.invoice_id}\t{self.status}\t{total}"


def offered_invoice_statuses(
    config: PipelineConfig, warehouse: InvoiceLookups, provider_id: str, *, connectors: ConnectorFactory
) -> list[OfferedInvoiceStatus]:
    """The invoices a provider offers, each with where it stands here (its status, `not imported`,
    `Inactive (deactivated)` or `Deleted`) and, for a provider folder, why its header cannot be read."""
    provider = config.provider(provider_id)
    rows = []
    for offered in connectors(provider, config).list_invoices():
        key = InvoiceKey(provider.id, offered.invoice_id)
        record = warehouse.current_record(key)
        rows.append(
            OfferedInvoiceStatus(
                invoice_id=offered.invoice_id,
                status=_status_here(warehouse, key, record),
                currency=offered.currency,
                total_amount=offered.total_amount,
                header_problem=_header_problem(provider, offered.invoice_id),
            )
        )
    return rows


def _status_here(warehouse: InvoiceLookups, key: InvoiceKey, record: InvoiceRecord | None) -> str:
    """Its current record's status, else how it came to have none: voided by a note, deactivated, deleted..."""
    if record is not None:
        return record.status
    voided = voided_by(warehouse, key)
    return f"Inactive ({voided})" if voided else standing_of(warehouse, key, None, None).stage.value


def _header_problem(provider: ProviderConfig, invoice_id: str) -> str | None:
    """Why an offered invoice's header.json cannot be read (provider folders only), or None."""
    if provider.settings.folder is None:
        return None
    from invoice_pipeline.importing.invoice_headers import ProviderFileError, read_header

    try:
        read_header(provider.settings.folder / invoice_id / "header.json", invoice_id)
    except ProviderFileError as error:
        return str(error)
    return None
