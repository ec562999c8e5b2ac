"""The import of one provider invoice through the rules layer: statuses, all or nothing, re-runs."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
import yaml

from benchmarks.generate import generate, write_config
from invoice_pipeline.composition import connector_for, open_warehouse
from invoice_pipeline.config import load_config
from invoice_pipeline.domain.import_failures import ImportFailure
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.import_results import CHECKSUM_CHECK, REFERENCES_CHECK, SCHEMA_CHECK
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.provider_file_changes import ProviderFileChanged
from invoice_pipeline.operations.invoice_operations import deactivate_invoice, delete_invoice
from invoice_pipeline.validation import billing_period
from invoice_pipeline.warehouse import line_publishing
from invoice_pipeline.warehouse.line_publishing import PublishedLinesDiffer
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, license_line, usage_line, write_csv

pytestmark = pytest.mark.engine_contract

KEY = InvoiceKey("contoso-csp", "G200000001")
REPLACED_FILE = "usage_summaries.csv changed while the invoice was being imported; nothing was stored"


def _import(workspace, warehouse, key=KEY):
    return import_provider_invoice(workspace.config(), warehouse, key, connectors=connector_for, run_id="test-run")


def test_clean_invoice_becomes_active_with_every_line_stored(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1", "71.424"),
            usage_line("U2", "27.9772", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        ],
        license=[license_line("L1", "900.00", quantity="25", unit_price="36.00")],
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE
    assert all(outcome.passed for outcome in result.checks.values())
    record = warehouse.current_record(KEY)
    assert record.status == "Active"
    assert record.usage_total == Decimal("99.4012")
    assert record.license_total == Decimal("900")
    assert record.total_amount == Decimal("999.40")
    assert warehouse.line_totals(record.record_id) == {
        "usage": (2, Decimal("99.4012")),
        "license": (1, Decimal("900")),
    }


def test_every_status_change_is_in_the_history(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    _import(workspace, warehouse)
    history = warehouse.history(KEY)
    assert [(h.from_status, h.to_status) for h in history] == [(None, "Populating"), ("Populating", "Active")]
    assert all(h.run_id == "test-run" for h in history)


def test_checksum_failure_gives_error_with_three_totals_and_no_lines(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", "6000.00")],
        license=[license_line("L1", "3999.63")],
        total="10000.00",
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert result.message == (
        "Checksum failed: header 10,000.00 USD; usage 6,000.00 + license 3,999.63 = 9,999.63; difference 0.37 USD"
    )
    assert not result.checks[CHECKSUM_CHECK].passed
    record = warehouse.current_record(KEY)
    assert record.status == "Error" and record.difference == Decimal("0.37")
    assert warehouse.line_totals(record.record_id) == {"usage": (0, None), "license": (0, None)}
    note = {n.file_name: n.content for n in warehouse.notes(record.record_id)}["line_totals.csv"]
    assert note.splitlines()[0] == "customer_id,subscription_id,usage_amount,license_amount,total_amount,line_count"
    assert note.splitlines()[1].startswith(f"{license_line('x')['customer_id']},SUB-AZ-1001,6000")


def test_difference_within_the_providers_tolerance_passes(workspace, warehouse):
    workspace.set_tolerance("contoso-csp", "0.50")
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")], adjust_total="0.37")
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE
    assert warehouse.current_record(KEY).difference == Decimal("0.37")


def test_checksum_rounds_both_sides_to_the_currencys_minor_units(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", "1000.4", currency="JPY"), usage_line("U2", "0.2", currency="JPY")],
        currency="JPY",
        total="1001",
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE, result.message


def test_credit_note_with_negative_total_imports(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, license=[license_line("L1", "-180.00", unit_price="-36.00", quantity="5")])
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE
    assert warehouse.current_record(KEY).total_amount == Decimal("-180.00")


def test_unresolved_references_give_error_naming_them_and_the_missing_references_note(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1"),
            usage_line("U2", customer_id="unknown-tenant"),
            usage_line("U3", customer_id="unknown-tenant"),
            usage_line("U4", subscription_id="SUB-NOPE"),
            usage_line("U5", currency="EUR"),
            usage_line("U6", product_id="UNKNOWN-PRODUCT"),
        ],
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert "customer 'unknown-tenant' (2 lines)" in result.message
    assert "subscription 'SUB-NOPE' (1 line)" in result.message
    assert "currency mismatch 'EUR' (1 line)" in result.message
    assert not result.checks[REFERENCES_CHECK].passed
    record = warehouse.current_record(KEY)
    notes = {n.file_name: n.content for n in warehouse.notes(record.record_id)}
    assert notes["errors.csv"].splitlines()[1] == (
        "customer,unknown-tenant,2,U2 U3,map this customer (tenant) id to an account in provider_accounts.csv for this provider"
    )
    assert "product,UNKNOWN-PRODUCT,1,U6" in notes["warnings.csv"]
    assert warehouse.line_totals(record.record_id)["usage"] == (0, None)


def test_warnings_alone_do_not_block_but_still_produce_the_note(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        license=[
            license_line(
                "L1",
                subscription_id="SUB-TEAMS-1003",
                customer_id="c41e8f33-2d9b-4a6e-b318-7e2f4a9c5d03",
                product_id="",
            )
        ],
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE
    notes = {n.file_name: n.content for n in warehouse.notes(result.record_id)}
    assert notes["errors.csv"].splitlines() == ["reference_type,reference_id,line_count,example_line_ids,how_to_fix"]
    assert "subscription product,SUB-TEAMS-1003,1,L1" in notes["warnings.csv"]


def test_header_currency_not_set_up_is_an_unresolved_reference(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", currency="CHF")], currency="CHF")
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert "currency 'CHF' (1 line)" in result.message


OUT_OF_PERIOD_NOTE = ("Out Of Period Lines", "out_of_period_lines.csv")
OUT_OF_PERIOD_COLUMNS = "line_id,kind,charge_start_date,charge_end_date,amount,currency,position,days_outside_period"


def _error_after_days(workspace, days: int) -> None:
    config = yaml.safe_load(workspace.config_path.read_text())
    config["out_of_period_error_after_days"] = days
    workspace.config_path.write_text(yaml.safe_dump(config))


def _out_of_period_note(warehouse, record_id: str) -> list[str]:
    notes = {(n.title, n.file_name): n.content for n in warehouse.notes(record_id)}
    return notes[OUT_OF_PERIOD_NOTE].splitlines()


def test_lines_charged_outside_the_billing_period_import_active_with_the_out_of_period_lines_note(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "4.00", charge_start_date="2026-09-30", charge_end_date="2026-10-30"),  # the day before
            # Starts on the period's last day and runs past it: in period (only the charge's start is compared).
            usage_line("U3", "2.005", charge_start_date="2026-10-31", charge_end_date="2026-11-30"),
        ],
        # Next month's seats, 31 days after the period's end: the default limit, still a warning.
        license=[
            license_line(
                "L1", "-36.00", unit_price="-36.00", charge_start_date="2026-12-01", charge_end_date="2026-12-31"
            )
        ],
    )
    result = _import(workspace, warehouse)
    assert (result.status, result.failures) == (Status.ACTIVE, ())
    assert result.message == (
        "Imported with 2 out-of-period lines (charges starting 2026-09-30 to 2026-12-01, billing period "
        "2026-10-01 to 2026-10-31; see the Out Of Period Lines note)"
    )
    record = warehouse.current_record(KEY)
    assert (record.status, record.message) == ("Active", result.message)
    assert warehouse.line_totals(record.record_id) == {
        "usage": (3, Decimal("16.005")),
        "license": (1, Decimal("-36")),
    }
    assert _out_of_period_note(warehouse, record.record_id) == [
        OUT_OF_PERIOD_COLUMNS,
        "L1,license,2026-12-01,2026-12-31,-36.00,USD,after the period,31",
        "U2,usage,2026-09-30,2026-10-30,4.00,USD,before the period,1",
    ]


def test_a_charge_starting_more_than_the_configured_days_after_the_period_puts_the_invoice_in_error(
    workspace, warehouse
):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line("U1", "10.00"),
            usage_line("U2", "1.00", charge_start_date="2026-12-02", charge_end_date="2026-12-31"),
            usage_line("U3", "1.00", charge_start_date="2027-01-15", charge_end_date="2027-01-31"),
            usage_line("U4", "1.00", charge_start_date="2026-09-01", charge_end_date="2026-09-30"),
        ],
    )
    result = _import(workspace, warehouse)
    assert (result.status, result.failures) == (Status.ERROR, (ImportFailure.OUT_OF_PERIOD,))
    assert result.message == (
        "Lines out of period: 2 lines charged more than 31 days after the billing period 2026-10-01 to 2026-10-31 "
        "(latest charge start 2027-01-15); ask the provider for a corrected invoice, or raise "
        "out_of_period_error_after_days if such charges are expected; see the Out Of Period Lines note"
    )
    assert all(check.passed for check in result.checks.values())
    record = warehouse.current_record(KEY)
    assert (record.status, record.message, record.failures) == ("Error", result.message, result.failures)
    assert warehouse.line_totals(record.record_id) == {"usage": (0, None), "license": (0, None)}
    assert _out_of_period_note(warehouse, record.record_id) == [
        OUT_OF_PERIOD_COLUMNS,
        "U3,usage,2027-01-15,2027-01-31,1.00,USD,more than 31 days after the period (Error),76",
        "U2,usage,2026-12-02,2026-12-31,1.00,USD,more than 31 days after the period (Error),32",
        "U4,usage,2026-09-01,2026-09-30,1.00,USD,before the period,30",
    ]


def test_out_of_period_error_after_days_sets_the_limit_and_raising_it_lets_the_retry_import_the_invoice(
    workspace, warehouse
):
    _error_after_days(workspace, 0)
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1", charge_start_date="2026-11-01", charge_end_date="2026-11-30")]
    )
    first = _import(workspace, warehouse)
    assert (first.status, first.failures) == (Status.ERROR, (ImportFailure.OUT_OF_PERIOD,))
    assert first.message.startswith(
        "Lines out of period: 1 line charged after the billing period 2026-10-01 to 2026-10-31 "
        "(latest charge start 2026-11-01); "
    )
    _error_after_days(workspace, 1)
    second = _import(workspace, warehouse)  # the next sync's retry
    assert (second.status, second.record_id) == (Status.ACTIVE, first.record_id)
    assert second.message == (
        "Imported with 1 out-of-period line (charge starting 2026-11-01, billing period 2026-10-01 to 2026-10-31; "
        "see the Out Of Period Lines note)"
    )


def test_the_out_of_period_lines_note_lists_the_lines_furthest_outside_first_up_to_its_bound(
    workspace, warehouse, monkeypatch
):
    monkeypatch.setattr(billing_period, "NOTE_ROWS", 2)
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[
            usage_line(f"U{month}", charge_start_date=f"2026-0{month}-01", charge_end_date=f"2026-0{month}-28")
            for month in (7, 8, 9)
        ],
    )
    result = _import(workspace, warehouse)
    assert result.message.startswith("Imported with 3 out-of-period lines (charges starting 2026-07-01 to 2026-09-01")
    assert _out_of_period_note(warehouse, result.record_id) == [
        OUT_OF_PERIOD_COLUMNS,
        "U7,usage,2026-07-01,2026-07-28,10.00,USD,before the period,92",
        "U8,usage,2026-08-01,2026-08-28,10.00,USD,before the period,61",
    ]


def test_out_of_period_lines_are_counted_with_reference_warnings_and_noted_beside_a_checksum_error(
    workspace, warehouse
):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", product_id="UNKNOWN-PRODUCT", charge_start_date="2026-09-15")],
        adjust_total="1.00",
    )
    result = _import(workspace, warehouse)
    assert (result.status, result.failures) == (Status.ERROR, (ImportFailure.CHECKSUM,))
    assert [note.title for note in result.notes] == [
        "Missing References",
        "Missing References",
        "Out Of Period Lines",
        "Checksum",
    ]
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1", product_id="UNKNOWN-PRODUCT", charge_start_date="2026-09-15")]
    )
    assert _import(workspace, warehouse).message == (
        "Imported with 1 reference warning(s) and 1 out-of-period line (charge starting 2026-09-15, billing period "
        "2026-10-01 to 2026-10-31; see the Out Of Period Lines note)"
    )


def test_schema_failure_names_file_column_check_and_rows(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", "1,000.00", unit_price="1"), usage_line("U2", "1e5", unit_price="1"), usage_line("U3")],
        total="10.00",
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert result.message.startswith(
        "Schema validation failed: usage_summaries.csv column 'amount' must be a decimal number"
    )
    assert "2 rows, e.g. U1='1,000.00', U2='1e5'" in result.message
    assert not result.checks[SCHEMA_CHECK].passed
    notes = {n.file_name: n.content for n in warehouse.notes(result.record_id)}
    assert "usage_summaries.csv,amount,str_matches,U2,1e5" in notes["failure_cases.csv"]


def test_duplicate_line_ids_within_the_invoice_are_refused(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("X1")], license=[license_line("X1")])
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert "1 line_id(s) appear more than once in the invoice, e.g. X1 (2x)" in result.message


def test_an_explicit_import_brings_back_a_deactivated_or_deleted_invoice_as_a_new_record(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    first = _import(workspace, warehouse)
    deactivate_invoice(warehouse, KEY, actor="cli:alice", reason="re-issued")
    second = _import(workspace, warehouse)
    assert second.status == Status.ACTIVE and second.record_id != first.record_id
    delete_invoice(warehouse, KEY, actor="cli:alice", reason="duplicate")
    assert _import(workspace, warehouse).status == Status.ACTIVE
    assert warehouse.history(KEY)[-2].reason == "import started"


def test_error_invoice_is_retried_on_the_same_record_and_can_become_active(workspace, warehouse):
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", customer_id="unknown")])
    first = _import(workspace, warehouse)
    assert first.status == Status.ERROR
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    assert folder.exists()
    second = _import(workspace, warehouse)
    assert second.status == Status.ACTIVE and second.record_id == first.record_id
    assert [h.to_status for h in warehouse.history(KEY)] == ["Populating", "Error", "Populating", "Active"]
    assert warehouse.notes(second.record_id) == []


def test_rerunning_a_failed_import_gives_the_same_result(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")], adjust_total="125.00")
    first = _import(workspace, warehouse)
    second = _import(workspace, warehouse)
    assert (first.status, first.message) == (second.status, second.message)


def test_one_bad_invoice_does_not_affect_another(workspace, warehouse):
    workspace.add_invoice("G1", usage=[usage_line("U1", "oops")], total="1.00")
    workspace.add_invoice("G2", usage=[usage_line("U1")])
    bad = _import(workspace, warehouse, InvoiceKey("contoso-csp", "G1"))
    good = _import(workspace, warehouse, InvoiceKey("contoso-csp", "G2"))
    assert (bad.status, good.status) == (Status.ERROR, Status.ACTIVE)


def test_metered_quantities_and_unit_prices_keep_their_18_decimal_places_exactly(workspace, warehouse):
    # Prorated usage as Partner Center reports it: an hour split in 24, a price per unit with 15 places.
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", "0.12", quantity="0.0416666666666667", unit_price="2.880000000000000")],
        license=[license_line("L1", "0.0000123457", quantity="1", unit_price="0.000012345678901234")],
        total="0.12",
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ACTIVE, result.message
    record = warehouse.current_record(KEY)
    exported = workspace.root / "export.csv"
    warehouse.export_lines(record.record_id, "license", exported)
    assert "1,0.000012345678901234,0.0000123457," in exported.read_text()
    with warehouse.engine.connect() as conn:
        import sqlalchemy as sa

        quantity = conn.execute(sa.text("SELECT quantity FROM usage_summaries")).scalar_one()
    assert quantity == Decimal("0.0416666666666667")


def test_text_with_quotes_commas_newlines_and_unicode_is_stored_exactly(workspace, warehouse):
    # On PostgreSQL the lines travel through a CSV COPY: nothing may be unquoted, split or turned into NULL.
    tricky = 'VM "large", 4\ncores \u2014 \u00fc\\N'
    workspace.add_invoice(
        KEY.invoice_id,
        usage=[usage_line("U1", "-0.0000000001", meter_name=tricky, meter_id="\\N", unit="")],
        license=[license_line("L1", "123456789012345678.1234567891")],
    )
    assert _import(workspace, warehouse).status == Status.ACTIVE
    with warehouse.engine.connect() as conn:
        import sqlalchemy as sa

        usage = conn.execute(sa.text("SELECT meter_name, meter_id, unit, amount FROM usage_summaries")).one()
        license_amount = conn.execute(sa.text("SELECT amount FROM license_summaries")).scalar_one()
    assert tuple(usage) == (tricky, "\\N", None, Decimal("-0.0000000001"))
    assert license_amount == Decimal("123456789012345678.1234567891")


def test_an_invoice_larger_than_the_duckdb_memory_limit_spills_to_the_data_folder_and_imports(tmp_path, warehouse_url):
    generate(tmp_path, 1_000_000, 0.0, "csv")  # 143 MB of CSV, staged as text well past the limit below
    config_path = write_config(tmp_path)
    config = yaml.safe_load(config_path.read_text())
    config |= {"duckdb_memory_limit": "150MB"} | ({"warehouse_url": warehouse_url} if warehouse_url else {})
    config_path.write_text(yaml.safe_dump(config))
    key = InvoiceKey("bench-csp", "BENCH-1000000")
    warehouse = open_warehouse(load_config(config_path))
    try:
        result = import_provider_invoice(load_config(config_path), warehouse, key, connectors=connector_for)
        assert result.status == Status.ACTIVE, result.message
        assert result.usage_line_count == 1_000_000
    finally:
        warehouse.dispose()


def test_running_out_of_memory_is_the_machines_problem_not_the_files(workspace):
    config = yaml.safe_load(workspace.config_path.read_text())
    config["duckdb_memory_limit"] = "8MB"
    workspace.config_path.write_text(yaml.safe_dump(config))
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line(f"U{n:06d}", "0.01") for n in range(100_000)])
    warehouse = workspace.warehouse()
    try:
        with pytest.raises(duckdb.OutOfMemoryException):
            _import(workspace, warehouse)
        record = warehouse.current_record(KEY)
        assert record.status == Status.ERROR
        assert record.message.startswith("Import failed unexpectedly (OutOfMemoryException")
        assert "the next sync retries it" in record.message
    finally:
        warehouse.dispose()


def test_extra_provider_columns_are_kept_as_json(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", resource_group="rg-prod", tags='{"env": "prod"}')])
    _import(workspace, warehouse)
    with warehouse.engine.connect() as conn:
        import sqlalchemy as sa

        extra = conn.execute(sa.text("SELECT extra FROM usage_summaries")).scalar_one()
    assert extra == '{"resource_group":"rg-prod","tags":"{\\"env\\": \\"prod\\"}"}'


def test_an_import_that_crashes_leaves_error_and_no_lines(workspace, warehouse, monkeypatch):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("invoice_pipeline.importing.invoice_validation.find_missing_references", explode)
    with pytest.raises(OSError):
        _import(workspace, warehouse)
    record = warehouse.current_record(KEY)
    assert record.status == "Error"
    assert "Import failed unexpectedly (OSError: disk full)" in record.message
    assert warehouse.line_totals(record.record_id)["usage"] == (0, None)


def test_a_line_id_repeated_within_one_file_is_refused_with_its_count(workspace, warehouse):
    workspace.add_invoice(
        KEY.invoice_id, usage=[usage_line("U1"), usage_line("U2"), usage_line("U1"), usage_line("U1")]
    )
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert "1 line_id(s) appear more than once in the invoice, e.g. U1 (3x)" in result.message
    assert warehouse.line_totals(result.record_id) == {"usage": (0, None), "license": (0, None)}


@pytest.mark.parametrize("larger", ["usage", "license"])
def test_a_line_id_shared_by_a_large_file_and_a_small_one_is_refused(workspace, warehouse, larger):
    many = [f"X{i}" for i in range(40)]
    usage = [usage_line(i) for i in (many if larger == "usage" else ["X7"])]
    license = [license_line(i) for i in (many if larger == "license" else ["X7"])]
    workspace.add_invoice(KEY.invoice_id, usage=usage, license=license)
    result = _import(workspace, warehouse)
    assert result.status == Status.ERROR
    assert "1 line_id(s) appear more than once in the invoice, e.g. X7 (2x)" in result.message


def _replace_usage_file_while_publishing(monkeypatch, folder, rows) -> None:
    """The provider drops a new usage file after the lines were validated, while they are being published."""
    publish = line_publishing._publish_lines

    def publish_after_a_new_drop(conn, staged, settings, table, view, record_id):
        if table.name == "usage_summaries":
            write_csv(folder / "usage_summaries.csv", rows)
        return publish(conn, staged, settings, table, view, record_id)

    monkeypatch.setattr(line_publishing, "_publish_lines", publish_after_a_new_drop)


def _import_stores_nothing(workspace, warehouse, error: type[Exception], message: str) -> None:
    """The import raises `error`, and leaves the invoice in Error, its message saying `message`, with no lines."""
    with pytest.raises(error):
        _import(workspace, warehouse)
    record = warehouse.current_record(KEY)
    assert record.status == "Error"
    assert message in record.message
    assert warehouse.line_totals(record.record_id) == {"usage": (0, None), "license": (0, None)}


def test_lines_written_that_differ_from_the_lines_validated_store_nothing(workspace, warehouse, monkeypatch):
    """Validated first, then published (always so on PostgreSQL): the lines written are checked against them."""
    monkeypatch.setattr(line_publishing.LineStaging, "can_publish_while_validating", property(lambda self: False))
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    _replace_usage_file_while_publishing(monkeypatch, folder, [usage_line("U1", "10.00"), usage_line("U2", "5.00")])
    _import_stores_nothing(
        workspace,
        warehouse,
        PublishedLinesDiffer,
        "Import failed unexpectedly (PublishedLinesDiffer: the usage lines written (2, total 15.00) are not the "
        "lines validated (1, total 10.00); nothing was stored, run it again)",
    )


@pytest.mark.parametrize("warehouse_engine", ["duckdb"], indirect=True)
def test_a_file_replaced_while_its_lines_are_published_and_validated_in_one_pass_stores_nothing(
    workspace, warehouse, monkeypatch
):
    """On DuckDB the lines are counted where they were written, so they always agree; the replaced file is found."""
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    _replace_usage_file_while_publishing(monkeypatch, folder, [usage_line("U1", "10.00"), usage_line("U2", "5.00")])
    _import_stores_nothing(workspace, warehouse, ProviderFileChanged, REPLACED_FILE)


def test_provider_file_replaced_during_the_import_with_the_same_totals_stores_nothing(
    workspace, warehouse, monkeypatch
):
    folder = workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    unvalidated = [usage_line("U1", "10.00", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002")]
    _replace_usage_file_while_publishing(monkeypatch, folder, unvalidated)
    _import_stores_nothing(workspace, warehouse, ProviderFileChanged, REPLACED_FILE)
    monkeypatch.undo()
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1", "10.00")])
    assert _import(workspace, warehouse).status == Status.ACTIVE  # the next sync imports the complete files


@pytest.mark.parametrize("warehouse_engine", ["duckdb"], indirect=True)
def test_the_join_setting_an_import_needs_is_restored_for_other_connections(workspace, warehouse):
    workspace.add_invoice(KEY.invoice_id, usage=[usage_line("U1")])
    with warehouse.engine.connect() as other:  # keeps the database open across the import
        _import(workspace, warehouse)
        setting = other.exec_driver_sql("SELECT current_setting('disabled_optimizers')").scalar()
    assert setting == ""
