"""Hostile provider files (issue #29, 2, 3, 6 and 7): files linked out of the drop, line files that are not regular
files (FIFO, device, socket, folder), a huge sparse line file and very long unterminated last lines. Each ends as
an Error for its invoice naming the file and why; nothing outside the drop is read, nothing blocks, memory stays
bounded."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path

import pytest

from invoice_pipeline.connectors.folder import FolderConnector
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, license_line, usage_line, write_csv

# The record each refused invoice leaves (status, message) is stored by each engine's own path: run on both.
stored_by_each_engine = pytest.mark.engine_contract
PASSWD = Path("/etc/passwd")


def _import(workspace, warehouse, invoice_id: str):
    return import_provider_invoice(workspace.config(), warehouse, InvoiceKey("contoso-csp", invoice_id), run_id="t")


def _outside_usage(tmp_path: Path) -> Path:
    """A valid usage file outside the drop, with a customer no file of the drop names."""
    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    return write_csv(
        outside / "usage.csv", [usage_line("X1", "5.00", customer_id=ADVENTURE_WORKS, subscription_id="SUB-AZ-1002")]
    )


# 2. Files linked out of the drop ------------------------------------------------------------------------------


@stored_by_each_engine
def test_a_line_file_linked_to_a_csv_outside_the_drop_is_refused_not_imported(workspace, warehouse, tmp_path):
    folder = workspace.add_invoice("G-LINK", license=[license_line("L1")], total="41.00")  # 36 + the linked 5
    os.symlink(_outside_usage(tmp_path), folder / "usage_summaries.csv")

    result = _import(workspace, warehouse, "G-LINK")

    assert result.status == Status.ERROR, result.message
    assert "usage_summaries.csv is a link to somewhere else; put the file itself in the folder" in result.message
    assert ADVENTURE_WORKS not in result.message and "X1" not in result.message
    assert warehouse.line_totals(result.record_id)["usage"].line_count == 0


@stored_by_each_engine
@pytest.mark.parametrize("name", ["license_summaries.csv", "usage_summaries.csv.gz", "license_summaries.parquet"])
def test_a_line_file_linked_to_etc_passwd_is_refused_without_being_opened(workspace, warehouse, name):
    folder = workspace.add_invoice("G-PASSWD", usage=[usage_line("U1")])
    os.symlink(PASSWD, folder / name)

    result = _import(workspace, warehouse, "G-PASSWD")

    assert result.status == Status.ERROR
    assert f"{name} is a link to somewhere else; put the file itself in the folder" in result.message
    assert "root" not in result.message and "passwd" not in result.message


@stored_by_each_engine
def test_a_header_linked_to_etc_passwd_is_refused_without_being_opened(workspace, warehouse):
    folder = workspace.add_invoice("G-HEADER", usage=[usage_line("U1")])
    (folder / "header.json").unlink()
    os.symlink(PASSWD, folder / "header.json")

    result = _import(workspace, warehouse, "G-HEADER")

    assert result.status == Status.ERROR
    assert "header.json is a link to somewhere else; put the file itself in the folder" in result.message
    assert "root" not in result.message and "JSON" not in result.message


def test_a_header_linked_outside_is_offered_without_its_total_being_read(workspace, tmp_path):
    folder = workspace.add_invoice("G-PEEK", usage=[usage_line("U1")])
    outside = tmp_path / "outside-header.json"
    outside.write_text(json.dumps({"invoice_id": "G-PEEK", "currency": "EUR", "total_amount": "999.99"}))
    (folder / "header.json").unlink()
    os.symlink(outside, folder / "header.json")

    (offered,) = FolderConnector(workspace.config().provider("contoso-csp")).list_invoices()

    assert (offered.invoice_id, offered.currency, offered.total_amount) == ("G-PEEK", None, None)


def test_a_dangling_link_as_line_file_is_refused_not_taken_as_absent(workspace, warehouse, tmp_path):
    folder = workspace.add_invoice("G-DANGLE", license=[license_line("L1")])
    os.symlink(tmp_path / "nowhere.csv", folder / "usage_summaries.csv")

    result = _import(workspace, warehouse, "G-DANGLE")

    assert result.status == Status.ERROR
    assert "usage_summaries.csv is a link to somewhere else" in result.message


# 3. Line files that are not regular files ---------------------------------------------------------------------


def _fifo(path: Path) -> str:
    os.mkfifo(path)
    return "a FIFO (named pipe)"


def _device(path: Path) -> str:
    if os.geteuid() != 0:
        pytest.skip("creating a device file needs root")
    os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    return "a device"


def _socket(path: Path) -> str:
    here = Path.cwd()
    os.chdir(path.parent)  # a socket's path is limited to about 100 characters: bind it by its name
    try:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path.name)
        sock.close()
    finally:
        os.chdir(here)
    return "a socket"


def _directory(path: Path) -> str:
    path.mkdir()
    return "a folder"


@stored_by_each_engine
@pytest.mark.parametrize("make", [_fifo, _device, _socket, _directory], ids=["fifo", "device", "socket", "folder"])
def test_a_line_file_that_is_not_a_regular_file_is_refused_naming_it(workspace, warehouse, make):
    # The header total matches the license lines alone: taken as absent, the usage lines would be lost silently.
    folder = workspace.add_invoice("G-SPECIAL", license=[license_line("L1")])
    what = make(folder / "usage_summaries.csv")

    started = time.monotonic()
    result = _import(workspace, warehouse, "G-SPECIAL")

    assert time.monotonic() - started < 60  # never blocked on the FIFO
    assert result.status == Status.ERROR, result.message
    assert f"usage_summaries.csv is {what}, not a regular file; put the file itself in the folder" in result.message
    assert warehouse.line_totals(result.record_id)["license"].line_count == 0


def test_a_header_that_is_a_fifo_is_refused_and_never_blocks_the_listing(workspace, warehouse):
    folder = workspace.add_invoice("G-HFIFO", usage=[usage_line("U1")])
    (folder / "header.json").unlink()
    os.mkfifo(folder / "header.json")

    (offered,) = FolderConnector(workspace.config().provider("contoso-csp")).list_invoices()
    result = _import(workspace, warehouse, "G-HFIFO")

    assert (offered.invoice_id, offered.total_amount) == ("G-HFIFO", None)
    assert result.status == Status.ERROR
    assert "header.json is a FIFO (named pipe), not a regular file" in result.message
