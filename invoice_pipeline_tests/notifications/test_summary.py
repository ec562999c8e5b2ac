"""The daily summary: what it lists after real imports, how it renders, and its once-a-day delivery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from invoice_pipeline.composition import connector_for
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline.importing.sync_plan import plan_sync
from invoice_pipeline.notifications.mail import NO_RELAY, MailError, SmtpSettings
from invoice_pipeline.notifications.summary import (
    ChangeSeen,
    CrashedRun,
    DailySummary,
    SummaryAttempt,
    SummaryNotDue,
    build_daily_summary,
    deliver_daily_summary,
    due_summary_day,
    next_summary_attempt,
    next_summary_day,
    render_summary,
    summary_period,
)
from invoice_pipeline.operations.invoice_operations import deactivate_invoice, delete_invoice
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline_tests.builders import license_line, usage_line
from invoice_pipeline_tests.smtp_relay import (
    HOST,
    RECIPIENTS,
    SENDER,
    SmtpRelay,
    configure,
    enable_notifications,
    free_port,
)

# The operations log (outcomes, changes, deliveries by time window) is warehouse SQL: run on both engines.
pytestmark = pytest.mark.engine_contract
HOSTILE = "<script>alert('pwned')</script>"


def _key(invoice_id: str) -> InvoiceKey:
    return InvoiceKey("contoso-csp", invoice_id)


def _import(workspace, warehouse, invoice_id: str):
    return import_provider_invoice(
        workspace.config(), warehouse, _key(invoice_id), connectors=connector_for, actor="test"
    )


def _current_day(config) -> date:
    """The summary day whose period contains now (the period ends at summary_time on that day)."""
    due = due_summary_day(datetime.now(UTC), config.notifications.summary_time, config.daily_sync.timezone)
    return due + timedelta(days=1)


def _summary(workspace, warehouse, day: date | None = None):
    config = workspace.config()
    day = day or _current_day(config)
    return build_daily_summary(warehouse, config, day)


def _due_at(config, day: date) -> datetime:
    """The moment `day`'s summary becomes due (its window is over)."""
    return summary_period(day, config.notifications.summary_time, config.daily_sync.timezone)[1]


def _deliver(warehouse, config, smtp, day: date):
    """Deliver `day`'s summary at the moment it is due."""
    return deliver_daily_summary(warehouse, config, smtp, day, now=_due_at(config, day))


def _age_history(warehouse, invoice_id: str, days: int) -> None:
    """Move an invoice's status changes `days` back, as if it was imported then."""
    h = t.invoice_status_history
    with warehouse.engine.begin() as conn:
        for entry_id, changed_at in conn.execute(
            sa.select(h.c.entry_id, h.c.changed_at).where(h.c.invoice_id == invoice_id)
        ).all():
            conn.execute(
                sa.update(h).where(h.c.entry_id == entry_id).values(changed_at=changed_at - timedelta(days=days))
            )


def _explode_with(message: str):
    def explode(*args, **kwargs):
        raise OSError(message)

    return explode


@pytest.fixture
def relay() -> Iterator[SmtpRelay]:
    server = SmtpRelay().start()
    yield server
    server.stop()


@pytest.fixture
def smtp(relay) -> SmtpSettings:
    return SmtpSettings(HOST, relay.port, timeout_seconds=5)


@pytest.fixture
def notifying(workspace):
    """The workspace with notification recipients and a sender configured."""
    enable_notifications(workspace.config_path)
    return workspace


