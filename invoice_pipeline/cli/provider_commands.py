"""`invoice-pipeline providers list|invoices`: the configured providers and the invoices they offer."""

from __future__ import annotations

import click

from invoice_pipeline.cli.errors import Broken
from invoice_pipeline.composition import opened_warehouse
from invoice_pipeline.config import PipelineConfig
from invoice_pipeline.connectors.base import ConnectorError
from invoice_pipeline.connectors.folder import folders_not_read


@click.group()
def providers() -> None:
    """The configured providers and the invoices they offer."""


@providers.command("list")
@click.pass_obj
def list_providers(config: PipelineConfig) -> None:
    """The configured providers."""
    for p in config.providers:
        click.echo(f"{p.id}\t{p.name}\t{p.sync}\t{p.connector}\ttolerance {p.checksum_tolerance}")


@providers.command("invoices")
@click.argument("provider_id")
@click.pass_obj
def provider_invoices(config: PipelineConfig, provider_id: str) -> None:
    """The invoices PROVIDER_ID offers, each with its status here (or `not imported`)."""
    from invoice_pipeline.operations.invoice_operations import offered_invoice_statuses

    with opened_warehouse(config) as warehouse:
        try:
            for offered in offered_invoice_statuses(config, warehouse, provider_id):
                click.echo(offered.text())
            for folder in folders_not_read(config.provider(provider_id)):
                click.echo(f"{folder.folder}\tnot read\t{folder.reason}")
        except ConnectorError as error:
            raise Broken(str(error)) from None
