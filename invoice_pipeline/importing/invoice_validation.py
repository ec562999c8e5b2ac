"""Validating one provider invoice's files: its header, its lines against their schemas, their references, and
the checksum of header and lines; what the import then stores (`invoice_import`).

The engines live here (DuckDB stages the lines, pandera checks them), so the import's lifecycle in
`invoice_import` loads this module only when it validates an invoice.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from invoice_pipeline.connectors.base import ConnectorError, line_files_fingerprint
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.provider_documents import voids_amended_invoice
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_results import (
    CHECKSUM_CHECK,
    REFERENCES_CHECK,
    REFERENCES_SHOWN,
    SCHEMA_CHECK,
    CheckOutcome,
    ImportResult,
    checksum_metadata,
    checksum_note,
    not_evaluated,
    reference_table,
    stored_header,
)
from invoice_pipeline.importing.invoice_headers import ProviderFileError, read_header
from invoice_pipeline.importing.line_staging import InvoiceRejected, create_published_views, stage_and_validate
from invoice_pipeline.importing.provider_file_changes import no_files_read, unchanged_check
from invoice_pipeline.importing.voided_invoices import tax_description, voiding_description
from invoice_pipeline.validation import billing_period
from invoice_pipeline.validation.billing_period import HeaderPeriod, out_of_period_note
from invoice_pipeline.validation.checksum import check_checksum, override_refusal
from invoice_pipeline.validation.reference_data import (
    compare_guids_in_lower_case,
    load_reference_data,
    register_reference_data,
)
from invoice_pipeline.validation.reference_errors import ReferenceDataError
from invoice_pipeline.validation.references import (
    create_resolved_lines,
    find_missing_references,
    missing_references_message,
    missing_references_notes,
    register_invoice_context,
)
from invoice_pipeline.warehouse.line_publishing import ImportTotals, InvoiceHeaderValues

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig, ProviderConfig
    from invoice_pipeline.domain.invoice_keys import InvoiceKey
    from invoice_pipeline.importing.import_refusals import ConnectorFactory
    from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
    from invoice_pipeline.warehouse.line_publishing import LineStaging


def validate_invoice(
    line_staging: LineStaging,
    config: PipelineConfig,
    provider: ProviderConfig,
    connectors: ConnectorFactory,
    key: InvoiceKey,
    record: InvoiceRecord,
    approved_difference: Decimal | None = None,
) -> tuple[ImportResult, Callable[[], None]]:
    """Validate the invoice into `line_staging` (on a DuckDB warehouse its lines are published meanwhile, kept
    only if it ends Active); returns the result and a check that its files were not replaced meanwhile (they are
    read again when the lines are published)."""
    staging = line_staging.duckdb
    checks: dict[str, CheckOutcome] = {}
    header_values: InvoiceHeaderValues | None = None
    files_unchanged: Callable[[], None] = no_files_read
    try:
        reference = load_reference_data(config.reference_data, config.data_dir)
        files = connectors(provider, config).fetch_invoice(key.invoice_id)
        files_unchanged = unchanged_check(files)
        header = read_header(files.header_path, key.invoice_id)
        minor_units = reference.minor_units(header.currency)
        header_values = stored_header(header, minor_units, provider, line_files_fingerprint(files))
        register_reference_data(staging, reference)
        if provider.settings.guids_in_any_case:
            compare_guids_in_lower_case(staging, key.provider)
        register_invoice_context(staging, key.provider, header.currency)
        period = HeaderPeriod(
            header.billing_period_start, header.billing_period_end, config.out_of_period_error_after_days
        )
        staged = stage_and_validate(line_staging, files, record.record_id, period)
        counts = staged.counts
        checks[SCHEMA_CHECK] = CheckOutcome(True, "Header and line summaries match their schemas", dict(counts))
    except (InvoiceRejected, ProviderFileError, ConnectorError, ReferenceDataError) as rejection:
        schema_notes: list[Note] = rejection.notes if isinstance(rejection, InvoiceRejected) else []
        figures: dict[str, Any] = rejection.metadata if isinstance(rejection, InvoiceRejected) else {}
        checks[SCHEMA_CHECK] = CheckOutcome(False, str(rejection), figures)
        not_evaluated(checks)
        if isinstance(rejection, ReferenceDataError):
            failure, message = ImportFailure.REFERENCE_DATA, f"Reference data problem: {rejection.problem}"
        else:
            failure, message = ImportFailure.FILES, str(rejection)
        result = ImportResult(
            key,
            record.record_id,
            Status.ERROR,
            message,
            checks,
            header=header_values,
            notes=schema_notes,
            failures=(failure,),
        )
        return result, files_unchanged

    create_resolved_lines(staging)
    missing = find_missing_references(staging, header.currency, minor_units is not None, staged.lines_breaking)
    create_published_views(staging)
    errors = [m for m in missing if m.blocking]
    notes = missing_references_notes(missing) if missing else []
    checks[REFERENCES_CHECK] = CheckOutcome(
        not errors,
        missing_references_message(missing) if errors else f"All references resolved ({len(missing)} warnings)",
        {
            "errors": len(errors),
            "warnings": len(missing) - len(errors),
            "missing_references": reference_table(missing),  # the first REFERENCES_SHOWN
            "missing_references_shown": min(len(missing), REFERENCES_SHOWN),
        },
    )
    failures = [ImportFailure.REFERENCES] if errors else []
    messages = [missing_references_message(missing)] if errors else []
    out_of_period = staged.out_of_period
    if out_of_period.lines:
        notes.append(out_of_period_note(staging, period, minor_units))
    if out_of_period.beyond_limit:
        failures.append(ImportFailure.OUT_OF_PERIOD)
        messages.append(billing_period.error_message(out_of_period, period))

    checksum = None
    totals = None
    voiding = voids_amended_invoice(header.document_type, has_lines=bool(files.line_files))
    if minor_units is None:
        checks[CHECKSUM_CHECK] = CheckOutcome.not_evaluated(f"currency {header.currency} is not set up")
    elif voiding:
        what = voiding_description(header, minor_units)
        checks[CHECKSUM_CHECK] = CheckOutcome(
            header.amends_invoice_id is not None, what, {"voids": header.amends_invoice_id}
        )
        if header.amends_invoice_id is None:
            failures.append(ImportFailure.FILES)
            messages.append(what)
    else:
        usage_total, license_total = (staged.totals[kind] for kind in LINE_FILE_STEMS)
        checksum = check_checksum(
            header_total=header.total_amount,
            usage_total=usage_total,
            license_total=license_total,
            currency=header.currency,
            minor_units=minor_units,
            tolerance=provider.checksum_tolerance,
        )
        overriding = not checksum.passed and approved_difference is not None
        maximum = config.checksum_override_maximum_in(header.currency)
        refusal = (
            override_refusal(
                approved=approved_difference,
                found=checksum.difference,
                maximum=maximum,
                currency=header.currency,
                minor_units=minor_units,
            )
            if approved_difference is not None and overriding
            else None
        )
        overridden = overriding and refusal is None
        totals = ImportTotals(
            usage_total,
            license_total,
            checksum.difference,
            accepted_difference=checksum.difference if overridden else None,
        )
        description = checksum.message + tax_description(header, minor_units)
        if overridden:
            description += (
                f"; accepted by a checksum override approving {decimal_text(approved_difference, minor_units)} "
                f"{header.currency} (maximum {decimal_text(maximum, minor_units)} {header.currency})"
            )
        elif refusal is not None:
            description += f"; checksum override refused: {refusal}"
        approved = {"approved_difference": decimal_text(approved_difference, minor_units)} if overriding else {}
        tax = {"tax": decimal_text(header.tax_amount, minor_units)} if header.tax_amount is not None else {}
        checks[CHECKSUM_CHECK] = CheckOutcome(
            checksum.passed or overridden,
            description,
            checksum_metadata(checksum) | {"overridden": overridden} | approved | tax,
        )
        if not (checksum.passed or overridden):
            failures.append(ImportFailure.CHECKSUM)
            messages.append(description)
            notes.append(checksum_note(staging))

    status = Status.ACTIVE if not failures else Status.ERROR
    if status == Status.ERROR:
        message = " | ".join(messages)
    else:
        details = [f"{len(missing)} reference warning(s)"] if missing else []
        if out_of_period.lines:
            details.append(billing_period.warning(out_of_period, period))
        accepted = totals.accepted_difference if totals is not None else None
        if accepted:
            details.append(f"accepted checksum difference {decimal_text(accepted, minor_units)} {header.currency}")
        message = "Imported" + (" with " + " and ".join(details) if details else "")
        if voiding:
            message += f": {checks[CHECKSUM_CHECK].description}"
    result = ImportResult(
        key,
        record.record_id,
        status,
        message,
        checks,
        usage_line_count=counts["usage_line_count"],
        license_line_count=counts["license_line_count"],
        checksum=checksum,
        missing_references=missing,
        header=header_values,
        totals=totals,
        notes=notes,
        failures=tuple(failures),
    )
    return result, files_unchanged
