"""Lines published while they are validated (DuckDB warehouse) end exactly as when validated first, then published."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing import line_staging
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.warehouse.line_publishing import LineStaging
from invoice_pipeline_tests.builders import (
    ADVENTURE_WORKS,
    ProviderWorkspace,
    license_line,
    make_workspace,
    usage_line,
)

KEY = InvoiceKey("contoso-csp", "G300000001")
TAILSPIN = "c41e8f33-2d9b-4a6e-b318-7e2f4a9c5d03"  # ACC-1003, whose SUB-TEAMS-1003 has no product


def _usage(*changes: dict[str, str]) -> list[dict[str, Any]]:
    """Three usage lines of Northwind and Adventure Works, the second changed by each of `changes` in turn."""
    lines = [
        usage_line("U1", "71.424"),
        usage_line("U2", "-12.5000000001", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002"),
        usage_line("U3", "0.0000000001", quantity="0.041666666666666667", unit_price="0.0000024"),
    ]
    for change in changes:
        lines[1].update(change)
    return lines


LICENSE = [license_line("L1", "900.00", quantity="25", unit_price="36.00")]

# name: (usage lines, license lines, header total adjustment)
TRICKY_INVOICES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]] | None, str]] = {
    "clean, a credit and many decimals": (_usage(), LICENSE, "0"),
    "an extra provider column": ([{**line, "ResourceGroup": "rg-'1'"} for line in _usage()], LICENSE, "0"),
    "no license file": (_usage(), None, "0"),
    "only the header row in the usage file": ([], LICENSE, "0"),
    "an amount with an exponent": (_usage({"amount": "1e5"}), LICENSE, "0"),
    "an amount with spaces around it": (_usage({"amount": " 12.50 "}), LICENSE, "0"),
    "a negative quantity": (_usage({"quantity": "-1"}), LICENSE, "0"),
    "a charge that starts after its end": (_usage({"charge_start_date": "2026-11-01"}), LICENSE, "0"),
    "a date that does not exist": (_usage({"usage_date": "2026-02-30"}), LICENSE, "0"),
    "an empty customer": (_usage({"customer_id": ""}), LICENSE, "0"),
    "a control character in a meter id": (_usage({"meter_id": "m\x01"}), LICENSE, "0"),
    "an unmapped customer": (_usage({"customer_id": "unknown-tenant"}), LICENSE, "0"),
    "an unknown subscription": (_usage({"subscription_id": "SUB-NOPE"}), LICENSE, "0"),
    "a subscription of another account": (_usage({"subscription_id": "SUB-AZ-1001"}), LICENSE, "0"),
    "a currency not set up": (_usage({"currency": "XXX"}), LICENSE, "0"),
    "a currency other than the header's": (_usage({"currency": "EUR"}), LICENSE, "0"),
    "a subscription without product (warning)": (
        _usage({"customer_id": TAILSPIN, "subscription_id": "SUB-TEAMS-1003", "product_id": ""}),
        LICENSE,
        "0",
    ),
    "an unknown product (warning)": (_usage({"product_id": "NOPE-PRODUCT"}), LICENSE, "0"),
    "a line id repeated in the usage file": (_usage({"line_id": "U1"}), LICENSE, "0"),
    "a line id in both files": (_usage({"line_id": "L1"}), LICENSE, "0"),
    "a checksum difference": (_usage(), LICENSE, "0.05"),
    "a charge started before the period (warning)": (
        _usage({"charge_start_date": "2026-09-30", "charge_end_date": "2026-10-30"}),
        LICENSE,
        "0",
    ),
    "next month's charges (warning)": (
        _usage(),
        [license_line("L1", "900.00", charge_start_date="2026-11-01", charge_end_date="2026-11-30")],
        "0",
    ),
    "a charge too far after the period": (
        _usage({"charge_start_date": "2026-12-02", "charge_end_date": "2026-12-31"}),
        LICENSE,
        "0",
    ),
    "a charge too far after the period and a checksum difference": (
        _usage({"charge_start_date": "2027-03-01", "charge_end_date": "2027-03-31"}),
        LICENSE,
        "0.05",
    ),
}
# Invoices in Error the one pass decides alone: every line passes its rules, so no validation pass runs.
DECIDED_IN_ONE_PASS = {
    "a checksum difference",
    "a charge too far after the period",
    "a charge too far after the period and a checksum difference",
}


def _outcome(workspace: ProviderWorkspace) -> dict[str, Any]:
    """Everything an import leaves: its result, the record, notes, history and every stored line."""
    warehouse = workspace.warehouse()
    try:
        result = import_provider_invoice(
            workspace.config(), warehouse, KEY, connectors=connector_for, run_id="test-run"
        )
        record = warehouse.current_record(KEY)
        assert record is not None
        with warehouse.engine.connect() as conn:
            lines = {
                kind: conn.execute(
                    sa.text(f"SELECT * EXCLUDE (record_id) FROM {kind}_summaries ORDER BY line_id")
                ).fetchall()
                for kind in ("usage", "license")
            }
        return {
            "status": result.status,
            "message": result.message,
            "failures": result.failures,
            "checks": {name: (c.passed, c.description, c.metadata) for name, c in result.checks.items()},
            "record": (record.status, record.usage_total, record.license_total, record.difference, record.message),
            "counts": (record.usage_line_count, record.license_line_count),
            "notes": [(n.title, n.file_name, n.content) for n in warehouse.notes(record.record_id)],
            "history": [(h.from_status, h.to_status, h.reason) for h in warehouse.history(KEY)],
            "lines": lines,
        }
    finally:
        warehouse.dispose()


def _workspace(root: Path, lines: tuple[list[dict[str, Any]], list[dict[str, Any]] | None, str]) -> ProviderWorkspace:
    workspace = make_workspace(root)
    usage, license, adjust_total = lines
    workspace.add_invoice(KEY.invoice_id, usage=usage, license=license, adjust_total=adjust_total)
    return workspace


def _validation_passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds the validation pass (the one that reports) ran over, in order."""
    ran: list[str] = []
    validate = line_staging.validate_staged_lines

    def counted(table: Any, kind: str, *args: Any, **kwargs: Any) -> Any:
        ran.append(kind)
        return validate(table, kind, *args, **kwargs)

    monkeypatch.setattr(line_staging, "validate_staged_lines", counted)
    return ran


