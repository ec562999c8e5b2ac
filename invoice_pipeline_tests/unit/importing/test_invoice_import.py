"""The import's lifecycle around the validation: it claims the invoice (Populating), takes over an import that
stopped, records an import that broke as Error saying what broke (or says plainly when even that fails), and leaves
alone a record another run took over. Manual invoices are activated, never imported, and only while Populating.

The validation itself (schemas, references, checksum) needs the engines: see invoice_pipeline_tests/importing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import (
    ImportOutcomeUnrecorded,
    activate_manual_invoice,
    import_provider_invoice,
)
from invoice_pipeline_tests.fakes import FakeConnectors, InMemoryWarehouse, stored_record, utc_now

KEY = InvoiceKey("contoso-csp", "G1")
MANUAL = InvoiceKey("fabrikam-distribution", "FAB-1")
OFFERED = FakeConnectors.offering(contoso_csp=["G1"])


def _import(config, warehouse, **kwargs):
    return import_provider_invoice(config, warehouse, KEY, connectors=OFFERED, run_id="run-2", actor="test", **kwargs)


def _history(warehouse, key=KEY):
    return [(e.from_status, e.to_status, e.reason, e.run_id) for e in warehouse.history(key)]


def test_an_import_and_an_activation_run_every_statement_in_one_kept_open_block(config, warehouse):
    watched = ("current_record", "start_import", "staging", "mark_crashed")
    seen = warehouse.calls_seen(*watched)
    warehouse.staging_error = OSError("disk full")  # the unit tier validates no lines: each ends at the staging
    with pytest.raises(OSError):
        _import(config, warehouse)
    warehouse.add(stored_record(MANUAL, Status.POPULATING, is_manual=True))
    with pytest.raises(OSError):
        _activate(config, warehouse)
    assert {name for name, _ in seen} == set(watched)
    assert all(depth == 1 for _, depth in seen), seen
    assert warehouse.kept_open_depth == 0


def test_an_import_that_breaks_is_recorded_as_error_saying_what_broke_and_the_error_goes_on(config, warehouse):
    warehouse.staging_error = OSError("No space left on device\nwhile writing line 12")
    with pytest.raises(OSError, match="No space left"):
        _import(config, warehouse)
    record = warehouse.current_record(KEY)
    assert (record.status, record.message) == (
        Status.ERROR,
        "Import failed unexpectedly (OSError: No space left on device); the next sync retries it",
    )
    assert _history(warehouse) == [
        (None, "Populating", "import started", "run-2"),
        ("Populating", "Error", record.message, "run-2"),
    ]


def test_the_error_of_a_broken_import_is_cut_at_300_characters(config, warehouse):
    warehouse.staging_error = ValueError("x" * 500)
    with pytest.raises(ValueError):
        _import(config, warehouse)
    assert (
        warehouse.current_record(KEY).message
        == f"Import failed unexpectedly (ValueError: {'x' * 300}); the next sync retries it"
    )


def test_an_import_whose_error_cannot_be_recorded_says_it_stays_populating_until_its_claim_lapses(config, warehouse):
    warehouse.staging_error = OSError("disk full")
    warehouse.crash_error = ConnectionError("server closed the connection")
    with pytest.raises(ImportOutcomeUnrecorded) as unrecorded:
        _import(config, warehouse)
    assert str(unrecorded.value) == (
        "import of contoso-csp:G1 failed (OSError: disk full) and its Error could not be recorded "
        "(ConnectionError: server closed the connection); it shows Populating until its claim lapses, "
        f"{config.claim_lapse.total_seconds():g} s after this process stops at the latest, then the next sync, "
        "or `invoice-pipeline sync --invoice contoso-csp:G1`, imports it again"
    )
    assert isinstance(unrecorded.value.__cause__, OSError)
    assert warehouse.current_record(KEY).status == Status.POPULATING


def test_an_import_refused_half_way_leaves_the_record_to_the_run_that_took_it_over(config, warehouse):
    warehouse.staging_error = ImportRefused("contoso-csp:G1 changed while this run was working on it; run it again")
    with pytest.raises(ImportRefused):
        _import(config, warehouse)
    assert warehouse.current_record(KEY).status == Status.POPULATING  # not recorded as a crash


def test_an_error_invoice_is_claimed_again_by_the_retrying_run(config, warehouse):
    warehouse.add(stored_record(KEY, Status.ERROR, run_id="run-1", message="Checksum failed"))
    warehouse.staging_error = OSError("stop here")
    with pytest.raises(OSError):
        _import(config, warehouse)
    assert _history(warehouse)[0] == ("Error", "Populating", "retry after Error", "run-2")


def test_an_import_that_stopped_is_recorded_as_error_then_taken_over(config, warehouse):
    stale = utc_now() - config.stuck_after - timedelta(minutes=1)
    warehouse.add(stored_record(KEY, Status.POPULATING, run_id="dead-run", updated_at=stale))
    warehouse.staging_error = OSError("stop here")
    with pytest.raises(OSError):
        _import(config, warehouse)
    stopped, retried = _history(warehouse)[:2]
    assert stopped[:2] == ("Populating", "Error")
    assert stopped[2].startswith("Import stopped without finishing (run dead-run): it was still Populating after")
    assert retried == ("Error", "Populating", "retry of an import that did not finish", "run-2")


def test_a_refused_import_claims_nothing(config, warehouse):
    warehouse.add(stored_record(KEY, Status.ACTIVE))
    with pytest.raises(ImportRefused, match="is Active and cannot be downloaded again"):
        _import(config, warehouse)
    assert warehouse.history(KEY) == []


# Activation of a manual invoice ------------------------------------------------------------------------------


def _activate(config, warehouse, key=MANUAL):
    return activate_manual_invoice(
        config, warehouse, key, connectors=FakeConnectors(), actor="alice", reason="lines complete"
    )


def test_activating_a_manual_invoice_that_was_never_created_is_refused_saying_create_it(config, warehouse):
    with pytest.raises(ImportRefused) as refused:
        _activate(config, warehouse)
    assert str(refused.value) == (
        "fabrikam-distribution:FAB-1 has not been created; create it first with "
        "`invoice-pipeline invoices create fabrikam-distribution:FAB-1 --reason ...`"
    )


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.ERROR])
def test_only_a_populating_manual_invoice_can_be_activated(config, warehouse, status):
    warehouse.add(stored_record(MANUAL, status, is_manual=True))
    with pytest.raises(ImportRefused, match=f"is {status.value}; only a Populating manual invoice can be activated"):
        _activate(config, warehouse)


def test_activating_an_automatic_providers_invoice_is_refused_saying_it_is_imported(config, warehouse):
    warehouse.add(stored_record(KEY, Status.ERROR))
    with pytest.raises(ImportRefused, match="is an automatic provider's invoice: it becomes Active through its import"):
        _activate(config, warehouse, KEY)


def test_an_activation_that_breaks_leaves_the_manual_invoice_populating(config, warehouse):
    warehouse.add(stored_record(MANUAL, Status.POPULATING, is_manual=True))
    warehouse.staging_error = OSError("disk full")
    with pytest.raises(OSError):
        _activate(config, warehouse)
    assert warehouse.current_record(MANUAL).status == Status.POPULATING


# Refused before anything is written -------------------------------------------------------------------------


def test_active_invoice_cannot_be_imported_again(config, warehouse):
    warehouse.add(stored_record(KEY, Status.ACTIVE))
    with pytest.raises(ImportRefused, match="deactivate it \\(recommended\\) or delete it"):
        _import(config, warehouse)
    assert warehouse.history(KEY) == []


def test_importing_a_manual_providers_invoice_is_refused_naming_create_and_activate(config, warehouse):
    with pytest.raises(ImportRefused) as refused:
        import_provider_invoice(
            config, warehouse, MANUAL, connectors=FakeConnectors.offering(fabrikam_distribution=["FAB-1"])
        )
    assert str(refused.value) == (
        f"{MANUAL} is a manual provider's invoice: it becomes Active only through activation; create it with "
        f"`invoice-pipeline invoices create {MANUAL} --reason ...`, then `invoice-pipeline invoices activate "
        f"{MANUAL} --reason ...`"
    )
    assert warehouse.current_record(MANUAL) is None and warehouse.history(MANUAL) == []


def test_importing_an_invoice_the_provider_does_not_offer_is_refused_and_creates_no_record(config, warehouse):
    typo = InvoiceKey("contoso-csp", "G20000001")
    connectors = FakeConnectors.offering(contoso_csp=["G200000001"])
    with pytest.raises(ImportRefused) as refused:
        import_provider_invoice(config, warehouse, typo, connectors=connectors)
    assert str(refused.value) == (
        "contoso-csp does not offer invoice 'G20000001'; it offers G200000001 "
        "(list them with `invoice-pipeline providers invoices contoso-csp`)"
    )
    assert warehouse.current_record(typo) is None and warehouse.history(typo) == []


def test_a_crash_after_another_run_took_the_invoice_over_leaves_that_runs_record_alone(config):
    class TakenOverMeanwhile(InMemoryWarehouse):
        def staging(self):
            self.start_import(KEY, run_id="run-3", actor="other", stuck_after=timedelta(0))  # ours looked stopped
            raise OSError("this run's disk went away")

    warehouse = TakenOverMeanwhile()
    with pytest.raises(OSError):
        _import(config, warehouse)
    current = warehouse.current_record(KEY)
    assert (current.status, current.run_id, current.message) == (Status.POPULATING, "run-3", "Import running")
