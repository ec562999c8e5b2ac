"""Warehouse URLs in messages never show their password; URLs a person must fix are told as such."""

from __future__ import annotations

import pytest

from invoice_pipeline.warehouse.engine_faults import WarehouseMisconfigured, without_password
from invoice_pipeline.warehouse.warehouse import Warehouse


def test_a_drivers_words_lose_every_piece_of_the_password():
    url = "postgresql+psycopg://billing:s3cr@et:PW@db:5433/x"
    said = "could not translate host name 'et:PW@db:5433' to address"
    assert without_password(said, url) == "could not translate host name '***@db:5433' to address"


@pytest.mark.parametrize(
    "url",
    ["mysql://billing:s3cret@db/invoices", "postgresql+psycopg://billing:s3cret@127.0.0.1:99999/invoices"],
    ids=["a database without a driver here", "an impossible port"],
)
def test_a_url_a_person_must_fix_is_told_in_one_line_without_its_password(tmp_path, url):
    with pytest.raises(WarehouseMisconfigured) as refused:
        Warehouse(url, temp_dir=tmp_path, lock_timeout_seconds=1).create_schema()
    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message
    assert "warehouse_url" in message
