"""Daily operations in Dagster, with the real definitions in a test instance and a real SMTP relay:
the schedule, the sync sensor's plans over two days, provider change emails, the crashed-run recorder
and the once-a-day summary sensor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs import daily_operations
from invoice_pipeline.dagster_defs.daily_operations import SUMMARY_TAG, daily_summary_sensor, import_run_crash_sensor
from invoice_pipeline.dagster_defs.daily_sync import daily_sync_schedule, provider_invoice_sync_sensor
from invoice_pipeline.dagster_defs.jobs import IMPORT_JOB
from invoice_pipeline.dagster_defs.mail import SmtpResource, smtp_resource
from invoice_pipeline.dagster_defs.reference_assets import content_version
from invoice_pipeline.dagster_defs.resources import pipeline_resource
from invoice_pipeline.dagster_defs.run_tags import (
    REFUSED,
    RUN_TAG_INVOICE,
    RUN_TAG_KEY,
    RUN_TAG_OUTCOME,
    RUN_TAG_PROVIDER,
    import_run_tags,
)
from invoice_pipeline.definitions import defs
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.notifications.mail import NO_RELAY, SMTP_ENV_VARS
from invoice_pipeline.notifications.summary import build_daily_summary, due_summary_day
from invoice_pipeline.warehouse import tables as t
from invoice_pipeline.warehouse.operations_log import ImportRunFailure, OperationsLog, SummaryDeliveryAttempts
from invoice_pipeline_tests.builders import license_line, usage_line
from invoice_pipeline_tests.smtp_relay import (
    HOST,
    RECIPIENTS,
    SmtpRelay,
    configure,
    enable_notifications,
    free_port,
)

SYNC_JOB = "daily_provider_sync"
SUMMARY_JOB = "send_daily_summary"
SCHEDULE = "daily_provider_invoice_sync"
PARTITIONS = "provider_invoices"
OFFERS = dg.AssetKey("provider_invoice_offers")


def _key(invoice_id: str) -> InvoiceKey:
    return InvoiceKey("contoso-csp", invoice_id)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def relay(monkeypatch) -> Iterator[SmtpRelay]:
    """A relay on loopback, named by the INVOICE_PIPELINE_SMTP_* variables (as in a deployment)."""
    server = SmtpRelay().start()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    yield server
    server.stop()


def _definitions(smtp: SmtpResource) -> dg.Definitions:
    """The real assets, jobs, schedule and sensors, with resources bound for this workspace.

    `invoice_pipeline.definitions.defs` bound its resources (and read the schedule's cron) when first
    imported, possibly before the workspace fixture set INVOICE_PIPELINE_CONFIG: rebuild around them.
    """
    return dg.Definitions(
        assets=defs.assets,
        jobs=defs.jobs,
        schedules=[daily_sync_schedule(load_config().daily_sync)],
        sensors=defs.sensors,
        resources={"invoice_pipeline": pipeline_resource(), "smtp": smtp},
    )


@pytest.fixture
def ops(workspace, relay) -> dg.Definitions:
    """Definitions for a workspace with notifications on, mailing through the relay."""
    enable_notifications(workspace.config_path)
    return _definitions(smtp_resource())


def _relay_down() -> SmtpResource:
    return SmtpResource(host=HOST, port=free_port())


def _daily_sync(defs_: dg.Definitions, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    result = defs_.resolve_job_def(SYNC_JOB).execute_in_process(instance=instance)
    assert result.success
    return result


def _offers(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == OFFERS]
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def _sync_tick(instance: dg.DagsterInstance, cursor: str | None = None):
    return provider_invoice_sync_sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def _launch(defs_: dg.Definitions, instance: dg.DagsterInstance, result: dg.SensorResult) -> dict[str, bool]:
    """What the daemon does with a sync sensor result: add the partitions, then run each request."""
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    job = defs_.resolve_job_def(IMPORT_JOB)
    outcomes = {}
    for run in result.run_requests:
        executed = job.execute_in_process(
            instance=instance, partition_key=run.partition_key, tags=run.tags, raise_on_error=False
        )
        outcomes[run.partition_key] = executed.success
    return outcomes


def _age(workspace, invoice_id: str, minutes: int) -> None:
    """Pretend the invoice's record was last touched `minutes` ago (an import that died with its process)."""
    warehouse = workspace.warehouse()
    try:
        pi = t.provider_invoices
        with warehouse.engine.begin() as conn:
            conn.execute(
                sa.update(pi)
                .where(pi.c.current_key == str(_key(invoice_id)))
                .values(updated_at=datetime.now(UTC) - timedelta(minutes=minutes))
            )
    finally:
        warehouse.dispose()


def _start_import(workspace, invoice_id: str, run_id: str) -> None:
    warehouse = workspace.warehouse()
    try:
        warehouse.start_import(_key(invoice_id), run_id=run_id, actor="test", stuck_after=timedelta(hours=2))
    finally:
        warehouse.dispose()


def _status(workspace, invoice_id: str) -> str | None:
    warehouse = workspace.warehouse()
    try:
        record = warehouse.current_record(_key(invoice_id))
    finally:
        warehouse.dispose()
    return record.status if record else None


def _with_log(workspace, read):
    warehouse = workspace.warehouse()
    try:
        return read(OperationsLog(warehouse))
    finally:
        warehouse.dispose()


# The definitions and the schedule -----------------------------------------------------------------------


def test_definitions_hold_the_daily_jobs_schedule_and_sensors_all_running_by_default():
    dg.Definitions.validate_loadable(defs)
    assert {SYNC_JOB, SUMMARY_JOB} <= {job.name for job in defs.jobs}
    schedule = defs.resolve_schedule_def(SCHEDULE)
    assert schedule.job_name == SYNC_JOB
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    for name in ("provider_invoice_sync_sensor", "import_run_crash_sensor", "daily_summary_sensor"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING, name
    assert defs.resolve_sensor_def("provider_invoice_sync_sensor").job_name == IMPORT_JOB
    assert defs.resolve_sensor_def("daily_summary_sensor").job_name == SUMMARY_JOB
    selected = {k.to_user_string() for k in defs.resolve_job_def(SYNC_JOB).asset_layer.executable_asset_keys}
    assert "provider_invoice_offers" in selected and "reference_currencies" in selected
    assert "provider_invoice" not in selected


def test_the_schedule_runs_at_the_configured_cron_and_time_zone_and_requests_the_daily_sync_job(workspace, instance):
    configure(workspace.config_path, daily_sync={"cron": "30 5 * * 1-5", "timezone": "Europe/Paris"})
    schedule = daily_sync_schedule(load_config().daily_sync)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 5 * * 1-5", "Europe/Paris")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedule.job_name == SYNC_JOB
    tick = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 11, 25, 5, 30, tzinfo=ZoneInfo("Europe/Paris"))
    )
    (request,) = schedule.evaluate_tick(tick).run_requests
    assert request.job_name in (None, SYNC_JOB)  # None: the schedule's own job
    assert request.partition_key is None


