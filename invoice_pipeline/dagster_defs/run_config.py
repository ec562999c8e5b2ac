"""Launchpad config of the operation jobs, refused before any run exists when it cannot work.

The Launchpad checks config against the config schema only (types and required keys), so an empty
invoice or reason passes its check. A job-level config mapping runs in the code location when the run
is launched, before the run is created: a refusal there leaves no run, and the Launchpad shows it in
an error dialog. The mapping's schema is the op's config class, so every field's description shows in
the Launchpad's editor, and the run config is the short form the user types (no `ops:` nesting).
"""

import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import dagster as dg

from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.domain.display import shown
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey, InvoiceKey

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
C = TypeVar("C", bound=dg.Config)


class LaunchConfigRefused(PlainError):
    """A launch refused for its config: no run was created, and the Launchpad shows the message alone.

    Any other exception raised by a config mapping is shown as "The config mapping function has thrown
    an unexpected error", with our sentence below a stack trace of Dagster's own frames.
    """

    def __init__(self, job_name: str, problems: list[str]) -> None:
        self.problems = problems
        message = f"{job_name} was not launched (nothing changed); fix its config:\n" + "\n".join(
            f"- {shown(problem)}" for problem in problems
        )
        super().__init__(type(self).__name__, message, multiline=True)


def invoice_key_problems(invoice: str) -> list[str]:
    """Why `invoice` is not a provider invoice key, saying how to write one (empty when it is one)."""
    if not invoice.strip():
        return ["invoice: empty; write the provider invoice as PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130"]
    try:
        InvoiceKey.parse(invoice)
    except InvalidInvoiceKey as error:
        return [f"invoice: {error}"]
    return []


def text_problems(**fields: tuple[str, str]) -> list[str]:
    """The fields left empty (or blank), each with what to write: `name=(value, what to write)`."""
    return [f"{name}: empty; write {what}" for name, (value, what) in fields.items() if not value.strip()]


def iso_date_problems(**dates: str) -> list[str]:
    """The dates not written YYYY-MM-DD, or not a day of the calendar."""
    return [
        f"{name}: {text[:40]!r} is not a date; write YYYY-MM-DD, e.g. 2026-11-05"
        for name, text in dates.items()
        if not _is_iso_date(text)
    ]


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return bool(ISO_DATE.fullmatch(text))


def refused_before_launch(
    job_name: str, op_name: str, config_class: type[C], problems: Callable[[C], list[str]]
) -> dg.ConfigMapping:
    """The job's config: `config_class`'s fields at the top level, refused at launch when `problems` finds any."""

    def to_run_config(values: dict[str, Any]) -> dict[str, Any]:
        config = config_class(**values)
        found = problems(config)
        if found:
            raise LaunchConfigRefused(job_name, found)
        return dg.RunConfig(ops={op_name: config}).to_config_dict()

    return dg.ConfigMapping(config_fn=to_run_config, config_schema=config_class.to_config_schema())
