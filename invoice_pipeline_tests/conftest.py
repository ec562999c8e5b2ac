"""Shared fixtures: a fresh provider workspace (config, reference data, warehouse) per test.

Every test that uses the `workspace` fixture runs twice: on an embedded DuckDB warehouse and on a
PostgreSQL warehouse of its own (a fresh schema in the local test database). `-m "not postgresql"`
runs the DuckDB half only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from invoice_pipeline.warehouse.warehouse import Warehouse
from invoice_pipeline_tests.builders import ProviderWorkspace, make_workspace, postgres_warehouse_url


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def warehouse_engine(request) -> str:
    """The warehouse engine a test runs on."""
    return request.param


@pytest.fixture
def warehouse_url(warehouse_engine: str) -> Iterator[str | None]:
    """The test's own warehouse: None for the default DuckDB file, else a migrated PostgreSQL schema."""
    if warehouse_engine == "duckdb":
        yield None
        return
    with postgres_warehouse_url() as url:
        yield url


@pytest.fixture
def workspace(tmp_path, monkeypatch, warehouse_url: str | None) -> ProviderWorkspace:
    """A workspace whose config is also the one `INVOICE_PIPELINE_CONFIG` points at."""
    ws = make_workspace(tmp_path / "workspace", warehouse_url)
    monkeypatch.setenv("INVOICE_PIPELINE_CONFIG", str(ws.config_path))
    monkeypatch.setenv("INVOICE_PIPELINE_DATA_DIR", str(ws.root / "data"))
    return ws


@pytest.fixture
def warehouse(workspace: ProviderWorkspace) -> Iterator[Warehouse]:
    """The workspace's warehouse, released after the test."""
    wh = workspace.warehouse()
    yield wh
    wh.dispose()
