"""Validating staged line summaries with their Pandera schemas, inside DuckDB, and reporting failures.

Every check of the Pandera schema (Ibis backend) is counted in one pass over the lines, together with
whatever else the import needs from that pass (line count, totals, reference checks); the failing rows
of each check are then sampled in the database, so the report stays bounded whatever the size of the file.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandera.ibis as pa
from pandera.api.ibis.types import IbisData
from pandera.errors import SchemaErrorReason

from invoice_pipeline.domain.display import printable
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.schemas.line_summaries import (
    DECIMAL_PATTERN,
    IDENTIFIER_PATTERN,
    QUANTITY_PRICE_PATTERN,
    TEXT_PATTERN,
    UNIT_PATTERN,
    LicenseSummarySchema,
    UsageSummarySchema,
)
from invoice_pipeline.schemas.text_values import CURRENCY_PATTERN, ISO_DATE_PATTERN

LINE_SCHEMAS: dict[LineKind, type[pa.DataFrameModel]] = {
    LineKind.USAGE: UsageSummarySchema,
    LineKind.LICENSE: LicenseSummarySchema,
}
EXAMPLES_PER_FAILURE = 5
NOTE_ROWS_PER_FAILURE = 10_000

_DECIMAL_MEANING = (
    "a decimal number with at most 18 digits before the point and 18 after (no thousands separators, no exponent)"
)
_PATTERN_MEANINGS = {
    DECIMAL_PATTERN: _DECIMAL_MEANING,  # amounts
    QUANTITY_PRICE_PATTERN: _DECIMAL_MEANING,  # quantities and unit prices: the same today
    ISO_DATE_PATTERN: "a date written YYYY-MM-DD",
    CURRENCY_PATTERN: "a three-letter ISO 4217 currency code in capitals",
    IDENTIFIER_PATTERN: "1 to 200 characters without control characters",
    UNIT_PATTERN: "1 to 100 characters without control characters",
    TEXT_PATTERN: "text without NUL characters",
}
# The staged column naming a line's first provider (extra) column holding a NUL; the raw table is checked directly.
PROVIDER_COLUMN_WITH_NUL = "provider_column_with_nul"
NO_NUL = "no_nul"
SHOWN_VALUE_CHARS = 200
_CHECK_MEANINGS = {
    NO_NUL: "free of NUL characters (no warehouse text column can hold one; the value names the column)",
    "not_nullable": "a value (it is empty)",
    "real_date_2000_to_2099": "a real calendar date from 2000-01-01 to 2099-12-31",
    "not_negative": "zero or more (credits carry a negative price or amount, not quantity)",
    "charge_start_not_after_end": "a charge_start_date on or before charge_end_date",
}


@dataclass(frozen=True)
class SchemaFailure:
    """One check that failed on one file: how many rows, and a few of them as (line_id, value)."""

    file_name: str
    column: str | None
    check: str
    meaning: str
    failing_rows: int
    examples: list[tuple[str | None, str | None]] = field(default_factory=list)
    note_rows: list[tuple[str | None, str | None]] = field(default_factory=list)

    def describe(self) -> str:
        """E.g. `usage_summaries.csv column 'amount' must be a decimal number ... (2 rows, e.g. L2='1e5')`."""
        where = (
            "each provider column"
            if self.column == PROVIDER_COLUMN_WITH_NUL
            else f"column '{self.column}'"
            if self.column
            else "each row"
        )
        shown = ", ".join(
            printable(line_id or "?") + (f"={value!r}" if self.column else "") for line_id, value in self.examples
        )
        rows = "row" if self.failing_rows == 1 else "rows"
        return (
            f"{self.file_name} {where} must be {self.meaning} [{self.check}]: {self.failing_rows} {rows}, e.g. {shown}"
        )


def _meaning(check_name: str, check: object) -> str:
    if check_name == "str_matches":
        pattern = getattr(check, "statistics", {}).get("pattern")
        return _PATTERN_MEANINGS.get(str(pattern), f"matching {pattern}")
    return _CHECK_MEANINGS.get(check_name, check_name.replace("_", " "))


def _failing_rows(table: ir.Table, error: pa.errors.SchemaError, column: str | None) -> ir.Table:
    if error.reason_code == SchemaErrorReason.SERIES_CONTAINS_NULLS and column:
        return table.filter(table[column].isnull())
    output = error.check_output
    ignore_na = getattr(error.check, "ignore_na", True)
    passed = (
        output.rename(__passed="check_output") if isinstance(output, ir.Table) else output.name("__passed").as_table()
    )
    # Pandera's check outputs keep the table's row order; DuckDB joins them back by position.
    joined = table.join(passed, how="positional")
    return joined.filter(~joined["__passed"].fill_null(ignore_na)).drop("__passed")


@dataclass(frozen=True)
class _CheckExpression:
    column: str | None
    check_name: str
    check: object
    failing: ir.BooleanColumn


def _check_expressions(table: ir.Table, schema: pa.DataFrameSchema) -> dict[str, _CheckExpression] | None:
    """Every check of `schema` as a boolean expression over `table` that is true on a failing row.

    The expressions are the schema's own: its nullability, its `str_matches` patterns, and its custom
    checks called on the table. None when the schema uses a check this fast path does not know.
    """
    found: dict[str, _CheckExpression] = {}
    for name, column in schema.columns.items():
        if name not in table.columns:
            continue  # optional columns the file does not have; required ones were checked when staged
        values = table[name]
        if not column.nullable:
            found[f"{name}:not_nullable"] = _CheckExpression(name, "not_nullable", None, values.isnull())
        for check in column.checks:
            if check.name == "str_matches":
                passed = values.re_search(check.statistics["pattern"])
            elif check.name in _CHECK_MEANINGS:
                passed = check._check_fn(IbisData(table, name))
            else:
                return None
            failing = ~(passed | values.isnull()) if check.ignore_na else ~passed.fill_null(False)
            found[f"{name}:{check.name}"] = _CheckExpression(name, check.name, check, failing)
    found |= _provider_columns_without_nul(table, schema)
    for check in schema.checks:
        if check.name not in _CHECK_MEANINGS:
            return None
        failing = ~check._check_fn(IbisData(table, None)).fill_null(check.ignore_na)
        found[f"*:{check.name}"] = _CheckExpression(None, check.name, check, failing)
    return found


def _provider_columns_without_nul(table: ir.Table, schema: pa.DataFrameSchema) -> dict[str, _CheckExpression]:
    """The provider's own (extra) columns hold no NUL: through the staged column naming the first that does, or
    on raw lines, each text column the schema does not know."""
    if PROVIDER_COLUMN_WITH_NUL in table.columns:
        failing = table[PROVIDER_COLUMN_WITH_NUL].notnull()
        return {
            f"{PROVIDER_COLUMN_WITH_NUL}:{NO_NUL}": _CheckExpression(PROVIDER_COLUMN_WITH_NUL, NO_NUL, None, failing)
        }
    extra = [name for name, kind in table.schema().items() if name not in schema.columns and kind.is_string()]
    if not extra:
        return {}
    failing = functools.reduce(operator.or_, (table[name].contains("\x00").fill_null(False) for name in extra))
    return {f"*:{NO_NUL}": _CheckExpression(None, NO_NUL, None, failing)}


def fails_any_check(table: ir.Table, kind: LineKind) -> ir.BooleanColumn | None:
    """True on a row of `table` that fails any check of the `kind` schema (None: a check the fast path does not
    know); the floor benchmark guards a one-pass insert with it."""
    expressions = _check_expressions(table, LINE_SCHEMAS[kind].to_schema())
    if not expressions:
        return None
    return functools.reduce(operator.or_, (e.failing for e in expressions.values()))


def _one_pass(table: ir.Table, aggregates: dict[str, ir.Scalar]) -> dict[str, Any]:
    """Every aggregate over `table` in one query, as exact Python values (decimals stay Decimal)."""
    row: dict[str, Any] = table.aggregate(**aggregates).to_pyarrow().to_pylist()[0]
    return row


def _failure_aggregates(expressions: dict[str, _CheckExpression]) -> dict[str, ir.Scalar]:
    return {f"failing_{i}": e.failing.cast("int64").sum() for i, e in enumerate(expressions.values())}


def _failure_counts(expressions: dict[str, _CheckExpression], values: dict[str, Any]) -> dict[str, int]:
    return {name: int(values[f"failing_{i}"] or 0) for i, name in enumerate(expressions)}


def schema_failure_counts(table: ir.Table, schema: pa.DataFrameSchema) -> dict[str, int] | None:
    """Failing rows per check of `schema`, all counted in ONE pass over the table (None: not supported)."""
    expressions = _check_expressions(table, schema)
    if expressions is None:
        return None
    return _failure_counts(expressions, _one_pass(table, _failure_aggregates(expressions)))


def _report(table: ir.Table, expression: _CheckExpression, count: int, file_name: str) -> SchemaFailure:
    failing = table.filter(expression.failing)
    column = expression.column
    # A failing value is shown cut to its first characters: a line may hold up to the line length limit.
    value = failing[column].cast("string").substr(0, SHOWN_VALUE_CHARS) if column else ibis.null().cast("string")
    rows = failing.select(line_id=failing.line_id, value=value)
    note_rows = [tuple(r.values()) for r in rows.limit(NOTE_ROWS_PER_FAILURE).to_pyarrow().to_pylist()]
    return SchemaFailure(
        file_name=file_name,
        column=column,
        check=expression.check_name,
        meaning=_meaning(expression.check_name, expression.check),
        failing_rows=count,
        examples=note_rows[:EXAMPLES_PER_FAILURE],
        note_rows=note_rows,
    )


@dataclass(frozen=True)
class StagedLinesVerdict:
    """What validating one file's staged lines found: the failed checks, the line count, and the tallies."""

    failures: list[SchemaFailure]
    line_count: int
    tallies: dict[str, Any] = field(default_factory=dict)


