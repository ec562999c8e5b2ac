"""The commands' runs through Dagster: its instance, the daily sync and import jobs, and showing an operation.

Imported only by the commands that run Dagster, so the others start without loading it. A command opens the
instance once (`command_instance`) and runs its jobs in its own process with its own configuration and warehouse
(`InvoicePipelineResource.of_command`): however many runs it makes, it loads the configuration once and opens one
warehouse.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from invoice_pipeline.cli.common import actor
from invoice_pipeline.cli.errors import InstanceUnusable, Misconfigured, Refused
from invoice_pipeline.cli.output import say
from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.dagster_defs.abandoned_runs import end_abandoned_import_runs
from invoice_pipeline.dagster_defs.instance_repair import DagsterInstanceBroken, repair_instance
from invoice_pipeline.dagster_defs.invoice_state import show_invoice_change
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.pipeline import pipeline_definitions
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_tags import REFUSAL_PREFIX
from invoice_pipeline.dagster_defs.runs import DailySyncRun, run_daily_sync, run_invoice_import
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import NOT_IMPORTED
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
from invoice_pipeline.warehouse.warehouse import Warehouse


def dagster_home(config: PipelineConfig) -> Path:
    """DAGSTER_HOME, or this folder when it holds dagster.yaml, or <data dir>/dagster_home; an instance a killed
    process left half-created there is repaired first (see `instance_repair`)."""
    if os.environ.get("DAGSTER_HOME"):
        home = Path(os.environ["DAGSTER_HOME"])
    else:
        home = Path.cwd() if Path("dagster.yaml").is_file() else config.data_dir / "dagster_home"
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


@contextmanager
def command_instance(config: PipelineConfig) -> Iterator[dg.DagsterInstance]:
    """The command's Dagster instance (`dagster_home`), open for the `with` block."""
    dagster_home(config)
    with dg.DagsterInstance.get() as instance:
        yield instance


def _definitions(config: PipelineConfig, warehouse: Warehouse) -> dg.Definitions:
    """The pipeline's definitions for the runs of this command: its configuration and its warehouse."""
    resources = {"invoice_pipeline": InvoicePipelineResource.of_command(config, warehouse), "smtp": smtp_resource()}
    return pipeline_definitions(config, resources)


def daily_sync(
    config: PipelineConfig, warehouse: Warehouse, instance: dg.DagsterInstance, provider_id: str | None
) -> DailySyncRun:
    """Run the daily sync job through Dagster (reference data, then the offers): the run the schedule makes, so
    the UI shows the same history whichever started it. Its imports are left to the caller."""
    defs = _definitions(config, warehouse)
    return run_daily_sync(defs, instance, provider=provider_id, requested_by=actor())


def run_imports(
    config: PipelineConfig,
    warehouse: Warehouse,
    instance: dg.DagsterInstance,
    targets: list[InvoiceKey],
    options: dict[str, object] | None = None,
    *,
    refusal_ends_command: bool = False,
) -> tuple[bool, bool]:
    """Run the import job for each target through Dagster, printing one line each; with `refusal_ends_command`
    (an invoice the person asked for), a refused import ends the command as refused (exit 1, its reason).

    Returns whether any run broke, and whether any import was refused.
    """
    broken = refused = False
    defs = _definitions(config, warehouse)
    for run_id in end_abandoned_import_runs(instance, warehouse, settle=config.claim_lapse):
        say(f"import run {run_id} had stopped without ending: now shown as failed in Dagster", err=True)
    for key in targets:
        outcome = run_invoice_import(defs, instance, key, options)
        if outcome.refused and refusal_ends_command:
            raise Refused((outcome.error or "").removeprefix(REFUSAL_PREFIX))
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
    if not targets:
        say("nothing to import")
    return broken, refused


def show_in_dagster(config: PipelineConfig, key: InvoiceKey, record: InvoiceRecord | None, change: str) -> None:
    """Make the invoice's partition in the Dagster UI tell at once what this command did (`record`: the invoice's
    record after it, None when deleted)."""
    with command_instance(config) as instance:
        show_invoice_change(instance, key, record, change, actor=actor())
