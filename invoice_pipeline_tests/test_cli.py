"""The `invoice-pipeline` command: sync through Dagster, list, show, notes, errors; in this process through
click's runner, as the installed console script for a sync, a refusal and --help, and in a fresh process for what a
whole process does once (its configuration loads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import yaml

from invoice_pipeline.dagster_defs.run_tags import RUN_TAG_INVOICE, RUN_TAG_KEY, RUN_TAG_PROVIDER
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline_tests.builders import license_line, make_workspace, usage_line
from invoice_pipeline_tests.cli_runner import CLI, Completed, run_cli, run_process
from invoice_pipeline_tests.postgres_schemas import postgres_warehouse_url

DEMO_INVOICES = [f"contoso-csp:G10000000{n}" for n in range(1, 7)]
MONEY_FIELDS = ("total_amount", "usage_total", "license_total", "difference")


def _env(**values: str | None) -> dict[str, str]:
    """This process's environment without the pipeline's and Dagster's variables, plus `values`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("INVOICE_PIPELINE_CONFIG", "INVOICE_PIPELINE_DATA_DIR", "DAGSTER_HOME")
    }
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def _outcomes(stdout: str) -> dict[str, tuple[str, str]]:
    """`sync` output: invoice key -> (outcome, message), one line per invoice."""
    lines = stdout.strip().splitlines()
    parsed = {}
    for line in lines:
        key, outcome, message = (line.split("\t") + ["", ""])[:3]
        assert key not in parsed, f"{key} printed twice:\n{stdout}"
        parsed[key] = (outcome, message)
    assert len(parsed) == len(lines)
    return parsed


def _no_traceback(completed: Completed | subprocess.CompletedProcess) -> None:
    assert "Traceback" not in completed.stderr + completed.stdout, completed.stderr


# The bundled demo, synced twice --------------------------------------------------------------------------


class Demo:
    def __init__(self, root: Path, warehouse_url: str | None = None) -> None:
        self.root = root
        self.dagster_home = root / "dagster_home"
        self.dagster_home.mkdir()
        (self.dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        self.env = _env(
            INVOICE_PIPELINE_DATA_DIR=str(root / "data"),
            DAGSTER_HOME=str(self.dagster_home),
            INVOICE_PIPELINE_WAREHOUSE_URL=warehouse_url,
        )

    def run(self, *args: str) -> Completed:
        """Run the command in this process."""
        return run_cli(*args, env=self.env, cwd=self.root)

    def run_process(self, *args: str) -> subprocess.CompletedProcess:
        """Run the installed console script."""
        return run_process(*args, env=self.env, cwd=self.root)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.dagster_home))


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def demo(request, tmp_path_factory) -> Iterator[Demo]:
    """The bundled demo config (INVOICE_PIPELINE_CONFIG unset), its data and Dagster home in tmp, synced twice;
    on its DuckDB file, and on PostgreSQL through INVOICE_PIPELINE_WAREHOUSE_URL."""
    root = tmp_path_factory.mktemp("demo")
    if request.param == "postgresql":
        with postgres_warehouse_url() as url:
            yield _synced_twice(Demo(root, url))
    else:
        yield _synced_twice(Demo(root))


def _synced_twice(demo: Demo) -> Demo:
    demo.first_sync = demo.run_process("sync")  # the installed console script, end to end
    demo.second_sync = demo.run("sync")
    return demo


def test_sync_prints_one_line_per_demo_invoice_and_exits_0_although_some_are_in_error(demo):
    first = demo.first_sync
    assert first.returncode == 0, first.stderr
    _no_traceback(first)
    outcomes = _outcomes(first.stdout)
    assert list(outcomes) == DEMO_INVOICES  # the manual provider's invoice is not synced
    statuses = {key.split(":")[1]: outcome for key, (outcome, _) in outcomes.items()}
    assert statuses == {
        "G100000001": "Active",
        "G100000002": "Error",
        "G100000003": "Error",
        "G100000004": "Error",
        "G100000005": "Active",
        "G100000006": "Active",
    }
    assert outcomes["contoso-csp:G100000002"][1].startswith("Unresolved references:")
    assert "customer '99999999-0000-4000-8000-000000000009' (1 line)" in outcomes["contoso-csp:G100000002"][1]
    assert outcomes["contoso-csp:G100000003"][1].startswith("Checksum failed:")
    assert outcomes["contoso-csp:G100000003"][1].endswith("difference 0.37 USD")
    assert outcomes["contoso-csp:G100000004"][1].endswith("difference -125.00 USD")  # header minus lines
    assert outcomes["contoso-csp:G100000005"][1] == "Imported"


