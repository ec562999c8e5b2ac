"""Floors: what parts of an import cost by themselves, to tell a target no design can meet from one not yet met.

    python -m benchmarks.floors one-pass INVOICE_FOLDER REFERENCE_FOLDER WORK_FOLDER
    python -m benchmarks.floors postgres-copy INVOICE_FOLDER REFERENCE_FOLDER WORK_FOLDER POSTGRES_URL

`one-pass` (DuckDB) times, in one process against the anchor (`benchmarks/anchor.py`) run first:
- the import's two passes, as on PostgreSQL: its validation pass (every Pandera check, the reference rules, the
  amount totals, the line-id hashes), then its publishing `INSERT` of the resolved lines;
- its one pass, as on a DuckDB warehouse: the same `INSERT`, stopped by the first line that fails a check of the
  Pandera schema or a blocking reference rule, then one aggregate over the inserted lines (count, total,
  distinct ids, every reference rule, the lines outside the header's billing period);
- the schema's checks alone (one aggregate over the file) and the file's plain read.
`postgres-copy` times the export of the validated lines to CSV and PostgreSQL's `COPY` of them into the line
table, with its unique `(record_id, line_id)` index and without any index (a table of its own in the database at
POSTGRES_URL, dropped afterwards). Nothing is committed in the DuckDB file; prints one line per figure.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import psycopg
import sqlalchemy as sa

from benchmarks.anchor import anchor
from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.connectors.base import InvoiceFiles
from invoice_pipeline.domain.line_kinds import LineKind
from invoice_pipeline.importing.line_staging import InvoiceRejected, create_published_views, stage_and_validate
from invoice_pipeline.importing.provider_files import RAW_TABLE
from invoice_pipeline.validation.billing_period import HeaderPeriod
from invoice_pipeline.validation.line_schema import fails_any_check
from invoice_pipeline.validation.reference_data import load_reference_data, register_reference_data
from invoice_pipeline.validation.references import (
    create_resolved_lines,
    register_invoice_context,
)
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.line_publishing import LineStaging, lines_to_publish
from invoice_pipeline.warehouse.warehouse import Warehouse

RECORD_ID = "floor-benchmark"
NEEDS_A_CLEAN_INVOICE = "a floor is measured on an invoice that imports"


def timed(figures: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    """Run `work`, keep its seconds under `name`, print them."""
    start = time.perf_counter()
    result = work()
    figures[name] = time.perf_counter() - start
    print(f"{name}: {figures[name]:.2f} s", flush=True)
    return result


@contextmanager
def staged_invoice(invoice: Path, reference: Path, work: Path) -> Iterator[LineStaging]:
    """A fresh DuckDB warehouse in `work` and the invoice's usage lines staged on its connection, as an import
    stages them (reference data registered, the invoice's provider and header currency set)."""
    database = work / "floor.duckdb"
    database.unlink(missing_ok=True)
    warehouse = Warehouse(f"duckdb:///{database}", temp_dir=work / "duckdb_tmp")
    warehouse.create_schema()
    header = json.loads((invoice / "header.json").read_text(encoding="utf-8"))
    with warehouse.staging() as staged:
        register_reference_data(staged.duckdb, load_reference_data(reference, work))
        register_invoice_context(staged.duckdb, invoice.parent.name, header["currency"])
        yield staged
    warehouse.dispose()


def usage_files(invoice: Path) -> InvoiceFiles:
    """The benchmark invoice's files (usage lines only)."""
    return InvoiceFiles(invoice.name, invoice / "header.json", {LineKind.USAGE: invoice / "usage_summaries.csv"})


def billing_period(invoice: Path) -> HeaderPeriod:
    """The header's billing period and the default limit, which an import counts the lines against."""
    header = json.loads((invoice / "header.json").read_text(encoding="utf-8"))
    return HeaderPeriod(
        date.fromisoformat(header["billing_period_start"]),
        date.fromisoformat(header["billing_period_end"]),
        PipelineConfig.model_fields["out_of_period_error_after_days"].default,
    )


def one_pass(invoice: Path, reference: Path, work: Path) -> dict[str, float]:
    """The anchor, the file's plain read, the schema's checks alone, the import's two passes (validate, then
    publish) and its one pass (publish while validating), each rolled back (see the module's docstring)."""
    figures: dict[str, float] = {}
    anchor_db = work / "anchor.duckdb"
    anchor_db.unlink(missing_ok=True)
    print(timed(figures, "anchor", lambda: anchor(invoice, reference, anchor_db)))
    with staged_invoice(invoice, reference, work) as staged:
        con = staged.duckdb
        timed(figures, "plain read of the file", lambda: con.execute(_plain_read(invoice)).fetchall())
        try:
            timed(
                figures,
                "validation pass",
                lambda: stage_and_validate(staged, usage_files(invoice), period=billing_period(invoice)),
            )
        except InvoiceRejected as rejected:
            raise SystemExit(f"{NEEDS_A_CLEAN_INVOICE}: {rejected}") from None
        raw = ibis.duckdb.from_connection(con).table(RAW_TABLE.format(kind=LineKind.USAGE), database="temp")
        fails = fails_any_check(raw, LineKind.USAGE)
        assert fails is not None
        checks_alone = ibis.to_sql(raw.aggregate(failing=fails.cast("int64").sum()), dialect="duckdb")
        timed(figures, "the schema's checks alone", lambda: con.execute(checks_alone).fetchall())
        create_resolved_lines(con)
        create_published_views(con)
        columns = ", ".join(c.name for c in t.usage_summaries.columns)
        insert = f"INSERT INTO main.usage_summaries ({columns}) " + lines_to_publish(
            t.usage_summaries, "published_usage_summaries"
        )
        con.execute("BEGIN")
        timed(figures, "publishing pass", lambda: con.execute(insert, [RECORD_ID]))
        con.execute("ROLLBACK")
        found = timed(
            figures,
            "one pass",
            lambda: stage_and_validate(staged, usage_files(invoice), RECORD_ID, billing_period(invoice)),
        )
        if staged.lines_published is None:
            raise SystemExit(f"{NEEDS_A_CLEAN_INVOICE}: the one pass stopped")
        staged.discard_published_lines()
        print(found, flush=True)
    figures["two passes"] = figures["validation pass"] + figures["publishing pass"]
    for name in ("two passes", "one pass", "the schema's checks alone"):
        print(f"{name} / anchor: {figures[name] / figures['anchor']:.2f}x", flush=True)
    return figures


def _plain_read(invoice: Path) -> str:
    return (
        "SELECT count(*), sum(length(COLUMNS(*))) FROM read_csv("
        f"'{invoice / 'usage_summaries.csv'}', all_varchar = true, header = true)"
    )


def postgres_copy(invoice: Path, reference: Path, work: Path, url: str) -> dict[str, float]:
    """The export of the validated lines to CSV, then PostgreSQL's COPY of them with and without the index."""
    figures: dict[str, float] = {}
    export = work / "floor-export.csv"
    with staged_invoice(invoice, reference, work) as staged:
        con = staged.duckdb
        stage_and_validate(staged, usage_files(invoice), period=billing_period(invoice))
        create_resolved_lines(con)
        create_published_views(con)
        select = lines_to_publish(t.usage_summaries, "published_usage_summaries")
        timed(
            figures,
            "export to CSV",
            lambda: con.execute(
                f"COPY ({select}) TO '{export}' (FORMAT csv, HEADER false, FORCE_QUOTE *)", [RECORD_ID]
            ),
        )
    table = sa.Table(
        "floor_usage_summaries",
        sa.MetaData(),
        *(sa.Column(c.name, c.type, nullable=c.nullable) for c in t.usage_summaries.columns),
    )
    engine = sa.create_engine(url)
    libpq = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    for indexed in (True, False):
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
            if indexed:
                conn.execute(sa.text(f"CREATE UNIQUE INDEX floor_record_line ON {table.name} (record_id, line_id)"))
        name = "COPY into the line table " + ("with its unique index" if indexed else "without an index")
        timed(figures, name, lambda: _copy(libpq, table.name, export))
    with engine.begin() as conn:
        table.drop(conn)
    export.unlink()
    return figures


def _copy(libpq_url: str, table: str, export: Path) -> None:
    with psycopg.connect(libpq_url) as conn:
        with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, export.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.commit()


def main() -> None:
    """Parse the command line and print the figures of one floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("floor", choices=["one-pass", "postgres-copy"])
    parser.add_argument("invoice", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("postgres_url", nargs="?")
    arguments = parser.parse_args()
    arguments.work.mkdir(parents=True, exist_ok=True)
    if arguments.floor == "one-pass":
        one_pass(arguments.invoice, arguments.reference, arguments.work)
    elif arguments.postgres_url is None:
        parser.error("postgres-copy needs POSTGRES_URL")
    else:
        postgres_copy(arguments.invoice, arguments.reference, arguments.work, arguments.postgres_url)


if __name__ == "__main__":
    main()
