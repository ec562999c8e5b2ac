"""Secrets never travel: a planted SMTP password appears in nothing a run produces."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import AuthResult
from dagster._serdes import serialize_value

from invoice_pipeline.dagster_defs.daily_operations import daily_import_summary
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.resources import pipeline_resource
from invoice_pipeline.notifications.mail import SmtpSettings
from invoice_pipeline.notifications.summary import deliver_daily_summary
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline_tests.builders import usage_line
from invoice_pipeline_tests.hardening.test_secret_leaks import files_leaking, leaks
from invoice_pipeline_tests.smtp_relay import SmtpRelay, enable_notifications

SECRET = "planted-S3cr3t-0d9f7e"


def _refuse_everyone(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    return AuthResult(success=False, handled=False)


def _accept_everyone(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    return AuthResult(success=True)


@pytest.fixture
def refusing_relay():
    relay = SmtpRelay(authenticator=_refuse_everyone, auth_require_tls=False).start()
    yield relay
    relay.stop()


def _warehouse_text(workspace) -> str:
    warehouse = workspace.warehouse()
    try:
        with warehouse.engine.connect() as conn:
            return "\n".join(
                repr(row) for table in t.metadata.sorted_tables for row in conn.execute(sa.select(table)).all()
            )
    finally:
        warehouse.dispose()


def test_the_smtp_password_is_in_no_log_metadata_exception_table_or_output(workspace, refusing_relay, monkeypatch):
    enable_notifications(workspace.config_path)
    workspace.add_invoice("G-SECRET", usage=[usage_line("U1")])
    env = {**refusing_relay.env(), "INVOICE_PIPELINE_SMTP_USER": "billing", "INVOICE_PIPELINE_SMTP_PASSWORD": SECRET}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    cli = str(Path(sys.executable).parent / "invoice-pipeline")
    runs = [
        subprocess.run([cli, *args], capture_output=True, text=True, env=os.environ, timeout=180, cwd=workspace.root)
        for args in (["sync"], ["notify", "--day", "2026-11-25"], ["notify", "--preview", "--html"])
    ]
    assert runs[1].returncode == 3 and "not sent" in runs[1].stderr  # the relay refused the login

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [daily_import_summary],
            resources={"invoice_pipeline": pipeline_resource(), "smtp": smtp_resource()},
            run_config={"ops": {"daily_import_summary": {"config": {"day": "2026-11-26"}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        produced = [serialize_value(run) for run in instance.get_runs()]
        produced += [serialize_value(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]

    produced += [r.stdout + r.stderr for r in runs] + [_warehouse_text(workspace)]
    assert any("SMTPAuthenticationError" in text or "535" in text for text in produced)  # the failure is visible
    assert not [text[:200] for text in produced if leaks(text, SECRET, "billing")]  # in any encoding
    assert files_leaking(workspace.root, SECRET, "billing") == []  # the data folder, with the Dagster home


def test_mail_sent_through_a_login_relay_never_carries_the_password(workspace):
    relay = SmtpRelay(authenticator=_accept_everyone, auth_require_tls=False).start()
    try:
        enable_notifications(workspace.config_path)
        settings = SmtpSettings(relay.host, relay.port, "none", "billing", SECRET)
        assert SECRET not in repr(settings)
        warehouse = workspace.warehouse()
        try:
            assert deliver_daily_summary(warehouse, workspace.config(), settings, date(2026, 11, 25)).sent
        finally:
            warehouse.dispose()
        assert relay.messages and all(SECRET.encode() not in m.raw for m in relay.messages)
    finally:
        relay.stop()


def _files_holding(root: Path, needles: list[str]) -> list[str]:
    """Every file under `root` (warehouse, Dagster instance and logs, downloads) that contains one of `needles`."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {needle[:12]}..." for needle in needles if needle.encode() in data]
    return found


def test_the_partner_center_secret_and_access_tokens_are_in_no_output_log_run_event_table_or_file(
    workspace, monkeypatch
):
    from invoice_pipeline_tests.connectors.partner_center_support import start_fake, use_partner_center

    fake = start_fake(monkeypatch, secret=SECRET)
    try:
        use_partner_center(workspace, fake)
        fake.faults.failed_exports = {"G200000002": ("500", "Internal server error")}
        fake.faults.expired_tokens = 1  # a refused token must not show either
        cli = str(Path(sys.executable).parent / "invoice-pipeline")
        runs = [
            subprocess.run(
                [cli, *args], capture_output=True, text=True, env=os.environ, timeout=300, cwd=workspace.root
            )
            for args in (["sync"], ["invoices", "list", "--json"], ["providers", "invoices", "contoso-csp"])
        ]
        monkeypatch.setenv("PARTNER_CENTER_CLIENT_SECRET", SECRET + "-wrong")
        runs.append(
            subprocess.run(
                [cli, "sync"], capture_output=True, text=True, env=os.environ, timeout=300, cwd=workspace.root
            )
        )
    finally:
        fake.stop()

    assert "G200000001\tActive" in runs[0].stdout.replace("contoso-csp:", "")
    assert "500 Internal server error" in runs[0].stdout  # the failure is visible, the secrets are not
    tokens = list(fake.tokens)
    assert len(tokens) >= 2
    outputs = [r.stdout + r.stderr for r in runs]
    assert not [text[:200] for text in outputs if leaks(text, SECRET) or any(leaks(text, t) for t in tokens)]
    assert _files_holding(workspace.root, [SECRET, *tokens]) == []
    assert files_leaking(workspace.root, SECRET) == []  # in any encoding, case-folded or cut short
    assert _warehouse_text(workspace) and SECRET not in _warehouse_text(workspace)
