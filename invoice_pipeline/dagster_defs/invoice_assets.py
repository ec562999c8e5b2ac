"""Provider invoice assets: one partition per provider invoice, imported all or nothing and checked."""

import warnings
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from invoice_pipeline.composition import connector_for
from invoice_pipeline.dagster_defs.invoice_state import (
    BILLABLE_USAGE_ASSET,
    INVOICE_ASSET,
    LINE_ASSETS,
    OutcomeFailure,
    error_metadata,
    fail_with_outcome,
    invoice_metadata,
    line_asset_metadata,
    notes_metadata,
    show_invoice_change,
    status_observation,
)
from invoice_pipeline.dagster_defs.metadata import billable_summary_metadata, shown_metadata, table_metadata
from invoice_pipeline.dagster_defs.partitions import provider_invoice_partitions
from invoice_pipeline.dagster_defs.reference_assets import reference_assets
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_tags import REFUSAL_PREFIX, REFUSED, RUN_TAG_OUTCOME, tag_invoice_run
from invoice_pipeline.domain.display import shown
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_results import (
    CHECKSUM_CHECK,
    REFERENCES_CHECK,
    SCHEMA_CHECK,
    CheckOutcome,
    ImportResult,
)
from invoice_pipeline.importing.invoice_import import ImportOutcomeUnrecorded
from invoice_pipeline.operations.billing import billable_usage_summary
from invoice_pipeline.operations.invoice_operations import ChecksumOverrideRequest, OperationRefused
from invoice_pipeline.use_cases import import_invoice
from invoice_pipeline.validation.checksum import approved_difference
from invoice_pipeline.validation.notes import notes_folder, write_note_files
from invoice_pipeline.warehouse.billable_usage import BillableSummary
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
from invoice_pipeline.warehouse.warehouse import Warehouse

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
_ABOUT_RESULTS = (
    " One result per invoice partition: the latest execution shown on this page may be another invoice's (its "
    "description starts with the invoice it judged); figures are text, never charted across invoices. A check an "
    "earlier one stopped reads as a warning, 'Not evaluated: ...'."
)


