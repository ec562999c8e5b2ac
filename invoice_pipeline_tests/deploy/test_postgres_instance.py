"""The team instance (deploy/postgres/dagster.yaml) for real: Dagster's storage in PostgreSQL, the queued
run coordinator of a running dagster-daemon, and a PostgreSQL warehouse, with several invoices at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from invoice_pipeline.dagster_defs.invoice_state import add_invoice_partitions
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.dagster_defs.run_tags import REFUSED, RUN_TAG_OUTCOME, import_run_tags
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import make_workspace, usage_line
from invoice_pipeline_tests.postgres_schemas import TEST_POSTGRES_URL, postgres_warehouse_url

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVOICES = [InvoiceKey("contoso-csp", f"INV-{n}") for n in (1, 2, 3)]
LINES_PER_INVOICE = 3_000


@contextmanager
def dagster_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the Dagster instance, dropped after the test."""
    name = f"ipt_dagster_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _overlap(a: dg.RunRecord, b: dg.RunRecord) -> bool:
    return a.start_time < b.end_time and b.start_time < a.end_time


@pytest.mark.slow
@pytest.mark.postgresql
def _failure(instance: dg.DagsterInstance, record: dg.RunRecord) -> str:
    """Why a run failed, as its failure event says (for the assertion's message)."""
    failures = instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return failures[0].message if failures else ""


def test_the_daemon_runs_different_invoices_at_once_and_one_invoice_never_twice_at_once(tmp_path, monkeypatch):
    with dagster_database() as database, postgres_warehouse_url() as warehouse_url:
        workspace = make_workspace(tmp_path / "workspace", warehouse_url)
        workspace.quiet_daily_schedule()  # only the queued import runs count
        for key in INVOICES:
            lines = [usage_line(f"{key.invoice_id}-U{i}", "0.37") for i in range(LINES_PER_INVOICE)]
            workspace.add_invoice(key.invoice_id, usage=lines)
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
        settings = {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": "5432",
            "DAGSTER_PG_DB": database,
            "DAGSTER_PG_USERNAME": "postgres",
            "DAGSTER_PG_PASSWORD": "",
            "INVOICE_PIPELINE_CONFIG": str(workspace.config_path),
            "INVOICE_PIPELINE_DATA_DIR": str(workspace.root / "data"),
        }
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        # Every run is queued before the daemon starts: one for each invoice, and a second one for INV-1.
        submitted = [*INVOICES, INVOICES[0]]
        with dg.DagsterInstance.get() as instance:
            add_invoice_partitions(instance, INVOICES)
        for key in submitted:
            tags = {**import_run_tags(key), "dagster/partition": str(key)}
            command = [
                "job",
                "launch",
                "-w",
                str(REPO / "workspace.yaml"),
                "-j",
                IMPORT_JOB,
                "--tags",
                json.dumps(tags),
            ]
            launched = subprocess.run(
                [str(BIN / "dagster"), *command], capture_output=True, text=True, timeout=180, cwd=tmp_path
            )
            assert launched.returncode == 0, launched.stderr[-2000:]
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its code server and runs are stopped with it, and never signal the tests
        )  # its sensors run too (the daily summary may start a run of its own: only import runs count here)
        try:
            with dg.DagsterInstance.get() as instance:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    records = instance.get_run_records(dg.RunsFilter(job_name=IMPORT_JOB))
                    if len(records) == len(submitted) and all(r.dagster_run.is_finished for r in records):
                        break
                    time.sleep(2)
                records = instance.get_run_records(dg.RunsFilter(job_name=IMPORT_JOB))
                failures = {r.dagster_run.run_id: _failure(instance, r) for r in records}
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
            with suppress(ProcessLookupError):  # its code server outlives it otherwise
                os.killpg(daemon.pid, signal.SIGKILL)

        assert [r.dagster_run.is_finished for r in records] == [True] * len(submitted), [
            (r.dagster_run.tags.get("invoice_pipeline/invoice"), r.dagster_run.status) for r in records
        ]
        by_invoice: dict[str, list[dg.RunRecord]] = {}
        for record in records:
            by_invoice.setdefault(record.dagster_run.tags["invoice_pipeline/invoice"], []).append(record)
        first, second = by_invoice[str(INVOICES[0])]
        assert not _overlap(first, second), "two imports of the same invoice ran at once"
        different = [
            (a, b)
            for i, a in enumerate(records)
            for b in records[i + 1 :]
            if a.dagster_run.tags["invoice_pipeline/invoice"] != b.dagster_run.tags["invoice_pipeline/invoice"]
        ]
        assert any(_overlap(a, b) for a, b in different), "different invoices never ran at the same time"
        outcomes = sorted(
            (r.dagster_run.status.value, r.dagster_run.tags.get(RUN_TAG_OUTCOME, "imported")) for r in records
        )
        # the second INV-1 run is refused: it writes nothing and ends green, tagged refused
        assert outcomes == [("SUCCESS", "imported")] * 3 + [("SUCCESS", REFUSED)], [
            (r.dagster_run.tags["invoice_pipeline/invoice"], r.dagster_run.status.value, failures[r.dagster_run.run_id])
            for r in records
        ]

        _assert_each_invoice_stored_once_with_every_line(warehouse_url)


def _assert_each_invoice_stored_once_with_every_line(warehouse_url: str) -> None:
    engine = sa.create_engine(warehouse_url, poolclass=sa.pool.NullPool)
    pi, lines, history = t.provider_invoices, t.usage_summaries, t.invoice_status_history
    with engine.connect() as conn:
        for key in INVOICES:
            records = conn.execute(sa.select(pi).where(pi.c.invoice_id == key.invoice_id)).mappings().all()
            assert [r["status"] for r in records] == [Status.ACTIVE.value]
            count, distinct, total = conn.execute(
                sa.select(
                    sa.func.count(), sa.func.count(sa.distinct(lines.c.line_id)), sa.func.sum(lines.c.amount)
                ).where(lines.c.record_id == records[0]["record_id"])
            ).one()
            assert (count, distinct, total) == (
                LINES_PER_INVOICE,
                LINES_PER_INVOICE,
                Decimal("0.37") * LINES_PER_INVOICE,
            )
            started = conn.execute(
                sa.select(sa.func.count()).where(
                    history.c.invoice_id == key.invoice_id, history.c.to_status == "Populating"
                )
            ).scalar_one()
            assert started == 1
    engine.dispose()
