"""The commands' runs through Dagster: its instance, the daily sync and import jobs, and showing an operation.

Imported only by the commands that run Dagster, so the others start without loading it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import dagster as dg

from invoice_pipeline.cli.common import actor
from invoice_pipeline.cli.errors import InstanceUnusable, Misconfigured
from invoice_pipeline.cli.output import say
from invoice_pipeline.composition import open_warehouse, opened_warehouse
from invoice_pipeline.config import PipelineConfig, load_config
from invoice_pipeline.dagster_defs.abandoned_runs import end_abandoned_import_runs
from invoice_pipeline.dagster_defs.instance_repair import DagsterInstanceBroken, repair_instance
from invoice_pipeline.dagster_defs.invoice_state import show_invoice_change
from invoice_pipeline.dagster_defs.runs import DailySyncPlan, run_daily_sync, run_invoice_import
from invoice_pipeline.definitions import defs
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import NOT_IMPORTED


def dagster_home() -> Path:
    """DAGSTER_HOME, or this folder when it holds dagster.yaml, or <data dir>/dagster_home; an instance a killed
    process left half-created there is repaired first (see `instance_repair`)."""
    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
    else:
        home = Path.cwd() if Path("dagster.yaml").is_file() else load_config().data_dir / "dagster_home"
        instance_config = home / "dagster.yaml"
        try:
            home.mkdir(parents=True, exist_ok=True)
            if not instance_config.exists():
                _write_whole(instance_config, "telemetry:\n  enabled: false\n")
        except OSError as error:
            raise Misconfigured(
                f"the Dagster home {home} cannot be created ({error.strerror or error}); make its folder "
                "writable, or set DAGSTER_HOME to a writable folder"
            ) from None
        os.environ["DAGSTER_HOME"] = str(home.resolve())
    try:
        repair_instance(home)
    except DagsterInstanceBroken as broken:
        raise InstanceUnusable(str(broken)) from broken
    return home


def _write_whole(path: Path, text: str) -> None:
    """Write a file whole or not at all (a process killed meanwhile leaves no empty file behind)."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as part:
        part.write(text)
    os.replace(part.name, path)


def daily_sync(provider_id: str | None) -> DailySyncPlan:
    """Run the daily sync job through Dagster (reference data, then the offers): the run the schedule makes, so
    the UI shows the same history whichever started it. Its imports are left to the caller."""
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        return run_daily_sync(defs, instance, provider=provider_id, requested_by=actor())


def run_imports(targets: list[InvoiceKey], options: dict[str, object] | None = None) -> tuple[bool, bool]:
    """Run the import job for each target through Dagster, printing one line each.

    Returns whether any run broke, and whether any import was refused.
    """
    dagster_home()
    broken = refused = False
    config = load_config()
    # One warehouse for the command, its schema checked once: it opens the file only for each read, so another
    # command (`invoices list`) gets in between the runs.
    warehouse = open_warehouse(config)
    try:
        with dg.DagsterInstance.get() as instance:
            for run_id in end_abandoned_import_runs(instance, warehouse, settle=config.claim_lapse):
                say(f"import run {run_id} had stopped without ending: now shown as failed in Dagster", err=True)
            for key in targets:
                outcome = run_invoice_import(defs, instance, key, options)
                if outcome.refused:
                    refused = True
                    say(f"{key}\trefused\t{outcome.error}")
                elif outcome.broken:
                    broken = True
                    say(f"{key}\tfailed\t{outcome.error or 'run failed'} (run {outcome.run_id})")
                else:
                    record = warehouse.current_record(key)
                    status = record.status if record else NOT_IMPORTED
                    message = (record.message if record else "") or ""
                    say(f"{key}\t{status}\t{message}")
    finally:
        warehouse.dispose()
    if not targets:
        say("nothing to import")
    return broken, refused


def show_in_dagster(config: PipelineConfig, key: InvoiceKey, change: str) -> None:
    """Make the invoice's partition in the Dagster UI tell at once what this command did."""
    with opened_warehouse(config) as warehouse:
        records = warehouse.records(key)
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        show_invoice_change(instance, key, records[0] if records else None, change, actor=actor())
