"""The unit tier (invoice_pipeline_tests/unit) stays light: importing it loads no engine, no Dagster and no server.

Its modules are imported in a fresh interpreter, as pytest would, and the modules that interpreter then holds are
read: an engine imported by the code under test at import time (even for a type only) shows up there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent
ROOT = TESTS.parent
UNIT_TIER = TESTS / "unit"

# What the unit tier may not load: the warehouse engines and their drivers, the schema checks, Dagster, the
# migrations, the servers the slow tests start (Dagster's webserver, the SMTP relay, an HTTP server) and the
# builders of engine-backed workspaces.
HEAVY = (
    "duckdb",
    "duckdb_engine",
    "sqlalchemy",
    "ibis",
    "pandera",
    "dagster",
    "dagster_webserver",
    "dagster_graphql",
    "alembic",
    "psycopg",
    "uvicorn",
    "starlette",
    "aiosmtpd",
    "http.server",
    "invoice_pipeline_tests.builders",
)

_IMPORT_AND_LIST = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def heavy_modules_loaded_by(module_names: list[str]) -> list[str]:
    """The HEAVY modules (or their submodules) a fresh interpreter holds after importing `module_names`."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_AND_LIST, *module_names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(result.stdout)
    return sorted(name for name in loaded if name in HEAVY or name.startswith(tuple(f"{heavy}." for heavy in HEAVY)))


def unit_tier_modules() -> list[str]:
    """Every module of the unit tier (its conftests and packages too), by dotted name."""
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in UNIT_TIER.rglob("*.py")
    )


def test_the_unit_tier_stays_light():
    modules = unit_tier_modules()
    assert any(name.rsplit(".", 1)[-1].startswith("test_") for name in modules), "the unit tier holds no test module"
    heavy = heavy_modules_loaded_by(modules)
    top_level = sorted({name.split(".")[0] for name in heavy})
    assert not heavy, (
        f"importing the unit tier loads {', '.join(top_level)}: find who imports them with "
        '`.venv/bin/python -X importtime -c "import <module>" 2>&1 | grep -E "<name>"` and import the engine where '
        "it is used (under TYPE_CHECKING for a type), or move the test out of invoice_pipeline_tests/unit"
    )


def test_the_check_sees_an_engine_the_code_under_test_loads_at_import_time():
    assert "sqlalchemy" in heavy_modules_loaded_by(["invoice_pipeline.warehouse.engine_faults"])


def test_pytest_on_the_unit_tier_alone_runs_in_one_process():
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(UNIT_TIER / "test_unit_tier_guard.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
    assert "workers" not in done.stdout and "bringing up nodes" not in done.stdout, done.stdout