@pytest.fixture
def busy_day(notifying, warehouse):
    """Real imports today: G1 and G4 Active, G2 in Error, G3 still Populating; G4 changed at the provider;
    one import run crashed."""
    ws = notifying
    ws.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    ws.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    ws.add_invoice("G3", usage=[usage_line("U1")])
    ws.add_invoice("G4", usage=[usage_line("U1", "20.00")])
    for invoice_id in ("G1", "G2", "G4"):
        _import(ws, warehouse, invoice_id)
    warehouse.start_import(_key("G3"), run_id="run-still-going", actor="test", stuck_after=timedelta(hours=2))
    ws.add_invoice("G4", total="25.50")  # the provider's header now says 25.50
    plan = plan_sync(ws.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test")
    assert [c.invoice_id for c in plan.new_changes] == ["G4"]
    OperationsLog(warehouse).record_run_failure("run-crashed-1", _key("G5"), "OSError: disk full")
    return ws


# What the summary lists ------------------------------------------------------------------------------


def test_summary_lists_succeeded_failed_with_message_populating_changed_and_crashed(busy_day, warehouse):
    summary = _summary(busy_day, warehouse)
    assert [(i.key, i.total_amount, i.currency, i.line_count) for i in summary.succeeded] == [
        ("contoso-csp:G1", "46.00", "USD", 2),
        ("contoso-csp:G4", "20.00", "USD", 1),
    ]
    (failed,) = summary.failed
    assert failed.key == "contoso-csp:G2"
    assert failed.message.startswith("Unresolved references: customer 'unknown-tenant' (1 line)")
    assert [p.key for p in summary.populating] == ["contoso-csp:G3"]
    assert [(c.key, c.old_total, c.new_total, c.currency) for c in summary.changed] == [
        ("contoso-csp:G4", "20.00", "25.50", "USD")
    ]
    assert summary.crashed == [CrashedRun("contoso-csp:G5", "run-crashed-1", "OSError: disk full")]
    assert not summary.nothing_new


def test_summary_of_another_day_does_not_list_todays_imports(busy_day, warehouse):
    summary = _summary(busy_day, warehouse, _current_day(busy_day.config()) - timedelta(days=2))
    assert (summary.succeeded, summary.failed, summary.changed, summary.crashed) == ([], [], [], [])
    assert [p.key for p in summary.populating] == ["contoso-csp:G3"]  # still running, whatever the day


def test_an_invoice_imported_on_an_earlier_day_that_changed_at_the_provider_today_is_not_listed_as_imported(
    notifying, warehouse
):
    notifying.add_invoice("G1", usage=[usage_line("U1", "10.00")])
    _import(notifying, warehouse, "G1")
    _age_history(warehouse, "G1", days=3)
    notifying.add_invoice("G1", total="12.00")
    plan_sync(notifying.config(), warehouse, connectors=connector_for, changes=OperationsLog(warehouse), actor="test")
    summary = _summary(notifying, warehouse)
    assert [c.key for c in summary.changed] == ["contoso-csp:G1"]
    # The provider change writes an Active -> Active history entry; it is not an import.
    assert summary.succeeded == []
    assert render_summary(summary, notifying.config().notifications).subject.endswith(
        ": 0 imported, 0 failed, 1 changed at the provider"
    )


def test_an_invoice_that_failed_yesterday_and_was_not_retried_is_not_listed_as_failed_today(notifying, warehouse):
    notifying.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    _import(notifying, warehouse, "G2")
    _age_history(warehouse, "G2", days=1)
    assert _summary(notifying, warehouse).failed == []


# Rendering ----------------------------------------------------------------------------------------------


def test_rendered_subject_text_and_html_contain_every_invoice_line(busy_day, warehouse):
    config = busy_day.config()
    summary = _summary(busy_day, warehouse)
    mail = render_summary(summary, config.notifications)
    assert mail.subject == f"Provider invoices {summary.day}: 2 imported, 1 failed, 1 changed at the provider"
    text = mail.text
    assert "Succeeded (2):\n  - contoso-csp:G1: 46.00 USD, 2 lines\n  - contoso-csp:G4: 20.00 USD, 1 lines\n" in text
    assert "Failed (1):\n  - contoso-csp:G2: Unresolved references: customer 'unknown-tenant' (1 line)" in text
    assert "Still Populating (1):\n  - contoso-csp:G3 since " in text
    assert "  - contoso-csp:G4: imported 20.00 USD, provider now says 25.50 USD (seen " in text
    assert "Import runs that crashed (1):\n  - contoso-csp:G5 (run run-crashed-1): OSError: disk full" in text
    assert "Nothing new" not in text
    html = mail.html
    assert "<li>contoso-csp:G1: 46.00 USD, 2 lines</li>" in html
    assert "<li><strong>contoso-csp:G2</strong>: Unresolved references: customer &#39;unknown-tenant&#39;" in html
    assert "<li>contoso-csp:G3 since " in html
    assert "<li>contoso-csp:G4: imported 20.00 USD, provider now says 25.50 USD (seen " in html
    assert "<li>contoso-csp:G5 (run run-crashed-1): OSError: disk full</li>" in html


def test_html_escapes_hostile_values_from_a_crashed_import_and_the_text_part_keeps_them_verbatim(
    notifying, warehouse, monkeypatch
):
    notifying.add_invoice("G6", usage=[usage_line("U1")])
    monkeypatch.setattr("invoice_pipeline.importing.invoice_validation.find_missing_references", _explode_with(HOSTILE))
    with pytest.raises(OSError):
        _import(notifying, warehouse, "G6")
    OperationsLog(warehouse).record_run_failure("run-<b>x</b>", _key("G6"), f"OSError: {HOSTILE}")
    summary = _summary(notifying, warehouse)
    (failed,) = summary.failed
    assert HOSTILE in failed.message  # the real message, as the import stored it
    mail = render_summary(summary, notifying.config().notifications)
    assert "<script>" not in mail.html and "<b>x</b>" not in mail.html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in mail.html
    assert "run-&lt;b&gt;x&lt;/b&gt;" in mail.html
    assert f"  - contoso-csp:G6: Import failed unexpectedly (OSError: {HOSTILE})" in mail.text


def test_a_custom_html_template_escapes_values_too(notifying, warehouse, monkeypatch):
    template = notifying.root / "summary.html"
    template.write_text("<p>{% for i in failed %}{{ i.message }}{% endfor %}</p>", encoding="utf-8")
    enable_notifications(notifying.config_path, html_template="summary.html")
    notifying.add_invoice("G6", usage=[usage_line("U1")])
    monkeypatch.setattr("invoice_pipeline.importing.invoice_validation.find_missing_references", _explode_with(HOSTILE))
    with pytest.raises(OSError):
        _import(notifying, warehouse, "G6")
    html = render_summary(_summary(notifying, warehouse), notifying.config().notifications).html
    assert html.startswith("<p>Import failed unexpectedly") and "<script>" not in html
    assert "&lt;script&gt;" in html


def test_editing_the_configured_text_template_changes_the_mail_that_is_sent(busy_day, warehouse, relay, smtp):
    template = busy_day.root / "templates" / "summary.txt.j2"
    template.parent.mkdir()
    template.write_text(
        "Imports {{ day }}:{% for i in succeeded %} {{ i.key }}={{ i.total_amount }}{% endfor %}\n", encoding="utf-8"
    )
    enable_notifications(busy_day.config_path, text_template="templates/summary.txt.j2")  # relative to the config
    day = _current_day(busy_day.config())
    _deliver(warehouse, busy_day.config(), smtp, day)
    template.write_text("EDITED {{ day }}: {{ failed | length }} failed\n", encoding="utf-8")
    _deliver(warehouse, busy_day.config(), smtp, day + timedelta(days=1))
    first, second = relay.messages
    assert first.part("text/plain") == f"Imports {day}: contoso-csp:G1=46.00 contoso-csp:G4=20.00\n"
    assert second.part("text/plain") == f"EDITED {day + timedelta(days=1)}: 0 failed\n"
    assert [part.get_content_type() for part in first.message.walk()] == ["text/plain"]  # no default HTML part


def test_with_only_an_html_template_configured_the_mail_is_that_html_part_alone(busy_day, warehouse, relay, smtp):
    (busy_day.root / "summary.html.j2").write_text("<p>{{ succeeded | length }} imported</p>\n", encoding="utf-8")
    enable_notifications(busy_day.config_path, html_template="summary.html.j2")
    mail = render_summary(_summary(busy_day, warehouse), busy_day.config().notifications)
    assert (mail.text, mail.html) == (None, "<p>2 imported</p>\n")
    _deliver(warehouse, busy_day.config(), smtp, _current_day(busy_day.config()))
    (received,) = relay.messages
    assert [part.get_content_type() for part in received.message.walk()] == ["text/html"]
    assert received.part("text/html") == "<p>2 imported</p>\n"


def test_without_templates_configured_the_mail_has_both_default_parts(busy_day, warehouse):
    mail = render_summary(_summary(busy_day, warehouse), busy_day.config().notifications)
    assert mail.text.startswith("Provider invoice imports, ") and mail.html.startswith("<!DOCTYPE html>")


# Delivery ----------------------------------------------------------------------------------------------


def test_the_daily_summary_is_sent_once_per_day_and_a_second_delivery_says_already_sent(
    busy_day, warehouse, relay, smtp
):
    config = busy_day.config()
    day = _current_day(config)
    first = _deliver(warehouse, config, smtp, day)
    second = _deliver(warehouse, config, smtp, day)
    assert (first.sent, first.reason) == (True, f"sent to {', '.join(RECIPIENTS)}")
    assert (second.sent, second.reason) == (False, f"already sent for {day}")
    (received,) = relay.messages
    assert received.rcpt_tos == RECIPIENTS and received.mail_from == SENDER
    assert received.subject == first.mail.subject
    assert "contoso-csp:G1: 46.00 USD, 2 lines" in received.part("text/plain")
    assert "<li>contoso-csp:G1: 46.00 USD, 2 lines</li>" in received.part("text/html")
    delivery = OperationsLog(warehouse).delivery(day.isoformat())
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, None)
    assert delivery.sent_at is not None