def test_second_sync_skips_active_invoices_and_retries_those_in_error(demo):
    second = demo.second_sync
    assert second.returncode == 0, second.stderr
    _no_traceback(second)
    outcomes = _outcomes(second.stdout)
    assert set(outcomes) == set(DEMO_INVOICES)
    for n in (1, 5, 6):
        assert outcomes[f"contoso-csp:G10000000{n}"] == ("skipped", "already Active")
    for n in (2, 3, 4):
        assert outcomes[f"contoso-csp:G10000000{n}"][0] == "Error"
    assert outcomes["contoso-csp:G100000003"] == _outcomes(demo.first_sync.stdout)["contoso-csp:G100000003"]


def test_invoices_list_json_gives_status_totals_as_decimal_strings_and_line_counts(demo):
    listed = demo.run("invoices", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {r["invoice_id"]: r for r in json.loads(listed.stdout)}
    assert sorted(records) == [key.split(":")[1] for key in DEMO_INVOICES]
    for record in records.values():
        assert record["provider"] == "contoso-csp"
        assert isinstance(record["message"], str) and record["message"]
        assert isinstance(record["currency"], str)
        for name in MONEY_FIELDS:
            value = record[name]
            assert value is None or (isinstance(value, str) and Decimal(value).is_finite()), (name, value)
        for name in ("usage_line_count", "license_line_count"):
            assert record[name] is None or isinstance(record[name], int)
        assert record["is_manual"] is False
    first = records["G100000001"]
    assert (first["status"], first["currency"], first["total_amount"]) == ("Active", "USD", "1679.26")
    assert (first["license_total"], first["difference"]) == ("1324.00", "0.00")
    assert Decimal(first["usage_total"]) + Decimal(first["license_total"]) == Decimal("1679.26445")
    assert (first["usage_line_count"], first["license_line_count"]) == (5, 3)
    assert records["G100000002"]["status"] == "Error"
    assert (records["G100000003"]["status"], records["G100000003"]["difference"]) == ("Error", "0.37")
    assert (records["G100000004"]["status"], records["G100000004"]["difference"]) == ("Error", "-125.00")
    assert records["G100000003"]["usage_line_count"] is None  # an invoice in Error stores no lines
    credit = records["G100000005"]
    assert (credit["status"], credit["total_amount"], credit["license_line_count"]) == ("Active", "-224.00", 2)
    yen = records["G100000006"]
    assert (yen["status"], yen["currency"], yen["total_amount"], yen["difference"]) == ("Active", "JPY", "17089", "0")


def test_invoices_list_filters_by_status(demo):
    listed = demo.run("invoices", "list", "--json", "--status", "Error")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert [r["invoice_id"] for r in records] == ["G100000002", "G100000003", "G100000004"]
    assert {r["status"] for r in records} == {"Error"}


def test_invoices_show_gives_the_record_and_its_status_history_across_both_syncs(demo):
    shown = demo.run("invoices", "show", "contoso-csp:G100000003")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "invoice_id           G100000003" in text
    assert "status               Error" in text
    assert "difference           0.37" in text
    history = text.split("history:\n")[1].split("\n\n")[0].splitlines()
    transitions = [line.split("  ")[2] for line in history]
    assert transitions == ["- -> Populating", "Populating -> Error", "Error -> Populating", "Populating -> Error"]
    assert "retry after Error" in history[2]
    assert "Checksum: line_totals.csv" in text.split("notes:")[1]


def test_invoices_notes_writes_the_missing_references_files(demo, tmp_path):
    out = tmp_path / "notes"
    written = demo.run("invoices", "notes", "contoso-csp:G100000002", "--out", str(out))
    assert written.returncode == 0, written.stderr
    assert sorted(p.name for p in out.iterdir()) == ["errors.csv", "warnings.csv"]
    assert f"Missing References: {out / 'errors.csv'}" in written.stdout
    errors = (out / "errors.csv").read_text(encoding="utf-8").splitlines()
    assert errors[0] == "reference_type,reference_id,line_count,example_line_ids,how_to_fix"
    assert any(line.startswith("customer,99999999-0000-4000-8000-000000000009,1,") for line in errors)
    assert any(line.startswith("subscription,SUB-UNKNOWN-9,1,") for line in errors)
    warnings = (out / "warnings.csv").read_text(encoding="utf-8").splitlines()
    assert warnings[0] == errors[0] and len(warnings) > 1


def test_providers_invoices_lists_each_offered_invoice_with_its_status(demo):
    listed = demo.run("providers", "invoices", "contoso-csp")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.strip().splitlines()]
    assert rows == [
        ["G100000001", "Active", "1679.26 USD"],
        ["G100000002", "Error", "1608.25 USD"],
        ["G100000003", "Error", "1679.63 USD"],
        ["G100000004", "Error", "1554.26 USD"],
        ["G100000005", "Active", "-224.00 USD"],
        ["G100000006", "Active", "17089 JPY"],
    ]


