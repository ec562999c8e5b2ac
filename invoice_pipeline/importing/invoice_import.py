"""The import of one provider invoice: Populating, validation, references, checksum, then Active or Error.

All or nothing: the lines are published in the same transaction that sets the invoice Active; an
invoice in Error has no line summaries. The importing process holds a claim on the invoice and renews it
while it works; an import that dies half way leaves the invoice Populating and no lines until its claim
lapses, then the next command records it as Error and the next sync takes it over. Running the same
import again gives the same result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import ibis

from invoice_pipeline.composition import connector_for
from invoice_pipeline.config import PipelineConfig, ProviderConfig
from invoice_pipeline.connectors.base import ConnectorError, InvoiceFiles, line_files_fingerprint
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.lifecycle import Action, verdict
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.eligibility import invoice_standing, standing_of
from invoice_pipeline.importing.provider_files import (
    RAW_TABLE,
    InvoiceHeader,
    ProviderFileError,
    quote_identifier,
    read_header,
    reading,
    stage_line_file,
)
from invoice_pipeline.schemas.line_summaries import (
    COMMON_COLUMNS,
    MONEY_SQL_TYPE,
    QUANTITY_PRICE_SQL_TYPE,
    USAGE_COLUMNS,
)
from invoice_pipeline.validation.checksum import ChecksumResult, check_checksum
from invoice_pipeline.validation.line_schema import SchemaFailure, StagedLinesVerdict, validate_staged_lines
from invoice_pipeline.validation.notes import Note, csv_text
from invoice_pipeline.validation.reference_data import ReferenceDataError, load_reference_data, register_reference_data
from invoice_pipeline.validation.references import (
    REFERENCE_FLAGS,
    MissingReference,
    create_resolved_lines,
    find_missing_references,
    missing_references_message,
    missing_references_notes,
    register_invoice_context,
    with_reference_flags,
)
from invoice_pipeline.warehouse.line_publishing import ImportTotals, InvoiceHeaderValues
from invoice_pipeline.warehouse.warehouse import FinishedImport, ImportRefused, InvoiceRecord, Warehouse

SCHEMA_CHECK = "line_summaries_match_schema"
REFERENCES_CHECK = "references_resolved"
CHECKSUM_CHECK = "checksum_matches"
MAX_MESSAGE_PARTS = 6
MAX_IDS_SHOWN = 10  # offered invoice ids named in a refusal
AMOUNT_VALUE = "amount_value"  # the checked view's amount as DECIMAL, summed for the checksum
DISTINCT_LINE_IDS = "distinct_line_id_hashes"
EXTRA_TEXT_LENGTH = "extra_text_length"  # read so the validation pass reads every column of the file


@dataclass(frozen=True)
class CheckOutcome:
    """The verdict of one validation step, with the figures to show next to it."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportResult:
    """What one import ended with."""

    key: InvoiceKey
    record_id: str
    status: Status
    message: str
    checks: dict[str, CheckOutcome]
    usage_line_count: int = 0
    license_line_count: int = 0
    checksum: ChecksumResult | None = None
    missing_references: list[MissingReference] = field(default_factory=list)
    header: InvoiceHeaderValues | None = None
    totals: ImportTotals | None = None
    notes: list[Note] = field(default_factory=list)
    failures: tuple[ImportFailure, ...] = ()  # why it is not Active, in the order the message says it

    def to_finished(self) -> FinishedImport:
        """What the warehouse stores with the record (line counts only for an Active invoice)."""
        active = self.status == Status.ACTIVE
        return FinishedImport(
            status=self.status,
            message=self.message,
            header=self.header,
            totals=self.totals,
            notes=self.notes,
            usage_line_count=self.usage_line_count if active else None,
            license_line_count=self.license_line_count if active else None,
            failures=self.failures,
        )


class _InvoiceRejected(Exception):
    """Validation stopped early: the invoice's files broke their schemas; it goes to Error with this message,
    these notes and the figures of its schema check."""

    def __init__(self, message: str, notes: list[Note], metadata: dict[str, Any]):
        super().__init__(message)
        self.notes = notes
        self.metadata = metadata


