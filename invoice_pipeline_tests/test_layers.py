"""The import contracts of `.importlinter` hold: imports only go down the layers, and nothing below the adapters
imports Dagster or click. A copy of the package with one import added shows that a break fails them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import invoice_pipeline

REPOSITORY = Path(__file__).parents[1]
CONTRACTS = REPOSITORY / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on the `invoice_pipeline` package found in `root`, against the repository's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(CONTRACTS), "--no-cache", "--no-logo"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_imports_go_down_the_layers_and_nothing_below_the_adapters_imports_dagster_or_click() -> None:
    linted = _lint_imports(REPOSITORY)

    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "Contracts: 2 kept, 0 broken." in linted.stdout


@pytest.mark.parametrize(
    ("module", "added_import", "broken"),
    [
        pytest.param(
            "domain/money.py",
            "from invoice_pipeline.config import CONFIG_ENV_VAR",
            "invoice_pipeline.domain.money -> invoice_pipeline.config",
            id="the_domain_imports_the_configuration",
        ),
        pytest.param(
            "warehouse/tables.py",
            "from invoice_pipeline.validation.checksum import check_checksum",
            "invoice_pipeline.warehouse.tables -> invoice_pipeline.validation.checksum",
            id="the_warehouse_imports_its_sibling_validation",
        ),
        pytest.param(
            "validation/checksum.py",
            "import click",
            "invoice_pipeline.validation.checksum -> click",
            id="a_rule_imports_click",
        ),
        pytest.param(
            "importing/sync_plan.py",
            "import dagster as dg",
            "invoice_pipeline.importing.sync_plan -> dagster",
            id="the_import_imports_dagster",
        ),
    ],
)
def test_an_import_against_the_contracts_fails_them(
    tmp_path: Path, module: str, added_import: str, broken: str
) -> None:
    package = tmp_path / "invoice_pipeline"
    shutil.copytree(
        Path(invoice_pipeline.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__", "*.csv", "*.gz")
    )
    changed = package / module
    changed.write_text(changed.read_text(encoding="utf-8") + f"\n{added_import}\n", encoding="utf-8")

    linted = _lint_imports(tmp_path)

    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert "Contracts: 1 kept, 1 broken." in linted.stdout
    assert broken in linted.stdout