def _validated_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LineStaging, "can_publish_while_validating", property(lambda self: False))


@pytest.mark.parametrize("name", list(TRICKY_INVOICES))
def test_publishing_while_validating_ends_as_validating_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Same status, message, checks, totals, notes, history and stored lines, whichever way the lines went."""
    passes = _validation_passes(monkeypatch)
    in_one_pass = _outcome(_workspace(tmp_path / "one-pass", TRICKY_INVOICES[name]))
    reported = list(passes)
    _validated_first(monkeypatch)
    validated_first = _outcome(_workspace(tmp_path / "validated-first", TRICKY_INVOICES[name]))

    assert in_one_pass == validated_first
    if in_one_pass["status"] == Status.ACTIVE:
        assert reported == []  # the one pass decided alone: no validation pass ran
        assert in_one_pass["lines"]["usage"] or in_one_pass["lines"]["license"]
    elif name in DECIDED_IN_ONE_PASS:
        assert reported == []
    else:
        assert reported == ["usage", "license"]  # it stopped, and the validation pass said why


@pytest.mark.parametrize(
    "change",
    [
        lambda ws: ws.add_invoice(KEY.invoice_id, usage=_usage(), license=LICENSE, adjust_total="0.05"),
        lambda ws: ws.add_invoice(KEY.invoice_id, usage=_usage({"customer_id": "unknown-tenant"}), license=LICENSE),
        lambda ws: ws.add_invoice(KEY.invoice_id, *TRICKY_INVOICES["a charge too far after the period"][:2]),
    ],
    ids=["checksum difference", "unmapped customer", "a charge too far after the period"],
)
def test_an_invoice_that_is_not_active_keeps_none_of_the_lines_published_while_validating(
    tmp_path: Path, change: Callable[[ProviderWorkspace], Path]
) -> None:
    """The lines inserted before the verdict are rolled back: an invoice in Error has no line summaries."""
    workspace = make_workspace(tmp_path / "ws")
    change(workspace)

    outcome = _outcome(workspace)

    assert outcome["status"] == Status.ERROR
    assert outcome["lines"] == {"usage": [], "license": []}


def test_the_guard_is_compiled_once_per_line_kind_and_raw_columns_and_anew_for_other_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compiling the schema's checks to SQL cost more than a small invoice's import: a process importing many
    invoices compiles them once per kind, and again only when a file brings other columns."""
    compiled: list[str] = []
    compile_checks = line_staging.fails_any_check

    def counted(table: Any, kind: str) -> Any:
        compiled.append(kind)
        return compile_checks(table, kind)

    monkeypatch.setattr(line_staging, "_GUARD_SQL", {})
    monkeypatch.setattr(line_staging, "fails_any_check", counted)
    for name in ("clean, a credit and many decimals", "an unmapped customer", "clean, a credit and many decimals"):
        _outcome(_workspace(tmp_path / f"{len(compiled)}-{name}", TRICKY_INVOICES[name]))
    assert compiled == ["usage", "license"]
    outcome = _outcome(_workspace(tmp_path / "extra", TRICKY_INVOICES["an extra provider column"]))
    assert compiled == ["usage", "license", "usage"] and outcome["status"] == Status.ACTIVE
