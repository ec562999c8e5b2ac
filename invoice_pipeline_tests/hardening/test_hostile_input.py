"""Hostile provider input: paths that escape, SQL-looking values and column names, markup in values."""

from __future__ import annotations

import os

import dagster as dg
import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.connectors.folder import folders_not_read
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.resources import pipeline_resource
from invoice_pipeline.definitions import defs
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import USAGE_COLUMNS, usage_line, write_csv

SQL_LOOKING = "x'); DROP TABLE provider_invoices; --"
# What reaches the tables goes through each engine's own load path (COPY on PostgreSQL): run on both.
stored_by_each_engine = pytest.mark.engine_contract


def test_an_invoice_folder_that_links_outside_the_provider_folder_is_never_read(workspace, warehouse, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "header.json").write_text('{"secret": "outside"}')
    os.symlink(outside, workspace.provider_folder() / "G-LINKED")
    with pytest.raises(ImportRefused, match="contoso-csp does not offer invoice 'G-LINKED'"):
        import_provider_invoice(
            workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-LINKED"), connectors=connector_for, run_id="t"
        )
    assert warehouse.records(InvoiceKey("contoso-csp", "G-LINKED")) == []  # refused: no record, nothing read
    (listed,) = folders_not_read(workspace.config().provider("contoso-csp"))
    assert (listed.folder, "outside" in listed.reason) == ("G-LINKED", True)
    offered = connector_for(workspace.config().provider("contoso-csp"), workspace.config()).list_invoices()
    assert [o.invoice_id for o in offered] == []


def test_folders_whose_names_cannot_be_invoice_ids_are_not_offered(workspace):
    for name in ("..x", "with space", "ünïcode", "a" * 101):
        (workspace.provider_folder() / name).mkdir()
        (workspace.provider_folder() / name / "header.json").write_text("{}")
    connector = connector_for(workspace.config().provider("contoso-csp"), workspace.config())
    assert connector.list_invoices() == []
    assert set(connector.invalid_folders()) == {"..x", "with space", "ünïcode", "a" * 101}


@stored_by_each_engine
def test_sql_looking_values_are_stored_as_data_and_break_nothing(workspace, warehouse):
    line = usage_line("U1", meter_name=SQL_LOOKING, unit=SQL_LOOKING)
    workspace.add_invoice("G-SQL", usage=[line, usage_line(SQL_LOOKING, customer_id=SQL_LOOKING)])
    result = import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-SQL"), connectors=connector_for, run_id="t"
    )
    assert result.status == Status.ERROR
    assert f"customer '{SQL_LOOKING}' (1 line)" in result.message
    with warehouse.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.provider_invoices)).scalar_one() == 1


@stored_by_each_engine
def test_sql_looking_column_names_are_kept_as_extra_columns(workspace, warehouse):
    folder = workspace.add_invoice("G-COLS", usage=[usage_line("U1")])
    hostile = 'evil"; DROP TABLE usage_summaries; --'
    rows = [{**usage_line("U1"), hostile: "1", "it's": "2"}]
    write_csv(folder / "usage_summaries.csv", rows, [*USAGE_COLUMNS, hostile, "it's"])
    result = import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-COLS"), connectors=connector_for, run_id="t"
    )
    assert result.status == Status.ACTIVE, result.message
    with warehouse.engine.connect() as conn:
        extra = conn.execute(sa.select(t.usage_summaries.c.extra)).scalar_one()
    assert extra == '{"evil\\"; DROP TABLE usage_summaries; --":"1","it\'s":"2"}'


def test_formula_looking_values_reach_the_missing_references_note_neutralised(workspace, warehouse):
    workspace.add_invoice("G-CSV", usage=[usage_line("U1", customer_id='=HYPERLINK("http://x")')])
    result = import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-CSV"), connectors=connector_for, run_id="t"
    )
    errors = {n.file_name: n.content for n in warehouse.notes(result.record_id)}["errors.csv"]
    assert "'=HYPERLINK" in errors
    assert ",=HYPERLINK" not in errors


def test_a_huge_single_line_ends_as_error_with_a_clear_message(workspace, warehouse):
    folder = workspace.add_invoice("G-HUGE", usage=[usage_line("U1")])
    with (folder / "usage_summaries.csv").open("a", encoding="utf-8") as handle:
        handle.write("U2," + "x" * 5_000_000 + ",SUB-AZ-1001,AZURE-PLAN,2026-10-01,2026-10-31,1,1,1,USD,,,,\n")
    result = import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-HUGE"), connectors=connector_for, run_id="t"
    )
    assert result.status == Status.ERROR
    assert result.message.startswith("usage_summaries.csv: cannot be read")
    assert "longer than the reader allows" in result.message or "must be 1 to 200 characters" in result.message
    assert len(result.message) < 400


@stored_by_each_engine
def test_empty_text_and_missing_values_are_both_treated_as_missing(workspace, warehouse):
    folder = workspace.add_invoice("G-EMPTY", usage=[usage_line("U1")])
    text = (folder / "usage_summaries.csv").read_text().replace("AZURE-PLAN", '""', 1)
    (folder / "usage_summaries.csv").write_text(text)
    result = import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", "G-EMPTY"), connectors=connector_for, run_id="t"
    )
    assert result.status == Status.ACTIVE  # product_id may be empty, quoted or not
    blank_customer = text.replace(usage_line("U1")["customer_id"], "", 1)
    (folder / "usage_summaries.csv").write_text(blank_customer)
    other = InvoiceKey("contoso-csp", "G-EMPTY2")
    (workspace.provider_folder() / "G-EMPTY2").mkdir()
    (workspace.provider_folder() / "G-EMPTY2" / "usage_summaries.csv").write_text(blank_customer)
    (workspace.provider_folder() / "G-EMPTY2" / "header.json").write_text(
        (folder / "header.json").read_text().replace("G-EMPTY", "G-EMPTY2")
    )
    refused = import_provider_invoice(workspace.config(), warehouse, other, connectors=connector_for, run_id="t")
    assert "column 'customer_id' must be a value (it is empty)" in refused.message


def test_provider_text_never_reaches_the_ui_as_markdown(workspace):
    hostile = "<img src=x onerror=alert(1)> **bold** [link](http://evil)"
    workspace.add_invoice("G-MD", usage=[usage_line("U1", customer_id=hostile, meter_name=hostile)])
    test_defs = dg.Definitions(
        assets=defs.assets, jobs=defs.jobs, resources={"invoice_pipeline": pipeline_resource(), "smtp": smtp_resource()}
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("provider_invoices", ["contoso-csp:G-MD"])
        result = test_defs.resolve_job_def("import_provider_invoice").execute_in_process(
            instance=instance, partition_key="contoso-csp:G-MD", raise_on_error=False
        )
        values = [
            value
            for event in result.all_events
            if event.event_specific_data is not None
            for holder in (
                getattr(event.event_specific_data, "materialization", None),
                getattr(event.event_specific_data, "asset_observation", None),
                event.event_specific_data if isinstance(event.event_specific_data, dg.AssetCheckEvaluation) else None,
            )
            if holder is not None
            for value in holder.metadata.values()
        ]
    assert values, "the run produced no metadata to inspect"
    assert not [v for v in values if isinstance(v, dg.MarkdownMetadataValue)]
    assert any(hostile in str(v) for v in values)  # it is shown, as plain table text
