"""Provider invoice assets: one partition per provider invoice, imported all or nothing and checked."""

import warnings
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from invoice_pipeline.dagster_defs.invoice_state import (
    LINE_ASSETS,
    OutcomeFailure,
    fail_with_outcome,
    invoice_metadata,
    line_asset_metadata,
    show_invoice_change,
    status_observation,
)
from invoice_pipeline.dagster_defs.metadata import billable_summary_metadata, plain_metadata, table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_tags import tag_invoice_run
from invoice_pipeline.domain.display import shown
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_results import CHECKSUM_CHECK, REFERENCES_CHECK, SCHEMA_CHECK
from invoice_pipeline.importing.invoice_import import ImportOutcomeUnrecorded
from invoice_pipeline.operations.billing import billable_usage_summary
from invoice_pipeline.operations.invoice_operations import ChecksumOverrideRequest, OperationRefused
from invoice_pipeline.use_cases import import_invoice
from invoice_pipeline.validation.checksum import approved_difference
from invoice_pipeline.warehouse.billing_tables import BillableSummary
from invoice_pipeline.warehouse.warehouse import ImportRefused, InvoiceRecord, Warehouse

GROUP = "provider_invoices"
NO_INVOICE_IN_ERROR = "no_invoice_in_error"
OWNERS = ["team:billing-data"]

_CHECK_DESCRIPTIONS = {
    SCHEMA_CHECK: "The header and every usage and license summary row match their Pandera schemas; "
    "line ids are unique within the invoice.",
    REFERENCES_CHECK: "Every line finds its customer, subscription and currency (warnings: subscription "
    "without product, unknown product). Failures list the missing references.",
    CHECKSUM_CHECK: "Header total equals usage total + license total, in decimal, rounded to the currency's "
    "minor units, within the provider's tolerance. The difference is header total minus lines total.",
}