def test_the_next_day_gets_its_own_summary(busy_day, warehouse, relay, smtp):
    config = busy_day.config()
    day = _current_day(config)
    assert _deliver(warehouse, config, smtp, day).sent
    assert _deliver(warehouse, config, smtp, day + timedelta(days=1)).sent
    assert [m.subject.split(":")[0] for m in relay.messages] == [
        f"Provider invoices {day}",
        f"Provider invoices {day + timedelta(days=1)}",
    ]


def test_when_the_relay_is_down_the_failure_is_recorded_and_raised_then_sent_once_the_relay_is_up(
    busy_day, warehouse, relay, smtp
):
    config = busy_day.config()
    day = _current_day(config)
    down = SmtpSettings(HOST, free_port(), timeout_seconds=5)
    with pytest.raises(MailError, match="ConnectionRefusedError"):
        _deliver(warehouse, config, down, day)
    log = OperationsLog(warehouse)
    failed = log.delivery(day.isoformat())
    assert (failed.status, failed.attempts, failed.sent_at) == ("failed", 1, None)
    assert "ConnectionRefusedError" in failed.last_error
    assert relay.messages == []

    retried = _deliver(warehouse, config, smtp, day)
    assert retried.sent
    assert len(relay.messages) == 1
    sent = log.delivery(day.isoformat())
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, None)


