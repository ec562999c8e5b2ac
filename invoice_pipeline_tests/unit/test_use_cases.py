"""The use cases both adapters run: an import with a checksum override records who approved which figure before it
imports (and refuses, changing nothing and asking no provider, a figure that is not the invoice's)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.operations.invoice_operations import ChecksumOverrideRequest
from invoice_pipeline.use_cases import activate_invoice, import_invoice
from invoice_pipeline_tests.fakes import FakeConnectors, config_fixture, stored_record, warehouse_fixture

__all__ = ["config_fixture", "warehouse_fixture"]  # the fixtures this module's tests take, found by pytest here

KEY = InvoiceKey("contoso-csp", "G1")
OVERRIDE = ChecksumOverrideRequest(Decimal("0.37"), "rounding at the provider")


def _checksum_error(warehouse):
    values = {"difference": Decimal("0.37"), "currency": "USD", "minor_units": 2, "run_id": "run-1"}
    warehouse.add(stored_record(KEY, Status.ERROR, failures=(ImportFailure.CHECKSUM,), **values))


def _import(config, warehouse, override=None):
    connectors = FakeConnectors.offering(contoso_csp=["G1"])
    return import_invoice(
        config, warehouse, KEY, connectors=connectors, run_id="run-2", actor="alice", checksum_override=override
    )


def test_an_override_is_recorded_in_the_history_before_the_import_claims_the_invoice(config, warehouse):
    _checksum_error(warehouse)
    warehouse.staging_error = OSError("stop after the claim")
    with pytest.raises(OSError):
        _import(config, warehouse, OVERRIDE)
    assert [(e.from_status, e.to_status, e.reason) for e in warehouse.history(KEY)][:2] == [
        ("Error", "Error", "checksum override requested, approving a difference of 0.37 USD: rounding at the provider"),
        ("Error", "Populating", "retry after Error"),
    ]


def test_an_import_without_an_override_records_no_request(config, warehouse):
    _checksum_error(warehouse)
    warehouse.staging_error = OSError("stop after the claim")
    with pytest.raises(OSError):
        _import(config, warehouse)
    assert [e.reason for e in warehouse.history(KEY)][0] == "retry after Error"


def test_an_override_of_an_active_invoice_is_refused_before_the_import_is_refused(config, warehouse):
    warehouse.add(stored_record(KEY, Status.ACTIVE))
    with pytest.raises(ImportRefused, match=r"is not in Error because of its checksum \(Active"):
        _import(config, warehouse, OVERRIDE)
    assert warehouse.history(KEY) == []


def test_an_activation_of_an_invoice_never_created_is_refused(config, warehouse):
    manual = InvoiceKey("fabrikam-distribution", "FAB-1")
    with pytest.raises(ImportRefused, match="has not been created; create it first"):
        activate_invoice(
            config,
            warehouse,
            manual,
            connectors=FakeConnectors(),
            actor="alice",
            reason="lines complete",
            accept_checksum_difference=Decimal("0.37"),
        )