def test_runs_made_by_the_cli_are_in_the_dagster_instance_with_provider_and_invoice_tags(demo):
    listed = json.loads(demo.run("invoices", "list", "--json").stdout)
    with demo.instance() as instance:
        import_runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_PROVIDER: "contoso-csp"}))
        assert len(import_runs) == 6 + 3  # every invoice once, then the three in Error again
        retried = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: "contoso-csp:G100000003"}))
        assert len(retried) == 2
        assert {run.status for run in retried} == {dg.DagsterRunStatus.FAILURE}
        (active,) = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: "contoso-csp:G100000001"}))
        assert active.status == dg.DagsterRunStatus.SUCCESS
        assert active.tags[RUN_TAG_INVOICE] == "G100000001"
        assert active.tags["dagster/partition"] == "contoso-csp:G100000001"
        assert active.job_name == "import_provider_invoice"
        sync_runs = instance.get_runs(filters=dg.RunsFilter(job_name="daily_provider_sync"))
        assert len(sync_runs) == 2 and {run.status for run in sync_runs} == {dg.DagsterRunStatus.SUCCESS}
        offers = instance.fetch_materializations(dg.AssetKey("provider_invoice_offers"), limit=1).records[0]
        plan = offers.asset_materialization.metadata
        assert plan["imports_launched_by"].value == "the CLI"  # so the sync sensor does not import them twice
        assert set(plan["eligible"].value) == {
            "contoso-csp:G100000002",
            "contoso-csp:G100000003",
            "contoso-csp:G100000004",
        }
        run_ids = {run.run_id for run in import_runs}
    assert {record["run_id"] for record in listed} <= run_ids


def test_cli_sync_shows_in_dagster_as_the_daemon_would_offers_partitions_and_tagged_runs(demo):
    with demo.instance() as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey("provider_invoice_offers")) is not None
        for name in ("reference_currencies", "reference_subscriptions"):
            assert instance.get_latest_materialization_event(dg.AssetKey(name)) is not None
        partitions = instance.get_dynamic_partitions("provider_invoices")
        assert {f"contoso-csp:G10000000{n}" for n in range(1, 7)} <= set(partitions)
        failed_runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
        assert {run.tags[RUN_TAG_KEY] for run in failed_runs} == {
            "contoso-csp:G100000002",
            "contoso-csp:G100000003",
            "contoso-csp:G100000004",
        }


def test_a_refused_sync_of_a_manual_provider_exits_1_with_one_line_saying_why_and_runs_nothing(demo):
    with demo.instance() as instance:
        runs_before = len(instance.get_runs())
    refused = demo.run("sync", "--provider", "fabrikam-distribution")
    assert refused.returncode == 1
    _no_traceback(refused)
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "fabrikam-distribution is a manual provider" in refused.stderr
    assert refused.stdout == ""
    with demo.instance() as instance:
        assert len(instance.get_runs()) == runs_before