def test_the_smtp_resource_without_a_host_is_no_relay_and_defaults_to_port_465_with_ssl():
    assert not SmtpResource().settings().configured
    assert not SmtpResource(host=" ", port=587).settings().configured
    ssl = SmtpResource(host="relay.example.com", tls_mode="ssl").settings()
    assert (ssl.configured, ssl.port) == (True, 465)


def test_the_smtp_resource_refuses_an_unknown_tls_mode_and_maps_empty_credentials_to_none():
    with pytest.raises(dg.Failure, match="must be none, starttls or ssl"):
        SmtpResource(tls_mode="tls").settings()
    settings = SmtpResource(host="relay.example.com", port=587, tls_mode="STARTTLS", user="", password="").settings()
    assert (settings.host, settings.port, settings.tls_mode, settings.user, settings.password) == (
        "relay.example.com",
        587,
        "starttls",
        None,
        None,
    )


def test_the_schedule_defaults_to_six_utc(workspace):
    schedule = daily_sync_schedule(load_config().daily_sync)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")


def test_the_schedules_run_request_runs_the_daily_sync_which_records_todays_offers(ops, workspace, instance):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    schedule = ops.resolve_schedule_def(SCHEDULE)
    (request,) = schedule.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests
    job = ops.resolve_job_def(request.job_name or schedule.job_name)
    result = job.execute_in_process(instance=instance, run_config=request.run_config, tags=request.tags)
    assert result.success
    offers = _offers(result)
    assert (offers["offered_count"], offers["eligible_count"], offers["eligible"]) == (1, 1, ["contoso-csp:G1"])
    assert _status(workspace, "G1") is None  # the sync only decides; the sensor's runs import


