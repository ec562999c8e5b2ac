"""Everything the command line prints goes through `say`: secrets redacted, control characters escaped."""

from __future__ import annotations

import click

from invoice_pipeline.domain.display import shown


def say(text: object = "", *, err: bool = False, multiline: bool = False) -> None:
    """Print `text` as a person may see it (`domain.display.shown`): one line whose columns are tab-separated,
    or with `multiline` a text of several lines (JSON, a mail preview, a block of our own lines)."""
    click.echo(shown(str(text), multiline=multiline, columns=not multiline), err=err)
