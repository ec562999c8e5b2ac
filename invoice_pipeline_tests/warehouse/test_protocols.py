"""The warehouse Protocols the use cases take, held on the real warehouse (DuckDB and PostgreSQL) and on the unit
tier's in-memory warehouse alike: the same signatures, the same answers to lookups, the same refused starts and the
same history entries, so the fake cannot drift from the engines."""

from __future__ import annotations

import inspect
from datetime import timedelta

import pytest

from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused, RecordChanged
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.warehouse import protocols
from invoice_pipeline.warehouse.operations_log import OperationsLog
from invoice_pipeline.warehouse.warehouse import Warehouse
from invoice_pipeline_tests.fakes import InMemoryWarehouse

KEY = InvoiceKey("contoso-csp", "G1")
STUCK_AFTER = timedelta(hours=2)
STORES = ["in-memory", "duckdb", pytest.param("postgresql", marks=pytest.mark.postgresql)]

pytestmark = pytest.mark.engine_contract
on_every_store = pytest.mark.parametrize("warehouse_engine", STORES)

PROTOCOLS = [
    (protocols.InvoiceLookups, Warehouse),
    (protocols.StoppedImports, Warehouse),
    (protocols.ImportClaims, Warehouse),
    (protocols.RecordOperations, Warehouse),
    (protocols.ProviderChangeLog, OperationsLog),
]


@pytest.fixture
def store(request, warehouse_engine):
    """The warehouse under test: the in-memory one, or the workspace's on DuckDB or PostgreSQL."""
    if warehouse_engine == "in-memory":
        return InMemoryWarehouse()
    return request.getfixturevalue("warehouse")


def _history(store, key=KEY):
    return [(e.from_status, e.to_status, e.reason, e.run_id, e.actor) for e in store.history(key)]


def _started(store, run_id: str = "run-1", stuck_after: timedelta = STUCK_AFTER):
    return store.start_import(KEY, run_id=run_id, actor="test", stuck_after=stuck_after)


@pytest.mark.parametrize("protocol, real", PROTOCOLS, ids=lambda p: getattr(p, "__name__", ""))
def test_the_real_and_the_in_memory_warehouse_have_each_protocol_method_with_its_parameters(protocol, real):
    def parameters(method):
        return [
            (p.name, p.kind, p.default is inspect.Parameter.empty)
            for p in inspect.signature(method).parameters.values()
        ]

    members = [name for name in vars(protocol) if not name.startswith("_")]
    for base in protocol.__mro__[1:]:
        members += [name for name in vars(base) if not name.startswith("_") and base.__module__ == protocols.__name__]
    assert members
    for name in members:
        expected = parameters(getattr(protocol, name))
        assert parameters(getattr(real, name)) == expected, f"{real.__name__}.{name}"
        assert parameters(getattr(InMemoryWarehouse, name)) == expected, f"InMemoryWarehouse.{name}"


@on_every_store
def test_an_invoice_never_seen_has_no_record_no_history_and_no_voiding_note(store):
    assert (store.current_record(KEY), store.history(KEY), store.voiding_note(KEY)) == (None, [], None)


@on_every_store
def test_a_started_import_is_a_new_populating_record_with_its_first_history_entry(store):
    started = _started(store)
    assert (started.key, started.status, started.message, started.run_id, started.is_manual) == (
        KEY,
        Status.POPULATING,
        "Import running",
        "run-1",
        False,
    )
    assert store.current_record(KEY).record_id == started.record_id
    assert store.record_by_id(started.record_id).status == Status.POPULATING
    assert _history(store) == [(None, "Populating", "import started", "run-1", "test")]


@on_every_store
def test_a_second_start_while_the_import_runs_is_refused_naming_the_run_and_changes_nothing(store):
    _started(store)
    before = (store.current_record(KEY), _history(store))
    with pytest.raises(ImportRefused) as refused:
        _started(store, run_id="run-2")
    assert str(refused.value).startswith("invoice contoso-csp:G1 is being imported by run run-1 since ")
    assert (store.current_record(KEY), _history(store)) == before