def test_the_daily_sync_lists_the_folders_it_does_not_read_in_the_offers_metadata(ops, workspace, instance):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    (workspace.provider_folder() / "G1 (old)").mkdir()
    offers = _offers(_daily_sync(ops, instance))
    (row,) = [record.data for record in offers["folders_not_read"].records]
    assert (row["provider"], row["folder"]) == ("contoso-csp", "G1 (old)")
    assert row["reason"].endswith("; rename the folder to its invoice id")
    assert offers["eligible"] == ["contoso-csp:G1"]


def _folder_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_folder_left_unread"]
    assert evaluation.asset_key == OFFERS
    return evaluation


def test_a_folder_never_read_fails_the_offers_warn_check_naming_the_folder_its_reason_and_fix(ops, workspace, instance):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    (workspace.provider_folder() / "G1 (old)").mkdir()
    result = _daily_sync(ops, instance)  # a warning: the sync itself succeeds
    evaluation = _folder_check(result)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert evaluation.description is not None and "1 provider folder(s) never read" in evaluation.description
    assert "contoso-csp: G1 (old)" in evaluation.description
    (row,) = [record.data for record in evaluation.metadata["folders_not_read"].value.records]
    assert (row["provider"], row["folder"], row["fix"]) == (
        "contoso-csp",
        "G1 (old)",
        "rename the folder to its invoice id",
    )
    assert row["reason"] and "rename" not in row["reason"]
    assert _offers(result)["folders_not_read"].records  # the offers keep the table the CLI prints from


def test_without_folders_left_unread_the_offers_check_passes_saying_so(ops, workspace, instance):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    evaluation = _folder_check(_daily_sync(ops, instance))
    assert evaluation.passed
    assert evaluation.description == "Every provider folder is read: no folder is left unread"


def test_a_reference_tables_data_version_ignores_row_order_and_changes_with_any_value_or_column():
    frame = pd.DataFrame({"product_id": ["A", "B"], "name": ["Alpha", "Beta"]})
    version = content_version(frame)
    assert content_version(frame.iloc[::-1]) == version
    assert content_version(frame.assign(name=["Alpha", "Beta 2"])) != version
    assert content_version(frame.rename(columns={"name": "title"})) != version
    assert content_version(frame.iloc[:1]) != version


def _reference_data_versions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    materializations = [e.step_materialization_data.materialization for e in result.get_asset_materialization_events()]
    return {
        m.asset_key.to_user_string(): (m.tags or {})["dagster/data_version"]
        for m in materializations
        if m.asset_key.to_user_string().startswith("reference_")
    }


def test_reference_assets_keep_their_data_version_while_their_content_is_unchanged(ops, workspace, instance):
    first = _reference_data_versions(_daily_sync(ops, instance))
    assert len(first) == 4
    assert _reference_data_versions(_daily_sync(ops, instance)) == first
    products = workspace.root / "reference" / "products.csv"
    products.write_text(products.read_text() + "NEW-PRODUCT,A new product\n")
    changed = _reference_data_versions(_daily_sync(ops, instance))
    assert changed["reference_products"] != first["reference_products"]
    assert {k: v for k, v in changed.items() if k != "reference_products"} == {
        k: v for k, v in first.items() if k != "reference_products"
    }


# The sync sensor -----------------------------------------------------------------------------------------


def test_the_sync_sensor_skips_until_the_daily_sync_has_decided(ops, instance):
    skipped = _sync_tick(instance)
    assert isinstance(skipped, dg.SkipReason)
    assert "has not decided" in skipped.skip_message


def test_the_sync_sensor_adds_new_partitions_and_requests_one_tagged_import_per_eligible_invoice(
    ops, workspace, instance
):
    workspace.add_invoice("G1", usage=[usage_line("U1")], license=[license_line("L1")])
    workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    workspace.add_invoice("FAB-1", usage=[usage_line("U1")], provider="fabrikam-distribution")  # manual provider
    _daily_sync(ops, instance)

    result = _sync_tick(instance)
    assert isinstance(result, dg.SensorResult)
    (add,) = result.dynamic_partitions_requests
    assert isinstance(add, dg.AddDynamicPartitionsRequest)
    assert (add.partitions_def_name, list(add.partition_keys)) == (PARTITIONS, ["contoso-csp:G1", "contoso-csp:G2"])
    assert [r.partition_key for r in result.run_requests] == ["contoso-csp:G1", "contoso-csp:G2"]
    for request, invoice_id in zip(result.run_requests, ("G1", "G2"), strict=True):
        assert request.tags[RUN_TAG_PROVIDER] == "contoso-csp"
        assert request.tags[RUN_TAG_INVOICE] == invoice_id
        assert request.tags[RUN_TAG_KEY] == f"contoso-csp:{invoice_id}"
        assert request.run_key and f"contoso-csp:{invoice_id}" in request.run_key
    assert len({r.run_key for r in result.run_requests}) == 2
    assert result.cursor


