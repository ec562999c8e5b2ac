"""Why a manual invoice's activation is refused, and how to fix it: its files, the configuration, or a checksum
difference a person accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.validation import billing_period

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig, ProviderConfig
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.importing.import_results import ImportResult


class ActivationRefused(ImportRefused):
    """An activation whose rules failed: the invoice stays Populating, its message, notes and history say why."""


def activation_refusal(config: PipelineConfig, provider: ProviderConfig, key: InvoiceKey, result: ImportResult) -> str:
    """Why an activation was refused and how to fix it (the invoice's message and the refusal say it)."""
    fixes = [f"fix its files in {provider.folder / key.invoice_id} or the reference data"]
    if ImportFailure.OUT_OF_PERIOD in result.failures:
        fixes.append(f"raise {billing_period.SETTING} in the configuration")
    if ImportFailure.CHECKSUM in result.failures and result.checksum is not None:
        checksum = result.checksum
        maximum = config.checksum_override_maximum_in(checksum.currency)
        found = decimal_text(checksum.difference, checksum.minor_units)
        if abs(checksum.difference) < maximum:
            fixes.append(f"accept the difference with --accept-checksum-difference {found}")
        else:
            shown = decimal_text(maximum, checksum.minor_units)
            fixes[0] += (
                f" ({found} {checksum.currency} is not below the checksum override maximum {shown} {checksum.currency})"
            )
    notes = f"; its notes: `invoice-pipeline invoices notes {key} --out DIR`" if result.notes else ""
    return (
        f"{result.message}; it stays Populating: {' or '.join(fixes)}, "
        f"then `invoice-pipeline invoices activate {key} --reason ...` again{notes}"
    )