def validate_staged_lines(
    table: ir.Table, kind: LineKind, file_name: str, tallies: dict[str, ir.Scalar] | None = None
) -> StagedLinesVerdict:
    """Validate the staged text lines of one kind; no failures means every row passed.

    Every check of the Pandera schema, the line count and the caller's `tallies` (aggregates over the
    same table) are computed in ONE pass; failing checks are then sampled in the database (bounded,
    whatever the number of bad rows). A schema with a check the fast path does not know is validated
    by Pandera itself.
    """
    schema = LINE_SCHEMAS[kind].to_schema()
    expressions = _check_expressions(table, schema)
    aggregates = {"line_count": table.count(), **(tallies or {})}
    if expressions is not None:
        values = _one_pass(table, aggregates | _failure_aggregates(expressions))
        counts = _failure_counts(expressions, values)
        failures = [_report(table, expressions[k], n, file_name) for k, n in counts.items() if n]
    else:
        values = _one_pass(table, aggregates)
        failures = _pandera_failures(table, kind, file_name) if values["line_count"] else []
    return StagedLinesVerdict(failures, int(values["line_count"]), {name: values[name] for name in tallies or {}})


def _pandera_failures(table: ir.Table, kind: LineKind, file_name: str) -> list[SchemaFailure]:
    try:
        LINE_SCHEMAS[kind].validate(table, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return [_describe_error(table, error, file_name) for error in errors.schema_errors]
    return []


def _describe_error(table: ir.Table, error: pa.errors.SchemaError, file_name: str) -> SchemaFailure:
    check_name = getattr(error.check, "name", None) or str(error.check)
    schema_name = getattr(error.schema, "name", None)
    column = schema_name if schema_name in table.columns else None
    failing = _failing_rows(table, error, column)
    # A failing value is shown cut to its first characters: a line may hold up to the line length limit.
    value = failing[column].cast("string").substr(0, SHOWN_VALUE_CHARS) if column else ibis.null().cast("string")
    rows = failing.select(line_id=failing.line_id, value=value)
    note_rows = [tuple(r.values()) for r in rows.limit(NOTE_ROWS_PER_FAILURE).to_pyarrow().to_pylist()]
    return SchemaFailure(
        file_name=file_name,
        column=column,
        check=check_name,
        meaning=_meaning(check_name, error.check),
        failing_rows=int(failing.count().execute()),
        examples=note_rows[:EXAMPLES_PER_FAILURE],
        note_rows=note_rows,
    )