def import_provider_invoice(
    config: PipelineConfig,
    warehouse: Warehouse,
    key: InvoiceKey,
    *,
    run_id: str | None = None,
    actor: str = "invoice-pipeline",
    override_maximum: Decimal | None = None,
) -> ImportResult:
    """Import one provider invoice, all or nothing; ImportRefused (nothing changed) when it must not run now.

    `override_maximum` is a checksum override: a difference strictly below it is accepted and stored.
    """
    refuse_import(config, warehouse, key)
    lapse = config.claim_lapse
    record = warehouse.start_import(key, run_id=run_id, actor=actor, stuck_after=config.stuck_after, lapse=lapse)
    try:
        with warehouse.claim_renewed(record, lapse):
            return _validate_and_finish(
                config, warehouse, key, record, run_id=run_id, actor=actor, override_maximum=override_maximum
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
    override_maximum: Decimal | None = None,
) -> ImportResult:
    """Set a manual provider invoice (Populating) Active, after the same schema, reference and checksum rules
    as an import. When they fail it is refused (ActivationRefused) and stays Populating, re-activatable: its
    message says why and how to fix it, its notes and history are written as a failed import's."""
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
        override_maximum=override_maximum,
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
    override_maximum: Decimal | None,
    activation_reason: str | None = None,
) -> ImportResult:
    """Validate and store the outcome; an activation (a person's reason given) that fails stays Populating,
    with the failure's message and notes, and is refused (ActivationRefused)."""
    provider = config.provider(key.provider)
    with warehouse.staging() as staging:
        result, files_unchanged = _import_into(staging.duckdb, config, provider, key, record, override_maximum)
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
    return result


class ActivationRefused(ImportRefused):
    """An activation whose rules failed: the invoice stays Populating, its message, notes and history say why."""


def _activation_refusal(config: PipelineConfig, provider: ProviderConfig, key: InvoiceKey, result: ImportResult) -> str:
    """Why an activation was refused and how to fix it (the invoice's message and the refusal say it)."""
    fixes = [f"fix its files in {provider.folder / key.invoice_id} or the reference data"]
    if ImportFailure.CHECKSUM in result.failures and result.checksum is not None:
        maximum = decimal_text(config.checksum_override_maximum, result.checksum.minor_units)
        currency = result.checksum.currency
        fixes.append(f"accept a difference below {maximum} {currency} with --accept-checksum-difference")
    notes = f"; its notes: `invoice-pipeline invoices notes {key} --out DIR`" if result.notes else ""
    return (
        f"{result.message}; it stays Populating: {' or '.join(fixes)}, "
        f"then `invoice-pipeline invoices activate {key} --reason ...` again{notes}"
    )