def _invoice_check_specs() -> list[dg.AssetCheckSpec]:
    """The three checks, one result per invoice partition (partitioned checks are a preview in Dagster 1.13),
    and one over all invoices, so the asset's latest check results never read "passed" while one is in Error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        per_invoice = [
            dg.AssetCheckSpec(
                name,
                asset="provider_invoice",
                blocking=True,
                description=description,
                partitions_def=provider_invoice_partitions,
            )
            for name, description in _CHECK_DESCRIPTIONS.items()
        ]
    every_invoice = dg.AssetCheckSpec(
        NO_INVOICE_IN_ERROR,
        asset="provider_invoice",
        description="No provider invoice is in Error (all of them, not only this run's): a warning listing those "
        "that are, evaluated by every import.",
    )
    return [*per_invoice, every_invoice]


def _no_invoice_in_error(warehouse: Warehouse) -> dg.AssetCheckResult:
    in_error = [r.summary() for r in warehouse.list_invoices(status=Status.ERROR)]
    rows = [{"invoice": f"{r['provider']}:{r['invoice_id']}", "message": r["message"]} for r in in_error]
    return dg.AssetCheckResult(
        asset_key="provider_invoice",
        check_name=NO_INVOICE_IN_ERROR,
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(rows)} provider invoice(s) in Error" if rows else "No provider invoice is in Error",
        metadata={"in_error_count": len(rows), "in_error": table_metadata(rows[:100], ["invoice", "message"])},
    )


class ChecksumOverride(dg.Config):
    """Accept the checksum difference you approve, saying why."""

    difference: str = Field(
        description="The difference you approve, as the invoice's message shows it: header total minus lines total, "
        'in the invoice\'s currency, sign included (e.g. "0.37" or "-0.13"); only that very figure is accepted '
        "(required)."
    )
    reason: str = Field(description="Why the difference is acceptable; kept in the invoice's history (required).")

    def request(self) -> ChecksumOverrideRequest:
        """The override as the rules take it; OperationRefused when its difference is not a plain decimal."""
        try:
            difference = approved_difference(self.difference)
        except ValueError as error:
            raise OperationRefused(f"checksum_override.difference: {error}") from None
        return ChecksumOverrideRequest(difference, self.reason)


class ProviderInvoiceImportConfig(dg.Config):
    """Options of one import; leave them out for a normal import."""

    checksum_override: ChecksumOverride | None = Field(
        default=None,
        description="Checksum override: import an invoice in Error because of its checksum as Active, accepting the "
        "difference you approve and no other, when it is below checksum_override_maximum for the invoice's currency "
        "(default 0.50). It is refused, changing nothing, when the invoice's difference is another figure or not "
        "below the maximum; if the provider changed the invoice meanwhile, it ends in Error naming both figures. "
        'Write `checksum_override: {difference: "0.37", reason: ...}`.',
    )
    requested_by: str = Field(default="", description="Who asks for it (kept in the invoice's history).")


@dg.multi_asset(
    name="provider_invoice_import",
    specs=[
        dg.AssetSpec(
            "provider_invoice",
            group_name=GROUP,
            kinds={"duckdb", "pandera"},
            owners=OWNERS,
            deps=[a.key for a in reference_assets],
            description="The provider invoice record: header, status (Populating, Active, Error, Inactive), "
            "message, totals and line counts. Imported all or nothing.",
        ),
        dg.AssetSpec(
            "usage_summaries",
            group_name=GROUP,
            kinds={"duckdb"},
            owners=OWNERS,
            deps=["provider_invoice"],
            description="The invoice's usage summaries (metered consumption), stored when the invoice is Active.",
        ),
        dg.AssetSpec(
            "license_summaries",
            group_name=GROUP,
            kinds={"duckdb"},
            owners=OWNERS,
            deps=["provider_invoice"],
            description="The invoice's license summaries (seats x unit price), stored when the invoice is Active.",
        ),
    ],
    check_specs=_invoice_check_specs(),
    partitions_def=provider_invoice_partitions,
)
def provider_invoice_import(
    context: dg.AssetExecutionContext, config: ProviderInvoiceImportConfig, invoice_pipeline: InvoicePipelineResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetObservation]:
    """Import one provider invoice: Populating, schema, references, checksum, then Active or Error.

    The partition tells the invoice's status: Active is materialized; Error fails the run with the
    invoice's message (an outcome, shown without a stack trace) after recording the check results.
    """
    if not context.has_partition_key:
        fail_with_outcome(
            OutcomeFailure.IMPORT_REFUSED,
            "Import refused: no provider invoice chosen; pick its partition (provider:invoice_id) when you launch",
        )
    key = InvoiceKey.parse(context.partition_key)
    tag_invoice_run(context, key)
    pipeline_config = invoice_pipeline.load_config()
    run_id = context.run.run_id
    actor = config.requested_by or f"dagster run {run_id}"
    refusal = None
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        try:
            override = config.checksum_override
            result = import_invoice(
                pipeline_config,
                warehouse,
                key,
                run_id=run_id,
                actor=actor,
                checksum_override=override.request() if override is not None else None,
            )
        except ImportRefused as refused:
            refusal = str(refused)
        except ImportOutcomeUnrecorded as unrecorded:
            fail_with_outcome(OutcomeFailure.OUTCOME_UNRECORDED, f"Import failed: {unrecorded}")
        record = warehouse.current_record(key)
        if record is None and refusal is None:  # voided at once by a note imported meanwhile: its record as stored
            record = next((voided for voided in result.voided if voided.key == key), None)
        every_invoice = _no_invoice_in_error(warehouse)
    if refusal is not None:
        if record is not None and record.status == Status.ACTIVE:
            yield from _active_invoice(record)  # refused, unchanged: the partition still tells it is Active
        fail_with_outcome(OutcomeFailure.IMPORT_REFUSED, f"Import refused: {refusal}")
    assert record is not None
    context.log.info(shown(f"{key}: {result.status} - {result.message}"))
    for voided in result.voided:  # the invoice a void note withdrew tells it on its own partition at once
        show_invoice_change(context.instance, voided.key, voided, f"{voided.message} (run {run_id})")
    checks = [
        dg.AssetCheckResult(
            asset_key="provider_invoice",
            check_name=name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            description=shown(outcome.description),
            metadata=plain_metadata(outcome.metadata),
        )
        for name, outcome in result.checks.items()
    ]
    if result.status != Status.ACTIVE:
        yield from checks
        yield every_invoice
        notes = [f"{note.title} {note.file_name}" for note in result.notes]
        yield status_observation(key, result.status, f"imported by run {run_id}", record, notes)
        fail_with_outcome(OutcomeFailure.INVOICE_IN_ERROR, f"{key} is in {result.status}: {result.message}")
    yield from _active_invoice(record)  # first, so the check results judge this materialization
    yield from checks
    yield every_invoice


def _active_invoice(record: InvoiceRecord) -> Iterator[dg.MaterializeResult]:
    yield dg.MaterializeResult(asset_key="provider_invoice", metadata=invoice_metadata(record))
    for kind, asset in LINE_ASSETS.items():
        yield dg.MaterializeResult(asset_key=asset, metadata=line_asset_metadata(record, kind))


@dg.asset(
    partitions_def=provider_invoice_partitions,
    group_name=GROUP,
    kinds={"duckdb"},
    owners=OWNERS,
    deps=["usage_summaries", "provider_invoice"],
)
def billable_usage(
    context: dg.AssetExecutionContext, invoice_pipeline: InvoicePipelineResource
) -> dg.MaterializeResult:
    """Usage of this invoice that can be billed to customers: its usage summaries, only when it is Active
    and not yet invoiced, per account, subscription and charge period. Shown bounded at any size: the totals
    per currency and the 20 largest rows (`invoice-pipeline billing consumption` lists every row)."""
    key = InvoiceKey.parse(context.partition_key)
    with invoice_pipeline.warehouse() as warehouse:
        record = warehouse.current_record(key)
        summary = billable_usage_summary(warehouse, record.record_id) if record else BillableSummary([], [])
    return dg.MaterializeResult(metadata=billable_summary_metadata(summary))
