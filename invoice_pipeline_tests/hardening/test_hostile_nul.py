"""A NUL byte in a provider value (issue #29, 4): refused by the line schema on both engines, before any driver
sees it (PostgreSQL text cannot hold NUL), with the schema Error and its failure cases."""

from __future__ import annotations

import pytest

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import USAGE_COLUMNS, usage_line, write_csv

pytestmark = pytest.mark.engine_contract


@pytest.mark.parametrize(
    "column", ["note", "meter_name", "customer_id", "line_id"], ids=["provider_column", "text_column", "id", "line_id"]
)
def test_a_nul_byte_in_a_provider_value_ends_in_a_schema_error_naming_it_not_a_crash(workspace, warehouse, column):
    folder = workspace.add_invoice("G-NUL", usage=[usage_line("U1")])
    row = {**usage_line("U1"), column: "U1\x00after"}
    write_csv(
        folder / "usage_summaries.csv", [row], [*USAGE_COLUMNS, *([column] if column not in USAGE_COLUMNS else [])]
    )

    result = import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-NUL"), connectors=connector_for, run_id="t"
    )

    assert result.status == Status.ERROR
    assert "Import failed unexpectedly" not in result.message
    named = "each provider column must be free of NUL characters" if column == "note" else f"column '{column}'"
    assert named in result.message and ("='note'" in result.message or column != "note")
    assert "NUL" in result.message or "without control characters" in result.message
    assert "\x00" not in result.message  # shown escaped: no warehouse text column can hold it
    assert "U1" in result.message  # the line (or its value) named, escaped
    assert warehouse.line_totals(result.record_id)["usage"].line_count == 0