def _import_into(
    staging: duckdb.DuckDBPyConnection,
    config: PipelineConfig,
    provider: ProviderConfig,
    key: InvoiceKey,
    record: InvoiceRecord,
    override_maximum: Decimal | None = None,
) -> tuple[ImportResult, Callable[[], None]]:
    """Validate the invoice into `staging`; returns the result and a check that its files were not replaced
    meanwhile (they are read again when the lines are published)."""
    checks: dict[str, CheckOutcome] = {}
    header_values: InvoiceHeaderValues | None = None
    files_unchanged: Callable[[], None] = _no_files_read
    try:
        reference = load_reference_data(config.reference_data)
        files = connector_for(provider, config).fetch_invoice(key.invoice_id)
        files_unchanged = _unchanged_check(files)
        header = read_header(files.header_path, key.invoice_id)
        minor_units = reference.minor_units(header.currency)
        header_values = _header_values(header, minor_units, provider, line_files_fingerprint(files))
        register_reference_data(staging, reference)
        register_invoice_context(staging, key.provider, header.currency)
        staged = _stage_and_validate(staging, files)
        counts = staged.counts
        checks[SCHEMA_CHECK] = CheckOutcome(True, "Header and line summaries match their schemas", dict(counts))
    except (_InvoiceRejected, ProviderFileError, ConnectorError, ReferenceDataError) as rejection:
        schema_notes: list[Note] = rejection.notes if isinstance(rejection, _InvoiceRejected) else []
        figures: dict[str, Any] = rejection.metadata if isinstance(rejection, _InvoiceRejected) else {}
        checks[SCHEMA_CHECK] = CheckOutcome(False, str(rejection), figures)
        _not_evaluated(checks)
        if isinstance(rejection, ReferenceDataError):
            failure, message = ImportFailure.REFERENCE_DATA, f"Reference data problem: {rejection}"
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
    _create_published_views(staging)
    errors = [m for m in missing if m.blocking]
    notes = missing_references_notes(missing) if missing else []
    checks[REFERENCES_CHECK] = CheckOutcome(
        not errors,
        missing_references_message(missing) if errors else f"All references resolved ({len(missing)} warnings)",
        {
            "errors": len(errors),
            "warnings": len(missing) - len(errors),
            "missing_references": _reference_table(missing),
        },
    )
    failures = [ImportFailure.REFERENCES] if errors else []
    messages = [missing_references_message(missing)] if errors else []

    checksum = None
    totals = None
    if minor_units is None:
        checks[CHECKSUM_CHECK] = CheckOutcome(False, f"Not evaluated: currency {header.currency} is not set up")
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
        overridden = (
            not checksum.passed and override_maximum is not None and abs(checksum.difference) < override_maximum
        )
        totals = ImportTotals(
            usage_total,
            license_total,
            checksum.difference,
            accepted_difference=checksum.difference if overridden else None,
        )
        description = checksum.message
        if overridden:
            description += f"; accepted by a checksum override (maximum {decimal_text(override_maximum, minor_units)})"
        checks[CHECKSUM_CHECK] = CheckOutcome(
            checksum.passed or overridden, description, _checksum_metadata(checksum) | {"overridden": overridden}
        )
        if not (checksum.passed or overridden):
            failures.append(ImportFailure.CHECKSUM)
            messages.append(checksum.message)
            notes.append(_checksum_note(staging))

    status = Status.ACTIVE if not failures else Status.ERROR
    if status == Status.ERROR:
        message = " | ".join(messages)
    else:
        details = [f"{len(missing)} reference warning(s)"] if missing else []
        accepted = totals.accepted_difference if totals is not None else None
        if accepted:
            details.append(f"accepted checksum difference {decimal_text(accepted, minor_units)} {header.currency}")
        message = "Imported" + (" with " + " and ".join(details) if details else "")
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


def _not_evaluated(checks: dict[str, CheckOutcome]) -> None:
    for name in (SCHEMA_CHECK, REFERENCES_CHECK, CHECKSUM_CHECK):
        checks.setdefault(name, CheckOutcome(False, "Not evaluated: the invoice's files did not pass their schemas"))


def _header_values(
    header: InvoiceHeader, minor_units: int | None, provider: ProviderConfig, line_fingerprint: str
) -> InvoiceHeaderValues:
    """The header as stored with the record, and the lines' fingerprint as imported."""
    return InvoiceHeaderValues(
        invoice_date=header.invoice_date,
        billing_period_start=header.billing_period_start,
        billing_period_end=header.billing_period_end,
        currency=header.currency,
        minor_units=minor_units,
        total_amount=header.total_amount,
        checksum_tolerance=provider.checksum_tolerance,
        line_fingerprint=line_fingerprint,
    )


@dataclass(frozen=True)
class _StagedLines:
    """What the one validation pass over each file found, for the steps after it."""

    counts: dict[str, int]  # `usage_line_count`, `license_line_count`
    totals: dict[str, Decimal]  # amount total per kind
    lines_breaking: list[int]  # per reference rule, lines (of both kinds) that break it


