"""The Dagster resource that gives assets the pipeline's configuration and warehouse."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import dagster as dg
from pydantic import Field

from invoice_pipeline.config import CONFIG_ENV_VAR, DEMO_CONFIG_PATH, PipelineConfig, load_config
from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.warehouse.engine_faults import WarehouseFault, WarehouseWriteFailed
from invoice_pipeline.warehouse.schema_migrations import WarehouseSchemaOutdated
from invoice_pipeline.warehouse.warehouse import Warehouse


class InvoicePipelineResource(dg.ConfigurableResource):
    """The invoice pipeline's configuration file, and the warehouse it names."""

    config_path: str = Field(description="Path of the pipeline's YAML configuration (INVOICE_PIPELINE_CONFIG).")

    def load_config(self) -> PipelineConfig:
        """The validated configuration."""
        return load_config(self.config_path)

    @contextmanager
    def warehouse(self, config: PipelineConfig | None = None) -> Iterator[Warehouse]:
        """The warehouse, schema ensured; its connections are released on exit (DuckDB's file lock too).

        A warehouse fault, opening it or while it is used (unreachable, misconfigured, a full disk, a schema
        behind), fails the step with its one line and no stack trace.
        """
        config = config or self.load_config()
        with warehouse_faults_told_plainly():
            warehouse = open_warehouse(config)
            try:
                yield warehouse
            finally:
                warehouse.dispose()


@contextmanager
def warehouse_faults_told_plainly() -> Iterator[None]:
    """Raise a warehouse fault as a PlainError: the step fails with the fault's sentence alone."""
    try:
        yield
    except (WarehouseFault, WarehouseSchemaOutdated) as fault:
        raise PlainError(type(fault).__name__, str(fault)) from None


def open_warehouse(config: PipelineConfig, *, check_schema: bool = True) -> Warehouse:
    """A warehouse for this configuration, its schema checked to be this code's (see `Warehouse.create_schema`)."""
    warehouse = Warehouse(
        config.warehouse_url,
        temp_dir=config.data_dir / "duckdb_tmp",
        memory_limit=config.duckdb_memory_limit,
        threads=config.duckdb_threads,
        lock_timeout_seconds=config.warehouse_lock_timeout_seconds,
    )
    if check_schema:
        warehouse.create_schema()
        # Whoever opens the warehouse next records an import that stopped without finishing (its claim lapsed);
        # a warehouse that cannot be written now (a full disk) still serves reads: a later command records it.
        with suppress(WarehouseWriteFailed):
            warehouse.release_stopped_imports(config.stuck_after, actor="invoice-pipeline")
    return warehouse


def pipeline_resource() -> InvoicePipelineResource:
    """The resource as the definitions use it: the config from INVOICE_PIPELINE_CONFIG, else the bundled demo."""
    if os.environ.get(CONFIG_ENV_VAR):
        return InvoicePipelineResource(config_path=dg.EnvVar(CONFIG_ENV_VAR))
    return InvoicePipelineResource(config_path=str(DEMO_CONFIG_PATH))
