"""The import of one provider invoice: Populating, validation, references, checksum, then Active or Error.

All or nothing: the lines are published in the same transaction that sets the invoice Active; an
invoice in Error has no line summaries. The importing process holds a claim on the invoice and renews it
while it works; an import that dies half way leaves the invoice Populating and no lines until its claim
lapses, then the next command records it as Error and the next sync takes it over. Running the same
import again gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from invoice_pipeline.composition import connector_for
from invoice_pipeline.config import PipelineConfig, ProviderConfig
from invoice_pipeline.connectors.base import ConnectorError, InvoiceFiles, line_files_fingerprint
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, verdict
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.provider_documents import voids_amended_invoice
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import invoice_standing, standing_of
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
from invoice_pipeline.importing.line_staging import InvoiceRejected, create_published_views, stage_and_validate
from invoice_pipeline.importing.provider_files import ProviderFileError, read_header
from invoice_pipeline.importing.voided_invoices import (
    tax_description,
    voided_by,
    voiding_description,
    withdraw_voided_invoices,
)
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
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
from invoice_pipeline.warehouse.line_publishing import ImportTotals, InvoiceHeaderValues, LineStaging
from invoice_pipeline.warehouse.warehouse import Warehouse

MAX_IDS_SHOWN = 10  # offered invoice ids named in a refusal


def import_provider_invoice(
    config: PipelineConfig,
    warehouse: Warehouse,
    key: InvoiceKey,
    *,
    run_id: str | None = None,
    actor: str = "invoice-pipeline",
    approved_difference: Decimal | None = None,
) -> ImportResult:
    """Import one provider invoice, all or nothing; ImportRefused (nothing changed) when it must not run now.

    `approved_difference` is a checksum override: the checksum difference found is accepted and stored when it is
    that very figure and below the currency's override maximum; any other ends in Error naming both figures.
    """
    refuse_import(config, warehouse, key)
    lapse = config.claim_lapse
    record = warehouse.start_import(key, run_id=run_id, actor=actor, stuck_after=config.stuck_after, lapse=lapse)
    try:
        with warehouse.claim_renewed(record, lapse):
            return _validate_and_finish(
                config, warehouse, key, record, run_id=run_id, actor=actor, approved_difference=approved_difference
            )
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


def refuse_import(config: PipelineConfig, warehouse: Warehouse, key: InvoiceKey) -> None:
    """ImportRefused, changing nothing, when the lifecycle forbids importing the invoice now (a manual
    provider's invoice, an Active or running one) or when it would be a new record of an invoice the
    provider does not offer (a typo must not leave an Error record behind)."""
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
        offered = [invoice.invoice_id for invoice in connector_for(provider, config).list_invoices()]
    except ConnectorError as error:
        raise ImportRefused(f"{provider.id} could not list its invoices ({error}); nothing changed, retry") from None
    if key.invoice_id not in offered:
        shown = ", ".join(offered[:MAX_IDS_SHOWN]) or "none now"
        more = f" and {len(offered) - MAX_IDS_SHOWN} more" if len(offered) > MAX_IDS_SHOWN else ""
        raise ImportRefused(
            f"{provider.id} does not offer invoice {key.invoice_id!r}; it offers {shown}{more} "
            f"(list them with `invoice-pipeline providers invoices {provider.id}`)"
        )


def activate_manual_invoice(
    config: PipelineConfig,
    warehouse: Warehouse,
    key: InvoiceKey,
    *,
    run_id: str | None = None,
    actor: str,
    reason: str,
    approved_difference: Decimal | None = None,
) -> ImportResult:
    """Set a manual provider invoice (Populating) Active, after the same schema, reference and checksum rules
    as an import. When they fail it is refused (ActivationRefused) and stays Populating, re-activatable: its
    message says why and how to fix it, its notes and history are written as a failed import's.
    `approved_difference` accepts that very checksum difference, as for an import's override."""
    record = warehouse.current_record(key)
    decided = verdict(
        Action.ACTIVATE,
        standing_of(warehouse, key, record, None),
        manual_provider=config.provider(key.provider).sync == "manual",
    )
    if record is None or not decided.allowed:
        raise ImportRefused(decided.reason)
    return _validate_and_finish(
        config,
        warehouse,
        key,
        record,
        run_id=run_id,
        actor=actor,
        approved_difference=approved_difference,
        activation_reason=reason,
    )


def _validate_and_finish(
    config: PipelineConfig,
    warehouse: Warehouse,
    key: InvoiceKey,
    record: InvoiceRecord,
    *,
    run_id: str | None,
    actor: str,
    approved_difference: Decimal | None,
    activation_reason: str | None = None,
) -> ImportResult:
    """Validate and store the outcome; an activation (a person's reason given) that fails stays Populating,
    with the failure's message and notes, and is refused (ActivationRefused)."""
    provider = config.provider(key.provider)
    with warehouse.staging() as staging:
        result, files_unchanged = _import_into(staging, config, provider, key, record, approved_difference)
        finished = result.to_finished()
        if activation_reason is not None and result.status != Status.ACTIVE:
            why = _activation_refusal(config, provider, key, result)
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


class ActivationRefused(ImportRefused):
    """An activation whose rules failed: the invoice stays Populating, its message, notes and history say why."""


def _activation_refusal(config: PipelineConfig, provider: ProviderConfig, key: InvoiceKey, result: ImportResult) -> str:
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


def _import_into(
    line_staging: LineStaging,
    config: PipelineConfig,
    provider: ProviderConfig,
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
    files_unchanged: Callable[[], None] = _no_files_read
    try:
        reference = load_reference_data(config.reference_data, config.data_dir)
        files = connector_for(provider, config).fetch_invoice(key.invoice_id)
        files_unchanged = _unchanged_check(files)
        header = read_header(files.header_path, key.invoice_id)
        minor_units = reference.minor_units(header.currency)
        header_values = stored_header(header, minor_units, provider, line_files_fingerprint(files))
        register_reference_data(staging, reference)
        if provider.connector == "partner_center":
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


def _no_files_read() -> None:
    """No provider file was read, so none can have changed."""


class ProviderFileChanged(Exception):
    """A provider file was replaced while it was being imported; nothing was stored."""


def _unchanged_check(files: InvoiceFiles) -> Callable[[], None]:
    """A check that raises ProviderFileChanged when a line file's size or modification time differs from now."""

    def fingerprints() -> dict[Path, tuple[int, int] | None]:
        found: dict[Path, tuple[int, int] | None] = {}
        for path in files.line_files.values():
            try:
                stat = path.stat()
                found[path] = (stat.st_size, stat.st_mtime_ns)
            except FileNotFoundError:
                found[path] = None
        return found

    before = fingerprints()

    def check() -> None:
        changed = [path.name for path, seen in fingerprints().items() if seen != before[path]]
        if changed:
            raise ProviderFileChanged(
                f"{', '.join(changed)} changed while the invoice was being imported; nothing was stored, "
                "run it again once the provider's files are complete"
            )

    return check