def _stage_and_validate(staging: duckdb.DuckDBPyConnection, files: InvoiceFiles) -> _StagedLines:
    """Stage both kinds of line summaries, validate them, and build the typed `lines_<kind>` views.

    One pass over each file does the schema checks, the line count, the amount total, the reference
    checks and a first look for duplicate line ids; the lines are never copied into the database.
    """
    backend = ibis.duckdb.from_connection(staging)
    failures: list[SchemaFailure] = []
    verdicts: dict[str, StagedLinesVerdict] = {}
    for kind in LINE_FILE_STEMS:
        path = files.line_files.get(kind)
        file_name = path.name if path else f"{kind} (no file)"
        stage_line_file(staging, kind, path)
        table = backend.table(_create_checked_lines(staging, kind), database="temp")
        tallies = {flag: table[flag].cast("int64").sum() for flag in REFERENCE_FLAGS} | {
            AMOUNT_VALUE: table[AMOUNT_VALUE].sum(),
            DISTINCT_LINE_IDS: table.line_id.hash().nunique(),
            EXTRA_TEXT_LENGTH: table[EXTRA_TEXT_LENGTH].sum(),
        }
        with reading(file_name):
            verdicts[kind] = validate_staged_lines(table, kind, file_name, tallies)
        failures += verdicts[kind].failures
    if failures:
        raise _InvoiceRejected(
            "Schema validation failed: "
            + "; ".join(f.describe() for f in failures[:MAX_MESSAGE_PARTS])
            + (f"; and {len(failures) - MAX_MESSAGE_PARTS} more checks" if len(failures) > MAX_MESSAGE_PARTS else ""),
            [_schema_failures_note(failures)],
            {"failed_checks": len(failures), "failing_rows": sum(f.failing_rows for f in failures)},
        )
    for kind in LINE_FILE_STEMS:
        _build_typed_lines(staging, kind)
    staging.execute(
        "CREATE OR REPLACE TEMP VIEW all_lines AS "
        + " UNION ALL BY NAME ".join(f"SELECT '{kind}' AS kind, * FROM lines_{kind}" for kind in LINE_FILE_STEMS)
    )
    if _may_repeat_line_ids(staging, verdicts):
        _refuse_duplicate_line_ids(staging)
    return _StagedLines(
        counts={f"{kind}_line_count": verdict.line_count for kind, verdict in verdicts.items()},
        totals={kind: Decimal(v.tallies[AMOUNT_VALUE] or 0) for kind, v in verdicts.items()},
        lines_breaking=[sum(int(v.tallies[flag] or 0) for v in verdicts.values()) for flag in REFERENCE_FLAGS],
    )


def _create_checked_lines(staging: duckdb.DuckDBPyConnection, kind: str) -> str:
    """The view the validation pass reads: the staged text columns of the schema, one flag per reference
    rule, and the amount as DECIMAL (meaningful once the amounts passed their schema)."""
    raw = RAW_TABLE.format(kind=kind)
    present = [c for (c,) in staging.execute(f"SELECT column_name FROM (DESCRIBE {raw})").fetchall()]
    columns = [c for c in (*COMMON_COLUMNS, *USAGE_COLUMNS) if c in present]
    # The provider's extra columns are read here too (their text length summed), so that a file DuckDB
    # cannot read is found by this pass, which names the file, and not later while publishing.
    extra = [f"coalesce(length({quote_identifier(c)}), 0)" for c in present if c not in columns]
    lines = f"(SELECT {', '.join(columns)}, {' + '.join(extra) or '0'} AS {EXTRA_TEXT_LENGTH} FROM {raw})"
    view = f"checked_{kind}_summaries"
    staging.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT *, TRY_CAST(amount AS {MONEY_SQL_TYPE}) AS {AMOUNT_VALUE} "
        f"FROM ({with_reference_flags(lines, [*columns, EXTRA_TEXT_LENGTH])})"
    )
    return view


def _may_repeat_line_ids(staging: duckdb.DuckDBPyConnection, verdicts: dict[str, StagedLinesVerdict]) -> bool:
    """Whether a line id may appear twice: fewer distinct hashes than lines in a file, or a hash shared by
    both files. Distinct hashes prove distinct ids, so the exact (costlier) check runs only on suspicion."""
    if any(v.tallies[DISTINCT_LINE_IDS] < v.line_count for v in verdicts.values()):
        return True
    if not all(v.line_count for v in verdicts.values()):
        return False
    smaller, larger = sorted(LINE_FILE_STEMS, key=lambda kind: verdicts[kind].line_count)
    shared = staging.execute(
        f"SELECT count(*) FROM {RAW_TABLE.format(kind=larger)} "
        f"WHERE hash(line_id) IN (SELECT hash(line_id) FROM {RAW_TABLE.format(kind=smaller)})"
    ).fetchall()[0][0]
    return shared > 0


