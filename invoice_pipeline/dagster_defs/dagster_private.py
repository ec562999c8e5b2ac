"""Every private Dagster API the pipeline uses, in one place: the upgrade contract.

Pinned release: dagster 1.13.27 (with dagster-shared of the same release). Dagster may change any of these in
any release; `invoice_pipeline_tests/dagster_defs/test_dagster_private.py` checks each one (it exists, is of the
expected kind, takes the arguments used here, holds the expected values) and names the one an upgrade broke.
Nothing else in `invoice_pipeline` imports `dagster._*` or `dagster_shared`.

What each is for:

- `DagsterUserCodeProcessError`: the base of `errors.PlainError`. The UI shows this class's error as given, with
  no stack trace (it carries errors from other processes): an invoice in Error or a refusal reads as its sentence.
- `SerializableErrorInfo` (dagster-shared): a step failure's error as Dagster stores it (message, class name,
  cause chain); `PlainError` builds one, `runs.classify_failure` reads the class name of its root cause.
- `CODE_VERSION_TAG`, `DATA_VERSION_TAG`, `INPUT_DATA_VERSION_TAG_PREFIX`, `INPUT_EVENT_POINTER_TAG_PREFIX`:
  the data provenance tags Dagster reads for staleness; an operation's materialization must write them
  (`invoice_state.reference_provenance`) or Dagster calls the invoice unsynced after every reference refresh.
- `InstanceRef`: a Dagster home's `dagster.yaml` as the instance reads it (`instance_repair` finds the SQLite
  databases there and opens the instance to migrate it).
- `RunStorageSqlMetadata`, `SqlEventLogStorageMetadata`, `ScheduleStorageSqlMetadata`: the tables a complete
  SQLite database of each storage holds; `REQUIRED_DATA_MIGRATIONS`, `ASSET_DATA_MIGRATIONS`,
  `REQUIRED_SCHEDULE_DATA_MIGRATIONS`: the data migrations it has marked done; `storage_migrations_folder()`:
  Dagster's own alembic migrations, whose head is the schema revision a complete database is stamped with
  (`instance_repair` tells a database a killed process left half-created from a complete one).
"""

from pathlib import Path

import dagster._core.storage as _dagster_storage
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_TAG,
    INPUT_DATA_VERSION_TAG_PREFIX,
    INPUT_EVENT_POINTER_TAG_PREFIX,
)
from dagster._core.errors import DagsterUserCodeProcessError
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.migration import ASSET_DATA_MIGRATIONS
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.runs.migration import REQUIRED_DATA_MIGRATIONS
from dagster._core.storage.runs.schema import RunStorageSqlMetadata
from dagster._core.storage.schedules.migration import REQUIRED_SCHEDULE_DATA_MIGRATIONS
from dagster._core.storage.schedules.schema import ScheduleStorageSqlMetadata
from dagster_shared.error import SerializableErrorInfo

__all__ = [
    "ASSET_DATA_MIGRATIONS",
    "CODE_VERSION_TAG",
    "DATA_VERSION_TAG",
    "INPUT_DATA_VERSION_TAG_PREFIX",
    "INPUT_EVENT_POINTER_TAG_PREFIX",
    "REQUIRED_DATA_MIGRATIONS",
    "REQUIRED_SCHEDULE_DATA_MIGRATIONS",
    "DagsterUserCodeProcessError",
    "InstanceRef",
    "RunStorageSqlMetadata",
    "ScheduleStorageSqlMetadata",
    "SerializableErrorInfo",
    "SqlEventLogStorageMetadata",
    "storage_migrations_folder",
]


def storage_migrations_folder() -> Path:
    """The folder of Dagster's own alembic migrations of its SQL storages (runs, event log, schedules)."""
    return Path(_dagster_storage.__file__).parent / "alembic"
