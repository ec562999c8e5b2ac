"""Lines charged outside the invoice header's billing period.

A line is out of period when its charge starts outside the header's billing period: its `charge_start_date` is
before `billing_period_start` or after `billing_period_end`. Its `charge_end_date` is not compared: a charge that
starts within the period belongs to it even when its term runs past the period's end (seats billed in advance, a
monthly or annual term from the 15th). Out-of-period lines are imported, with the Out Of Period Lines note (a
warning); a line whose charge starts more than `out_of_period_error_after_days` days after `billing_period_end`
puts the invoice in Error (`ImportFailure.OUT_OF_PERIOD`): a charge for a month the provider should not have
invoiced yet, or a header with the wrong period. Lines before the period never do: providers bill late usage.

The figures (how many lines are out of period, how many beyond the limit, their earliest and latest charge start)
are aggregates of the pass that already reads every line (the validation pass, or on a DuckDB warehouse the
aggregate over the lines just published); the lines are read again, for the note, only when some are out of period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from invoice_pipeline.domain.money import decimal_text
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.validation.notes import csv_text

if TYPE_CHECKING:
    import duckdb
    import ibis.expr.types as ir

NOTE_TITLE = "Out Of Period Lines"
NOTE_FILE = "out_of_period_lines.csv"
NOTE_ROWS = 10_000  # the lines furthest outside the period (the messages count every one)
SETTING = "out_of_period_error_after_days"

# Columns a view of the lines carries (`flag_columns`) for the validation pass to count them.
CHARGE_START = "charge_start_value"
OUTSIDE = "charge_outside_period"
BEYOND = "charge_beyond_error_limit"
# The figures, as an aggregate names them.
LINES = "out_of_period_lines"
BEYOND_LIMIT = "out_of_period_beyond_limit"
EARLIEST = "out_of_period_earliest_start"
LATEST = "out_of_period_latest_start"


@dataclass(frozen=True)
class HeaderPeriod:
    """The header's billing period, and how many days after its end a charge may start before it is an Error."""

    start: date
    end: date
    error_after_days: int

    @property
    def error_after(self) -> date:
        """The last day a charge may start on without putting the invoice in Error."""
        return self.end + timedelta(days=self.error_after_days)

    def outside(self, charge_start: str) -> str:
        """SQL, true when a charge starting on `charge_start` (a DATE expression) starts outside the period."""
        return f"({charge_start} < DATE '{self.start.isoformat()}' OR {charge_start} > DATE '{self.end.isoformat()}')"

    def beyond_limit(self, charge_start: str) -> str:
        """SQL, true when a charge starting on `charge_start` starts too long after the period: an Error."""
        return f"({charge_start} > DATE '{self.error_after.isoformat()}')"

    def flag_columns(self, charge_start: str) -> str:
        """SQL select items: the charge start and whether it is outside the period, beyond the limit (`tallies`)."""
        return (
            f"{charge_start} AS {CHARGE_START}, {self.outside(charge_start)} AS {OUTSIDE}, "
            f"{self.beyond_limit(charge_start)} AS {BEYOND}"
        )

    def figures(self, charge_start: str) -> str:
        """SQL select items of an aggregate over lines: the figures `OutOfPeriod.of` reads."""
        outside = self.outside(charge_start)
        return (
            f"count(*) FILTER (WHERE {outside}) AS {LINES}, "
            f"count(*) FILTER (WHERE {self.beyond_limit(charge_start)}) AS {BEYOND_LIMIT}, "
            f"min({charge_start}) FILTER (WHERE {outside}) AS {EARLIEST}, "
            f"max({charge_start}) FILTER (WHERE {outside}) AS {LATEST}"
        )

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def tallies(table: ir.Table) -> dict[str, ir.Scalar]:
    """The figures as aggregates over a table with the `flag_columns`, for the validation pass to count."""
    outside, start = table[OUTSIDE], table[CHARGE_START]
    return {
        LINES: outside.cast("int64").sum(),
        BEYOND_LIMIT: table[BEYOND].cast("int64").sum(),
        EARLIEST: start.min(where=outside),
        LATEST: start.max(where=outside),
    }