def _refuse_duplicate_line_ids(staging: duckdb.DuckDBPyConnection) -> None:
    duplicates = staging.execute(
        "SELECT line_id, count(*) FROM all_lines GROUP BY 1 HAVING count(*) > 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    if duplicates:
        shown = ", ".join(f"{line_id} ({n}x)" for line_id, n in duplicates[:5])
        raise _InvoiceRejected(
            f"Schema validation failed: {len(duplicates)} line_id(s) appear more than once in the invoice, "
            f"e.g. {shown}",
            [Note("Schema Failures", "duplicate_line_ids.csv", csv_text(("line_id", "occurrences"), duplicates))],
            {"duplicate_line_ids": len(duplicates)},
        )


def _build_typed_lines(staging: duckdb.DuckDBPyConnection, kind: str) -> None:
    """A view casting the validated text columns to their types; extra provider columns are kept as JSON.

    A view, not a table: the casts run inside the passes that need them (totals, publishing), so the
    lines are never copied once more in memory.
    """
    raw = RAW_TABLE.format(kind=kind)
    present = [c for (c,) in staging.execute(f"SELECT column_name FROM (DESCRIBE {raw})").fetchall()]
    typed = {
        "charge_start_date": "DATE",
        "charge_end_date": "DATE",
        "quantity": QUANTITY_PRICE_SQL_TYPE,
        "unit_price": QUANTITY_PRICE_SQL_TYPE,
        "amount": MONEY_SQL_TYPE,
        "usage_date": "DATE",
    }
    wanted = list(COMMON_COLUMNS) + (list(USAGE_COLUMNS) if kind == "usage" else [])
    selects = []
    for column in wanted:
        source = quote_identifier(column) if column in present else "NULL"
        selects.append(f"CAST({source} AS {typed.get(column, 'VARCHAR')}) AS {column}")
    extra = [c for c in present if c not in wanted]
    if extra:
        pairs = ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}', {quote_identifier(c)}" for c in extra)
        selects.append(f"CAST(json_object({pairs}) AS VARCHAR) AS extra")
    else:
        selects.append("CAST(NULL AS VARCHAR) AS extra")
    staging.execute(f"CREATE OR REPLACE TEMP VIEW lines_{kind} AS SELECT {', '.join(selects)} FROM {raw}")


def _create_published_views(staging: duckdb.DuckDBPyConnection) -> None:
    """`published_<kind>_summaries`: the resolved lines, column for column as the warehouse stores them."""
    for kind in LINE_FILE_STEMS:
        usage_columns = ", usage_date, meter_id, meter_name, unit" if kind == "usage" else ""
        staging.execute(
            f"CREATE OR REPLACE TEMP VIEW published_{kind}_summaries AS SELECT line_id, customer_id, account_id, "
            "subscription_id, billing_contract_id, product_id, charge_start_date, charge_end_date, quantity, "
            f"unit_price, amount, currency{usage_columns}, extra FROM resolved_lines WHERE kind = '{kind}'"
        )


def _checksum_metadata(checksum: ChecksumResult) -> dict[str, Any]:
    """The checksum's figures as its message shows them: in the currency's minor units, difference = header - lines."""

    def money(amount: Decimal) -> str | None:
        return decimal_text(amount, checksum.minor_units)

    return {
        "currency": checksum.currency,
        "header_total": money(checksum.header_total),
        "usage_total": money(checksum.usage_total),
        "license_total": money(checksum.license_total),
        "lines_total": money(checksum.lines_total),
        "difference": money(checksum.difference),
        "tolerance": money(checksum.tolerance),
    }


def _checksum_note(staging: duckdb.DuckDBPyConnection) -> Note:
    """The lines' totals per customer and subscription, largest first, to find what is missing or extra."""
    rows = staging.execute(
        """
        SELECT customer_id, subscription_id,
               sum(amount) FILTER (WHERE kind = 'usage') AS usage_amount,
               sum(amount) FILTER (WHERE kind = 'license') AS license_amount,
               sum(amount) AS total_amount, count(*) AS line_count
        FROM all_lines GROUP BY 1, 2 ORDER BY abs(sum(amount)) DESC, 1, 2
        """
    ).fetchall()
    columns = ("customer_id", "subscription_id", "usage_amount", "license_amount", "total_amount", "line_count")
    return Note("Checksum", "line_totals.csv", csv_text(columns, rows))


def _schema_failures_note(failures: list[SchemaFailure]) -> Note:
    rows = [(f.file_name, f.column or "", f.check, line_id, value) for f in failures for line_id, value in f.note_rows]
    return Note("Schema Failures", "failure_cases.csv", csv_text(("file", "column", "check", "line_id", "value"), rows))


def _reference_table(missing: list[MissingReference]) -> list[dict[str, Any]]:
    return [
        {
            "severity": "error" if m.blocking else "warning",
            "reference_type": m.reference_type,
            "reference_id": m.reference_id,
            "line_count": m.line_count,
            "example_line_ids": " ".join(m.example_line_ids),
        }
        for m in missing
    ]
