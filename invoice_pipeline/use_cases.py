"""The use cases the command line and Dagster both run, each one function over the rules.

An adapter (a CLI command, a Dagster op or asset) parses its input, calls one of these with what the composition
root built (the warehouse, the connector factory) and shows the result; the policies they hold are written here
once: a checksum override (or an activation accepting a difference) accepts the very figure a person approved,
below the currency's maximum, and no other (`validation.checksum.override_refusal`, checked on the stored
difference first, then on the one found).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from invoice_pipeline.importing.invoice_import import activate_manual_invoice, import_provider_invoice
from invoice_pipeline.operations.invoice_operations import ChecksumOverrideRequest, request_checksum_override
from invoice_pipeline.warehouse.protocols import ImportClaims, RecordOperations

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.importing.import_refusals import ConnectorFactory
    from invoice_pipeline.importing.import_results import ImportResult


class OverridableImports(ImportClaims, RecordOperations, Protocol):
    """An import's life, and the history entry an override writes before it."""


def import_invoice(
    config: PipelineConfig,
    warehouse: OverridableImports,
    key: InvoiceKey,
    *,
    connectors: ConnectorFactory,
    run_id: str | None,
    actor: str,
    checksum_override: ChecksumOverrideRequest | None = None,
) -> ImportResult:
    """Import one provider invoice. A checksum override binds to the figure the person approved: it is checked
    against the invoice's stored difference and recorded first (ImportRefused naming both figures, nothing changed,
    when they differ or it is not below the currency's maximum), then the import accepts that very difference only;
    if the provider changed the invoice meanwhile, it ends in Error naming the approved figure and the one found."""
    approved = None
    if checksum_override is not None:
        approved = request_checksum_override(
            config,
            warehouse,
            key,
            actor=actor,
            reason=checksum_override.reason,
            difference=checksum_override.difference,
        )
    return import_provider_invoice(
        config, warehouse, key, connectors=connectors, run_id=run_id, actor=actor, approved_difference=approved
    )


def activate_invoice(
    config: PipelineConfig,
    warehouse: ImportClaims,
    key: InvoiceKey,
    *,
    connectors: ConnectorFactory,
    actor: str,
    reason: str,
    accept_checksum_difference: Decimal | None,
    run_id: str | None = None,
) -> ImportResult:
    """Set a manual provider invoice Active after the import's rules (ActivationRefused when they fail); with
    `accept_checksum_difference`, the checksum difference found is accepted when it is that very figure (header
    total minus lines total) and below the currency's override maximum, as an override's."""
    return activate_manual_invoice(
        config,
        warehouse,
        key,
        connectors=connectors,
        run_id=run_id,
        actor=actor,
        reason=reason,
        approved_difference=accept_checksum_difference,
    )