def test_dagster_accepts_the_sync_sensors_tick_with_runs_for_partitions_added_in_the_same_tick(
    ops, workspace, instance
):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    _daily_sync(ops, instance)
    sensor = ops.resolve_sensor_def("provider_invoice_sync_sensor")
    with dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(), definitions=ops) as context:
        tick = sensor.evaluate_tick(context)  # what the sensor daemon does: validate and resolve the requests
    (request,) = tick.run_requests
    assert request.tags["dagster/partition"] == "contoso-csp:G1"
    assert request.tags[RUN_TAG_KEY] == "contoso-csp:G1"
    assert [list(r.partition_keys) for r in tick.dynamic_partitions_requests] == [["contoso-csp:G1"]]
    assert tick.cursor


def test_the_same_plan_is_not_requested_twice(ops, workspace, instance):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    _daily_sync(ops, instance)
    first = _sync_tick(instance)
    assert len(first.run_requests) == 1
    for _ in range(3):
        again = _sync_tick(instance, cursor=first.cursor)
        assert isinstance(again, dg.SkipReason)
        assert again.skip_message == "no new daily sync plan"


def test_the_sensors_requests_import_the_invoices(ops, workspace, instance):
    workspace.add_invoice("G1", usage=[usage_line("U1")], license=[license_line("L1")])
    workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    _daily_sync(ops, instance)
    assert _launch(ops, instance, _sync_tick(instance)) == {"contoso-csp:G1": True, "contoso-csp:G2": False}
    assert (_status(workspace, "G1"), _status(workspace, "G2")) == ("Active", "Error")
    runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: "contoso-csp:G1"}))
    assert [run.job_name for run in runs] == [IMPORT_JOB]
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == ["contoso-csp:G1", "contoso-csp:G2"]


@pytest.mark.slow
def test_the_next_days_plan_retries_error_and_stuck_invoices_imports_new_ones_and_leaves_active_and_running_alone(
    ops, workspace, instance
):
    # Day 1: three new invoices; G3's import dies with its process (left Populating).
    workspace.add_invoice("G1", usage=[usage_line("U1")], license=[license_line("L1")])
    workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    workspace.add_invoice("G3", usage=[usage_line("U1")])
    _daily_sync(ops, instance)
    day1 = _sync_tick(instance)
    assert [r.partition_key for r in day1.run_requests] == ["contoso-csp:G1", "contoso-csp:G2", "contoso-csp:G3"]
    for request in day1.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    _launch(ops, instance, dg.SensorResult(run_requests=day1.run_requests[:2]))
    _start_import(workspace, "G3", run_id="killed-run")
    _age(workspace, "G3", minutes=3 * 60)
    # Between the days: G2's provider fixes the customer; G4 appears; G5 appears and someone imports it now.
    workspace.add_invoice("G2", usage=[usage_line("U1")])
    workspace.add_invoice("G4", usage=[usage_line("U1")])
    workspace.add_invoice("G5", usage=[usage_line("U1")])
    _start_import(workspace, "G5", run_id="running-now")

    # Day 2.
    offers = _offers(_daily_sync(ops, instance))
    rows = {row.data["invoice"]: (row.data["import"], row.data["reason"]) for row in offers["offers"].records}
    assert rows == {
        "contoso-csp:G1": (False, "already Active"),
        "contoso-csp:G2": (True, "retry after Error"),
        "contoso-csp:G3": (True, "retry after Error"),  # its stop recorded as Error first
        "contoso-csp:G4": (True, "new invoice"),
        "contoso-csp:G5": (False, "import running"),
    }
    day2 = _sync_tick(instance, cursor=day1.cursor)
    assert isinstance(day2, dg.SensorResult)
    assert day2.cursor != day1.cursor
    assert [r.partition_key for r in day2.run_requests] == ["contoso-csp:G2", "contoso-csp:G3", "contoso-csp:G4"]
    assert not {r.run_key for r in day2.run_requests} & {r.run_key for r in day1.run_requests}
    (add,) = day2.dynamic_partitions_requests
    assert list(add.partition_keys) == ["contoso-csp:G4"]  # G2 and G3 are known partitions already
    assert _launch(ops, instance, day2) == {"contoso-csp:G2": True, "contoso-csp:G3": True, "contoso-csp:G4": True}
    assert [_status(workspace, f"G{n}") for n in range(1, 6)] == ["Active"] * 4 + ["Populating"]
    retried = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: "contoso-csp:G2"}))
    assert sorted(run.status.value for run in retried) == ["FAILURE", "SUCCESS"]


