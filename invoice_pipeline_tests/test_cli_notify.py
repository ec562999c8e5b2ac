"""`invoice-pipeline notify`, the provider change lines of `sync`, and the folders no sync reads (in `sync` and
`providers invoices`), run in this process through click's runner against a real SMTP relay on loopback
(aiosmtpd)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.notifications.summary import due_summary_day
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.operations_log import OperationsLog, SummaryDeliveryAttempts
from invoice_pipeline_tests.builders import ProviderWorkspace, license_line, make_workspace, usage_line
from invoice_pipeline_tests.cli_runner import Completed, run_cli
from invoice_pipeline_tests.smtp_relay import RECIPIENTS, SmtpRelay, enable_notifications, free_port

TO_LINE = f"To: {', '.join(RECIPIENTS)}"


def _env(**values: str) -> dict[str, str]:
    """This process's environment without the pipeline's, Dagster's and SMTP variables, plus `values`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("INVOICE_PIPELINE_CONFIG", "INVOICE_PIPELINE_DATA_DIR", "DAGSTER_HOME")
        and not k.startswith("INVOICE_PIPELINE_SMTP_")
    }
    env.update(values)
    return env


@dataclass
class Site:
    """A workspace with notifications on, its Dagster home, and the relay the CLI mails through."""

    workspace: ProviderWorkspace
    relay: SmtpRelay
    root: Path

    @property
    def env(self) -> dict[str, str]:
        return _env(
            INVOICE_PIPELINE_CONFIG=str(self.workspace.config_path),
            DAGSTER_HOME=str(self.root / "dagster_home"),
            **self.relay.env(),
        )

    def run(self, *args: str, **env: str) -> Completed:
        return run_cli(*args, env={**self.env, **env}, cwd=self.root)

    def import_now(self, invoice_id: str) -> str:
        """Import an invoice in this process (quicker than a sync); returns its status."""
        warehouse = self.workspace.warehouse()
        try:
            key = InvoiceKey("contoso-csp", invoice_id)
            return import_provider_invoice(
                self.workspace.config(), warehouse, key, connectors=connector_for, actor="test"
            ).status
        finally:
            warehouse.dispose()

    def delivery(self, day: str) -> SummaryDeliveryAttempts | None:
        warehouse = self.workspace.warehouse()
        try:
            return OperationsLog(warehouse).delivery(day)
        finally:
            warehouse.dispose()

    def due_day(self) -> date:
        """The latest day whose summary time has passed."""
        config = self.workspace.config()
        return due_summary_day(datetime.now(UTC), config.notifications.summary_time, config.daily_sync.timezone)

    def today(self) -> date:
        """The summary day whose period contains now (not due yet)."""
        return self.due_day() + timedelta(days=1)

    def age_history(self, days: int) -> None:
        """Move every status change `days` back, as if the imports ran then."""
        warehouse = self.workspace.warehouse()
        h = t.invoice_status_history
        try:
            with warehouse.engine.begin() as conn:
                conn.execute(sa.update(h).values(changed_at=h.c.changed_at - timedelta(days=days)))
        finally:
            warehouse.dispose()

    def record_delivery(self, day: date) -> None:
        warehouse = self.workspace.warehouse()
        try:
            OperationsLog(warehouse).record_delivery(day.isoformat(), sent=True, subject="sent earlier")
        finally:
            warehouse.dispose()


def _make_site(root: Path, warehouse_url: str | None = None) -> Iterator[Site]:
    workspace = make_workspace(root / "workspace", warehouse_url)
    enable_notifications(workspace.config_path)
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    relay = SmtpRelay().start()
    try:
        yield Site(workspace, relay, root)
    finally:
        relay.stop()


@pytest.fixture
def site(tmp_path, warehouse_url) -> Iterator[Site]:
    """A workspace with notifications on and a real SMTP relay, on each warehouse engine."""
    yield from _make_site(tmp_path, warehouse_url)


@pytest.fixture
def imported(site) -> Site:
    """G1 Active (46.00 USD, 2 lines) and G2 in Error, imported now."""
    site.workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    site.workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    assert (site.import_now("G1"), site.import_now("G2")) == ("Active", "Error")
    return site


