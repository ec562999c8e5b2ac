"""Shared fixtures: a fresh provider workspace (config, reference data, DuckDB warehouse) per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from invoice_pipeline.warehouse.warehouse import Warehouse
from invoice_pipeline_tests.builders import ProviderWorkspace, make_workspace


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> ProviderWorkspace:
    """A workspace whose config is also the one `INVOICE_PIPELINE_CONFIG` points at."""
    ws = make_workspace(tmp_path / "workspace")
    monkeypatch.setenv("INVOICE_PIPELINE_CONFIG", str(ws.config_path))
    monkeypatch.setenv("INVOICE_PIPELINE_DATA_DIR", str(ws.root / "data"))
    return ws


@pytest.fixture
def warehouse(workspace: ProviderWorkspace) -> Iterator[Warehouse]:
    """The workspace's warehouse, released after the test."""
    wh = workspace.warehouse()
    yield wh
    wh.dispose()
