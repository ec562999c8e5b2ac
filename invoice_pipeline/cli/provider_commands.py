"""`invoice-pipeline providers list|invoices|check`: the configured providers, the invoices they offer, and a
check of a Partner Center provider's connection."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.errors import Broken, Refused
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, check_invoice_id

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig


@click.group()
def providers() -> None:
    """The configured providers and the invoices they offer."""


@providers.command("list")
@click.pass_obj
def list_providers(config: PipelineConfig) -> None:
    """The configured providers."""
    for p in config.providers:
        say(f"{p.id}\t{p.name}\t{p.sync}\t{p.connector}\ttolerance {p.checksum_tolerance}")


@providers.command("invoices")
@click.argument("provider_id")
@click.pass_obj
def provider_invoices(config: PipelineConfig, provider_id: str) -> None:
    """The invoices PROVIDER_ID offers, each with its status here (or `not imported`)."""
    from invoice_pipeline.composition import connector_for, opened_warehouse
    from invoice_pipeline.connectors.base import ConnectorError
    from invoice_pipeline.connectors.folder import folders_not_read
    from invoice_pipeline.operations.invoice_operations import offered_invoice_statuses

    with opened_warehouse(config) as warehouse:
        try:
            for offered in offered_invoice_statuses(config, warehouse, provider_id, connectors=connector_for):
                say(offered.text())
            for folder in folders_not_read(config.provider(provider_id)):
                say(f"{folder.folder}\tnot read\t{folder.reason}")
        except ConnectorError as error:
            raise Broken(str(error)) from None


def _invoice_id(_context: click.Context, _option: click.Parameter, text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return check_invoice_id(text)
    except InvalidInvoiceKey as error:
        raise click.BadParameter(str(error)) from None


@providers.command("check")
@click.argument("provider_id")
@click.option(
    "--invoice",
    "invoice_id",
    callback=_invoice_id,
    help="The invoice to download (default: the newest by invoiceDate).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the steps as a JSON array.")
@click.pass_obj
def check_provider(config: PipelineConfig, provider_id: str, invoice_id: str | None, as_json: bool) -> None:
    """Run the read-only calls against PROVIDER_ID's Partner Center, one line per step as it goes: configuration,
    tokens, invoice collection, one invoice downloaded to a temporary folder, its totals. Nothing is imported or
    kept, no secret is shown; exit 1 when a step FAILED."""
    from invoice_pipeline.connectors.partner_center.check import not_partner_center, run_checks

    provider = config.provider(provider_id)
    refusal = not_partner_center(provider)
    if refusal is not None:
        raise Refused(refusal)
    failed, steps = [], []
    for step in run_checks(provider, invoice_id=invoice_id, minor_units=_minor_units(config)):
        if step.failed:
            failed.append(step.name)
        if as_json:
            steps.append(step.as_json())
        else:
            for line in step.lines():
                say(line)
    if as_json:
        say(json.dumps(steps, indent=2), multiline=True)
    if failed:
        raise Refused(f"{provider_id}: FAILED at {', '.join(failed)}; nothing was imported")


def _minor_units(config: PipelineConfig) -> dict[str, int]:
    """The currencies' minor units from the reference data, for the totals as the import rounds them (none when
    the reference data cannot be read: the totals are then compared exactly)."""
    from invoice_pipeline.validation.reference_data import load_reference_table
    from invoice_pipeline.validation.reference_errors import ReferenceDataError

    try:
        currencies = load_reference_table(config.reference_data, "currencies")
    except ReferenceDataError:
        return {}
    return {str(code): int(units) for code, units in zip(currencies["code"], currencies["minor_units"], strict=True)}
