"""The use cases the command line and Dagster both run, each one function over the rules.

An adapter (a CLI command, a Dagster op or asset) parses its input, calls one of these and shows the result;
the policies they hold (which checksum difference an override accepts) are written here once.
"""

from __future__ import annotations

from decimal import Decimal

from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.import_results import ImportResult
from invoice_pipeline.importing.invoice_import import activate_manual_invoice, import_provider_invoice
from invoice_pipeline.operations.invoice_operations import request_checksum_override
from invoice_pipeline.warehouse.warehouse import Warehouse


def _accepted_difference(config: PipelineConfig, *, accept: bool) -> Decimal | None:
    """The checksum difference an import accepts: below the configured override maximum when a person accepts
    one (an override, `--accept-checksum-difference`), else none."""
    return config.checksum_override_maximum if accept else None


def import_invoice(
    config: PipelineConfig,
    warehouse: Warehouse,
    key: InvoiceKey,
    *,
    run_id: str | None,
    actor: str,
    checksum_override_reason: str | None = None,
) -> ImportResult:
    """Import one provider invoice; with a checksum override's reason, the override is checked and recorded
    first (ImportRefused when it is not allowed) and the import accepts a difference below the maximum."""
    if checksum_override_reason is not None:
        request_checksum_override(config, warehouse, key, actor=actor, reason=checksum_override_reason)
    return import_provider_invoice(
        config,
        warehouse,
        key,
        run_id=run_id,
        actor=actor,
        override_maximum=_accepted_difference(config, accept=checksum_override_reason is not None),
    )


def activate_invoice(
    config: PipelineConfig,
    warehouse: Warehouse,
    key: InvoiceKey,
    *,
    actor: str,
    reason: str,
    accept_checksum_difference: bool,
    run_id: str | None = None,
) -> ImportResult:
    """Set a manual provider invoice Active after the import's rules (ActivationRefused when they fail), accepting
    a checksum difference below the override maximum when asked to."""
    return activate_manual_invoice(
        config,
        warehouse,
        key,
        run_id=run_id,
        actor=actor,
        reason=reason,
        override_maximum=_accepted_difference(config, accept=accept_checksum_difference),
    )
