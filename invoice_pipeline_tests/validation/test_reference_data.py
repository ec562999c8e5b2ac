"""Reference data validated once is kept under the data folder and read back until its files or rules change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from invoice_pipeline.config import DEMO_CONFIG_PATH
from invoice_pipeline.validation import reference_data
from invoice_pipeline.validation.reference_data import VALIDATED_FOLDER, load_reference_data
from invoice_pipeline.validation.reference_errors import ReferenceDataError


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


def test_a_repeated_subscription_is_refused_naming_its_lines_and_the_row_once(folder):
    subscriptions = folder / "subscriptions.csv"
    rows = subscriptions.read_text(encoding="utf-8").splitlines()
    subscriptions.write_text("\n".join([*rows, rows[1]]) + "\n", encoding="utf-8")
    with pytest.raises(ReferenceDataError) as refused:
        load_reference_data(folder)
    provider, subscription_id, account_id, contract_id, product_id = rows[1].split(",")
    assert refused.value.problem == (
        f"subscriptions.csv: one_row_per_provider_subscription fails on lines 2, {len(rows) + 1} (A provider's "
        f"subscription appears once) (line 2: "
        f"provider='{provider}', subscription_id='{subscription_id}', account_id='{account_id}', "
        f"billing_contract_id='{contract_id}', product_id='{product_id}')"
    )
    assert str(refused.value) == f"reference data: {refused.value.problem}"


def _problem_with(folder: Path, name: str, text: str) -> str:
    """What loading the reference data says once `<name>.csv` holds `text`."""
    (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ReferenceDataError) as refused:
        load_reference_data(folder)
    return refused.value.problem


def test_column_checks_are_named_once_each_with_a_few_failing_values(folder):
    assert _problem_with(folder, "currencies", "code,minor_units\nUSD,2\nusd,9\nUSD,2\n") == (
        "currencies.csv: code fails field_uniqueness on lines 2, 4 (e.g. 'USD', 'USD'); code fails "
        "str_matches('^[A-Z]{3}$') on line 3 (e.g. 'usd'); minor_units fails less_than_or_equal_to(4) on line 3 "
        "(e.g. 9)"
    )


def test_missing_and_unexpected_columns_are_named_with_the_columns_the_file_must_have(folder):
    assert _problem_with(folder, "products", "product_id,title\nP1,Plan\n") == (
        "products.csv: column 'name' is missing; column 'title' is not one of its columns; its first line must name "
        "the columns product_id, name"
    )


def test_a_file_saved_by_a_spreadsheet_with_a_byte_order_mark_and_crlf_line_ends_is_read(folder):
    products = folder / "products.csv"
    text = products.read_text(encoding="utf-8")
    products.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())

    assert list(load_reference_data(folder).tables["products"].columns) == ["product_id", "name"]
