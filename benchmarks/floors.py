"""Floors: what parts of an import cost by themselves, to tell a target no design can meet from one not yet met.

    python -m benchmarks.floors one-pass INVOICE_FOLDER REFERENCE_FOLDER WORK_FOLDER
    python -m benchmarks.floors line-layouts INVOICE_FOLDER REFERENCE_FOLDER WORK_FOLDER
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
POSTGRES_URL, dropped afterwards); then the same lines as one record's partition of a line table partitioned by
record: `COPY` into a fresh table, its unique index built after the load, its record checked, attached.
`line-layouts` (DuckDB, issue #32) times, after the validation pass, writing the validated lines once each way a
record's lines may be kept, and the aggregate an import runs over what it wrote (count, amount total, distinct
line ids, unmapped references): into the warehouse's one line table (today's), as a table of the record's own,
as a Parquet file of the record's own. Nothing is committed in the DuckDB file; prints one line per figure.
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
from sqlalchemy.dialects import postgresql

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


def _anchor_first(figures: dict[str, float], invoice: Path, reference: Path, work: Path) -> None:
    """The anchor, timed into `figures` first, in a fresh DuckDB file of `work`."""
    anchor_db = work / "anchor.duckdb"
    anchor_db.unlink(missing_ok=True)
    print(timed(figures, "anchor", lambda: anchor(invoice, reference, anchor_db)))


def _validation_pass(figures: dict[str, float], staged: LineStaging, invoice: Path) -> None:
    """The import's validation pass over the staged invoice, timed; an invoice that breaks a rule has no floor."""
    try:
        timed(
            figures,
            "validation pass",
            lambda: stage_and_validate(staged, usage_files(invoice), period=billing_period(invoice)),
        )
    except InvoiceRejected as rejected:
        raise SystemExit(f"{NEEDS_A_CLEAN_INVOICE}: {rejected}") from None


def one_pass(invoice: Path, reference: Path, work: Path) -> dict[str, float]:
    """The anchor, the file's plain read, the schema's checks alone, the import's two passes (validate, then
    publish) and its one pass (publish while validating), each rolled back (see the module's docstring)."""
    figures: dict[str, float] = {}
    _anchor_first(figures, invoice, reference, work)
    with staged_invoice(invoice, reference, work) as staged:
        con = staged.duckdb
        timed(figures, "plain read of the file", lambda: con.execute(_plain_read(invoice)).fetchall())
        _validation_pass(figures, staged, invoice)
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


def line_layouts(invoice: Path, reference: Path, work: Path) -> dict[str, float]:
    """The anchor, then each way of writing the validated lines once and of reading them back for the import's
    aggregate (see the module's docstring); each written copy is removed afterwards."""
    figures: dict[str, float] = {}
    _anchor_first(figures, invoice, reference, work)
    parquet = work / f"{RECORD_ID}.parquet"
    with staged_invoice(invoice, reference, work) as staged:
        con = staged.duckdb
        _validation_pass(figures, staged, invoice)
        create_resolved_lines(con)
        create_published_views(con)
        lines = lines_to_publish(t.usage_summaries, "published_usage_summaries")
        columns = ", ".join(c.name for c in t.usage_summaries.columns)
        layouts = {
            "the one line table": (f"INSERT INTO main.usage_summaries ({columns}) {lines}", "main.usage_summaries"),
            "a table of the record's own": (f"CREATE TABLE main.record_lines AS {lines}", "main.record_lines"),
            "a Parquet file of the record's own": (
                f"COPY ({lines}) TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)",
                f"read_parquet('{parquet}')",
            ),
            "an uncompressed Parquet file of the record's own": (
                f"COPY ({lines}) TO '{parquet}' (FORMAT parquet, COMPRESSION uncompressed)",
                f"read_parquet('{parquet}')",
            ),
        }
        aggregates = set()
        for layout, (write, written) in layouts.items():
            con.execute("BEGIN")
            timed(figures, f"write into {layout}", lambda write=write: con.execute(write, [RECORD_ID]))
            aggregate = _aggregate(written)
            aggregates.add(tuple(timed(figures, f"aggregate over {layout}", lambda a=aggregate: con.sql(a).fetchall())))
            con.execute("ROLLBACK")
            if parquet.exists():
                figures[f"bytes of {layout}"] = parquet.stat().st_size
                parquet.unlink()
        if len(aggregates) != 1:
            raise SystemExit(f"the layouts hold different lines: {sorted(aggregates)}")
    for layout in layouts:
        both = figures[f"write into {layout}"] + figures[f"aggregate over {layout}"]
        print(f"{layout}, written and aggregated / anchor: {both / figures['anchor']:.2f}x", flush=True)
    return figures


