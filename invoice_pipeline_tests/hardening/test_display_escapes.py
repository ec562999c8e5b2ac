"""Terminal escapes and bidi overrides from a provider are shown as visible escapes, never played.

A line id holding `ESC ] 0 ; PWNED BEL` (sets a terminal's title) and a customer id holding a screen clear and a
right-to-left override reach the sync line, `invoices list` and `show`, the text mail and the UI's metadata:
each shows them escaped (`\\x1b`, `\\u202e`), labels and values alike.
"""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import date, timedelta

import dagster as dg

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline_tests.builders import usage_line
from invoice_pipeline_tests.cli_runner import run_cli
from invoice_pipeline_tests.smtp_relay import enable_notifications

TITLE = "U1\x1b]0;PWNED\x07"
CUSTOMER = "cust\x1b[2J\u202egnp.exe\x9b"
# C0 controls but newline and tab (a CLI line's separator), DEL, C1 controls, bidi overrides, isolates and marks
UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _played(text: str) -> list[str]:
    return [repr(text[max(0, m.start() - 30) : m.end() + 10]) for m in UNSHOWABLE.finditer(text)]


def test_provider_escapes_are_shown_escaped_by_the_cli_and_the_text_mail(workspace):
    enable_notifications(workspace.config_path)
    workspace.add_invoice("G-ESC", usage=[usage_line(TITLE), usage_line("U2", customer_id=CUSTOMER)])
    env = dict(os.environ)
    today = date.today()
    runs = [
        run_cli(*args, env=env, cwd=workspace.root)
        for args in (
            ["sync"],
            ["invoices", "list"],
            ["invoices", "show", "contoso-csp:G-ESC"],
            ["notify", "--preview", "--day", str(today)],
            ["notify", "--preview", "--day", str(today + timedelta(days=1))],
        )
    ]
    output = "\n".join(r.stdout + r.stderr for r in runs)
    assert "G-ESC" in runs[0].stdout and "G-ESC" in runs[1].stdout, output
    assert "\\x1b" in runs[0].stdout and "\\x1b" in runs[1].stdout, output  # shown, escaped
    assert _played(output) == []


def test_metadata_descriptions_and_errors_shown_in_the_ui_are_escaped(workspace, warehouse):
    from invoice_pipeline.dagster_defs.errors import PlainError
    from invoice_pipeline.dagster_defs.invoice_state import invoice_metadata, status_observation
    from invoice_pipeline.dagster_defs.metadata import plain_metadata, table_metadata
    from invoice_pipeline.importing.invoice_import import import_provider_invoice

    workspace.add_invoice("G-ESC", usage=[usage_line(TITLE), usage_line("U2", customer_id=CUSTOMER)])
    key = InvoiceKey("contoso-csp", "G-ESC")
    result = import_provider_invoice(workspace.config(), warehouse, key, connectors=connector_for, run_id="t")
    (record,) = warehouse.records(key)
    message = f"{result.message} {TITLE} {CUSTOMER}"  # whatever the schema made of them, and the values raw
    record = dataclasses.replace(record, message=message)

    shown = [
        *map(str, plain_metadata({"message": message, "rows": [{TITLE: CUSTOMER}]}).values()),
        str(table_metadata([{"message": message}]).records),
        *map(str, invoice_metadata(record).values()),
        str(status_observation(key, "Error", f"change {TITLE}", record).metadata),
        str(PlainError("ProviderInvoiceInError", message)),
        str(PlainError("ProviderInvoiceInError", message).user_code_process_error_infos[0].message),
    ]
    assert all(not isinstance(v, dg.MetadataValue) or v for v in shown)
    assert _played("\n".join(shown)) == []
