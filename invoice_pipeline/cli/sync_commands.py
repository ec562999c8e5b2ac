"""`invoice-pipeline sync`: import the eligible invoices of the automatic providers, through Dagster."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.errors import EXIT_BROKEN, Broken, Refused
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.invoice_keys import InvoiceKey

if TYPE_CHECKING:
    import dagster as dg

    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.warehouse.warehouse import Warehouse


@click.command()
@click.option("--provider", "provider_id", help="Only this automatic provider.")
@click.option("--invoice", "invoice_key", help="Import this one invoice now (PROVIDER:INVOICE_ID), manual backfill.")
@click.pass_obj
def sync(config: PipelineConfig, provider_id: str | None, invoice_key: str | None) -> None:
    """Import every eligible invoice (new, Error, stuck Populating) of the automatic providers, through Dagster.

    Prints one line per invoice. Validation Errors are outcomes, not failures: the exit status is
    non-zero only when the pipeline itself broke (3), or when a requested invoice is refused (1).
    """
    from invoice_pipeline.cli.dagster_runs import command_instance, run_imports
    from invoice_pipeline.composition import open_warehouse

    key = InvoiceKey.parse(invoice_key) if invoice_key else None
    if key is not None:
        config.provider(key.provider)
    elif provider_id and config.provider(provider_id).sync != "automatic":
        raise Refused(
            f"{provider_id} is a manual provider: its invoices are never synced; create one with "
            f"`invoice-pipeline invoices create {provider_id}:ID --reason ...`, then activate it"
        )
    # The command's one warehouse (a fault ends the command here, in one line, before any run), its runs' too. A
    # requested invoice's refusal is decided by its import run, once (it ends green, tagged refused).
    warehouse = open_warehouse(config)
    try:
        with command_instance(config) as instance:
            targets = [key] if key is not None else _daily_sync(config, warehouse, instance, provider_id)
            broken, _ = run_imports(config, warehouse, instance, targets, refusal_ends_command=key is not None)
    finally:
        warehouse.dispose()
    if broken:
        sys.exit(EXIT_BROKEN)


def _daily_sync(
    config: PipelineConfig, warehouse: Warehouse, instance: dg.DagsterInstance, provider_id: str | None
) -> list[InvoiceKey]:
    """Run the daily sync through Dagster, print what it decided, and return the imports it found eligible."""
    from invoice_pipeline.cli.dagster_runs import daily_sync
    from invoice_pipeline.notifications.provider_changes import ProviderChange

    run = daily_sync(config, warehouse, instance, provider_id)
    if not run.outcome.success:
        raise Broken(
            f"the daily sync failed: {run.outcome.error or 'see the run in the Dagster UI'} (run {run.outcome.run_id})"
        )
    plan = run.plan
    for problem in plan.provider_errors:
        say(f"provider error\t{problem}", err=True)
    for skipped in plan.skipped:
        say(f"{skipped.key}\tskipped\t{skipped.reason}")
    for folder in plan.folders_not_read:
        say(f"{folder.provider}:{folder.folder}\tnot read\t{folder.reason}")
    for change in map(ProviderChange.from_log, plan.new_changes):
        say(f"{change.invoice}\tchanged at provider\t{change.text()}")
    for error in run.notifications_not_sent:
        say(f"notification not sent (retried next sync)\t{error}", err=True)
    return plan.eligible