@dataclass(frozen=True)
class OutOfPeriod:
    """How many lines are out of period, how many of them start too long after it, and their charge starts."""

    lines: int = 0
    beyond_limit: int = 0
    earliest: date | None = None
    latest: date | None = None

    @classmethod
    def of(cls, figures: Iterable[Mapping[str, Any]]) -> OutOfPeriod:
        """The figures of both kinds of lines together (each as `HeaderPeriod.figures` or `tallies` name them)."""
        found = list(figures)
        earliest = [f[EARLIEST] for f in found if f[EARLIEST] is not None]
        latest = [f[LATEST] for f in found if f[LATEST] is not None]
        return cls(
            lines=sum(int(f[LINES] or 0) for f in found),
            beyond_limit=sum(int(f[BEYOND_LIMIT] or 0) for f in found),
            earliest=min(earliest, default=None),
            latest=max(latest, default=None),
        )


def _count(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"


def _after(days: int) -> str:
    return f"more than {_count(days, 'day')} after" if days else "after"


def error_message(found: OutOfPeriod, period: HeaderPeriod) -> str:
    """Why the invoice is in Error: how many lines start too long after the period, the latest, and what to do."""
    return (
        f"Lines out of period: {_count(found.beyond_limit, 'line')} charged {_after(period.error_after_days)} the "
        f"billing period {period} (latest charge start {found.latest}); ask the provider for a corrected invoice, "
        f"or raise {SETTING} if such charges are expected; see the {NOTE_TITLE} note"
    )


def warning(found: OutOfPeriod, period: HeaderPeriod) -> str:
    """What an Active invoice's message says of its out-of-period lines, e.g. `2 out-of-period lines (charges
    starting 2026-09-30 to 2026-11-01, billing period 2026-10-01 to 2026-10-31; see the Out Of Period Lines note)`."""
    starts = f"{found.earliest}" if found.earliest == found.latest else f"{found.earliest} to {found.latest}"
    charges = "charge" if found.lines == 1 else "charges"
    return (
        f"{_count(found.lines, 'out-of-period line')} ({charges} starting {starts}, billing period {period}; "
        f"see the {NOTE_TITLE} note)"
    )


def out_of_period_note(con: duckdb.DuckDBPyConnection, period: HeaderPeriod, minor_units: int | None) -> Note:
    """The out-of-period lines of `all_lines`, those that put the invoice in Error first, then the furthest outside
    the period (at most `NOTE_ROWS`): line id, kind, charge dates, amount, currency, where and how far outside."""
    start, end = (f"DATE '{day.isoformat()}'" for day in (period.start, period.end))
    rows = con.execute(
        f"""
        SELECT line_id, kind, charge_start_date, charge_end_date, amount, currency,
               {period.beyond_limit("charge_start_date")} AS beyond, charge_start_date < {start} AS before,
               CASE WHEN charge_start_date < {start} THEN {start} - charge_start_date
                    ELSE charge_start_date - {end} END AS days_outside
        FROM all_lines WHERE {period.outside("charge_start_date")}
        ORDER BY beyond DESC, days_outside DESC, line_id LIMIT {NOTE_ROWS}
        """
    ).fetchall()
    beyond = f"{_after(period.error_after_days)} the period (Error)"
    columns = (
        "line_id",
        "kind",
        "charge_start_date",
        "charge_end_date",
        "amount",
        "currency",
        "position",
        "days_outside_period",
    )
    return Note(
        NOTE_TITLE,
        NOTE_FILE,
        csv_text(
            columns,
            (
                (
                    line_id,
                    kind,
                    charge_start,
                    charge_end,
                    decimal_text(amount, minor_units),
                    currency,
                    beyond if is_beyond else "before the period" if is_before else "after the period",
                    days,
                )
                for line_id, kind, charge_start, charge_end, amount, currency, is_beyond, is_before, days in rows
            ),
        ),
    )
