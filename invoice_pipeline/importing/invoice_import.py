"""The import of one provider invoice: Populating, validation (`invoice_validation`), then Active or Error.

All or nothing: the lines are published in the same transaction that sets the invoice Active; an
invoice in Error has no line summaries. The importing process holds a claim on the invoice and renews it
while it works; an import that dies half way leaves the invoice Populating and no lines until its claim
lapses, then the next command records it as Error and the next sync takes it over. Running the same
import again gives the same result.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from invoice_pipeline.domain.lifecycle import Action, verdict
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.activation_refusals import ActivationRefused, activation_refusal
from invoice_pipeline.importing.eligibility import standing_of
from invoice_pipeline.importing.import_refusals import ConnectorFactory, refuse_import
from invoice_pipeline.importing.voided_invoices import withdraw_voided_invoices

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.importing.import_results import ImportResult
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.protocols import ImportClaims


def import_provider_invoice(
    config: PipelineConfig,
    warehouse: ImportClaims,
    key: InvoiceKey,
    *,
    connectors: ConnectorFactory,
    run_id: str | None = None,
    actor: str = "invoice-pipeline",
    approved_difference: Decimal | None = None,
) -> ImportResult:
    """Import one provider invoice, all or nothing; ImportRefused (nothing changed) when it must not run now.

    `approved_difference` is a checksum override: the checksum difference found is accepted and stored when it is
    that very figure and below the currency's override maximum; any other ends in Error naming both figures.
    """
    with warehouse.kept_open():
        return _import_under_claim(config, warehouse, key, connectors, run_id, actor, approved_difference)


def _import_under_claim(
    config: PipelineConfig,
    warehouse: ImportClaims,
    key: InvoiceKey,
    connectors: ConnectorFactory,
    run_id: str | None,
    actor: str,
    approved_difference: Decimal | None,
) -> ImportResult:
    refuse_import(config, warehouse, key, connectors=connectors)
    lapse = config.claim_lapse
    record = warehouse.start_import(key, run_id=run_id, actor=actor, stuck_after=config.stuck_after, lapse=lapse)
    try:
        with warehouse.claim_renewed(record, lapse):
            return _validate_and_finish(config, warehouse, connectors, record, run_id, actor, approved_difference)
    except ImportRefused:
        raise  # another run took the invoice over meanwhile: its record is its own, leave it
    except Exception as error:
        failure = f"{type(error).__name__}: {_first_line(error)[:300]}"
        try:
            warehouse.mark_crashed(
                record, f"Import failed unexpectedly ({failure}); the next sync retries it", run_id=run_id, actor=actor
            )
        except Exception as unrecorded:
            raise ImportOutcomeUnrecorded(
                f"import of {key} failed ({failure}) and its Error could not be recorded "
                f"({type(unrecorded).__name__}: {_first_line(unrecorded)}); it shows Populating until its "
                f"claim lapses, {lapse.total_seconds():g} s after this process stops at the latest, then "
                f"the next sync, or `invoice-pipeline sync --invoice {key}`, imports it again"
            ) from error
        raise


def _first_line(error: BaseException) -> str:
    """An error's first line (a database error goes on with the statement it ran)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


class ImportOutcomeUnrecorded(Exception):
    """An import broke and could not record its Error either (the warehouse unreachable or full): the invoice
    stays Populating until its claim lapses; the message says so and what takes it over."""


def activate_manual_invoice(
    config: PipelineConfig,
    warehouse: ImportClaims,
    key: InvoiceKey,
    *,
    connectors: ConnectorFactory,
    run_id: str | None = None,
    actor: str,
    reason: str,
    approved_difference: Decimal | None = None,
) -> ImportResult:
    """Set a manual provider invoice (Populating) Active, after the same schema, reference and checksum rules
    as an import. When they fail it is refused (ActivationRefused) and stays Populating, re-activatable: its
    message says why and how to fix it, its notes and history are written as a failed import's.
    `approved_difference` accepts that very checksum difference, as for an import's override."""
    with warehouse.kept_open():
        record = warehouse.current_record(key)
        decided = verdict(
            Action.ACTIVATE,
            standing_of(warehouse, key, record, None),
            manual_provider=config.provider(key.provider).sync == "manual",
        )
        if record is None or not decided.allowed:
            raise ImportRefused(decided.reason)
        return _validate_and_finish(config, warehouse, connectors, record, run_id, actor, approved_difference, reason)


def _validate_and_finish(
    config: PipelineConfig,
    warehouse: ImportClaims,
    connectors: ConnectorFactory,
    record: InvoiceRecord,
    run_id: str | None,
    actor: str,
    approved_difference: Decimal | None,
    activation_reason: str | None = None,
) -> ImportResult:
    """Validate and store the outcome; an activation (a person's reason given) that fails stays Populating,
    with the failure's message and notes, and is refused (ActivationRefused)."""
    key = record.key
    provider = config.provider(key.provider)
    with warehouse.staging() as staging:
        # DuckDB and pandera load here, when an invoice is validated: the lifecycle above needs neither.
        from invoice_pipeline.importing.invoice_validation import validate_invoice

        validated = validate_invoice(staging, config, provider, connectors, key, record, approved_difference)
        result, files_unchanged = validated
        finished = result.to_finished()
        if activation_reason is not None and result.status != Status.ACTIVE:
            why = activation_refusal(config, provider, key, result)
            refused = replace(
                finished,
                status=Status.POPULATING,
                message=f"Activation refused: {why}",
                history_reason=f"activation refused (asked: {activation_reason}): {result.message}",
            )
            warehouse.finish_import(staging, record, refused, run_id=run_id, actor=actor)
            raise ActivationRefused(f"{key} cannot be activated: {why}")
        if activation_reason is not None:
            finished = replace(finished, history_reason=f"activated by hand: {activation_reason} ({result.message})")
        warehouse.finish_import(staging, record, finished, run_id=run_id, actor=actor, before_commit=files_unchanged)
    if result.status == Status.ACTIVE and result.header is not None:
        result = replace(result, voided=withdraw_voided_invoices(warehouse, key, result.header, actor=actor))
    return result
