"""`invoice-pipeline sync`: import the eligible invoices of the automatic providers, through Dagster."""

from __future__ import annotations

import sys

import click

from invoice_pipeline.cli.common import refusals_refused
from invoice_pipeline.cli.errors import EXIT_BROKEN, EXIT_REFUSED, Broken, Refused
from invoice_pipeline.cli.output import say
from invoice_pipeline.composition import connector_for, open_warehouse, opened_warehouse
from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.domain.invoice_keys import InvoiceKey


@click.command()
@click.option("--provider", "provider_id", help="Only this automatic provider.")
@click.option("--invoice", "invoice_key", help="Import this one invoice now (PROVIDER:INVOICE_ID), manual backfill.")
@click.pass_obj
def sync(config: PipelineConfig, provider_id: str | None, invoice_key: str | None) -> None:
    """Import every eligible invoice (new, Error, stuck Populating) of the automatic providers, through Dagster.

    Prints one line per invoice. Validation Errors are outcomes, not failures: the exit status is
    non-zero only when the pipeline itself broke (3), or when a requested invoice is refused (1).
    """
    from invoice_pipeline.cli.dagster_runs import run_imports
    from invoice_pipeline.importing.import_refusals import refuse_import

    if invoice_key:
        key = InvoiceKey.parse(invoice_key)
        config.provider(key.provider)
        with refusals_refused(), opened_warehouse(config) as warehouse:
            refuse_import(config, warehouse, key, connectors=connector_for)
        targets = [key]
    else:
        if provider_id and config.provider(provider_id).sync != "automatic":
            raise Refused(
                f"{provider_id} is a manual provider: its invoices are never synced; create one with "
                f"`invoice-pipeline invoices create {provider_id}:ID --reason ...`, then activate it"
            )
        open_warehouse(config).dispose()  # a warehouse fault ends the command here, in one line, before any run
        targets = _daily_sync(provider_id)
    broken, refused = run_imports(targets)
    if broken:
        sys.exit(EXIT_BROKEN)
    if refused and invoice_key:
        sys.exit(EXIT_REFUSED)


def _daily_sync(provider_id: str | None) -> list[InvoiceKey]:
    """Run the daily sync through Dagster, print what it decided, and return the imports it found eligible."""
    from invoice_pipeline.cli.dagster_runs import daily_sync

    plan = daily_sync(provider_id)
    if not plan.outcome.success:
        raise Broken(
            f"the daily sync failed: {plan.outcome.error or 'see the run in the Dagster UI'} "
            f"(run {plan.outcome.run_id})"
        )
    for problem in plan.provider_errors:
        say(f"provider error\t{problem}", err=True)
    for skipped in plan.skipped:
        say(f"{skipped.invoice}\tskipped\t{skipped.reason}")
    for folder in plan.folders_not_read:
        say(f"{folder.provider}:{folder.folder}\tnot read\t{folder.reason}")
    for change in plan.changes:
        say(f"{change.invoice}\tchanged at provider\t{change.text()}")
    for error in plan.notifications_not_sent:
        say(f"notification not sent (retried next sync)\t{error}", err=True)
    return plan.eligible
