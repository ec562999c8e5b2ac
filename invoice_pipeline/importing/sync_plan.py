"""The daily sync's plan: which offered invoices to import, and which Active ones changed at the provider.

The same plan serves the Dagster daily sync and `invoice-pipeline sync`, so both behave the same.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoice_pipeline.connectors.base import ConnectorError, LineFingerprints, OfferedInvoice, ProviderConnector
from invoice_pipeline.connectors.folder import FolderNotRead, folders_not_read
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import SyncCandidate, standing_of, sync_candidate
from invoice_pipeline.importing.import_refusals import ConnectorFactory
from invoice_pipeline.importing.voided_invoices import voided_by

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.operations_log import ProviderInvoiceChange
    from invoice_pipeline.warehouse.protocols import ProviderChangeLog, StoppedImports


@dataclass(frozen=True)
class SyncPlan:
    """Every offered invoice with its verdict, the provider changes found, and providers that failed to answer: the
    one value the Dagster daily sync records (`as_json`) and `invoice-pipeline sync` reads back (`from_json`)."""

    candidates: list[SyncCandidate] = field(default_factory=list)
    new_changes: list[ProviderInvoiceChange] = field(default_factory=list)
    provider_errors: list[str] = field(default_factory=list)
    folders_not_read: list[FolderNotRead] = field(default_factory=list)

    @property
    def eligible(self) -> list[InvoiceKey]:
        """The invoices to import now."""
        return [c.key for c in self.candidates if c.eligible]

    @property
    def skipped(self) -> list[SyncCandidate]:
        """The offered invoices left alone, each with why."""
        return [c for c in self.candidates if not c.eligible]

    def as_json(self) -> dict[str, list[Any]]:
        """The plan as JSON values, exact (money as decimal text, moments ISO): what the Dagster run keeps and the
        command line reads back with `from_json`. Its `offers` and `folders_not_read` are the UI's table rows."""
        return {
            "offers": [{"invoice": str(c.key), "import": c.eligible, "reason": c.reason} for c in self.candidates],
            "provider_changes": [_change_as_json(change) for change in self.new_changes],
            "provider_errors": list(self.provider_errors),
            "folders_not_read": [folder.as_row() for folder in self.folders_not_read],
        }

    @classmethod
    def from_json(cls, values: dict[str, list[Any]]) -> SyncPlan:
        """The plan `as_json` wrote."""
        from invoice_pipeline.warehouse.operations_log import ProviderInvoiceChange  # SQLAlchemy: when one is read

        def change(row: dict[str, Any]) -> ProviderInvoiceChange:
            moments = {name: None if row[name] is None else datetime.fromisoformat(row[name]) for name in _MOMENTS}
            totals = {name: Decimal(row[name]) for name in _TOTALS}
            return ProviderInvoiceChange(**(row | moments | totals))

        return cls(
            candidates=[
                SyncCandidate(InvoiceKey.parse(row["invoice"]), row["import"], row["reason"])
                for row in values["offers"]
            ],
            new_changes=[change(row) for row in values["provider_changes"]],
            provider_errors=list(values["provider_errors"]),
            folders_not_read=[FolderNotRead(**row) for row in values["folders_not_read"]],
        )


_TOTALS = ("old_total", "new_total")
_MOMENTS = ("seen_at", "notified_at")


def _change_as_json(change: ProviderInvoiceChange) -> dict[str, Any]:
    """A provider change as JSON values: its totals as exact decimal text, its moments ISO."""
    row = asdict(change)
    return (
        row
        | {name: str(row[name]) for name in _TOTALS}
        | {name: None if row[name] is None else row[name].isoformat() for name in _MOMENTS}
    )


def plan_sync(
    config: PipelineConfig,
    warehouse: StoppedImports,
    provider_ids: list[str] | None = None,
    *,
    connectors: ConnectorFactory,
    changes: ProviderChangeLog,
    actor: str,
) -> SyncPlan:
    """Ask each automatic provider (or the given ones), through its connector, for its invoices and decide what
    to import.

    For Active invoices, a provider total or lines that differ from the imported ones are recorded as a
    change (once per new total and lines); the imported invoice itself is never touched.
    """
    providers = [config.provider(p) for p in provider_ids] if provider_ids is not None else config.automatic_providers
    stuck_after = config.stuck_after
    warehouse.release_stopped_imports(stuck_after, actor=actor)
    plan = SyncPlan()
    for provider in providers:
        connector = connectors(provider, config)
        try:
            offered = connector.list_invoices()
        except ConnectorError as error:
            plan.provider_errors.append(f"{provider.id}: {error}")
            continue
        plan.folders_not_read.extend(folders_not_read(provider))
        for invoice in offered:
            key = InvoiceKey(provider.id, invoice.invoice_id)
            current = warehouse.current_record(key)
            standing = standing_of(warehouse, key, current, stuck_after)
            voided = voided_by(warehouse, key)
            plan.candidates.append(
                SyncCandidate(key, False, voided)
                if voided is not None
                else sync_candidate(standing, manual_provider=provider.sync == "manual")
            )
            if current is not None and current.status == Status.ACTIVE:
                change = _record_provider_change(changes, connector, invoice, current, actor=actor)
                if change:
                    plan.new_changes.append(change)
    return plan


def _record_provider_change(
    log: ProviderChangeLog, connector: ProviderConnector, offered: OfferedInvoice, current: InvoiceRecord, *, actor: str
) -> ProviderInvoiceChange | None:
    """Record what changed at the provider since an Active invoice's import: its header total, and its lines
    where the connector fingerprints them cheaply and the import stored a fingerprint (folder providers;
    Partner Center's header total stays the check). None when nothing changed or it was recorded already."""
    imported = current.provider_total  # tax included, as the provider lists it
    new_total = imported if offered.total_amount is None else offered.total_amount
    if new_total is None:  # an Active invoice always has its header total; nothing to compare without one
        return None
    new_fingerprint = None
    if current.line_fingerprint is not None and isinstance(connector, LineFingerprints):
        with suppress(ConnectorError):  # files unreadable now: their lines are compared again by the next sync
            new_fingerprint = connector.line_fingerprint(offered.invoice_id)
    if new_total == imported and new_fingerprint in (None, current.line_fingerprint):
        return None
    return log.record_provider_change(current, new_total, new_line_fingerprint=new_fingerprint, actor=actor)
