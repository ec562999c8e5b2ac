"""Shared fixtures: a fresh provider workspace (config, reference data, warehouse) per test.

A test that uses the `workspace` fixture runs on an embedded DuckDB warehouse. The engine contract (tests
marked `engine_contract`: what the warehouse stores and refuses) runs twice: on DuckDB and on a PostgreSQL
warehouse of its own (a migrated schema of its own in the local test database: `postgres_schemas`). `-m "not postgresql"` runs the DuckDB
half only.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from invoice_pipeline.warehouse.warehouse import Warehouse
    from invoice_pipeline_tests.builders import ProviderWorkspace

# This conftest stays light (pytest and the standard library): the unit tier (invoice_pipeline_tests/unit) loads it
# too, so the engines (pandera, ibis, SQLAlchemy, DuckDB) are imported inside the fixtures that build them.

ENGINES = ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run engine-contract tests on both engines, every other workspace test on DuckDB alone."""
    if "warehouse_engine" in metafunc.fixturenames and not any(
        "warehouse_engine" in getattr(mark, "args", ("",))[0]
        for mark in metafunc.definition.iter_markers("parametrize")
    ):
        engines = ENGINES if metafunc.definition.get_closest_marker("engine_contract") else ["duckdb"]
        metafunc.parametrize("warehouse_engine", engines)


UNIT_TIER = Path(__file__).parent / "unit"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads `-n` (pytest.ini's addopts)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run the unit tier in one process: its tests take milliseconds, a worker's start-up takes seconds.

    Only when every path given is inside invoice_pipeline_tests/unit and `-n` was not given on the command line.
    """
    if not hasattr(config.option, "numprocesses") or _numprocesses_given(config.invocation_params.args):
        return
    paths = [config.invocation_params.dir / arg.split("::", 1)[0] for arg in config.args]
    if paths and all(path.resolve().is_relative_to(UNIT_TIER) for path in paths):
        config.option.numprocesses = 0


def _numprocesses_given(args: tuple[str, ...]) -> bool:
    return any(arg.startswith(("-n", "--numprocesses")) for arg in args)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (stable otherwise): the workers start the longest at once instead of one of them ending
    the run alone with a fault suite."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which `-p no:xdist` leaves out
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadscope` (pytest.ini), but only where it pays: a module whose tests share a module-scoped fixture
    (a webserver, a browser, a CLI workspace) goes to one worker so it is built once; every other test goes
    alone to whichever worker is free, so a module of slow tests is spread over both."""
    if config.getoption("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixturesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if _shares_module_fixtures(config.rootpath / module) else nodeid

    return SharedFixturesTogether(config, log)


@cache
def _shares_module_fixtures(path: Path) -> bool:
    # The controller does not collect: it reads the module's source for a module-scoped fixture.
    return path.is_file() and 'scope="module"' in path.read_text(encoding="utf-8")


@pytest.fixture
def warehouse_engine(request) -> str:
    """The warehouse engine a test runs on (parametrized by `pytest_generate_tests`)."""
    return request.param


@pytest.fixture
def warehouse_url(warehouse_engine: str) -> Iterator[str | None]:
    """The test's own warehouse: None for the default DuckDB file, else a migrated PostgreSQL schema."""
    from invoice_pipeline_tests.postgres_schemas import postgres_warehouse_url

    if warehouse_engine == "duckdb":
        yield None
        return
    with postgres_warehouse_url() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DuckDB warehouse migrated per test process (each xdist worker has its own), copied by every workspace."""
    from invoice_pipeline_tests.builders import migrate_duckdb

    return migrate_duckdb(tmp_path_factory.mktemp("migrated") / "warehouse.duckdb")


@pytest.fixture
def workspace(tmp_path, monkeypatch, warehouse_url: str | None, migrated_duckdb: Path) -> ProviderWorkspace:
    """A workspace whose config is also the one `INVOICE_PIPELINE_CONFIG` points at."""
    from invoice_pipeline_tests.builders import make_workspace

    ws = make_workspace(tmp_path / "workspace", warehouse_url, migrated_duckdb=migrated_duckdb)
    monkeypatch.setenv("INVOICE_PIPELINE_CONFIG", str(ws.config_path))
    monkeypatch.setenv("INVOICE_PIPELINE_DATA_DIR", str(ws.root / "data"))
    return ws


@pytest.fixture
def warehouse(workspace: ProviderWorkspace) -> Iterator[Warehouse]:
    """The workspace's warehouse, released after the test."""
    wh = workspace.warehouse()
    yield wh
    wh.dispose()
