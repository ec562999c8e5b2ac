"""The command line's exit statuses and the faults that end a command with one line."""

from __future__ import annotations

import click

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_BROKEN = 3
DEBUG_ENV_VAR = "INVOICE_PIPELINE_DEBUG"


class Refused(click.ClickException):
    """An operation refused: one sentence on why and what to do instead; nothing was changed."""

    exit_code = EXIT_REFUSED


class Misconfigured(click.ClickException):
    """Configuration or setup a person must fix, in one sentence that says how."""

    exit_code = EXIT_USAGE


class Broken(click.ClickException):
    """A fault the pipeline met (a run broke, a relay down), in one sentence that says what to do."""

    exit_code = EXIT_BROKEN


class InstanceUnusable(Exception):
    """The Dagster instance cannot be used and could not be repaired: the command ends with its line and exit 3."""
