"""A provider invoice's header (`header.json`) and the rules it is read by: strict JSON (no key twice, no NaN or
Infinity, no exponent), every field present and no unknown one, text values, real dates in range, a billing period
in order, the invoice id of its folder, UTF-8. Each refusal is one line naming the file, the field and the value.

That an import refused for its header ends in Error with that message and stores no line is the engine tier's
(invoice_pipeline_tests/importing/test_provider_files.py).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from invoice_pipeline.domain.provider_documents import DocumentType
from invoice_pipeline.importing.invoice_headers import ProviderFileError, read_header
from invoice_pipeline_tests.fakes import provider_header

INVOICE_ID = "G300000001"


def _header(**overrides) -> dict:
    return provider_header(INVOICE_ID) | overrides


def _write_header_text(folder: Path, text: str | bytes) -> Path:
    path = folder / "header.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _refused(folder: Path, *fragments: str) -> str:
    """Read the folder's header, and check: refused, in one line holding every fragment."""
    with pytest.raises(ProviderFileError) as refused:
        read_header(folder / "header.json", INVOICE_ID)
    message = str(refused.value)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message
    return message


def test_a_valid_header_is_read_into_its_dates_currency_and_exact_total(tmp_path):
    _write_header_text(tmp_path, json.dumps(_header(total_amount="123456789012345678.1234567891", tax_amount="7.60")))

    header = read_header(tmp_path / "header.json", INVOICE_ID)

    assert (header.invoice_date, header.billing_period_start, header.billing_period_end) == (
        date(2026, 11, 5),
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert header.currency == "USD" and header.document_type == DocumentType.INVOICE
    assert str(header.total_amount) == "123456789012345678.1234567891" and header.tax_amount == Decimal("7.60")


def test_header_with_a_key_given_twice_is_refused(tmp_path):
    text = json.dumps(_header())[:-1] + ', "total_amount": "0.00"}'
    _write_header_text(tmp_path, text)
    _refused(tmp_path, "header.json: key(s) total_amount appear more than once")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_header_total_as_json_constant_is_refused(tmp_path, constant):
    text = json.dumps(_header(total_amount="@@"), indent=2).replace('"@@"', constant)
    _write_header_text(tmp_path, text)
    _refused(tmp_path, f"header.json: {constant} is not a number; write amounts as decimal strings")


def test_header_total_as_text_nan_is_refused_naming_the_field_and_value(tmp_path):
    _write_header_text(tmp_path, json.dumps(_header(total_amount="NaN")))
    _refused(tmp_path, "header.json: total_amount fails str_matches", "(value 'NaN')")


def test_header_missing_a_field_is_refused_naming_it(tmp_path):
    header = _header()
    del header["currency"]
    _write_header_text(tmp_path, json.dumps(header))
    _refused(tmp_path, "header.json: missing field(s) currency")


def test_header_with_an_unknown_field_is_refused_naming_it(tmp_path):
    _write_header_text(tmp_path, json.dumps(_header(po_number="PO-77")))
    _refused(tmp_path, "header.json: unknown field(s) po_number; expected invoice_id, invoice_date")


def test_header_invoice_id_differing_from_its_folder_is_refused(tmp_path):
    _write_header_text(tmp_path, json.dumps(_header(invoice_id="G300000002")))
    _refused(tmp_path, f"header.json: invoice_id 'G300000002' differs from the invoice's folder '{INVOICE_ID}'")


def test_header_with_billing_period_swapped_is_refused(tmp_path):
    _write_header_text(
        tmp_path, json.dumps(_header(billing_period_start="2026-10-31", billing_period_end="2026-10-01"))
    )
    message = _refused(tmp_path, "header.json: ", "billing_period_start_not_after_end", "'2026-10-31'")
    for innocent in ("currency", "total_amount", "invoice_id", "invoice_date"):
        assert f"{innocent} fails" not in message  # only the billing period is wrong


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invoice_date", "2026-02-30"),
        ("billing_period_start", "1999-12-01"),
        ("billing_period_end", "2026-10-31T00:00:00"),
    ],
)
def test_header_with_a_bad_date_is_refused_naming_the_field_and_value(tmp_path, field, value):
    _write_header_text(tmp_path, json.dumps(_header(**{field: value})))
    _refused(tmp_path, f"header.json: {field} fails", f"(value '{value}')")


@pytest.mark.parametrize(
    "value", ["46.00\n", "USD\n"], ids=["total_with_trailing_newline", "currency_with_trailing_newline"]
)
def test_header_value_with_a_trailing_newline_is_refused(tmp_path, value):
    field = "currency" if value.startswith("USD") else "total_amount"
    _write_header_text(tmp_path, json.dumps(_header(**{field: value})))
    _refused(tmp_path, "header.json: ", field)


def test_header_field_as_json_true_is_refused(tmp_path):
    _write_header_text(tmp_path, json.dumps(_header(currency=True)))
    _refused(tmp_path, "header.json: field(s) currency must be strings or numbers")


def test_header_as_json_array_is_refused(tmp_path):
    _write_header_text(tmp_path, json.dumps([_header()]))
    _refused(tmp_path, "header.json: must be a JSON object with invoice_id")


def test_header_in_latin1_is_refused_as_not_utf8(tmp_path):
    _write_header_text(
        tmp_path, json.dumps(_header(), ensure_ascii=False).replace("}", ', "note": "reçu"}').encode("latin-1")
    )
    _refused(tmp_path, "header.json: not UTF-8 text")


def test_header_total_as_json_number_with_exponent_is_refused(tmp_path):
    _write_header_text(tmp_path, json.dumps(_header(total_amount="@@")).replace('"@@"', "1e3"))
    _refused(tmp_path, "header.json: total_amount fails str_matches", "(value '1e3')")
