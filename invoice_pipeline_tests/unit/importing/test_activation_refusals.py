"""Why a manual invoice's activation is refused and how to fix it, in the one sentence the invoice's message and
the refusal both say: its files, a setting, or a checksum difference a person may accept (below the maximum)."""

from __future__ import annotations

from decimal import Decimal

from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.notes import Note
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.activation_refusals import ActivationRefused, activation_refusal
from invoice_pipeline.importing.import_results import ImportResult
from invoice_pipeline.validation.checksum import check_checksum
from invoice_pipeline_tests.fakes import pipeline_config

MANUAL = InvoiceKey("fabrikam-distribution", "FAB-1")
ACTIVATE_AGAIN = f"then `invoice-pipeline invoices activate {MANUAL} --reason ...` again"


def _failed(*failures: ImportFailure, header_total: str = "135.37", currency: str = "USD", notes=()) -> ImportResult:
    totals = {"header_total": Decimal(header_total), "usage_total": Decimal(0), "license_total": Decimal("135.00")}
    checksum = check_checksum(**totals, currency=currency, minor_units=2, tolerance=Decimal("0.00"))
    return ImportResult(
        MANUAL, "rec-1", Status.ERROR, "Checksum failed", {}, checksum=checksum, failures=failures, notes=list(notes)
    )


def _refusal(config, result: ImportResult) -> str:
    return activation_refusal(config, config.provider(MANUAL.provider), MANUAL, result)


def test_files_that_fail_say_to_fix_them_in_the_invoices_folder_or_the_reference_data(config):
    folder = config.provider(MANUAL.provider).folder / MANUAL.invoice_id
    assert _refusal(config, _failed(ImportFailure.FILES)) == (
        f"Checksum failed; it stays Populating: fix its files in {folder} or the reference data, {ACTIVATE_AGAIN}"
    )


def test_lines_out_of_the_billing_period_also_offer_raising_the_setting(config):
    refusal = _refusal(config, _failed(ImportFailure.OUT_OF_PERIOD))
    assert " or the reference data or raise out_of_period_error_after_days in the configuration, " in refusal


def test_a_checksum_difference_below_the_maximum_may_be_accepted_by_the_activation(config):
    refusal = _refusal(config, _failed(ImportFailure.CHECKSUM))
    assert refusal.endswith(f"or accept the difference with --accept-checksum-difference 0.37, {ACTIVATE_AGAIN}")


def test_a_checksum_difference_at_the_maximum_or_more_is_never_offered_for_acceptance(config):
    refusal = _refusal(config, _failed(ImportFailure.CHECKSUM, header_total="135.50"))
    assert "--accept-checksum-difference" not in refusal
    assert "or the reference data (0.50 USD is not below the checksum override maximum 0.50 USD), " in refusal


def test_the_maximum_is_the_currencys_own_when_configured(tmp_path):
    config = pipeline_config(tmp_path, checksum_override_maximum={"default": "0.50", "USD": "0.30"})
    refusal = _refusal(config, _failed(ImportFailure.CHECKSUM))
    assert "(0.37 USD is not below the checksum override maximum 0.30 USD)" in refusal


def test_a_refusal_with_notes_says_how_to_read_them(config):
    result = _failed(ImportFailure.FILES, notes=[Note("Checksum", "line_totals.csv", "a,b\n")])
    assert _refusal(config, result).endswith(
        f"{ACTIVATE_AGAIN}; its notes: `invoice-pipeline invoices notes {MANUAL} --out DIR`"
    )


def test_a_refused_activation_is_an_import_refusal():
    assert issubclass(ActivationRefused, ImportRefused)