# Provider changes ---------------------------------------------------------------------------------------


def _import_g1(ops, workspace, instance) -> None:
    workspace.add_invoice("G1", usage=[usage_line("U1", "10.00")], license=[license_line("L1", "36.00")])
    assert _import_run(ops, instance, "G1").success


def test_a_provider_change_is_emailed_once_and_not_again_by_the_next_days_sync(ops, workspace, instance, relay):
    _import_g1(ops, workspace, instance)
    assert relay.messages == []
    workspace.add_invoice("G1", total="47.50")

    changed = _daily_sync(ops, instance)
    assert len(_offers(changed)["provider_changes"].records) == 1
    (mail,) = relay.messages
    assert mail.rcpt_tos == RECIPIENTS
    assert mail.subject == "Provider invoice contoso-csp:G1 changed at the provider: 46.00 -> 47.50 USD"
    text = mail.part("text/plain")
    assert "Imported total:       46.00 USD" in text and "Provider's total now: 47.50 USD" in text
    assert "<strong>contoso-csp:G1</strong>" in mail.part("text/html")
    (observation,) = changed.get_asset_observation_events()
    assert observation.asset_key == dg.AssetKey("provider_invoice")
    assert observation.partition == "contoso-csp:G1"
    metadata = observation.event_specific_data.asset_observation.metadata
    assert Decimal(metadata["imported_total"].value) == Decimal("46.00")
    assert Decimal(metadata["provider_total"].value) == Decimal("47.50")
    assert metadata["lines_changed"].value is False  # only the header total changed
    assert _status(workspace, "G1") == "Active"
    assert _with_log(workspace, lambda log: log.unnotified_changes()) == []

    next_day = _daily_sync(ops, instance)
    assert _offers(next_day)["provider_changes"].records == []
    assert len(relay.messages) == 1


def test_a_provider_change_whose_email_failed_is_emailed_by_the_next_sync(ops, workspace, instance, relay):
    _import_g1(ops, workspace, instance)
    workspace.add_invoice("G1", total="47.50")
    down = _daily_sync(_definitions(_relay_down()), instance)
    problems = _offers(down)["notifications_not_sent"]
    assert len(problems) == 1 and "ConnectionRefusedError" in problems[0]
    assert relay.messages == []
    _daily_sync(ops, instance)
    (mail,) = relay.messages
    assert "contoso-csp:G1" in mail.subject
    _daily_sync(ops, instance)
    assert len(relay.messages) == 1


# Crashed import runs ------------------------------------------------------------------------------------


def _import_run(ops, instance, invoice_id: str) -> dg.ExecuteInProcessResult:
    key = _key(invoice_id)
    if not instance.has_dynamic_partition(PARTITIONS, str(key)):
        instance.add_dynamic_partitions(PARTITIONS, [str(key)])
    return ops.resolve_job_def(IMPORT_JOB).execute_in_process(
        instance=instance, partition_key=str(key), tags=import_run_tags(key), raise_on_error=False
    )


def _crash_sensor(instance, result: dg.ExecuteInProcessResult) -> None:
    context = dg.build_run_status_sensor_context(
        sensor_name="import_run_crash_sensor",
        dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id),
        dagster_event=result.get_run_failure_event(),
        resources={"invoice_pipeline": pipeline_resource()},
    ).for_run_failure()
    import_run_crash_sensor(context)


def _recorded_failures(workspace) -> list[ImportRunFailure]:
    now = datetime.now(UTC)
    return _with_log(
        workspace, lambda log: log.run_failures_between(now - timedelta(hours=1), now + timedelta(hours=1))
    )


def _explode(*args, **kwargs):
    raise OSError("disk full")


