"""Builders for small, realistic provider invoices in the provider folder format."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from invoice_pipeline.composition import open_warehouse
from invoice_pipeline.config import DEMO_CONFIG_PATH, PipelineConfig, load_config
from invoice_pipeline.operations.billing import bill_customers
from invoice_pipeline.schemas.line_columns import COMMON_COLUMNS
from invoice_pipeline.schemas.line_columns import USAGE_COLUMNS as USAGE_ONLY_COLUMNS
from invoice_pipeline.warehouse import schema_migrations
from invoice_pipeline.warehouse.customer_documents import CustomerInvoice
from invoice_pipeline.warehouse.warehouse import Warehouse

NORTHWIND = "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"  # mapped to ACC-1001 in the demo reference data
ADVENTURE_WORKS = "0b9d4e22-6c3a-4f1d-8e27-9a5c3b7d1e02"  # ACC-1002
LINE_COLUMNS = list(COMMON_COLUMNS)
USAGE_COLUMNS = [*COMMON_COLUMNS, *USAGE_ONLY_COLUMNS]


def usage_line(line_id: str, amount: str = "10.00", **overrides: Any) -> dict[str, Any]:
    """A usage summary row for Northwind's Azure plan, in USD."""
    row = {
        "line_id": line_id,
        "customer_id": NORTHWIND,
        "subscription_id": "SUB-AZ-1001",
        "product_id": "AZURE-PLAN",
        "charge_start_date": "2026-10-01",
        "charge_end_date": "2026-10-31",
        "quantity": "1",
        "unit_price": amount,
        "amount": amount,
        "currency": "USD",
        "usage_date": "2026-10-15",
        "meter_id": "m-d2s",
        "meter_name": "D2s v5 VM",
        "unit": "1 Hour",
    }
    row.update(overrides)
    return row


def license_line(line_id: str, amount: str = "36.00", **overrides: Any) -> dict[str, Any]:
    """A license summary row: Northwind's Microsoft 365 E3 seats, in USD."""
    row = {
        "line_id": line_id,
        "customer_id": NORTHWIND,
        "subscription_id": "SUB-M365-1001",
        "product_id": "M365-E3",
        "charge_start_date": "2026-10-01",
        "charge_end_date": "2026-10-31",
        "quantity": "1",
        "unit_price": amount,
        "amount": amount,
        "currency": "USD",
    }
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Path:
    """Write rows as a CSV with a header row (columns default to the first row's keys)."""
    columns = columns or (list(rows[0]) if rows else LINE_COLUMNS)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class ProviderWorkspace:
    """A config folder with reference data, an automatic and a manual provider, and a DuckDB warehouse."""

    root: Path

    @property
    def config_path(self) -> Path:
        """The YAML configuration file."""
        return self.root / "config.yaml"

    def provider_folder(self, provider: str = "contoso-csp") -> Path:
        """Where a provider's invoice folders are dropped."""
        return self.root / "providers" / provider

    def config(self) -> PipelineConfig:
        """The loaded configuration."""
        return load_config(self.config_path)

    def warehouse(self) -> Warehouse:
        """The warehouse, schema in place (call dispose() when done)."""
        return open_warehouse(self.config())

    def quiet_daily_schedule(self) -> None:
        """Move the daily sync to 29 February, so a daemon a test runs never starts it mid-test (at 06:00 UTC)."""
        data = yaml.safe_load(self.config_path.read_text())
        data["daily_sync"] = {"cron": "0 6 29 2 *", "timezone": "UTC"}
        self.config_path.write_text(yaml.safe_dump(data))

    def bill_usage_without_terms_at_cost(self) -> None:
        """Bill usage that has no contract terms at cost instead of holding it back (the configuration's switch)."""
        data = yaml.safe_load(self.config_path.read_text())
        data["bill_usage_without_terms_at_cost"] = True
        self.config_path.write_text(yaml.safe_dump(data))

    def set_tolerance(self, provider: str, tolerance: str) -> None:
        """Change a provider's checksum tolerance in the config file."""
        data = yaml.safe_load(self.config_path.read_text())
        for entry in data["providers"]:
            if entry["id"] == provider:
                entry["checksum_tolerance"] = tolerance
        self.config_path.write_text(yaml.safe_dump(data))

    def add_invoice(
        self,
        invoice_id: str,
        usage: list[dict[str, Any]] | None = None,
        license: list[dict[str, Any]] | None = None,
        *,
        provider: str = "contoso-csp",
        currency: str = "USD",
        total: str | None = None,
        adjust_total: str = "0",
        header: dict[str, Any] | None = None,
    ) -> Path:
        """Write an invoice folder; the header total defaults to the exact sum of the lines (+ adjust_total)."""
        folder = self.provider_folder(provider) / invoice_id
        folder.mkdir(parents=True, exist_ok=True)
        lines = (usage or []) + (license or [])
        if total is None:
            places = Decimal(1) if currency == "JPY" else Decimal("0.01")
            exact = sum((Decimal(str(r["amount"])) for r in lines), Decimal(0))
            total = str(exact.quantize(places, rounding=ROUND_HALF_EVEN) + Decimal(adjust_total))
        content = {
            "invoice_id": invoice_id,
            "invoice_date": "2026-11-05",
            "billing_period_start": "2026-10-01",
            "billing_period_end": "2026-10-31",
            "currency": currency,
            "total_amount": total,
        }
        content.update(header or {})
        (folder / "header.json").write_text(json.dumps(content, indent=2), encoding="utf-8")
        if usage is not None:
            write_csv(folder / "usage_summaries.csv", usage, None if usage else USAGE_COLUMNS)
        if license is not None:
            write_csv(folder / "license_summaries.csv", license, None if license else LINE_COLUMNS)
        return folder


