"""The `invoice-pipeline` command line: sync provider invoices through Dagster and inspect them.

This package holds the group and `main`, and ends every fault in one line with its exit status (`errors`). Each
command group lives in a module of its own, imported only when that command runs or its help is shown (`LazyGroup`);
the command modules import the configuration, the warehouse and Dagster inside the commands that use them, so
`--help` starts without any of them and each command loads only what it needs.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

from invoice_pipeline.cli.errors import DEBUG_ENV_VAR, EXIT_BROKEN, EXIT_USAGE, InstanceUnusable
from invoice_pipeline.cli.lazy_group import LazyGroup
from invoice_pipeline.cli.output import say
from invoice_pipeline.domain.invoice_keys import InvalidInvoiceKey

COMMANDS = {
    "sync": "invoice_pipeline.cli.sync_commands:sync",
    "invoices": "invoice_pipeline.cli.invoice_commands:invoices",
    "billing": "invoice_pipeline.cli.billing_commands:billing",
    "reconcile": "invoice_pipeline.cli.reconcile_commands:reconcile",
    "providers": "invoice_pipeline.cli.provider_commands:providers",
    "notify": "invoice_pipeline.cli.notify_commands:notify",
    "warehouse": "invoice_pipeline.cli.warehouse_commands:warehouse_group",
}
# config.CONFIG_ENV_VAR, written out so that `--help` does not load the configuration's models (a test compares).
CONFIG_ENV_VAR = "INVOICE_PIPELINE_CONFIG"


def _debug_asked(ctx: click.Context, param: click.Parameter, asked: bool) -> None:
    if asked:
        os.environ[DEBUG_ENV_VAR] = "1"


def debugging() -> bool:
    """Whether a fault shows its traceback (--debug, or INVOICE_PIPELINE_DEBUG=1)."""
    return os.environ.get(DEBUG_ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


class _PipelineGroup(LazyGroup):
    """The command group that ends every fault with one line on stderr and its exit status (1 refused, 2 usage,
    configuration or setup to fix, 3 a fault the pipeline met), never a traceback unless asked for (--debug or
    INVOICE_PIPELINE_DEBUG=1). The pipeline's warnings (a warehouse retry, an instance repaired) go to stderr,
    one line each, while the command runs; so the same holds for the console script and click's test runner."""

    def invoke(self, ctx: click.Context) -> object:
        with pipeline_warnings_to_stderr():
            try:
                return super().invoke(ctx)
            except click.UsageError:
                raise  # click shows the command's usage with the error, exit 2
            except click.ClickException as error:
                say(f"invoice-pipeline: {error.format_message()}", err=True)
                sys.exit(error.exit_code)
            except (click.exceptions.Exit, click.Abort, BrokenPipeError):
                raise  # click ends these itself: a closed pipe (`| head`) quietly, exit 1
            except Exception as error:
                _end_with_fault(error)


def _end_with_fault(error: Exception) -> NoReturn:
    """End the command with the fault's line and exit status: 2 for what a person must fix (configuration, an
    invoice key, the warehouse's settings), 3 for a fault the pipeline met. The configuration's and the warehouse's
    faults are imported here, once a fault happened: a command that loads neither does not pay for them."""
    from invoice_pipeline.config import ConfigError
    from invoice_pipeline.warehouse.engine_faults import WarehouseFault, WarehouseMisconfigured
    from invoice_pipeline.warehouse.schema_migrations import WarehouseSchemaOutdated

    if isinstance(error, (ConfigError, InvalidInvoiceKey, WarehouseMisconfigured)):
        _fail(error, EXIT_USAGE)
    if isinstance(error, (WarehouseFault, WarehouseSchemaOutdated, InstanceUnusable)):
        _fail(error, EXIT_BROKEN)
    first_line = (str(error).strip().splitlines() or [""])[0][:300]
    unexpected = f"unexpected {type(error).__name__}: {first_line}; run it again with --debug for the traceback"
    _fail(error, EXIT_BROKEN, unexpected)


@contextmanager
def pipeline_warnings_to_stderr() -> Iterator[None]:
    """While a command runs: the pipeline's warnings one line each on stderr, libraries' only when debugging."""
    to_stderr = logging.StreamHandler()
    to_stderr.setFormatter(logging.Formatter("invoice-pipeline: %(message)s"))
    pipeline_log = logging.getLogger("invoice_pipeline")
    before = (pipeline_log.level, pipeline_log.propagate)
    pipeline_log.addHandler(to_stderr)
    pipeline_log.setLevel(logging.WARNING)
    pipeline_log.propagate = False
    # Libraries' own warnings (a driver closing a broken connection) would reach stderr through Python's
    # last-resort handler: the pipeline's one line says what happened; --debug shows theirs too.
    theirs = logging.StreamHandler() if debugging() else logging.NullHandler()
    logging.getLogger().addHandler(theirs)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(beta|preview|experimental).*", category=Warning)
            yield
    finally:
        logging.getLogger().removeHandler(theirs)
        pipeline_log.removeHandler(to_stderr)
        pipeline_log.setLevel(before[0])
        pipeline_log.propagate = before[1]


@click.group(cls=_PipelineGroup, lazy_subcommands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help=f"Pipeline YAML configuration (default: ${CONFIG_ENV_VAR}, else the bundled demo).",
)
@click.option(
    "--debug",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_debug_asked,
    help=f"Show a fault's traceback, then its one line (also ${DEBUG_ENV_VAR}=1).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Import and validate provider invoices (Partner Center, distributors, vendors) with Dagster."""
    from invoice_pipeline.config import load_config

    if config_path:
        os.environ[CONFIG_ENV_VAR] = str(Path(config_path).resolve())
    ctx.obj = load_config()  # the command's one configuration, passed down to the command (`click.pass_obj`)


def main() -> None:
    """Console entry point (see `_PipelineGroup` for how a fault ends)."""
    cli.main(prog_name="invoice-pipeline")


def _fail(error: Exception, exit_code: int, line: str | None = None) -> NoReturn:
    """End the command with the fault's one line (its traceback first when asked for)."""
    if debugging():
        say("".join(traceback.format_exception(error)).rstrip("\n"), err=True, multiline=True)
    say(f"invoice-pipeline: {line or error}", err=True)
    sys.exit(exit_code)
