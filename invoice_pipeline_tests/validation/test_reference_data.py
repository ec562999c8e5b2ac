"""Reference data validated once is kept under the data folder and read back until its files or rules change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from invoice_pipeline.config import DEMO_CONFIG_PATH
from invoice_pipeline.validation import reference_data
from invoice_pipeline.validation.reference_data import VALIDATED_FOLDER, ReferenceDataError, load_reference_data


@pytest.fixture
def folder(tmp_path) -> Path:
    """A copy of the demo's reference data."""
    copy = tmp_path / "reference"
    shutil.copytree(DEMO_CONFIG_PATH.parent / "reference", copy)
    return copy


@pytest.fixture
def validations(monkeypatch) -> list[Path]:
    """The folders validated from their CSV files (not read back from what an earlier validation kept)."""
    seen: list[Path] = []
    validate = reference_data._validated

    def counted(folder: Path) -> reference_data.ReferenceData:
        seen.append(folder)
        return validate(folder)

    monkeypatch.setattr(reference_data, "_validated", counted)
    return seen


def _assert_same(kept: reference_data.ReferenceData, fresh: reference_data.ReferenceData) -> None:
    assert kept.tables.keys() == fresh.tables.keys()
    for name, frame in fresh.tables.items():
        pd.testing.assert_frame_equal(kept.tables[name], frame)


def test_reference_data_validated_once_is_read_back_identical_without_validating_again(folder, tmp_path, validations):
    first = load_reference_data(folder, tmp_path / "data")
    again = load_reference_data(folder, tmp_path / "data")
    assert validations == [folder]
    _assert_same(again, first)
    _assert_same(again, load_reference_data(folder))  # no data folder: always validated
    assert again.minor_units("JPY") == 0 and again.minor_units("XXX") is None
    assert len(list((tmp_path / "data" / VALIDATED_FOLDER).iterdir())) == 1


def test_a_changed_reference_file_is_validated_again_and_a_broken_one_refused_although_a_good_one_was_kept(
    folder, tmp_path, validations
):
    load_reference_data(folder, tmp_path / "data")
    with (folder / "currencies.csv").open("a", encoding="utf-8") as currencies:
        currencies.write("CHF,2\n")
    assert load_reference_data(folder, tmp_path / "data").minor_units("CHF") == 2
    with (folder / "currencies.csv").open("a", encoding="utf-8") as currencies:
        currencies.write("chf,9\n")
    with pytest.raises(ReferenceDataError, match="currencies.csv"):
        load_reference_data(folder, tmp_path / "data")
    assert len(validations) == 3
    assert len(list((tmp_path / "data" / VALIDATED_FOLDER).iterdir())) == 1  # only the newest valid set is kept


def test_reference_data_kept_unreadable_or_a_data_folder_not_writable_only_means_validating_again(
    folder, tmp_path, validations
):
    load_reference_data(folder, tmp_path / "data")
    [kept] = (tmp_path / "data" / VALIDATED_FOLDER).iterdir()
    (kept / "subscriptions.parquet").write_bytes(b"not parquet")
    _assert_same(load_reference_data(folder, tmp_path / "data"), load_reference_data(folder))
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")
    _assert_same(load_reference_data(folder, not_a_folder), load_reference_data(folder))
    assert len(validations) == 5  # each load above validated: none could read what was kept