def test_a_day_whose_summary_time_has_not_passed_is_refused_saying_when_it_is_due_and_nothing_is_recorded(
    busy_day, warehouse, relay, smtp
):
    config = busy_day.config()
    day = _current_day(config)
    due_at = _due_at(config, day)
    with pytest.raises(SummaryNotDue) as refused:
        deliver_daily_summary(warehouse, config, smtp, day, now=due_at - timedelta(minutes=1))
    assert str(refused.value) == (
        f"the summary for {day} is not due yet: its window ends at {due_at:%Y-%m-%d %H:%M} UTC "
        "(notifications.summary_time), and it is sent once it is due; "
        f"preview it now with `invoice-pipeline notify --preview --day {day}`"
    )
    assert OperationsLog(warehouse).delivery(day.isoformat()) is None
    assert relay.messages == []
    assert deliver_daily_summary(warehouse, config, smtp, day, now=due_at).sent  # the day's one summary is intact


def test_a_day_not_yet_due_is_refused_by_default_at_the_real_time(busy_day, warehouse, relay, smtp):
    with pytest.raises(SummaryNotDue):
        deliver_daily_summary(warehouse, busy_day.config(), smtp, _current_day(busy_day.config()))
    assert relay.messages == []


def test_the_next_summary_day_is_the_latest_due_day_until_it_is_sent_then_the_day_whose_window_is_running(
    notifying, warehouse
):
    config, now = notifying.config(), datetime.now(UTC)
    due = due_summary_day(now, config.notifications.summary_time, config.daily_sync.timezone)
    assert next_summary_day(warehouse, config, now) == due
    OperationsLog(warehouse).record_delivery(due.isoformat(), sent=False, subject="s", error="relay said 421")
    assert next_summary_day(warehouse, config, now) == due
    OperationsLog(warehouse).record_delivery(due.isoformat(), sent=True, subject="s")
    assert next_summary_day(warehouse, config, now) == due + timedelta(days=1)