@pytest.mark.parametrize(
    ("invoice", "expected"),
    [
        ("contoso-csp:G100000001", "invoice contoso-csp:G100000001 is Active and cannot be downloaded again"),
        ("contoso-csp:G199999999", "contoso-csp does not offer invoice 'G199999999'; it offers G100000001"),
    ],
    ids=["active-invoice", "not-offered"],
)
def test_a_refused_sync_of_an_invoice_exits_1_with_the_reason_its_import_run_gave_and_changes_nothing(
    demo, invoice, expected
):
    # The import run decides the refusal, once: it ends green, tagged refused, and writes nothing.
    with demo.instance() as instance:
        runs_before = {run.run_id for run in instance.get_runs()}
        partitions_before = sorted(instance.get_dynamic_partitions("provider_invoices"))
    listed_before = demo.run("invoices", "list", "--json").stdout
    refused = demo.run("sync", "--invoice", invoice)
    assert refused.returncode == 1
    _no_traceback(refused)
    assert refused.stdout == ""
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"invoice-pipeline: {expected}"), line
    with demo.instance() as instance:
        (run,) = [run for run in instance.get_runs() if run.run_id not in runs_before]
        assert (run.status, run.tags.get("invoice_pipeline/outcome")) == (dg.DagsterRunStatus.SUCCESS, "refused")
        assert sorted(instance.get_dynamic_partitions("provider_invoices")) == partitions_before  # no typo added
    assert demo.run("invoices", "list", "--json").stdout == listed_before


def test_the_console_script_ends_a_refusal_with_exit_1_and_one_line_on_stderr(demo):
    refused = demo.run_process("sync", "--provider", "fabrikam-distribution")
    assert refused.returncode == 1
    _no_traceback(refused)
    assert refused.stderr.strip().splitlines() == [
        "invoice-pipeline: fabrikam-distribution is a manual provider: its invoices are never synced; create one with "
        "`invoice-pipeline invoices create fabrikam-distribution:ID --reason ...`, then activate it"
    ]
    assert refused.stdout == ""


def test_delete_without_yes_and_no_answer_is_a_refusal_that_deletes_nothing(demo):
    refused = demo.run_process("invoices", "delete", DEMO_INVOICES[0], "--reason", "no terminal to answer")

    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "invoice-pipeline: nothing deleted; deactivate the invoice instead, or pass --yes"
    )
    assert "Active" in demo.run("invoices", "show", DEMO_INVOICES[0]).stdout


def test_the_console_script_help_lists_every_command_group(tmp_path):
    helped = run_process("--help", env=_env(), cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    commands = helped.stdout.split("Commands:\n")[1].split()
    assert {"billing", "invoices", "notify", "providers", "sync", "warehouse"} <= set(commands)


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [
        # --help, providers list and invoices list need none of them
        ("invoice_pipeline.cli", {"dagster", "pandas", "pandera", "matplotlib"}),
        # every run and the code server load the definitions; only a reconciliation's report draws charts
        ("invoice_pipeline.definitions", {"matplotlib"}),
    ],
)
def test_start_up_imports_no_library_only_some_commands_use(tmp_path, module, not_loaded):
    """The heavy libraries are imported by the code that uses them, so what does not need them starts fast."""
    loaded = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print(' '.join(sorted(sys.modules)))"],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()

    assert not_loaded.isdisjoint(loaded)


ENGINES_AND_DAGSTER = {"dagster", "duckdb", "sqlalchemy", "pandera", "ibis", "alembic"}


