"""When an import must not start: the lifecycle forbids it now, a note voids the invoice, or its provider does not
offer it (checked before anything is written, so a refusal changes nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from invoice_pipeline.connectors.base import ConnectorError, ProviderConnector
from invoice_pipeline.domain.lifecycle import Action, verdict
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.importing.eligibility import invoice_standing
from invoice_pipeline.importing.voided_invoices import voided_by

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig, ProviderConfig
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.warehouse.protocols import InvoiceLookups

ConnectorFactory = Callable[["ProviderConfig", "PipelineConfig"], ProviderConnector]
"""What builds a provider's connector: the composition root's factory, a fake one in the unit tier."""

MAX_IDS_SHOWN = 10  # offered invoice ids named in a refusal


def refuse_import(
    config: PipelineConfig, warehouse: InvoiceLookups, key: InvoiceKey, *, connectors: ConnectorFactory
) -> None:
    """ImportRefused, changing nothing, when the lifecycle forbids importing the invoice now (a manual
    provider's invoice, an Active or running one) or when it would be a new record of an invoice the
    provider does not offer, as its connector lists them (a typo must not leave an Error record behind)."""
    provider = config.provider(key.provider)
    voided = voided_by(warehouse, key)
    if voided is not None:
        raise ImportRefused(
            f"{key} is {voided} (Active here): its charges are not billable, so it is not imported; the "
            "replacement invoice carries the right charges"
        )
    standing = invoice_standing(warehouse, key, config.stuck_after)
    decided = verdict(Action.IMPORT, standing, manual_provider=provider.sync == "manual")
    if not decided.allowed:
        raise ImportRefused(decided.reason)
    if standing.stage.has_current_record:
        return
    try:
        offered = [invoice.invoice_id for invoice in connectors(provider, config).list_invoices()]
    except ConnectorError as error:
        raise ImportRefused(f"{provider.id} could not list its invoices ({error}); nothing changed, retry") from None
    if key.invoice_id not in offered:
        shown = ", ".join(offered[:MAX_IDS_SHOWN]) or "none now"
        more = f" and {len(offered) - MAX_IDS_SHOWN} more" if len(offered) > MAX_IDS_SHOWN else ""
        raise ImportRefused(
            f"{provider.id} does not offer invoice {key.invoice_id!r}; it offers {shown}{more} "
            f"(list them with `invoice-pipeline providers invoices {provider.id}`)"
        )
