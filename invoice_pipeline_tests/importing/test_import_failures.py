"""Why an import did not make its invoice Active is typed (ImportFailure): decisions read it, not the message."""

from __future__ import annotations

import pytest

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import activate_manual_invoice, import_provider_invoice
from invoice_pipeline.operations.invoice_operations import create_manual_invoice
from invoice_pipeline.validation.checksum import ChecksumResult
from invoice_pipeline_tests.builders import license_line, usage_line

KEY = InvoiceKey("contoso-csp", "G300000001")
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-9")
OVERRIDE_FIX = "with --accept-checksum-difference"
FAR_AFTER_THE_PERIOD = {"charge_start_date": "2027-01-01", "charge_end_date": "2027-01-31"}  # October's invoice


def _import(workspace, warehouse):
    return import_provider_invoice(workspace.config(), warehouse, KEY, connectors=connector_for, run_id="test-run")


def test_a_clean_import_has_no_failure(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    result = _import(workspace, warehouse)
    assert (result.status, result.failures) == (Status.ACTIVE, ())


@pytest.mark.parametrize(
    ("lines", "total", "failures"),
    [
        ([usage_line("U1", "10.00")], "10.37", (ImportFailure.CHECKSUM,)),
        ([usage_line("U1", "10.00", customer_id="CUST-UNKNOWN")], None, (ImportFailure.REFERENCES,)),
        (
            [usage_line("U1", "10.00", customer_id="CUST-UNKNOWN")],
            "10.37",
            (ImportFailure.REFERENCES, ImportFailure.CHECKSUM),
        ),
        ([usage_line("U1", "1.000,00")], "1000.00", (ImportFailure.FILES,)),
        ([usage_line("U1", "10.00", **FAR_AFTER_THE_PERIOD)], None, (ImportFailure.OUT_OF_PERIOD,)),
        (
            [usage_line("U1", "10.00", customer_id="CUST-UNKNOWN", **FAR_AFTER_THE_PERIOD)],
            "10.37",
            (ImportFailure.REFERENCES, ImportFailure.OUT_OF_PERIOD, ImportFailure.CHECKSUM),
        ),
    ],
    ids=["checksum", "references", "references-and-checksum", "files", "out-of-period", "all-three"],
)
def test_an_invoice_in_error_names_each_rule_it_broke_in_the_order_its_message_does(
    workspace, warehouse, lines, total, failures
):
    workspace.add_invoice(KEY.invoice_id, usage=lines, total=total)
    result = _import(workspace, warehouse)
    assert (result.status, result.failures) == (Status.ERROR, failures)


def test_reference_data_that_cannot_be_loaded_is_its_own_failure(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    (workspace.root / "reference" / "currencies.csv").write_text("not,the,columns\n1,2,3\n")
    result = _import(workspace, warehouse)
    assert (result.status, result.failures) == (Status.ERROR, (ImportFailure.REFERENCE_DATA,))
    assert result.message.startswith("Reference data problem: ")


def _refused_activation(workspace, warehouse, amount: str, total: str, customer_id: str = "FAB-CUST-77") -> str:
    line = license_line(
        "F1", amount, customer_id=customer_id, subscription_id="FAB-SUB-1", product_id="BACKUP-TB", unit_price=amount
    )
    workspace.add_invoice(MANUAL.invoice_id, license=[line], provider=MANUAL.provider, total=total)
    config = workspace.config()
    create_manual_invoice(config, warehouse, MANUAL, connectors=connector_for, actor="tester", reason="test")
    with pytest.raises(ImportRefused) as refused:
        activate_manual_invoice(config, warehouse, MANUAL, connectors=connector_for, actor="tester", reason="test")
    return str(refused.value)


def test_a_refused_activation_offers_the_checksum_override_for_a_checksum_failure_whatever_its_words(
    workspace, warehouse, monkeypatch
):
    monkeypatch.setattr(ChecksumResult, "message", property(lambda self: "Totals differ"))
    refusal = _refused_activation(workspace, warehouse, "135.00", "135.20")
    assert f"{MANUAL} cannot be activated: Totals differ; it stays Populating" in refusal
    assert OVERRIDE_FIX in refusal


def test_a_refused_activation_does_not_offer_the_override_when_the_checksum_passed(workspace, warehouse, monkeypatch):
    # Unresolved references worded like a checksum failure, the checksum passed: no override can help.
    worded = "Checksum failed: header 1.00 USD"
    monkeypatch.setattr(
        "invoice_pipeline.importing.invoice_validation.missing_references_message", lambda missing: worded
    )
    refusal = _refused_activation(workspace, warehouse, "135.00", "135.00", customer_id="FAB-CUST-UNKNOWN")
    assert f"{MANUAL} cannot be activated: {worded}; it stays Populating" in refusal
    assert OVERRIDE_FIX not in refusal


def test_a_refused_activation_of_an_invoice_with_charges_far_after_its_period_says_what_to_do(workspace, warehouse):
    line = license_line(
        "F1", customer_id="FAB-CUST-77", subscription_id="FAB-SUB-1", product_id="BACKUP-TB", **FAR_AFTER_THE_PERIOD
    )
    workspace.add_invoice(MANUAL.invoice_id, license=[line], provider=MANUAL.provider)
    config = workspace.config()
    create_manual_invoice(config, warehouse, MANUAL, connectors=connector_for, actor="tester", reason="test")
    with pytest.raises(ImportRefused) as refused:
        activate_manual_invoice(config, warehouse, MANUAL, connectors=connector_for, actor="tester", reason="test")
    assert f"{MANUAL} cannot be activated: Lines out of period: 1 line charged more than 31 days" in str(refused.value)
    assert "or raise out_of_period_error_after_days in the configuration" in str(refused.value)
    assert OVERRIDE_FIX not in str(refused.value)
    record = warehouse.current_record(MANUAL)
    assert (record.status, record.failures) == (Status.POPULATING, (ImportFailure.OUT_OF_PERIOD,))
