"""The composition root: what a configuration builds (its warehouse, its providers' connectors).

Plain Python, no Dagster: the CLI, the Dagster resource and the tests all build their parts here. The
connectors are imported when one is built, so a command that reaches no provider loads none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from invoice_pipeline.warehouse.engine import database_kept_open
from invoice_pipeline.warehouse.engine_faults import WarehouseWriteFailed
from invoice_pipeline.warehouse.warehouse import Warehouse

if TYPE_CHECKING:
    from invoice_pipeline.config import PipelineConfig, ProviderConfig
    from invoice_pipeline.connectors.base import ProviderConnector


def open_warehouse(config: PipelineConfig, *, check_schema: bool = True) -> Warehouse:
    """A warehouse for this configuration, its schema checked to be this code's (see `Warehouse.create_schema`).

    With the schema checked, imports that stopped without finishing (their claim lapsed) are recorded as such.
    """
    warehouse = _warehouse(config)
    if check_schema:
        _check_schema(warehouse, config)
    return warehouse


def _warehouse(config: PipelineConfig) -> Warehouse:
    return Warehouse(
        config.warehouse_url,
        temp_dir=config.data_dir / "duckdb_tmp",
        memory_limit=config.duckdb_memory_limit,
        threads=config.duckdb_threads,
        lock_timeout_seconds=config.warehouse_lock_timeout_seconds,
    )


def _check_schema(warehouse: Warehouse, config: PipelineConfig) -> None:
    warehouse.create_schema()
    # Whoever opens the warehouse next records an import that stopped without finishing (its claim lapsed);
    # a warehouse that cannot be written now (a full disk) still serves reads: a later command records it.
    with suppress(WarehouseWriteFailed):
        warehouse.release_stopped_imports(config.stuck_after, actor="invoice-pipeline")


@contextmanager
def opened_warehouse(config: PipelineConfig, *, check_schema: bool = True) -> Iterator[Warehouse]:
    """`open_warehouse` for the length of a `with` block: an embedded DuckDB file stays open for the block (see
    `database_kept_open`: other processes wait for the block, not for each statement) and its connections
    (DuckDB's file lock too) are released on leaving it, whatever happened inside."""
    warehouse = _warehouse(config)
    try:
        with database_kept_open(warehouse.engine):
            if check_schema:
                _check_schema(warehouse, config)
            yield warehouse
    finally:
        warehouse.dispose()


def connector_for(provider: ProviderConfig, config: PipelineConfig) -> ProviderConnector:
    """The connector that reaches this provider's invoices, built by the factory its connector registers
    (`connectors/registry.py`); a connector that downloads keeps its files in `<data_dir>/downloads/<provider>/`."""
    from invoice_pipeline.connectors.base import ConnectorContext
    from invoice_pipeline.connectors.registry import CONNECTORS

    context = ConnectorContext(provider.id, provider.line_file_limits, config.data_dir / "downloads" / provider.id)
    return CONNECTORS[provider.connector].connect(provider.settings, context)
