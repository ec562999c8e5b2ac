"""Configuration files for the unit tier: a valid configuration to change, and a folder holding what it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# An automatic and a manual folder provider; paths relative to the file's folder.
VALID = """
warehouse_url: duckdb:///data/warehouse.duckdb
data_dir: data
reference_data: reference
first_billing_period: "2026-09"
providers:
  - {id: contoso-csp, name: Contoso CSP, sync: automatic, connector: folder, path: providers/contoso-csp,
     checksum_tolerance: "0.00"}
  - {id: fabrikam-distribution, name: Fabrikam Distribution, sync: manual, connector: folder,
     path: providers/fabrikam-distribution, checksum_tolerance: "0.00"}
"""


def valid_config() -> dict[str, Any]:
    """A valid configuration, as the YAML file's mapping (a fresh one each time: change it freely)."""
    config: dict[str, Any] = yaml.safe_load(VALID)
    return config


def config_folder(folder: Path) -> Path:
    """`folder` with the folders the valid configuration names (reference data, each provider's folder)."""
    for sub in ("reference", "providers/contoso-csp", "providers/fabrikam-distribution"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return folder


def write_config(folder: Path, data: dict[str, Any] | str) -> Path:
    """The configuration written as `folder/config.yaml` (a mapping, or YAML text as is)."""
    path = folder / "config.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
