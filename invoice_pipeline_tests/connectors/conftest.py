"""Fixtures for connector tests: the fake Partner Center on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake
from invoice_pipeline_tests.connectors.partner_center_support import start_fake


@pytest.fixture
def fake(monkeypatch) -> Iterator[PartnerCenterFake]:
    """The fake Partner Center serving the demo invoices, its client secret in the environment."""
    server = start_fake(monkeypatch)
    yield server
    server.stop()


# The Dagster side's fixtures, reused for full imports from the fake.
from invoice_pipeline_tests.dagster_defs.test_invoice_assets import instance, workspace_defs  # noqa: E402, F401
