"""The Dagster resource that gives assets the pipeline's configuration and warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from invoice_pipeline.composition import opened_warehouse
from invoice_pipeline.config import CONFIG_ENV_VAR, DEMO_CONFIG_PATH, PipelineConfig, load_config
from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.warehouse.engine import database_kept_open
from invoice_pipeline.warehouse.engine_faults import WarehouseFault
from invoice_pipeline.warehouse.schema_migrations import WarehouseSchemaOutdated
from invoice_pipeline.warehouse.warehouse import Warehouse


class InvoicePipelineResource(dg.ConfigurableResource):
    """The invoice pipeline's configuration file, and the warehouse it names.

    A run the Dagster daemon or the UI launches reads the file when a step uses it; a run a CLI command executes in
    its own process is given the command's configuration and warehouse instead (`of_command`), so that a command
    loads its configuration once and opens one warehouse, however many runs it executes.
    """

    config_path: str | None = Field(
        default=None,
        description=f"Path of the pipeline's YAML configuration; unset: ${CONFIG_ENV_VAR} as the run finds it, "
        "else the bundled demo.",
    )
    _command_config: PipelineConfig | None = PrivateAttr(default=None)
    _command_warehouse: Warehouse | None = PrivateAttr(default=None)

    @classmethod
    def of_command(cls, config: PipelineConfig, warehouse: Warehouse) -> dg.ResourceDefinition:
        """The resource of the runs a command executes in its process: its configuration and its warehouse, opened
        (schema checked) by the command, which disposes of it. Given as is (hardcoded): Dagster would otherwise
        build the resource again from its config fields, without them."""
        resource = cls()
        resource._command_config = config
        resource._command_warehouse = warehouse
        return dg.ResourceDefinition.hardcoded_resource(resource)

    def config_file(self) -> Path:
        """The configuration file this resource reads now: its own path, else $INVOICE_PIPELINE_CONFIG, else the
        bundled demo (the variable is read when the resource is used, never when the definitions are loaded)."""
        return Path(self.config_path or os.environ.get(CONFIG_ENV_VAR) or DEMO_CONFIG_PATH)

    def load_config(self) -> PipelineConfig:
        """The validated configuration (the command's, for a run a command executes)."""
        if self._command_config is not None:
            return self._command_config
        return load_config(self.config_file())

    @contextmanager
    def warehouse(self, config: PipelineConfig | None = None) -> Iterator[Warehouse]:
        """The warehouse, schema ensured (the command's, for a run a command executes); a DuckDB file is held open
        for the block (one open for the whole step instead of one per statement) and its connections are released on
        exit (DuckDB's file lock too).

        A warehouse fault, opening it or while it is used (unreachable, misconfigured, a full disk, a schema
        behind), fails the step with its one line and no stack trace.
        """
        with warehouse_faults_as_plain_errors():
            if self._command_warehouse is not None:
                with database_kept_open(self._command_warehouse.engine):
                    yield self._command_warehouse
                return
            with opened_warehouse(config or self.load_config()) as warehouse:
                yield warehouse


@contextmanager
def warehouse_faults_as_plain_errors() -> Iterator[None]:
    """Raise a warehouse fault as a PlainError: the step fails with the fault's sentence alone."""
    try:
        yield
    except (WarehouseFault, WarehouseSchemaOutdated) as fault:
        raise PlainError(type(fault).__name__, str(fault)) from None


def pipeline_resource() -> InvoicePipelineResource:
    """The resource as the definitions use it: no path of its own, so each run reads INVOICE_PIPELINE_CONFIG
    (else the bundled demo) when it starts. Not a `dg.EnvVar`: Dagster fails every run whose EnvVar is unset,
    and the demo runs without the variable."""
    return InvoicePipelineResource()