def test_the_crash_sensor_records_a_crashed_import_run_once_and_the_summary_lists_it(
    ops, workspace, instance, monkeypatch
):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    monkeypatch.setattr("invoice_pipeline.importing.invoice_validation.find_missing_references", _explode)
    crashed = _import_run(ops, instance, "G1")
    assert not crashed.success
    _crash_sensor(instance, crashed)
    _crash_sensor(instance, crashed)  # the same run seen twice is recorded once
    (failure,) = _recorded_failures(workspace)
    assert (failure.run_id, failure.provider, failure.invoice_id) == (crashed.run_id, "contoso-csp", "G1")
    assert "OSError: disk full" in failure.error

    config = workspace.config()
    now = datetime.now(UTC)
    day = due_summary_day(now, config.notifications.summary_time, config.daily_sync.timezone) + timedelta(days=1)
    summary = _with_log(workspace, lambda log: build_daily_summary(log.warehouse, config, day))
    assert [(c.key, c.run_id) for c in summary.crashed] == [("contoso-csp:G1", crashed.run_id)]


def test_the_crash_sensor_names_the_invoice_of_a_crashed_run_launched_from_the_ui_without_pipeline_tags(
    ops, workspace, instance, monkeypatch
):
    # Materializing a partition in the Dagster UI tags the run with dagster/partition only; the import adds
    # the pipeline's tags when it starts, so a crash before that leaves only Dagster's partition tag.
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    monkeypatch.setattr("invoice_pipeline.dagster_defs.invoice_assets.tag_invoice_run", _explode)
    instance.add_dynamic_partitions(PARTITIONS, ["contoso-csp:G1"])
    crashed = ops.resolve_job_def(IMPORT_JOB).execute_in_process(
        instance=instance, partition_key="contoso-csp:G1", raise_on_error=False
    )
    assert not crashed.success and RUN_TAG_PROVIDER not in crashed.dagster_run.tags
    _crash_sensor(instance, crashed)
    (failure,) = _recorded_failures(workspace)
    assert (failure.provider, failure.invoice_id) == ("contoso-csp", "G1")


def test_the_crash_sensor_ignores_an_import_that_failed_validation(ops, workspace, instance):
    workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    failed = _import_run(ops, instance, "G2")
    assert not failed.success
    _crash_sensor(instance, failed)
    assert _recorded_failures(workspace) == []
    assert _status(workspace, "G2") == "Error"


def test_a_refused_import_of_an_active_invoice_is_no_crash_the_sensor_never_sees_it_and_nothing_is_recorded(
    ops, workspace, instance
):
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    assert _import_run(ops, instance, "G1").success
    refused = _import_run(ops, instance, "G1")
    assert refused.success  # a refusal writes nothing and ends green: the run failure sensor is never asked
    assert instance.get_run_by_id(refused.run_id).tags[RUN_TAG_OUTCOME] == REFUSED
    assert _recorded_failures(workspace) == []


# The daily summary sensor -------------------------------------------------------------------------------


def _summary_tick(instance, smtp: SmtpResource | None = None):
    """One evaluation of the summary sensor, mailing through `smtp` (default: the INVOICE_PIPELINE_SMTP_* relay)."""
    resources = {"invoice_pipeline": pipeline_resource(), "smtp": smtp or smtp_resource()}
    return daily_summary_sensor(dg.build_sensor_context(instance=instance, resources=resources))


def _clock_at(monkeypatch, moment: datetime) -> None:
    """The summary sensor's clock reads `moment` (the run itself records its attempt at the real time)."""
    monkeypatch.setattr(daily_operations, "utc_now", lambda: moment)


def _summary_time_passed_two_hours_ago(workspace) -> None:
    """The due day then stays the same for the next 22 hours, whatever the time of day the test runs."""
    configure(workspace.config_path, notifications={"summary_time": f"{datetime.now(UTC) - timedelta(hours=2):%H:%M}"})


def _delivery(workspace) -> SummaryDeliveryAttempts | None:
    return _with_log(workspace, lambda log: log.delivery(_due_day(workspace)))


def _failed_attempt(workspace, instance, down: SmtpResource) -> tuple[dg.RunRequest, datetime]:
    """The sensor's first request, run while the relay is down: the request and when the failure was recorded."""
    _summary_time_passed_two_hours_ago(workspace)
    first = _summary_tick(instance, down)
    assert isinstance(first, dg.RunRequest)
    assert first.run_key == f"daily-summary:{_due_day(workspace)}:0"
    failed = _run_summary(_definitions(down), instance, first)
    assert not failed.success
    (failure,) = failed.get_step_failure_events()
    error = failure.step_failure_data.error  # a fault met, in one line: no stack trace in the run log
    assert (error.cls_name, error.stack) == ("SummaryNotSent", [])
    assert error.message.startswith(f"summary for {_due_day(workspace)} not sent: ")
    delivery = _delivery(workspace)
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("failed", 1, None)
    assert "ConnectionRefusedError" in delivery.last_error
    return first, delivery.updated_at