@pytest.mark.parametrize(
    ("args", "not_imported"),
    [
        (["--help"], ENGINES_AND_DAGSTER),
        (["invoices", "--help"], ENGINES_AND_DAGSTER),
        (["billing", "--help"], ENGINES_AND_DAGSTER),
        # reads the warehouse, whose schema is checked without Alembic when it is up to date
        (["invoices", "list"], {"dagster", "pandera", "ibis", "alembic"}),
    ],
)
def test_a_command_starts_without_the_libraries_it_does_not_use(tmp_path, args, not_imported):
    """Each command group is imported when used (a lazy group), and imports its libraries in the commands that use
    them: a start-up that slowed down by importing one of them fails here, not only in the benchmark."""
    if args == ["invoices", "list"]:  # its warehouse created and migrated first, as after any earlier command
        assert run_process("warehouse", "upgrade", env=_env(), cwd=tmp_path).returncode == 0
    started = subprocess.run(
        [sys.executable, "-X", "importtime", str(CLI), *args],
        env=_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert started.returncode == 0, started.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in started.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "click" in imported  # importtime's report was read
    assert not_imported & imported == set()


def test_the_cli_names_the_same_config_variable_as_the_configuration_reads():
    from invoice_pipeline import cli, config

    assert cli.CONFIG_ENV_VAR == config.CONFIG_ENV_VAR


@pytest.mark.parametrize("bad_key", ["contoso-csp", "contoso-csp:../G100000001"])
def test_a_bad_invoice_key_prints_one_line_and_exits_2(demo, bad_key):
    completed = demo.run("sync", "--invoice", bad_key)
    assert completed.returncode == 2
    _no_traceback(completed)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("invoice-pipeline: ")
    assert "not an invoice key" in lines[0] or "is not allowed" in lines[0]


# A workspace of its own: fix an invoice in Error, sync again -------------------------------------------------


def test_sync_retries_an_invoice_in_error_which_becomes_active_once_fixed(tmp_path):
    workspace = make_workspace(tmp_path / "workspace")
    workspace.add_invoice("G1", usage=[usage_line("U1")], license=[license_line("L1")])
    workspace.add_invoice("G2", usage=[usage_line("U1", customer_id="unknown-tenant")])
    # No DAGSTER_HOME and no dagster.yaml in the working folder: the CLI keeps its runs under the data dir.
    env = _env(INVOICE_PIPELINE_CONFIG=str(workspace.config_path))
    cwd = tmp_path

    offered = run_cli("providers", "invoices", "contoso-csp", env=env, cwd=cwd)
    assert offered.returncode == 0, offered.stderr
    assert offered.stdout.splitlines() == ["G1\tnot imported\t46.00 USD", "G2\tnot imported\t10.00 USD"]

    first = run_cli("sync", env=env, cwd=cwd)
    assert first.returncode == 0, first.stderr
    outcomes = _outcomes(first.stdout)
    assert outcomes["contoso-csp:G1"] == ("Active", "Imported")
    assert outcomes["contoso-csp:G2"][0] == "Error"
    assert "customer 'unknown-tenant' (1 line)" in outcomes["contoso-csp:G2"][1]

    workspace.add_invoice("G2", usage=[usage_line("U1")])
    second = run_cli("sync", env=env, cwd=cwd)
    assert second.returncode == 0, second.stderr
    assert _outcomes(second.stdout) == {
        "contoso-csp:G1": ("skipped", "already Active"),
        "contoso-csp:G2": ("Active", "Imported"),
    }

    dagster_home = workspace.root / "data" / "dagster_home"
    assert (dagster_home / "dagster.yaml").is_file()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={RUN_TAG_KEY: "contoso-csp:G2"}))
        assert sorted(run.status.value for run in runs) == ["FAILURE", "SUCCESS"]


# Configuration errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("nested", [False, True], ids=["top-level-key-via-env", "provider-key-via-option"])
def test_unknown_config_key_prints_one_line_naming_it_and_exits_2(tmp_path, nested):
    workspace = make_workspace(tmp_path / "workspace")
    config = yaml.safe_load(workspace.config_path.read_text())
    if nested:
        config["providers"][0]["tolerance"] = "0.10"
        expected = "unknown key 'providers.0.tolerance'"
        args = ("--config", str(workspace.config_path), "invoices", "list")
        env = _env(INVOICE_PIPELINE_DATA_DIR=str(tmp_path / "data"))
    else:
        config["retry_after_minutes"] = 5
        expected = "unknown key 'retry_after_minutes'"
        args = ("invoices", "list")
        env = _env(INVOICE_PIPELINE_CONFIG=str(workspace.config_path))
    workspace.config_path.write_text(yaml.safe_dump(config))
    completed = run_cli(*args, env=env, cwd=tmp_path)
    assert completed.returncode == 2
    _no_traceback(completed)
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert expected in lines[0]
    assert completed.stdout == ""


# A requested invoice another run is still importing ----------------------------------------------------------