def workspace_config(warehouse_url: str | None = None) -> dict[str, Any]:
    """The workspace's configuration: a warehouse (DuckDB by default), an automatic and a manual folder provider."""
    return {
        "warehouse_url": warehouse_url or "duckdb:///data/warehouse.duckdb",
        "data_dir": "data",
        "reference_data": "reference",
        "first_billing_period": "2026-09",  # the workspaces' invoices are 2026's: months that do not move with today
        "providers": [
            {
                "id": "contoso-csp",
                "name": "Contoso CSP",
                "sync": "automatic",
                "connector": "folder",
                "path": "providers/contoso-csp",
                "checksum_tolerance": "0.00",
            },
            {
                "id": "fabrikam-distribution",
                "name": "Fabrikam Distribution",
                "sync": "manual",
                "connector": "folder",
                "path": "providers/fabrikam-distribution",
                "checksum_tolerance": "0.00",
            },
        ],
    }


def clean_invoice(workspace: ProviderWorkspace, invoice_id: str) -> Path:
    """A clean USD invoice: three usage lines for two accounts and one license line (58.75 in all)."""
    return workspace.add_invoice(
        invoice_id,
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "5.50"),
            usage_line("U3", "7.25", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
        license=[license_line("L1", "36.00")],
    )


def migrate_duckdb(path: Path) -> Path:
    """A DuckDB warehouse file at `path` migrated to the code's head revision, as opening it the first time leaves it."""
    engine = sa.create_engine(f"duckdb:///{path}", poolclass=sa.pool.NullPool)
    schema_migrations.upgrade(engine)
    engine.dispose()
    return path


def make_workspace(
    root: Path, warehouse_url: str | None = None, *, migrated_duckdb: Path | None = None
) -> ProviderWorkspace:
    """Lay out a fresh workspace under `root`, with the demo's reference data (and a DuckDB warehouse by default).

    `migrated_duckdb` (a file made by `migrate_duckdb`) is copied as the workspace's DuckDB warehouse, which saves
    migrating a new one per test; without it the warehouse is created when first opened.
    """
    root.mkdir(parents=True, exist_ok=True)
    if migrated_duckdb is not None and warehouse_url is None:
        (root / "data").mkdir()
        shutil.copyfile(migrated_duckdb, root / "data" / "warehouse.duckdb")
    shutil.copytree(DEMO_CONFIG_PATH.parent / "reference", root / "reference")
    for provider in ("contoso-csp", "fabrikam-distribution"):
        (root / "providers" / provider).mkdir(parents=True)
    config = workspace_config(warehouse_url)
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return ProviderWorkspace(root)


def bill_at_cost(warehouse: Warehouse, *, actor: str = "billing-test") -> list[CustomerInvoice]:
    """Bill every month's billable usage at cost, as if no contract had terms and the configuration billed such
    usage at cost (`bill_usage_without_terms_at_cost`); the drafts it created or added to."""
    return bill_customers(warehouse, Path("."), actor=actor, contracts=[], bill_without_terms_at_cost=True).drafts
