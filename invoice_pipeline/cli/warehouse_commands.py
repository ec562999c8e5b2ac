"""`invoice-pipeline warehouse status|upgrade`: the warehouse's schema revision and its migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from invoice_pipeline.cli.errors import Refused
from invoice_pipeline.cli.output import say

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig


@click.group("warehouse")
def warehouse_group() -> None:
    """The warehouse's schema: which revision it is at, and the migrations that bring it to this version."""


@warehouse_group.command("status")
@click.pass_obj
def warehouse_status(config: PipelineConfig) -> None:
    """Print the warehouse's schema revision; exit 1 when it needs `warehouse upgrade`."""
    from invoice_pipeline.composition import opened_warehouse

    with opened_warehouse(config, check_schema=False) as warehouse:
        state = warehouse.schema_state()
    say(f"warehouse: {warehouse.location}")
    say(f"schema revision: {state.current or 'none (not set up)'}; this version needs: {state.head}")
    if not state.up_to_date:
        raise Refused("the schema is not this version's; run `invoice-pipeline warehouse upgrade`")
    say("up to date")


@warehouse_group.command("upgrade")
@click.pass_obj
def warehouse_upgrade(config: PipelineConfig) -> None:
    """Create the warehouse's tables or apply the migrations it lacks (safe to run again)."""
    from invoice_pipeline.composition import opened_warehouse

    with opened_warehouse(config, check_schema=False) as warehouse:
        before, after = warehouse.upgrade_schema()
    if before == after:
        say(f"warehouse {warehouse.location}: already at schema revision {after}, nothing to do")
    else:
        say(f"warehouse {warehouse.location}: schema upgraded from {before or 'nothing'} to revision {after}")