def test_sync_of_a_requested_invoice_still_being_imported_is_refused_with_exit_1(tmp_path):
    # `sync` promises exit 1 for a requested invoice that is refused, 3 only when the pipeline itself broke.
    workspace = make_workspace(tmp_path / "workspace")
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    key = InvoiceKey("contoso-csp", "G1")
    warehouse = workspace.warehouse()
    try:
        warehouse.start_import(key, run_id="other-run", actor="test", stuck_after=timedelta(minutes=120))
    finally:
        warehouse.dispose()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = _env(INVOICE_PIPELINE_CONFIG=str(workspace.config_path), DAGSTER_HOME=str(home))
    refused = run_cli("sync", "--invoice", "contoso-csp:G1", env=env, cwd=tmp_path)
    warehouse = workspace.warehouse()
    try:
        record = warehouse.current_record(key)
    finally:
        warehouse.dispose()
    assert (record.status, record.run_id) == ("Populating", "other-run")  # nothing changed
    _no_traceback(refused)
    assert "is being imported by run other-run" in refused.stdout + refused.stderr
    assert refused.returncode == 1, (refused.returncode, refused.stdout, refused.stderr)


def test_output_into_a_closed_pipe_ends_quietly_with_exit_1(demo):
    # `invoice-pipeline providers list | head -0`: the reader is gone before the first line is written.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        closed = subprocess.run(
            [str(CLI), "providers", "list"], env=demo.env, cwd=demo.root, stdout=writer, stderr=subprocess.PIPE,
            text=True, timeout=600,
        )  # fmt: skip
    finally:
        os.close(writer)
    assert (closed.returncode, closed.stderr) == (1, "")


# Work done once per command ------------------------------------------------------------------------------------


# Run by the test below in a fresh Python process: counts every configuration load, warehouse opened and list of a
# provider's invoices, however imported; imports the Dagster definitions (counting what their import loads), then runs
# the console script's command (`main`) with this process's arguments; writes the counts to $COUNTS_FILE as JSON.
_COUNTED_COMMAND = """
import json, os, sys
from collections import Counter
from invoice_pipeline import config
from invoice_pipeline.connectors.folder import FolderConnector
from invoice_pipeline.warehouse.warehouse import Warehouse

calls = Counter()

def counted(name, original):
    def call(*args, **kwargs):
        calls[name] += 1
        return original(*args, **kwargs)
    return call

assert not [name for name in sys.modules if name.startswith("invoice_pipeline.dagster_defs.")], "imported uncounted"
load_config = config.load_config
for module in [m for n, m in sys.modules.items() if n.startswith("invoice_pipeline")]:
    if getattr(module, "load_config", None) is load_config:
        module.load_config = counted("load_config", load_config)
Warehouse.__init__ = counted("Warehouse", Warehouse.__init__)
FolderConnector.list_invoices = counted("list_invoices", FolderConnector.list_invoices)
counts = {}
try:
    import invoice_pipeline.dagster_defs.billing_assets, invoice_pipeline.dagster_defs.reconciliation_assets
    import invoice_pipeline.dagster_defs.pipeline
    counts["import"] = dict(calls)
    from invoice_pipeline.cli import main
    main()
finally:
    counts["process"] = dict(calls)
    with open(os.environ["COUNTS_FILE"], "w") as file:
        json.dump(counts, file)
"""


def test_sync_of_one_invoice_loads_the_config_once_opens_one_warehouse_and_lists_the_providers_invoices_once(
    tmp_path,
):
    """The whole process's count, in a fresh process: importing the Dagster definitions reads no configuration (the
    monthly partitions are built from the command's), and the command loads it once."""
    workspace = make_workspace(tmp_path / "workspace")
    workspace.add_invoice("G1", usage=[usage_line("U1")])
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    counts_file = tmp_path / "counts.json"
    env = _env(INVOICE_PIPELINE_CONFIG=str(workspace.config_path), DAGSTER_HOME=str(home), COUNTS_FILE=str(counts_file))

    synced = subprocess.run(
        [sys.executable, "-c", _COUNTED_COMMAND, "sync", "--invoice", "contoso-csp:G1"],
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )  # fmt: skip

    assert synced.returncode == 0, synced.stderr
    assert _outcomes(synced.stdout)["contoso-csp:G1"][0] == "Active"
    counts = json.loads(counts_file.read_text(encoding="utf-8"))
    assert counts == {"import": {}, "process": {"load_config": 1, "Warehouse": 1, "list_invoices": 1}}