def _due_day(workspace) -> str:
    config = workspace.config()
    return due_summary_day(datetime.now(UTC), config.notifications.summary_time, config.daily_sync.timezone).isoformat()


def _run_summary(defs_, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    return defs_.resolve_job_def(SUMMARY_JOB).execute_in_process(
        instance=instance, run_config=request.run_config, tags=request.tags, raise_on_error=False
    )


def test_the_summary_sensor_requests_the_due_days_summary_then_skips_once_it_was_sent(ops, workspace, instance, relay):
    day = _due_day(workspace)
    request = _summary_tick(instance)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == f"daily-summary:{day}:0"
    assert request.tags[SUMMARY_TAG] == day
    assert request.run_config["ops"] == {"daily_import_summary": {"config": {"day": day}}}

    result = _run_summary(ops, instance, request)
    assert result.success
    (mail,) = relay.messages
    assert mail.subject.startswith(f"Provider invoices {day}: ")
    event = instance.get_latest_materialization_event(dg.AssetKey("daily_import_summary"))
    metadata = event.asset_materialization.metadata
    assert (metadata["day"].value, metadata["sent"].value) == (day, True)

    for _ in range(5):
        skipped = _summary_tick(instance)
        assert isinstance(skipped, dg.SkipReason)
        assert skipped.skip_message == f"the summary for {day} was already sent"
    assert len(relay.messages) == 1


def test_running_the_summary_job_again_for_a_sent_day_sends_nothing(ops, workspace, instance, relay):
    request = _summary_tick(instance)
    assert _run_summary(ops, instance, request).success
    again = _run_summary(ops, instance, request)
    assert again.success
    assert len(relay.messages) == 1
    event = instance.get_latest_materialization_event(dg.AssetKey("daily_import_summary"))
    assert event.asset_materialization.metadata["sent"].value is False
    assert event.asset_materialization.metadata["outcome"].value.startswith("already sent for ")


def test_with_the_relay_down_the_sensor_requests_no_new_attempt_for_an_hour_and_says_when_and_why(
    ops, workspace, instance, relay, monkeypatch
):
    down = _relay_down()
    _, failed_at = _failed_attempt(workspace, instance, down)
    retry_at = failed_at + timedelta(hours=1)
    for moment in (failed_at, failed_at + timedelta(minutes=5), retry_at - timedelta(seconds=1)):
        _clock_at(monkeypatch, moment)
        waiting = _summary_tick(instance, down)
        assert isinstance(waiting, dg.SkipReason), moment
        message = waiting.skip_message
        assert message.startswith(
            f"the summary for {_due_day(workspace)} is not sent yet: "
            f"attempt 1 failed at {failed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ("
        )
        assert "ConnectionRefusedError" in message
        assert message.endswith(
            f"; next attempt at {retry_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
            "(notifications.retry_failed_summary_minutes: 60)"
        )
    assert _delivery(workspace).attempts == 1
    assert relay.messages == []


def test_the_wait_after_a_failed_attempt_is_notifications_retry_failed_summary_minutes(
    ops, workspace, instance, relay, monkeypatch
):
    enable_notifications(workspace.config_path, retry_failed_summary_minutes=15)
    down = _relay_down()
    first, failed_at = _failed_attempt(workspace, instance, down)
    _clock_at(monkeypatch, failed_at + timedelta(minutes=15) - timedelta(seconds=1))
    assert isinstance(_summary_tick(instance, down), dg.SkipReason)
    _clock_at(monkeypatch, failed_at + timedelta(minutes=15))
    second = _summary_tick(instance, down)
    assert isinstance(second, dg.RunRequest)
    assert second.run_key == f"daily-summary:{_due_day(workspace)}:1" != first.run_key
    assert second.tags["invoice_pipeline/attempt"] == "2"


def test_once_the_relay_is_back_the_next_attempt_sends_the_days_summary_once_and_later_ticks_skip(
    ops, workspace, instance, relay, monkeypatch
):
    _, failed_at = _failed_attempt(workspace, instance, _relay_down())
    day = _due_day(workspace)  # after the attempt, which sets the summary time: right at any time of day
    retry_at = failed_at + timedelta(hours=1)
    _clock_at(monkeypatch, retry_at)
    second = _summary_tick(instance)  # the relay of INVOICE_PIPELINE_SMTP_*, up
    assert isinstance(second, dg.RunRequest)
    assert second.run_key == f"daily-summary:{day}:1"
    assert _run_summary(ops, instance, second).success
    (mail,) = relay.messages
    assert mail.subject.startswith(f"Provider invoices {day}: ")
    delivery = _delivery(workspace)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)

    for later in (retry_at, retry_at + timedelta(minutes=5), retry_at + timedelta(hours=2)):
        _clock_at(monkeypatch, later)
        skipped = _summary_tick(instance)
        assert isinstance(skipped, dg.SkipReason)
        assert skipped.skip_message == f"the summary for {day} was already sent"
    assert _run_summary(ops, instance, second).success  # the same request run again sends nothing
    assert len(relay.messages) == 1


