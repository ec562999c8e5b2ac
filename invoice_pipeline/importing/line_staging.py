"""The provider's line files staged in DuckDB: one validation pass over each, then the typed views the
checks after it and the publishing read; the lines are never copied into the database."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import ibis

from invoice_pipeline.connectors.base import InvoiceFiles
from invoice_pipeline.connectors.folder import LINE_FILE_STEMS
from invoice_pipeline.importing.import_results import schema_failures_note
from invoice_pipeline.importing.provider_files import RAW_TABLE, quote_identifier, reading, stage_line_file
from invoice_pipeline.schemas.line_summaries import (
    COMMON_COLUMNS,
    MONEY_SQL_TYPE,
    QUANTITY_PRICE_SQL_TYPE,
    USAGE_COLUMNS,
)
from invoice_pipeline.validation.line_schema import SchemaFailure, StagedLinesVerdict, validate_staged_lines
from invoice_pipeline.validation.notes import Note, csv_text
from invoice_pipeline.validation.references import REFERENCE_FLAGS, with_reference_flags

MAX_MESSAGE_PARTS = 6
AMOUNT_VALUE = "amount_value"  # the checked view's amount as DECIMAL, summed for the checksum
DISTINCT_LINE_IDS = "distinct_line_id_hashes"
EXTRA_TEXT_LENGTH = "extra_text_length"  # read so the validation pass reads every column of the file


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


def stage_and_validate(staging: duckdb.DuckDBPyConnection, files: InvoiceFiles) -> StagedLines:
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
        raise InvoiceRejected(
            "Schema validation failed: "
            + "; ".join(f.describe() for f in failures[:MAX_MESSAGE_PARTS])
            + (f"; and {len(failures) - MAX_MESSAGE_PARTS} more checks" if len(failures) > MAX_MESSAGE_PARTS else ""),
            [schema_failures_note(failures)],
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
    return StagedLines(
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
        raise InvoiceRejected(
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


def create_published_views(staging: duckdb.DuckDBPyConnection) -> None:
    """`published_<kind>_summaries`: the resolved lines, column for column as the warehouse stores them."""
    for kind in LINE_FILE_STEMS:
        usage_columns = ", usage_date, meter_id, meter_name, unit" if kind == "usage" else ""
        staging.execute(
            f"CREATE OR REPLACE TEMP VIEW published_{kind}_summaries AS SELECT line_id, customer_id, account_id, "
            "subscription_id, billing_contract_id, product_id, charge_start_date, charge_end_date, quantity, "
            f"unit_price, amount, currency{usage_columns}, extra FROM resolved_lines WHERE kind = '{kind}'"
        )
