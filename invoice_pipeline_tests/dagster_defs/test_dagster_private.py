"""The upgrade contract of `dagster_defs.dagster_private`: each private Dagster API the pipeline uses still exists,
is of the kind it is used as, takes the arguments it is called with and holds the values it is relied on for.
A failure names the API an upgrade broke (see the module's docstring for what each is for)."""

import inspect
import re
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from invoice_pipeline.dagster_defs import dagster_private

PACKAGE = Path(dagster_private.__file__).parents[1]


def test_dagster_is_the_pinned_release_the_contract_names():
    assert dg.__version__ in dagster_private.__doc__, (
        f"dagster {dg.__version__} is installed: check each API of dagster_private against it (run this module), "
        "then update the pinned release in its docstring"
    )


def test_the_user_code_process_error_takes_its_error_infos_and_shows_them_as_given():
    error_class = dagster_private.DagsterUserCodeProcessError
    assert inspect.isclass(error_class) and issubclass(error_class, Exception), "DagsterUserCodeProcessError"
    info = dagster_private.SerializableErrorInfo(message="the sentence", stack=[], cls_name="Kind")
    error = error_class("the sentence", user_code_process_error_infos=[info])
    assert error.user_code_process_error_infos == [info], "DagsterUserCodeProcessError(user_code_process_error_infos=)"


def test_a_serializable_error_info_has_the_fields_the_outcomes_read():
    info = dagster_private.SerializableErrorInfo(message="m", stack=[], cls_name="Kind")
    for field in ("message", "stack", "cls_name", "cause"):
        assert hasattr(info, field), f"SerializableErrorInfo.{field}"
    assert info.cause is None, "SerializableErrorInfo.cause defaults to None"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CODE_VERSION_TAG", "dagster/code_version"),
        ("DATA_VERSION_TAG", "dagster/data_version"),
        ("INPUT_DATA_VERSION_TAG_PREFIX", "dagster/input_data_version"),
        ("INPUT_EVENT_POINTER_TAG_PREFIX", "dagster/input_event_pointer"),
    ],
)
def test_the_provenance_tag_names_are_the_ones_dagster_reads(name, value):
    # A renamed tag after an upgrade would make every activated invoice "unsynced" in the UI.
    assert getattr(dagster_private, name) == value, name


def test_an_instance_ref_is_read_from_a_dagster_home(tmp_path):
    assert "base_dir" in inspect.signature(dagster_private.InstanceRef.from_dir).parameters, "InstanceRef.from_dir"
    ref = dagster_private.InstanceRef.from_dir(str(tmp_path))
    for storage in ("run_storage_data", "event_storage_data", "schedule_storage_data"):
        data = getattr(ref, storage)
        assert hasattr(data, "class_name") and hasattr(data, "config_yaml"), f"InstanceRef.{storage}"


@pytest.mark.parametrize(
    ("name", "a_table"),
    [
        ("RunStorageSqlMetadata", "runs"),
        ("SqlEventLogStorageMetadata", "event_logs"),
        ("ScheduleStorageSqlMetadata", "jobs"),
    ],
)
def test_each_storage_metadata_lists_its_tables(name, a_table):
    metadata = getattr(dagster_private, name)
    assert isinstance(metadata, sa.MetaData), f"{name} is a SQLAlchemy MetaData"
    assert a_table in metadata.tables, f"{name}.tables holds {a_table!r}"


@pytest.mark.parametrize(
    "name", ["REQUIRED_DATA_MIGRATIONS", "ASSET_DATA_MIGRATIONS", "REQUIRED_SCHEDULE_DATA_MIGRATIONS"]
)
def test_each_data_migrations_table_maps_names_to_migrations(name):
    migrations = getattr(dagster_private, name)
    assert isinstance(migrations, dict) and migrations, f"{name} is a non-empty mapping"
    assert all(isinstance(key, str) and isinstance(value, Callable) for key, value in migrations.items()), name


def test_dagsters_storage_migrations_have_one_head():
    from alembic.script import ScriptDirectory

    folder = dagster_private.storage_migrations_folder()
    assert (folder / "env.py").is_file(), f"storage_migrations_folder(): {folder}"
    assert ScriptDirectory(str(folder)).get_current_head(), "storage_migrations_folder() has a head revision"


def test_no_other_module_of_the_package_uses_a_private_dagster_api():
    private = re.compile(r"dagster\._|dagster_shared")
    found = [path for path in PACKAGE.rglob("*.py") if private.search(path.read_text(encoding="utf-8"))]
    assert [path.relative_to(PACKAGE).as_posix() for path in found] == ["dagster_defs/dagster_private.py"]