@on_every_store
def test_a_crashed_import_is_error_and_its_retry_claims_it_again(store):
    started = _started(store)
    store.mark_crashed(started, "Import failed unexpectedly (OSError: disk full)", run_id="run-1", actor="test")
    crashed = store.current_record(KEY)
    assert (crashed.status, crashed.message) == (Status.ERROR, "Import failed unexpectedly (OSError: disk full)")
    retried = _started(store, run_id="run-2")
    assert (retried.record_id, retried.status, retried.run_id) == (started.record_id, Status.POPULATING, "run-2")
    assert _history(store)[1:] == [
        ("Populating", "Error", "Import failed unexpectedly (OSError: disk full)", "run-1", "test"),
        ("Error", "Populating", "retry after Error", "run-2", "test"),
    ]


@on_every_store
def test_a_crash_is_not_recorded_over_a_record_another_run_took_over(store):
    started = _started(store)
    store.mark_crashed(started, "broke", run_id="run-1", actor="test")
    retried = _started(store, run_id="run-2")
    store.mark_crashed(started, "broke again", run_id="run-1", actor="test")  # the first run, late
    current = store.current_record(KEY)
    assert (current.status, current.run_id, current.message) == (Status.POPULATING, "run-2", retried.message)


@on_every_store
def test_an_import_that_stopped_is_recorded_as_error_by_whoever_looks_next(store):
    _started(store)
    (released,) = store.release_stopped_imports(timedelta(0), actor="sync")
    assert released.status == Status.ERROR
    assert released.message.startswith("Import stopped without finishing (run run-1): it was still Populating")
    assert store.current_record(KEY).status == Status.ERROR
    assert store.release_stopped_imports(timedelta(0), actor="sync") == []


@on_every_store
def test_a_start_takes_over_an_import_that_stopped_recording_its_stop_first(store):
    _started(store)
    _started(store, run_id="run-2", stuck_after=timedelta(0))
    stopped, retried = _history(store)[1:]
    assert stopped[:2] == ("Populating", "Error") and stopped[2].startswith("Import stopped without finishing")
    assert retried == ("Error", "Populating", "retry of an import that did not finish", "run-2", "test")


@on_every_store
def test_an_active_invoice_refuses_a_start(store):
    store.set_status(_started(store), Status.ACTIVE, "activated for the test", actor="alice")
    with pytest.raises(ImportRefused, match="is Active and cannot be downloaded again"):
        _started(store, run_id="run-2")


@on_every_store
def test_a_status_change_of_a_record_that_changed_meanwhile_is_refused(store):
    started = _started(store)
    store.set_status(started, Status.ERROR, "first", actor="alice")
    with pytest.raises(RecordChanged, match="changed while this run was working on it"):
        store.set_status(started, Status.INACTIVE, "second, from a stale read", actor="bob")


@on_every_store
def test_a_deactivated_record_is_no_longer_current_and_its_history_says_who(store):
    active = store.set_status(_started(store), Status.ACTIVE, "activated", actor="alice")
    inactive = store.set_status(active, Status.INACTIVE, "deactivated: re-issued", actor="bob")
    assert (inactive.status, inactive.current_key, store.current_record(KEY)) == (Status.INACTIVE, None, None)
    assert _history(store)[-1] == ("Active", "Inactive", "deactivated: re-issued", None, "bob")


@on_every_store
def test_a_deleted_record_leaves_a_deleted_entry_and_a_stale_delete_removes_nothing(store):
    started = _started(store)
    error = store.set_status(started, Status.ERROR, "broke", actor="alice")
    assert store.delete_record(started, "deleted: stale", actor="bob") is False
    assert store.delete_record(error, "deleted: duplicate", actor="bob") is True
    assert store.current_record(KEY) is None
    assert _history(store)[-1] == ("Error", "Deleted", "deleted: duplicate", None, "bob")


@on_every_store
def test_a_note_in_history_keeps_the_status(store):
    started = _started(store)
    store.note_in_history(started, "checksum override requested", actor="alice")
    assert _history(store)[-1] == ("Populating", "Populating", "checksum override requested", None, "alice")
    assert store.current_record(KEY).status == Status.POPULATING


@on_every_store
def test_a_manual_record_starts_populating_marked_manual(store):
    created = store.create_manual_record(KEY, actor="alice", reason="created by hand: vendor invoice", values={})
    assert (created.status, created.is_manual, created.message) == (
        Status.POPULATING,
        True,
        "Created by hand; activate it when its lines are complete",
    )
    assert _history(store) == [(None, "Populating", "created by hand: vendor invoice", None, "alice")]


@on_every_store
def test_a_fresh_record_has_no_line_invoiced_to_customers(store):
    lines = store.invoiced_lines(_started(store).record_id)
    assert (lines.line_count, lines.customer_invoice_ids) == (0, [])