# Folders not read ---------------------------------------------------------------------------------------


@pytest.fixture
def misnamed_folder(notifying):
    """A provider folder named "G7 (copy)": not an invoice id, so never read."""
    (notifying.provider_folder() / "G7 (copy)").mkdir()
    return notifying


def test_the_summary_lists_folders_not_read_with_the_reason_and_how_to_fix_it(misnamed_folder, warehouse):
    summary = _summary(misnamed_folder, warehouse, date(2026, 3, 1))
    (refused,) = summary.folders_not_read
    assert (refused.provider, refused.folder) == ("contoso-csp", "G7 (copy)")
    assert "is not allowed" in refused.reason and "rename the folder to its invoice id" in refused.reason
    assert not summary.nothing_new  # a folder nobody reads is news every day until it is fixed
    mail = render_summary(summary, misnamed_folder.config().notifications)
    assert f"Folders not read (1):\n  - contoso-csp: G7 (copy): {refused.reason}\n" in mail.text
    assert "Nothing new" not in mail.text
    assert "<h3>Folders not read (1)</h3>" in mail.html and "<li>contoso-csp: G7 (copy): " in mail.html


def test_invoices_a_person_deactivated_or_deleted_are_listed_as_set_aside_every_day_until_imported_again(
    notifying, warehouse
):
    for invoice_id in ("G5", "G6", "G8"):
        notifying.add_invoice(invoice_id, usage=[usage_line("U1")])
        _import(notifying, warehouse, invoice_id)
    deactivate_invoice(warehouse, _key("G5"), actor="alice", reason="provider reissued it")
    delete_invoice(warehouse, _key("G6"), actor="bob", reason="duplicate")
    deactivate_invoice(warehouse, _key("G8"), actor="alice", reason="wrong period")
    _import(notifying, warehouse, "G8")  # imported again explicitly: no longer set aside

    summary = _summary(notifying, warehouse)
    assert [(s.key, s.status, s.by, s.reason) for s in summary.set_aside] == [
        ("contoso-csp:G5", "deactivated", "alice", "deactivated: provider reissued it"),
        ("contoso-csp:G6", "deleted", "bob", "deleted: duplicate"),
    ]
    text = render_summary(summary, notifying.config().notifications).text
    assert "Set aside by a person, never imported again automatically (2):" in text
    assert "contoso-csp:G6: deleted: duplicate (by bob on " in text and "sync --invoice contoso-csp:G6" in text


def test_a_change_of_the_lines_at_the_provider_says_so_in_both_parts_of_the_summary(notifying):
    start = datetime(2026, 11, 29, 7, tzinfo=UTC)
    change = ChangeSeen("contoso-csp:G1", "USD", "100.00", "100.00", seen_at="x", lines_changed=True)
    summary = DailySummary("2026-11-30", start, start + timedelta(days=1), changed=[change])
    mail = render_summary(summary, notifying.config().notifications)
    assert "provider now says 100.00 USD, and its lines changed" in mail.text
    assert "provider now says 100.00 USD, and its lines changed" in mail.html


def test_a_quiet_day_without_folders_not_read_has_no_such_section(notifying, warehouse):
    mail = render_summary(_summary(notifying, warehouse, date(2026, 3, 1)), notifying.config().notifications)
    assert "Folders not read" not in mail.text and "Folders not read" not in mail.html