def _aggregate(lines: str) -> str:
    """What an import counts over the lines it wrote: count, amount total, distinct line ids, unmapped references
    (the references resolved when written: a NULL account or product is unmapped)."""
    return (
        "SELECT count(*), sum(amount), count(DISTINCT hash(line_id)), count(*) FILTER (WHERE account_id IS NULL), "
        f"count(*) FILTER (WHERE product_id IS NULL) FROM {lines}"
    )


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
    _partition(libpq, export, figures)
    export.unlink()
    return figures


def _partition(libpq_url: str, export: Path, figures: dict[str, float]) -> None:
    """The lines as one record's partition of a line table partitioned by record: loaded into a fresh table with no
    index, its unique index built after the load, a CHECK that it holds one record only (so that attaching it
    scans nothing), attached in a transaction of its own; every part timed. The tables are dropped afterwards."""
    columns = ", ".join(f"{c.name} {c.type.compile(dialect=postgresql.dialect())}" for c in t.usage_summaries.columns)
    parts = [
        ("create the partitioned line table", f"CREATE TABLE floor_lines ({columns}) PARTITION BY LIST (record_id)"),
        ("its unique index", "CREATE UNIQUE INDEX floor_lines_record_line ON floor_lines (record_id, line_id)"),
        ("create the record's table", "CREATE TABLE floor_record (LIKE floor_lines)"),
        ("COPY into it", None),
        ("its unique index, after the load", "CREATE UNIQUE INDEX ON floor_record (record_id, line_id)"),
        ("the record check", f"ALTER TABLE floor_record ADD CONSTRAINT one_record CHECK (record_id = '{RECORD_ID}')"),
        ("attach", f"ALTER TABLE floor_lines ATTACH PARTITION floor_record FOR VALUES IN ('{RECORD_ID}')"),
    ]
    with psycopg.connect(libpq_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS floor_lines, floor_record")
        try:
            for name, statement in parts:
                if statement is None:
                    timed(figures, f"partition: {name}", lambda: _copy(libpq_url, "floor_record", export))
                else:
                    timed(figures, f"partition: {name}", lambda statement=statement: conn.execute(statement))
            stored = conn.execute("SELECT count(*) FROM floor_lines").fetchall()[0][0]
            print(f"partition: {stored} lines attached", flush=True)
        finally:
            conn.execute("DROP TABLE IF EXISTS floor_lines, floor_record")


def _copy(libpq_url: str, table: str, export: Path) -> None:
    with psycopg.connect(libpq_url) as conn:
        with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, export.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        conn.commit()


def main() -> None:
    """Parse the command line and print the figures of one floor."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("floor", choices=["one-pass", "line-layouts", "postgres-copy"])
    parser.add_argument("invoice", type=Path)
    parser.add_argument("reference", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("postgres_url", nargs="?")
    arguments = parser.parse_args()
    arguments.work.mkdir(parents=True, exist_ok=True)
    if arguments.floor == "one-pass":
        one_pass(arguments.invoice, arguments.reference, arguments.work)
    elif arguments.floor == "line-layouts":
        line_layouts(arguments.invoice, arguments.reference, arguments.work)
    elif arguments.postgres_url is None:
        parser.error("postgres-copy needs POSTGRES_URL")
    else:
        postgres_copy(arguments.invoice, arguments.reference, arguments.work, arguments.postgres_url)


if __name__ == "__main__":
    main()
