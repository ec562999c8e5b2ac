"""What the command modules share: who runs the command, invoice keys, refusals, the --reason option."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from invoice_pipeline.cli.errors import Misconfigured, Refused
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig
    from invoice_pipeline.notifications.mail import SmtpSettings

REASON = click.option("--reason", required=True, help="Why; kept in the invoice's history.")
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def invoice_operation(name: str, *options: Decorator) -> Callable[[Callable[..., None]], click.Command]:
    """A command that changes one invoice: INVOICE_KEY, --reason, then `options`; called with the configuration."""

    def command(function: Callable[..., None]) -> click.Command:
        function = click.pass_obj(function)
        for option in reversed(options):
            function = option(function)
        return click.command(name)(click.argument("invoice_key")(REASON(function)))

    return command


def actor() -> str:
    """Who runs this command, for the invoices' history."""
    return f"cli:{getpass.getuser()}"


def invoice_key_of(text: str) -> InvoiceKey:
    """The invoice key an argument names; a malformed one is a usage error naming the expected form."""
    try:
        return InvoiceKey.parse(text)
    except InvalidInvoiceKey as error:
        raise click.BadParameter(str(error)) from None


def import_hint(config: PipelineConfig, key: InvoiceKey) -> str:
    """The command that imports this invoice (again): a sync for an automatic provider, create + activate else."""
    if config.provider(key.provider).sync == "automatic":
        return f"`invoice-pipeline sync --invoice {key}`"
    return (
        f"`invoice-pipeline invoices create {key} --reason ...`, then "
        f"`invoice-pipeline invoices activate {key} --reason ...`"
    )


@contextmanager
def refusals_as_exit_status() -> Iterator[None]:
    """End the command with exit 1 and the refusal's sentence when the rules refuse (nothing was changed)."""
    try:
        yield
    except ImportRefused as refusal:
        raise Refused(str(refusal)) from None


def smtp() -> SmtpSettings:
    """The relay from the INVOICE_PIPELINE_SMTP_* variables; a wrong value is setup to fix (exit 2)."""
    from invoice_pipeline.notifications.mail import MailError, SmtpSettings

    try:
        return SmtpSettings.from_environment()
    except MailError as error:
        raise Misconfigured(str(error)) from None