def test_without_a_relay_delivery_is_a_mail_error_saying_how_to_configure_one_and_records_nothing(
    busy_day, warehouse, relay
):
    day = _current_day(busy_day.config())
    with pytest.raises(MailError) as raised:
        _deliver(warehouse, busy_day.config(), SmtpSettings(), day)
    assert str(raised.value) == NO_RELAY
    assert OperationsLog(warehouse).delivery(day.isoformat()) is None
    assert relay.messages == []


def test_without_recipients_delivery_fails_with_a_mail_error_naming_the_setting(workspace, warehouse, relay, smtp):
    with pytest.raises(MailError, match="notifications.recipients"):
        deliver_daily_summary(warehouse, workspace.config(), smtp, date(2026, 11, 25))
    assert OperationsLog(warehouse).delivery("2026-11-25").status == "failed"
    assert relay.messages == []


def test_a_day_with_nothing_new_sends_a_short_nothing_new_mail(notifying, warehouse, relay, smtp):
    delivery = deliver_daily_summary(warehouse, notifying.config(), smtp, date(2026, 3, 1))
    assert delivery.sent
    (received,) = relay.messages
    assert received.subject == "Provider invoices 2026-03-01: 0 imported, 0 failed"
    text = received.part("text/plain")
    assert "Nothing new: no provider invoice was imported, failed, is running or changed at the provider." in text
    assert "Succeeded" not in text and "Failed (" not in text
    assert [line for line in text.splitlines() if line.strip()] == [
        "Provider invoice imports, 2026-02-28 07:00 to 2026-03-01 07:00 UTC",
        "Unbilled in 2026-02: none; in 2026-03 so far: none (`invoice-pipeline reconcile --period 2026-02 --out DIR`, "
        "or --period 2026-03, says what and where)",
        "Nothing new: no provider invoice was imported, failed, is running or changed at the provider.",
    ]
    assert "Nothing new" in received.part("text/html")
    assert (
        "<p>Unbilled in 2026-02: none; in 2026-03 so far: none (<code>invoice-pipeline reconcile --period 2026-02 "
        "--out DIR</code>, or --period 2026-03, says what and where)</p>"
    ) in received.part("text/html")


def test_with_send_when_nothing_new_off_an_empty_day_is_skipped_and_nothing_is_sent(notifying, warehouse, relay, smtp):
    enable_notifications(notifying.config_path, send_when_nothing_new=False)
    config = notifying.config()
    skipped = deliver_daily_summary(warehouse, config, smtp, date(2026, 3, 1))
    assert (skipped.sent, skipped.reason) == (False, "nothing new, and send_when_nothing_new is off")
    assert relay.messages == []
    assert OperationsLog(warehouse).delivery("2026-03-01").status == "skipped"
    again = deliver_daily_summary(warehouse, config, smtp, date(2026, 3, 1))
    assert (again.sent, again.reason) == (False, "already skipped for 2026-03-01")
    assert relay.messages == []


def test_with_send_when_nothing_new_off_a_day_with_imports_is_still_sent(busy_day, warehouse, relay, smtp):
    enable_notifications(busy_day.config_path, send_when_nothing_new=False)
    config = busy_day.config()
    assert _deliver(warehouse, config, smtp, _current_day(config)).sent
    assert len(relay.messages) == 1


# When to attempt a day's summary -----------------------------------------------------------------------


@pytest.fixture
def paris(notifying):
    """Summaries in Paris time, whose summary time passed two hours ago (the due day stays for 22 hours)."""
    two_hours_ago = datetime.now(ZoneInfo("Europe/Paris")) - timedelta(hours=2)
    configure(notifying.config_path, daily_sync={"timezone": "Europe/Paris"})
    enable_notifications(notifying.config_path, summary_time=f"{two_hours_ago:%H:%M}")
    return notifying


def test_a_day_without_an_attempt_is_due_and_a_sent_or_skipped_one_is_not(paris, warehouse):
    config, now = paris.config(), datetime.now(UTC)
    day = due_summary_day(now, config.notifications.summary_time, "Europe/Paris")
    assert next_summary_attempt(warehouse, config, now) == SummaryAttempt(day, True, 0, f"the summary for {day} is due")
    for status in ("skipped", "sent"):
        OperationsLog(warehouse).record_delivery(day.isoformat(), sent=status == "sent", subject="s", status=status)
        attempt = next_summary_attempt(warehouse, config, now + timedelta(hours=3))
        assert (attempt.due, attempt.reason) == (False, f"the summary for {day} was already {status}")