def _invoice_check_specs() -> list[dg.AssetCheckSpec]:
    """The three checks, one result per invoice partition (partitioned checks are a preview in Dagster 1.13),
    and one over all invoices, so the asset's latest check results never read "passed" while one is in Error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        per_invoice = [
            dg.AssetCheckSpec(
                name,
                asset="provider_invoice",
                description=description + _ABOUT_RESULTS,
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


def _written_by_the_import(key: str, deps: list[str], description: str) -> dg.AssetSpec:
    """An asset the import step writes when its invoice becomes Active, and nothing else launches: an invoice
    in Error leaves its partition untouched (never failed), a refused import too."""
    return dg.AssetSpec(
        key,
        group_name=GROUP,
        kinds={"duckdb"},
        owners=OWNERS,
        deps=deps,
        partitions_def=provider_invoice_partitions,
        description=f"{description} Written by the import of its invoice (`provider_invoice`) when it becomes "
        "Active; never launched on its own.",
    )


written_by_the_import = [
    _written_by_the_import(
        "usage_summaries",
        ["provider_invoice"],
        "The invoice's usage summaries (metered consumption), stored when the invoice is Active.",
    ),
    _written_by_the_import(
        "license_summaries",
        ["provider_invoice"],
        "The invoice's license summaries (seats x unit price), stored when the invoice is Active.",
    ),
    _written_by_the_import(
        "billable_usage",
        ["usage_summaries", "provider_invoice"],
        "Usage of this invoice that can be billed to customers when it was imported, per account, subscription and "
        "charge period; shown bounded at any size: totals per currency and the 20 largest rows "
        "(`invoice-pipeline billing consumption` lists every row).",
    ),
]


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
            "message, totals and line counts. Imported all or nothing; its import writes the line summaries and "
            "the billable usage when the invoice becomes Active. A refused import materializes nothing.",
            skippable=True,  # a refused import ends without touching the partition
        ),
    ],
    check_specs=_invoice_check_specs(),
    partitions_def=provider_invoice_partitions,
    can_subset=True,  # nothing is required of a refused import; the checks come only with the import
)
def provider_invoice_import(
    context: dg.AssetExecutionContext, config: ProviderInvoiceImportConfig, invoice_pipeline: InvoicePipelineResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetObservation]:
    """Import one provider invoice: Populating, schema, references, checksum, then Active or Error.

    The partition tells the invoice's status: Active is materialized, with its line summaries and billable usage;
    Error fails the run with the invoice's message (an outcome, shown without a stack trace) and what to do,
    after recording the check results; a refused import writes nothing and ends, saying why in the run's log.
    """
    if not context.has_partition_key:
        fail_with_outcome(
            OutcomeFailure.IMPORT_REFUSED,
            f"{REFUSAL_PREFIX}no provider invoice chosen; pick its partition (provider:invoice_id) when you launch",
        )
    key = InvoiceKey.parse(context.partition_key)
    tag_invoice_run(context, key)
    if INVOICE_ASSET not in context.selected_asset_keys:
        _refuse(context, "the checks are evaluated by the invoice's import; materialize provider_invoice")
        return
    pipeline_config = invoice_pipeline.load_config()
    run_id = context.run.run_id
    actor = config.requested_by or f"dagster run {run_id}"
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        try:
            override = config.checksum_override
            result = import_invoice(
                pipeline_config,
                warehouse,
                key,
                connectors=connector_for,
                run_id=run_id,
                actor=actor,
                checksum_override=override.request() if override is not None else None,
            )
        except ImportRefused as refused:
            _refuse(context, str(refused))
            return
        except ImportOutcomeUnrecorded as unrecorded:
            fail_with_outcome(OutcomeFailure.OUTCOME_UNRECORDED, f"Import failed: {unrecorded}")
        record = warehouse.current_record(key)
        if record is None:  # voided at once by a note imported meanwhile: its record as stored
            record = next((voided for voided in result.voided if voided.key == key), None)
        assert record is not None  # the import ends with a record, or refuses
        billable = billable_usage_summary(warehouse, record.record_id) if record.status == Status.ACTIVE else None
        in_error_check = _no_invoice_in_error(warehouse)
    context.log.info(shown(f"{key}: {result.status} - {result.message}"))
    for voided in result.voided:  # the invoice a void note withdrew tells it on its own partition at once
        show_invoice_change(context.instance, voided.key, voided, f"{voided.message} (run {run_id})", context.log_event)
    paths = write_note_files(result.notes, notes_folder(pipeline_config.data_dir, key, record.record_id))
    notes = notes_metadata(result.notes, paths)
    selected = {check.name for check in context.selected_asset_check_keys}
    checks = [_check_result(key, name, outcome) for name, outcome in result.checks.items() if name in selected]
    every_invoice = [in_error_check] if NO_INVOICE_IN_ERROR in selected else []
    if result.status != Status.ACTIVE:
        yield from checks
        yield from every_invoice
        yield status_observation(key, result.status, f"imported by run {run_id}", record, notes)
        fail_with_outcome(
            OutcomeFailure.INVOICE_IN_ERROR,
            f"{key} is in {result.status}: {result.message}",
            error_metadata(record, actor, notes),
        )
    if billable is None:  # Active, then voided at once by its note: its partition already says so (above)
        yield from checks
        return
    yield dg.MaterializeResult(asset_key="provider_invoice", metadata=invoice_metadata(record, actor, notes))
    _log_written_by_the_import(context, result, record, billable)
    yield from checks  # after the materialization, so the check results judge it
    yield from every_invoice


def _refuse(context: dg.AssetExecutionContext, reason: str) -> None:
    """End a refused import without writing anything: a failed run would turn the invoice's partition red, a
    materialization would record an import that never happened. Its outcome tag says so, its log why."""
    context.instance.add_run_tags(context.run.run_id, {RUN_TAG_OUTCOME: REFUSED})
    context.log.error(shown(f"{REFUSAL_PREFIX}{reason}"))


def _check_result(key: InvoiceKey, name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    """One check's result on the invoice's partition: its description names the invoice, its figures are text
    (a chart of figures from different invoices would mean nothing), a check that did not run is a warning."""
    figures = {"invoice": str(key)} | {label: _figure(value) for label, value in outcome.metadata.items()}
    return dg.AssetCheckResult(
        asset_key="provider_invoice",
        check_name=name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.evaluated else dg.AssetCheckSeverity.WARN,
        description=shown(f"{key}: {outcome.description}"),
        metadata=shown_metadata(figures),
    )


def _figure(value: object) -> object:
    """A check figure as the UI shows it: rows as a table, anything else as text (never a number to chart)."""
    if isinstance(value, list):
        return table_metadata(value)
    return "" if value is None else str(value)


def _log_written_by_the_import(
    context: dg.AssetExecutionContext, result: ImportResult, record: InvoiceRecord, billable: BillableSummary
) -> None:
    """Report what the import of an Active invoice wrote: its line summaries and its billable usage."""
    partition = str(result.key)
    for kind, asset in LINE_ASSETS.items():
        context.log_event(
            dg.AssetMaterialization(asset_key=asset, partition=partition, metadata=line_asset_metadata(record, kind))
        )
    context.log_event(
        dg.AssetMaterialization(
            asset_key=BILLABLE_USAGE_ASSET, partition=partition, metadata=billable_summary_metadata(billable)
        )
    )
