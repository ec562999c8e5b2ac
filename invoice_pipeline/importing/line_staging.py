"""The provider's line files staged in DuckDB, validated, and the typed views the checks and the publishing read.

On a DuckDB warehouse the lines are published while they are validated: one pass over each file inserts the
typed lines into the warehouse (a transaction left open) and stops at the first line that breaks a rule of the
schema or a blocking reference rule; one aggregate over the inserted lines then gives the counts, totals, the
reference warnings, the lines charged outside the header's billing period and a first look for repeated line
ids. Whenever that pass stops or finds something, it is rolled back and the validation pass below runs instead,
which reports why (the report comes from one place). On PostgreSQL the validation pass runs first, then the copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import duckdb
import ibis
from ibis.backends.duckdb import Backend as DuckDBBackend

from invoice_pipeline.connectors.base import InvoiceFiles
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.importing.import_results import schema_failures_note
from invoice_pipeline.importing.invoice_headers import ProviderFileError
from invoice_pipeline.importing.line_amount_sums import (
    AMOUNT_FRACTION,
    AMOUNT_UNITS,
    EXACT,
    LINE_AMOUNTS_LIMIT,
    AmountSums,
    amount_parts_sql,
    amount_sums_sql,
    amount_tallies,
    beyond_exact_sums,
)
from invoice_pipeline.importing.provider_files import (
    RAW_TABLE,
    quote_identifier,
    reading,
    stage_line_file,
)
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS, USAGE_COLUMNS
from invoice_pipeline.schemas.line_summaries import MONEY_SQL_TYPE, QUANTITY_PRICE_SQL_TYPE
from invoice_pipeline.validation import billing_period
from invoice_pipeline.validation.billing_period import HeaderPeriod, OutOfPeriod
from invoice_pipeline.validation.line_schema import (
    PROVIDER_COLUMN_WITH_NUL,
    SchemaFailure,
    StagedLinesVerdict,
    fails_any_check,
    validate_staged_lines,
)
from invoice_pipeline.validation.notes import csv_text
from invoice_pipeline.validation.references import (
    BLOCKING_FLAGS,
    BREAKS_A_BLOCKING_RULE,
    REFERENCE_FLAGS,
    create_resolved_lines,
    with_reference_flags,
)
from invoice_pipeline.warehouse.line_publishing import LineStaging

MAX_MESSAGE_PARTS = 6
AMOUNT_VALUE = "amount_value"  # the checked view's amount as DECIMAL
DISTINCT_LINE_IDS = "distinct_line_id_hashes"
EXTRA_TEXT_LENGTH = "extra_text_length"  # read so the validation pass reads every column of the file
FAILS_A_CHECK = "fails_a_check"
# Never shown: a publishing pass stopped by it is rolled back and the validation pass says what is wrong.
STOPPED_AT_A_BROKEN_RULE = "invoice-pipeline: a line breaks a rule; the validation pass reports it"


class InvoiceRejected(Exception):
    """Validation stopped early: the invoice's files broke their schemas; it goes to Error with this message,
    these notes and the figures of its schema check."""

    def __init__(self, message: str, notes: list[Note], metadata: dict[str, Any]):
        super().__init__(message)
        self.notes = notes
        self.metadata = metadata


@dataclass(frozen=True)
class StagedLines:
    """What the one validation pass over each file found, for the steps after it."""

    counts: dict[str, int]  # `usage_line_count`, `license_line_count`
    totals: dict[str, Decimal]  # amount total per kind
    lines_breaking: list[int]  # per reference rule, lines (of both kinds) that break it
    out_of_period: OutOfPeriod = OutOfPeriod()  # lines charged outside the header's billing period (when given)


def _refuse_amountsbeyond_exact_sums(sums: Mapping[LineKind, AmountSums], file_names: Mapping[str, str]) -> None:
    magnitude = beyond_exact_sums(sums)
    if magnitude is None:
        return
    with localcontext(EXACT):
        shown = decimal_text(magnitude)
        each = ", ".join(f"{file_names[kind]} {decimal_text(s.magnitude)}" for kind, s in sums.items() if s.magnitude)
        limit = decimal_text(LINE_AMOUNTS_LIMIT)
    raise InvoiceRejected(
        f"Schema validation failed: the line amounts add up to {shown} ignoring their signs ({each}); an invoice's "
        f"lines must add up to less than {limit} (19 digits before the point, where a header total has at most 18) "
        "for their sums to stay exact; check the files' amount column",
        [],
        {"line_amounts_ignoring_sign": shown},
    )


def stage_and_validate(
    line_staging: LineStaging,
    files: InvoiceFiles,
    record_id: str | None = None,
    period: HeaderPeriod | None = None,
) -> StagedLines:
    """Stage both kinds of line summaries, validate them, and build the typed `lines_<kind>` views.

    With `record_id`, on a DuckDB warehouse, the lines are published for that record while validated (see the
    module's docstring). Otherwise one pass over each file does the schema checks, the line count, the amount
    total, the reference checks and a first look for duplicate line ids, without copying the lines. With the
    header's billing `period`, either pass also counts the lines charged outside it.
    """
    staging = line_staging.duckdb
    backend = ibis.duckdb.from_connection(staging)
    if record_id is not None and line_staging.can_publish_while_validating:
        published = _publish_while_validating(line_staging, backend, files, record_id, period)
        if published is not None:
            return published
    failures: list[SchemaFailure] = []
    verdicts: dict[LineKind, StagedLinesVerdict] = {}
    file_names: dict[str, str] = {}
    for kind in LINE_FILE_STEMS:
        path = files.line_files.get(kind)
        file_name = file_names[kind] = path.name if path else f"{kind} (no file)"
        stage_line_file(staging, kind, path, files.limits)
        table = backend.table(_create_checked_lines(staging, kind, period), database="temp")
        tallies = (
            {flag: table[flag].cast("int64").sum() for flag in REFERENCE_FLAGS}
            | amount_tallies(table)
            | {
                DISTINCT_LINE_IDS: table.line_id.hash().nunique(),
                EXTRA_TEXT_LENGTH: table[EXTRA_TEXT_LENGTH].sum(),
            }
        )
        if period is not None:
            tallies |= billing_period.tallies(table)
        with reading(file_name):
            verdicts[kind] = validate_staged_lines(table, kind, file_name, tallies)
        failures += verdicts[kind].failures
    if failures:
        raise InvoiceRejected(
            "Schema validation failed: "
            + "; ".join(f.describe() for f in failures[:MAX_MESSAGE_PARTS])
            + (f"; and {len(failures) - MAX_MESSAGE_PARTS} more checks" if len(failures) > MAX_MESSAGE_PARTS else ""),
            [schema_failures_note(failures)],
            {"failed_checks": len(failures), "failing_rows": sum(f.failing_rows for f in failures)},
        )
    sums = {kind: AmountSums.of(verdict.tallies) for kind, verdict in verdicts.items()}
    _refuse_amountsbeyond_exact_sums(sums, file_names)
    _build_all_lines(staging)
    if _may_repeat_line_ids(staging, verdicts):
        _refuse_duplicate_line_ids(staging)
    return StagedLines(
        counts={f"{kind}_line_count": verdict.line_count for kind, verdict in verdicts.items()},
        totals={kind: s.total for kind, s in sums.items()},
        lines_breaking=[sum(int(v.tallies[flag] or 0) for v in verdicts.values()) for flag in REFERENCE_FLAGS],
        out_of_period=OutOfPeriod.of(v.tallies for v in verdicts.values()) if period is not None else OutOfPeriod(),
    )


def _build_all_lines(staging: duckdb.DuckDBPyConnection, sources: dict[str, str] | None = None) -> None:
    """The typed views `lines_<kind>` over each kind's staged lines (`sources`, else the raw views), and
    `all_lines` over both."""
    for kind in LINE_FILE_STEMS:
        _build_typed_lines(staging, kind, (sources or {}).get(kind, RAW_TABLE.format(kind=kind)))
    staging.execute(
        "CREATE OR REPLACE TEMP VIEW all_lines AS "
        + " UNION ALL BY NAME ".join(f"SELECT '{kind}' AS kind, * FROM lines_{kind}" for kind in LINE_FILE_STEMS)
    )


def _publish_while_validating(
    line_staging: LineStaging,
    backend: DuckDBBackend,
    files: InvoiceFiles,
    record_id: str,
    period: HeaderPeriod | None,
) -> StagedLines | None:
    """Publish the lines in one pass that stops at the first broken rule, then count what the validation pass
    counts over the lines inserted. None (nothing kept) when the pass stopped or found something to report."""
    staging = line_staging.duckdb
    guarded: dict[str, str] = {}
    try:
        for kind in LINE_FILE_STEMS:
            stage_line_file(staging, kind, files.line_files.get(kind), files.limits)
            view = _guarded_lines(staging, backend, kind)
            if view is None:
                return None  # a check this pass cannot express: the validation pass runs it through Pandera
            guarded[kind] = view
    except ProviderFileError:
        return None  # the validation pass stages the files again and says the same
    _build_all_lines(staging, guarded)
    create_resolved_lines(staging)
    create_published_views(staging, stop_at_blocking_rules=True)
    if not line_staging.publish_while_validating(record_id):
        return None
    figures = {
        kind: _published_figures(staging, line_staging.published_lines(kind), period) for kind in LINE_FILE_STEMS
    }
    sums = {kind: AmountSums.of(f) for kind, f in figures.items()}
    if (
        any(f["line_count"] != f[DISTINCT_LINE_IDS] for f in figures.values())
        or any(f[flag] for f in figures.values() for flag in BLOCKING_FLAGS)
        or beyond_exact_sums(sums) is not None
        or _published_line_ids_shared(staging, line_staging, figures)
    ):
        line_staging.discard_published_lines()
        return None
    _build_all_lines(staging)  # what reads the lines from now on need not check them again
    return StagedLines(
        counts={f"{kind}_line_count": f["line_count"] for kind, f in figures.items()},
        totals={kind: s.total for kind, s in sums.items()},
        lines_breaking=[sum(int(f[flag] or 0) for f in figures.values()) for flag in REFERENCE_FLAGS],
        out_of_period=OutOfPeriod.of(figures.values()) if period is not None else OutOfPeriod(),
    )


# The guard's SQL per line kind and staged raw columns: it depends on nothing else (the schemas are fixed, the raw
# table's name is), and compiling it through ibis cost more than importing a small invoice's lines.
_GUARD_SQL: dict[tuple[str, tuple[tuple[str, str], ...]], str | None] = {}


def guard_sql(backend: DuckDBBackend, kind: LineKind) -> str | None:
    """The staged raw lines of `kind` with a column saying whether each fails a check of the kind's Pandera
    schema, as DuckDB SQL (None: a check cannot be expressed); compiled once per kind and raw columns."""
    raw = backend.table(RAW_TABLE.format(kind=kind), database="temp")
    key = (kind, tuple((name, str(dtype)) for name, dtype in raw.schema().items()))
    if key not in _GUARD_SQL:
        fails = fails_any_check(raw, kind)
        _GUARD_SQL[key] = None if fails is None else ibis.to_sql(raw.mutate(**{FAILS_A_CHECK: fails}), dialect="duckdb")
    return _GUARD_SQL[key]


def _guarded_lines(staging: duckdb.DuckDBPyConnection, backend: DuckDBBackend, kind: LineKind) -> str | None:
    """A view of the staged raw lines whose reading fails at the first line that fails a check of the kind's
    Pandera schema (the same check expressions the validation pass counts); None when one cannot be expressed."""
    checked = guard_sql(backend, kind)
    if checked is None:
        return None
    view = f"guarded_{kind}_summaries"
    staging.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * EXCLUDE ({FAILS_A_CHECK}) REPLACE (CASE WHEN "
        f"{FAILS_A_CHECK} THEN error('{STOPPED_AT_A_BROKEN_RULE}') ELSE line_id END AS line_id) FROM ({checked})"
    )
    return view


def _published_figures(staging: duckdb.DuckDBPyConnection, lines: str, period: HeaderPeriod | None) -> dict[str, Any]:
    """Over the lines just published: their count, the aggregates of their amounts `AmountSums.of` reads, distinct
    line-id hashes, per reference rule how many lines break it, and (with the billing `period`) the out-of-period
    figures."""
    resolved = with_reference_flags(
        lines, ["line_id", "customer_id", "subscription_id", "product_id", "currency", "amount", "charge_start_date"]
    )
    flags = ", ".join(f"count(*) FILTER (WHERE {flag}) AS {flag}" for flag in REFERENCE_FLAGS)
    out_of_period = f", {period.figures('charge_start_date')}" if period is not None else ""
    result = staging.execute(
        f"SELECT count(*) AS line_count, {amount_sums_sql('amount')}, count(DISTINCT hash(line_id)) AS "
        f"{DISTINCT_LINE_IDS}, {flags}{out_of_period} FROM ({resolved})"
    )
    names = [d[0] for d in result.description]
    return dict(zip(names, result.fetchall()[0], strict=True))


def _published_line_ids_shared(
    staging: duckdb.DuckDBPyConnection, line_staging: LineStaging, figures: dict[LineKind, dict[str, Any]]
) -> bool:
    """Whether a line id hash appears among both kinds of published lines (then the validation pass looks)."""
    if not all(f["line_count"] for f in figures.values()):
        return False
    usage, license_ = (line_staging.published_lines(kind) for kind in LINE_FILE_STEMS)
    shared = staging.execute(
        f"SELECT count(*) FROM {usage} WHERE hash(line_id) IN (SELECT hash(line_id) FROM {license_})"
    ).fetchall()[0][0]
    return bool(shared)


def _create_checked_lines(
    staging: duckdb.DuckDBPyConnection, kind: LineKind, period: HeaderPeriod | None = None
) -> str:
    """The view the validation pass reads: the staged text columns of the schema, one flag per reference
    rule, the amount as DECIMAL with its whole units and fraction (see AMOUNT_UNITS) and (with the billing `period`)
    the charge start as DATE with whether it is out of period (meaningful once the lines passed their schema)."""
    raw = RAW_TABLE.format(kind=kind)
    present = [c for (c,) in staging.execute(f"SELECT column_name FROM (DESCRIBE {raw})").fetchall()]
    columns = [c for c in (*COMMON_COLUMNS, *USAGE_COLUMNS) if c in present]
    # The provider's extra columns are read here too (their text length summed), so that a file DuckDB
    # cannot read is found by this pass, which names the file, and not later while publishing.
    extra_columns = [c for c in present if c not in columns]
    extra = [f"coalesce(length({quote_identifier(c)}), 0)" for c in extra_columns]
    # The first provider column holding a NUL, by name (no warehouse text column can hold one): the schema refuses it.
    with_nul = " ".join(
        f"WHEN contains({quote_identifier(c)}, chr(0)) THEN '{c.replace(chr(39), chr(39) * 2)}'" for c in extra_columns
    )
    nul_column = f"CASE {with_nul} END" if with_nul else "CAST(NULL AS VARCHAR)"
    lines = (
        f"(SELECT {', '.join(columns)}, {' + '.join(extra) or '0'} AS {EXTRA_TEXT_LENGTH}, "
        f"{nul_column} AS {PROVIDER_COLUMN_WITH_NUL} FROM {raw})"
    )
    view = f"checked_{kind}_summaries"
    charge_start = f", {period.flag_columns('TRY_CAST(charge_start_date AS DATE)')}" if period is not None else ""
    units, fraction = amount_parts_sql(AMOUNT_VALUE)
    staging.execute(
        f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT *, {units} AS {AMOUNT_UNITS}, {fraction} AS {AMOUNT_FRACTION} "
        f"FROM (SELECT *, TRY_CAST(amount AS {MONEY_SQL_TYPE}) AS {AMOUNT_VALUE}{charge_start} "
        f"FROM ({with_reference_flags(lines, [*columns, EXTRA_TEXT_LENGTH, PROVIDER_COLUMN_WITH_NUL])}))"
    )
    return view


def _may_repeat_line_ids(staging: duckdb.DuckDBPyConnection, verdicts: dict[LineKind, StagedLinesVerdict]) -> bool:
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
        raise InvoiceRejected(
            f"Schema validation failed: {len(duplicates)} line_id(s) appear more than once in the invoice, "
            f"e.g. {shown}",
            [Note("Schema Failures", "duplicate_line_ids.csv", csv_text(("line_id", "occurrences"), duplicates))],
            {"duplicate_line_ids": len(duplicates)},
        )


def _build_typed_lines(staging: duckdb.DuckDBPyConnection, kind: LineKind, raw: str) -> None:
    """A view casting the staged text columns of `raw` to their types; extra provider columns are kept as JSON.

    A view, not a table: the casts run inside the passes that need them (totals, publishing), so the
    lines are never copied once more in memory.
    """
    present = [c for (c,) in staging.execute(f"SELECT column_name FROM (DESCRIBE {raw})").fetchall()]
    typed = {
        "charge_start_date": "DATE",
        "charge_end_date": "DATE",
        "quantity": QUANTITY_PRICE_SQL_TYPE,
        "unit_price": QUANTITY_PRICE_SQL_TYPE,
        "amount": MONEY_SQL_TYPE,
        "usage_date": "DATE",
    }
    wanted = list(COMMON_COLUMNS) + (list(USAGE_COLUMNS) if kind == LineKind.USAGE else [])
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


def create_published_views(staging: duckdb.DuckDBPyConnection, *, stop_at_blocking_rules: bool = False) -> None:
    """`published_<kind>_summaries`: the resolved lines, column for column as the warehouse stores them; with
    `stop_at_blocking_rules`, reading them fails at the first line that breaks a blocking reference rule."""
    stop = (
        f" AND CASE WHEN {BREAKS_A_BLOCKING_RULE} THEN error('{STOPPED_AT_A_BROKEN_RULE}') ELSE true END"
        if stop_at_blocking_rules
        else ""
    )
    for kind in LINE_FILE_STEMS:
        usage_columns = ", usage_date, meter_id, meter_name, unit" if kind == LineKind.USAGE else ""
        staging.execute(
            f"CREATE OR REPLACE TEMP VIEW published_{kind}_summaries AS SELECT line_id, customer_id, account_id, "
            "subscription_id, billing_contract_id, product_id, charge_start_date, charge_end_date, quantity, "
            f"unit_price, amount, currency{usage_columns}, extra FROM resolved_lines WHERE kind = '{kind}'{stop}"
        )