def test_after_a_failed_attempt_the_next_is_due_once_the_retry_interval_passed_and_the_reason_tells_when_in_local_time(
    paris, warehouse
):
    config = paris.config()
    day = due_summary_day(datetime.now(UTC), config.notifications.summary_time, "Europe/Paris")
    OperationsLog(warehouse).record_delivery(day.isoformat(), sent=False, subject="s", error="relay said 421")
    failed_at = OperationsLog(warehouse).delivery(day.isoformat()).updated_at
    local = failed_at.astimezone(ZoneInfo("Europe/Paris"))
    retry_local = (failed_at.astimezone(UTC) + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Paris"))

    waiting = next_summary_attempt(warehouse, config, failed_at + timedelta(minutes=59, seconds=59))
    assert (waiting.day, waiting.due, waiting.attempts) == (day, False, 1)
    assert waiting.reason == (
        f"the summary for {day} is not sent yet: attempt 1 failed at {local:%Y-%m-%d %H:%M} Europe/Paris "
        f"(relay said 421); next attempt at {retry_local:%Y-%m-%d %H:%M} Europe/Paris "
        "(notifications.retry_failed_summary_minutes: 60)"
    )
    due = next_summary_attempt(warehouse, config, failed_at + timedelta(hours=1))
    assert (due.day, due.due, due.attempts) == (day, True, 1)
    assert due.reason.endswith("(relay said 421); trying again")


# The summary period -----------------------------------------------------------------------------------


def test_the_summary_period_is_the_24_hours_ending_at_summary_time_in_the_configured_zone():
    start, end = summary_period(date(2026, 11, 25), "07:00", "Europe/Paris")
    assert end == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert start == datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    assert end.tzinfo == ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 11, 25, 5, 59, tzinfo=UTC), date(2026, 11, 24)),  # 06:59 in Paris: not yet
        (datetime(2026, 11, 25, 6, 0, tzinfo=UTC), date(2026, 11, 25)),  # 07:00 in Paris: due
        (datetime(2026, 11, 25, 23, 30, tzinfo=UTC), date(2026, 11, 25)),  # 00:30 on the 26th in Paris: not yet
    ],
    ids=["before-summary-time", "at-summary-time", "after-local-midnight"],
)
def test_the_due_summary_day_is_the_latest_day_whose_summary_time_has_passed_locally(now, expected):
    assert due_summary_day(now, "07:00", "Europe/Paris") == expected


def test_the_summary_says_the_last_and_the_current_periods_unbilled_amount_per_currency(workspace, warehouse):
    """The demo contracts bill Northwind's Azure usage at 10% over cost: 10.00 of October usage is 11.00 unbilled,
    said in October and still in November (October's invoices arrive in November)."""
    workspace.add_invoice("G-USAGE", usage=[usage_line("U1", "10.00")])
    _import(workspace, warehouse, "G-USAGE")

    october, november = (
        _summary(workspace, warehouse, date(2026, 10, 25)),
        _summary(workspace, warehouse, date(2026, 11, 2)),
    )

    assert october.unbilled_line.startswith("Unbilled in 2026-09: none; in 2026-10 so far: 11.00 USD (")
    assert november.unbilled_line == (
        "Unbilled in 2026-10: 11.00 USD; in 2026-11 so far: none (`invoice-pipeline reconcile --period 2026-10 --out "
        "DIR`, or --period 2026-11, says what and where)"
    )


def test_without_billing_contracts_the_summary_is_still_made_and_says_why_the_unbilled_amount_is_not_known(
    workspace, warehouse
):
    (workspace.root / "reference" / "billing_contracts.csv").unlink()

    summary = _summary(workspace, warehouse, date(2026, 10, 25))

    assert summary.unbilled_line.startswith("Unbilled in 2026-09 and 2026-10: not known: ")
    assert "billing_contracts.csv is missing" in summary.unbilled_line