@pytest.fixture
def imported_yesterday(imported) -> Site:
    """G1 and G2 imported a day ago: in the window of the latest due day."""
    imported.age_history(days=1)
    return imported


def _ok(completed: Completed) -> Completed:
    assert completed.returncode == 0, (completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stdout + completed.stderr
    return completed


# notify --preview -----------------------------------------------------------------------------------------


def test_notify_preview_prints_to_subject_and_the_text_part_without_sending(imported):
    day = imported.today().isoformat()
    out = _ok(imported.run("notify", "--preview", "--day", day)).stdout
    lines = out.splitlines()
    assert lines[0] == TO_LINE
    assert lines[1] == f"Subject: Provider invoices {day}: 1 imported, 1 failed"
    assert lines[2] == ""
    assert lines[3].startswith("Provider invoice imports, ")
    assert "  - contoso-csp:G1: 46.00 USD, 2 lines" in lines
    assert any(
        line.startswith("  - contoso-csp:G2: Unresolved references: customer 'unknown-tenant'") for line in lines
    )
    assert "<html>" not in out and "<li>" not in out
    assert imported.relay.messages == []
    assert imported.delivery(day) is None  # a preview does not use up the day's summary


def test_notify_preview_with_html_also_prints_the_html_part(imported):
    day = imported.today().isoformat()
    out = _ok(imported.run("notify", "--preview", "--html", "--day", day)).stdout
    text, html = out.split("<!DOCTYPE html>", 1)
    assert text.startswith(f"{TO_LINE}\nSubject: Provider invoices {day}: ")
    assert "  - contoso-csp:G1: 46.00 USD, 2 lines" in text
    assert "<li>contoso-csp:G1: 46.00 USD, 2 lines</li>" in html
    assert "<strong>contoso-csp:G2</strong>: Unresolved references: customer &#39;unknown-tenant&#39;" in html
    assert imported.relay.messages == []


def test_notify_preview_of_a_quiet_day_says_nothing_new(site):
    out = _ok(site.run("notify", "--preview", "--day", "2026-03-01")).stdout
    assert "Subject: Provider invoices 2026-03-01: 0 imported, 0 failed" in out
    assert "Nothing new" in out


def test_notify_with_a_malformed_day_exits_2_naming_the_option(site):
    completed = site.run("notify", "--preview", "--day", "25/11/2026")
    assert completed.returncode == 2
    assert "'25/11/2026' is not a date written YYYY-MM-DD" in completed.stderr
    assert "--day" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_notify_preview_without_day_shows_the_latest_due_day_until_its_summary_is_sent(imported):
    completed = _ok(imported.run("notify", "--preview"))
    assert f"Subject: Provider invoices {imported.due_day()}: 0 imported, 0 failed" in completed.stdout
    assert completed.stderr == ""  # that window is over


def test_notify_preview_without_day_shows_the_summary_sent_next_not_the_last_one_sent(imported):
    imported.record_delivery(imported.due_day())
    completed = _ok(imported.run("notify", "--preview"))
    day = imported.today()
    assert f"Subject: Provider invoices {day}: 1 imported, 1 failed" in completed.stdout
    assert "  - contoso-csp:G1: 46.00 USD, 2 lines" in completed.stdout.splitlines()
    (note,) = completed.stderr.strip().splitlines()
    assert note.startswith(f"the summary for {day} is not due yet: its window ends at {day} ")
    assert imported.relay.messages == [] and imported.delivery(day.isoformat()) is None


def test_notify_preview_html_with_only_a_text_template_says_the_mail_has_no_html_part(site):
    (site.workspace.root / "summary.txt.j2").write_text("{{ day }}: {{ failed | length }} failed\n", encoding="utf-8")
    enable_notifications(site.workspace.config_path, text_template="summary.txt.j2")
    completed = _ok(site.run("notify", "--preview", "--html", "--day", "2026-03-01"))
    assert (
        completed.stdout
        == f"{TO_LINE}\nSubject: Provider invoices 2026-03-01: 0 imported, 0 failed\n\n2026-03-01: 0 failed\n\n"
    )
    assert "no HTML part" in completed.stderr


# notify ---------------------------------------------------------------------------------------------------


def test_notify_for_a_day_not_yet_due_exits_1_saying_when_it_is_due_and_leaves_that_days_summary_unused(imported):
    day = imported.today()
    refused = imported.run("notify", "--day", day.isoformat())
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert f"the summary for {day} is not due yet: its window ends at {day} " in line
    assert line.endswith(f"preview it now with `invoice-pipeline notify --preview --day {day}`")
    assert imported.relay.messages == [] and imported.delivery(day.isoformat()) is None


def test_notify_sends_the_summary_through_the_relay_and_a_second_notify_says_already_sent(imported_yesterday):
    imported = imported_yesterday
    day = imported.due_day().isoformat()
    first = _ok(imported.run("notify", "--day", day))
    assert first.stdout.strip() == f"summary {day}: sent to {', '.join(RECIPIENTS)}"
    (mail,) = imported.relay.messages
    assert mail.rcpt_tos == RECIPIENTS
    assert mail.subject == f"Provider invoices {day}: 1 imported, 1 failed"
    assert "  - contoso-csp:G1: 46.00 USD, 2 lines" in mail.part("text/plain")
    assert "<li>contoso-csp:G1: 46.00 USD, 2 lines</li>" in mail.part("text/html")

    second = _ok(imported.run("notify", "--day", day))
    assert second.stdout.strip() == f"summary {day}: already sent for {day}"
    assert len(imported.relay.messages) == 1


def test_notify_without_day_sends_the_latest_due_days_summary(site):
    due = site.due_day()
    out = _ok(site.run("notify")).stdout
    assert out.strip() == f"summary {due.isoformat()}: sent to {', '.join(RECIPIENTS)}"
    (mail,) = site.relay.messages
    assert mail.subject.startswith(f"Provider invoices {due.isoformat()}: ")


def test_notify_with_the_relay_down_exits_3_with_one_line_and_a_later_notify_sends(imported):
    day = imported.due_day().isoformat()
    down = imported.run("notify", "--day", day, INVOICE_PIPELINE_SMTP_PORT=str(free_port()))
    assert down.returncode == 3  # a fault the pipeline met; 1 is for refusals
    assert "Traceback" not in down.stderr
    (line,) = down.stderr.strip().splitlines()
    assert f"summary for {day} not sent: " in line and "ConnectionRefusedError" in line
    assert line.endswith("run notify again")
    assert imported.relay.messages == []
    assert imported.delivery(day).status == "failed"

    again = _ok(imported.run("notify", "--day", day))
    assert "sent to" in again.stdout
    assert len(imported.relay.messages) == 1
    assert (imported.delivery(day).status, imported.delivery(day).attempts) == ("sent", 2)


def test_notify_without_a_relay_exits_2_with_one_line_saying_how_to_configure_one(imported):
    day = imported.due_day().isoformat()
    completed = imported.run("notify", "--day", day, INVOICE_PIPELINE_SMTP_HOST="")
    assert completed.returncode == 2
    (line,) = completed.stderr.strip().splitlines()
    assert "INVOICE_PIPELINE_SMTP_HOST" in line and "The notification settings" in line
    assert imported.delivery(day) is None and imported.relay.messages == []


def test_notify_with_an_unknown_tls_mode_exits_with_one_line_naming_the_variable(imported):
    completed = imported.run("notify", "--day", "2026-03-01", INVOICE_PIPELINE_SMTP_TLS="tls")
    assert completed.returncode == 2
    assert "INVOICE_PIPELINE_SMTP_TLS must be none, starttls or ssl" in completed.stderr
    assert "Traceback" not in completed.stderr
    assert imported.relay.messages == []


def test_notify_with_a_port_that_is_not_a_number_exits_with_one_line_naming_the_variable(imported):
    completed = imported.run("notify", "--day", "2026-03-01", INVOICE_PIPELINE_SMTP_PORT="smtp")
    assert "Traceback" not in completed.stderr
    assert completed.returncode == 2
    (line,) = completed.stderr.strip().splitlines()
    assert "INVOICE_PIPELINE_SMTP_PORT" in line
    assert imported.relay.messages == []


# sync and provider changes ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def changed(tmp_path_factory) -> Iterator[Site]:
    """G1 imported, then its header total changed at the provider (46.00 -> 47.50), then `sync` twice."""
    for site in _make_site(tmp_path_factory.mktemp("changed")):
        site.workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
        assert site.import_now("G1") == "Active"
        site.workspace.add_invoice("G1", total="47.50")
        (site.workspace.provider_folder() / "G8 copy").mkdir()
        site.first_sync = site.run("sync")
        site.mails_after_first = list(site.relay.messages)
        site.second_sync = site.run("sync")
        yield site


def _lines(stdout: str, key: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines() if line.startswith(f"{key}\t")]


@pytest.mark.slow
def test_sync_prints_a_changed_at_provider_line_for_an_active_invoice_and_sends_one_email(changed):
    first = _ok(changed.first_sync)
    rows = _lines(first.stdout, "contoso-csp:G1")
    assert ["contoso-csp:G1", "skipped", "already Active"] in rows
    (change,) = [row for row in rows if row[1] == "changed at provider"]
    assert change[2].startswith("imported 46") and "provider now 47.5" in change[2]
    (mail,) = changed.mails_after_first
    assert mail.rcpt_tos == RECIPIENTS
    assert mail.subject == "Provider invoice contoso-csp:G1 changed at the provider: 46.00 -> 47.50 USD"
    assert "The imported invoice was NOT updated." in mail.part("text/plain")


def test_sync_leaves_the_changed_invoice_as_imported(changed):
    warehouse = changed.workspace.warehouse()
    try:
        record = warehouse.current_record(InvoiceKey("contoso-csp", "G1"))
    finally:
        warehouse.dispose()
    assert (record.status, f"{record.total_amount:.2f}") == ("Active", "46.00")


def test_the_next_sync_neither_prints_nor_emails_the_same_change_again(changed):
    second = _ok(changed.second_sync)
    assert _lines(second.stdout, "contoso-csp:G1") == [["contoso-csp:G1", "skipped", "already Active"]]
    assert "changed at provider" not in second.stdout
    assert len(changed.relay.messages) == 1


def test_the_changed_at_provider_line_shows_totals_with_the_currencys_minor_units_like_the_email(changed):
    (change,) = [row for row in _lines(changed.first_sync.stdout, "contoso-csp:G1") if row[1] == "changed at provider"]
    assert change[2] == "imported 46.00, provider now 47.50 USD"


@pytest.mark.slow
def test_sync_with_the_relay_down_still_prints_the_change_warns_and_the_next_sync_sends_the_email(site):
    site.workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")])
    assert site.import_now("G1") == "Active"
    site.workspace.add_invoice("G1", total="12.00")
    down = _ok(site.run("sync", INVOICE_PIPELINE_SMTP_PORT=str(free_port())))
    assert any(row[1] == "changed at provider" for row in _lines(down.stdout, "contoso-csp:G1"))
    assert "notification not sent (retried next sync)" in down.stderr
    assert "ConnectionRefusedError" in down.stderr
    assert site.relay.messages == []
    up = _ok(site.run("sync"))
    assert "changed at provider" not in up.stdout
    (mail,) = site.relay.messages
    assert mail.subject == "Provider invoice contoso-csp:G1 changed at the provider: 10.00 -> 12.00 USD"


# Folders not read -------------------------------------------------------------------------------------------

NOT_READ_REASON = (
    "invoice id 'G8 copy' is not allowed: use 1-100 ASCII letters, digits, '.', '_' or '-', starting with a letter "
    "or digit, without '..'; rename the folder to its invoice id"
)


def test_sync_lists_a_folder_it_does_not_read_with_the_reason(changed):
    rows = _lines(_ok(changed.first_sync).stdout, "contoso-csp:G8 copy")
    assert rows == [["contoso-csp:G8 copy", "not read", NOT_READ_REASON]]


def test_providers_invoices_lists_a_folder_it_does_not_read_with_the_reason_among_the_invoices(site):
    site.workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")])
    (site.workspace.provider_folder() / "G8 copy").mkdir()
    completed = _ok(site.run("providers", "invoices", "contoso-csp"))
    lines = [line.split("\t") for line in completed.stdout.splitlines()]
    assert ["G8 copy", "not read", NOT_READ_REASON] in lines
    assert [line[0] for line in lines] == ["G1", "G8 copy"]
    assert completed.stderr == ""