def test_a_summary_run_for_a_day_not_yet_due_is_refused_without_sending_or_recording_anything(
    ops, workspace, instance, relay
):
    day = (datetime.fromisoformat(_due_day(workspace)) + timedelta(days=1)).date()
    result = ops.resolve_job_def(SUMMARY_JOB).execute_in_process(
        instance=instance,
        run_config={"ops": {"daily_import_summary": {"config": {"day": day.isoformat()}}}},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error.cls_name == "SummaryNotDue" and error.stack == []
    assert error.message.startswith(f"the summary for {day} is not due yet: its window ends at {day} ")
    assert relay.messages == []
    assert _with_log(workspace, lambda log: log.delivery(day.isoformat())) is None
    assert instance.get_latest_materialization_event(dg.AssetKey("daily_import_summary")) is None


@pytest.fixture
def no_relay(workspace, monkeypatch) -> dg.Definitions:
    """Definitions for a workspace with recipients but no INVOICE_PIPELINE_SMTP_* variable set."""
    for variable in SMTP_ENV_VARS.values():
        monkeypatch.delenv(variable, raising=False)
    enable_notifications(workspace.config_path)
    return _definitions(smtp_resource())


def test_without_a_relay_the_summary_sensor_skips_naming_the_variables_to_set_and_requests_no_run(
    no_relay, workspace, instance
):
    sensor = no_relay.resolve_sensor_def("daily_summary_sensor")
    resources = {"invoice_pipeline": pipeline_resource(), "smtp": smtp_resource()}
    for _ in range(3):
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            tick = sensor.evaluate_tick(context)  # what the sensor daemon does every 5 minutes
        assert tick.run_requests == []
        assert tick.skip_message == NO_RELAY
    assert "set INVOICE_PIPELINE_SMTP_HOST" in NO_RELAY and '"The notification settings" in the README' in NO_RELAY
    assert instance.get_runs() == []
    assert _delivery(workspace) is None


def test_without_a_relay_a_summary_run_launched_by_hand_fails_saying_how_to_configure_one_and_records_nothing(
    no_relay, workspace, instance
):
    day = _due_day(workspace)
    result = no_relay.resolve_job_def(SUMMARY_JOB).execute_in_process(
        instance=instance, run_config={"ops": {"daily_import_summary": {"config": {"day": day}}}}, raise_on_error=False
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert NO_RELAY in failure.step_failure_data.error.to_string()
    assert _delivery(workspace) is None


def test_without_a_relay_the_daily_sync_sends_no_change_email_and_says_how_to_configure_one(
    no_relay, workspace, instance
):
    _import_g1(no_relay, workspace, instance)
    workspace.add_invoice("G1", total="47.50")
    offers = _offers(_daily_sync(no_relay, instance))
    assert len(offers["provider_changes"].records) == 1
    assert offers["notifications_not_sent"] == [NO_RELAY]
    assert len(_with_log(workspace, lambda log: log.unnotified_changes())) == 1  # sent once a relay is set


def test_with_nothing_new_and_send_when_nothing_new_off_the_summary_sensor_skips_after_one_run(
    ops, workspace, instance, relay
):
    enable_notifications(workspace.config_path, send_when_nothing_new=False)
    request = _summary_tick(instance)
    assert _run_summary(ops, instance, request).success
    assert relay.messages == []
    skipped = _summary_tick(instance)
    assert isinstance(skipped, dg.SkipReason) and "already skipped" in skipped.skip_message
