"""Hostile provider files (issue #29, 2, 3, 6 and 7): files linked out of the drop, line files that are not regular
files (FIFO, device, socket, folder), a huge sparse line file and very long unterminated last lines. Each ends as
an Error for its invoice naming the file and why; nothing outside the drop is read, nothing blocks, memory stays
bounded."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from invoice_pipeline.composition import connector_for
from invoice_pipeline.config import ConfigError
from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.statuses import Status
from invoice_pipeline.importing.invoice_import import import_provider_invoice
from invoice_pipeline_tests.builders import ADVENTURE_WORKS, license_line, usage_line, write_csv

# The record each refused invoice leaves (status, message) is stored by each engine's own path: run on both.
stored_by_each_engine = pytest.mark.engine_contract
PASSWD = Path("/etc/passwd")
CLI = Path(sys.executable).parent / "invoice-pipeline"


def _import(workspace, warehouse, invoice_id: str):
    return import_provider_invoice(
        workspace.config(), warehouse, InvoiceKey("contoso-csp", invoice_id), connectors=connector_for, run_id="t"
    )


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

    (offered,) = connector_for(workspace.config().provider("contoso-csp"), workspace.config()).list_invoices()

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

    (offered,) = connector_for(workspace.config().provider("contoso-csp"), workspace.config()).list_invoices()
    result = _import(workspace, warehouse, "G-HFIFO")

    assert (offered.invoice_id, offered.total_amount) == ("G-HFIFO", None)
    assert result.status == Status.ERROR
    assert "header.json is a FIFO (named pipe), not a regular file" in result.message


# 6. Memory bounded for any line file; 7. no line dropped: the size and line length limits ----------------------

GB = 1000**3
MB = 1000**2
PEAK_RSS_LIMIT = 1.5 * GB  # duckdb_memory_limit (1GB by default) plus a fixed margin


def _sync_one_in_a_process(workspace, invoice_id: str, tmp_path: Path) -> tuple[int, str, int, float]:
    """`invoice-pipeline sync --invoice` run as its own process: exit status, its output, its peak RSS in bytes
    (os.wait4) and how long it took."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOICE_PIPELINE_", "DAGSTER_HOME"))}
    env |= {"INVOICE_PIPELINE_CONFIG": str(workspace.config_path), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir(exist_ok=True)
    output = tmp_path / "sync-output.txt"
    started = time.monotonic()
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [str(CLI), "sync", "--invoice", f"contoso-csp:{invoice_id}"],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        watchdog = threading.Timer(600, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return process.returncode, output.read_text(errors="replace"), usage.ru_maxrss * 1024, time.monotonic() - started


def test_a_2gb_sparse_line_file_ends_in_an_error_within_bounded_memory(workspace, tmp_path):
    folder = workspace.add_invoice("G-SPARSE", license=[license_line("L1")])
    sparse = folder / "usage_summaries.csv"
    with sparse.open("wb") as handle:
        handle.truncate(2 * GB)  # all NUL, no disk used

    code, output, peak, took = _sync_one_in_a_process(workspace, "G-SPARSE", tmp_path)
    print(f"2 GB sparse file: exit {code}, peak RSS {peak / MB:.0f} MB, {took:.1f} s")  # the measure, with -s

    assert peak <= PEAK_RSS_LIMIT, f"peak RSS {peak / MB:.0f} MB"
    assert "Error" in output, output
    assert "usage_summaries.csv: cannot be read at line 1: the line is longer than the reader allows" in output
    assert "1 MB" in output  # the limit it broke


def test_a_line_file_beyond_the_size_limit_is_refused_at_once_unread(workspace, warehouse):
    config = yaml.safe_load(workspace.config_path.read_text())
    workspace.config_path.write_text(yaml.safe_dump({**config, "line_file_size_limit": "1GB"}))
    folder = workspace.add_invoice("G-BIG", license=[license_line("L1")])
    with (folder / "usage_summaries.csv").open("wb") as handle:
        handle.truncate(2 * GB)

    started = time.monotonic()
    result = _import(workspace, warehouse, "G-BIG")

    assert time.monotonic() - started < 30
    assert result.status == Status.ERROR
    assert result.message.startswith(
        f"usage_summaries.csv: cannot be read: it has {2 * GB} bytes, more than the line file size limit of 1 GB"
    )


@stored_by_each_engine
@pytest.mark.parametrize("megabytes", [8, 60, 300])
def test_an_unterminated_last_line_of_many_megabytes_is_refused_with_its_line_number(workspace, warehouse, megabytes):
    # The header total matches the first line alone: dropping the last one would import the invoice without it.
    folder = workspace.add_invoice("G-TAIL", usage=[usage_line("U1")], license=[license_line("L1")])
    path = folder / "usage_summaries.csv"
    with path.open("ab") as handle:
        handle.write(b"U2,")
        for _ in range(megabytes):
            handle.write(b"x" * MB)
    try:
        result = _import(workspace, warehouse, "G-TAIL")
    finally:
        path.unlink()

    assert result.status == Status.ERROR, result.message
    assert result.message.startswith("usage_summaries.csv: cannot be read at line 3: the line is longer"), (
        result.message
    )
    assert "line_length_limit, is 1 MB" in result.message
    assert warehouse.line_totals(result.record_id)["usage"].line_count == 0


@stored_by_each_engine
def test_a_gzip_line_file_is_held_to_the_limits_decompressed(workspace, warehouse):
    folder = workspace.add_invoice("G-GZ", usage=[usage_line("U1")], license=[license_line("L1")])
    text = (folder / "usage_summaries.csv").read_bytes() + b"U2," + b"y" * (8 * MB)
    (folder / "usage_summaries.csv").unlink()
    (folder / "usage_summaries.csv.gz").write_bytes(gzip.compress(text))  # about 8 KB compressed

    result = _import(workspace, warehouse, "G-GZ")

    assert result.status == Status.ERROR, result.message
    assert result.message.startswith("usage_summaries.csv.gz: cannot be read at line 3: the line is longer")


def test_a_gzip_bomb_is_refused_by_the_size_limit_decompressed_with_its_line(workspace, warehouse):
    config = yaml.safe_load(workspace.config_path.read_text())
    workspace.config_path.write_text(yaml.safe_dump({**config, "line_file_size_limit": "10MB"}))
    folder = workspace.add_invoice("G-BOMB", usage=[usage_line("U1")])
    text = (folder / "usage_summaries.csv").read_bytes() + (b"U2,1\n" * (4 * MB))  # 20 MB, a few KB compressed
    (folder / "usage_summaries.csv").unlink()
    (folder / "usage_summaries.csv.gz").write_bytes(gzip.compress(text))

    result = _import(workspace, warehouse, "G-BOMB")

    assert result.status == Status.ERROR
    assert result.message.startswith("usage_summaries.csv.gz: cannot be read: decompressed, it grows beyond that")
    assert "line file size limit of 10 MB" in result.message
    assert re.search(r"at line 1999[0-9]{3},", result.message)  # where the 10 MB were passed, 5 bytes a line


def test_the_limits_are_configurable_globally_and_per_provider(workspace, warehouse):
    config = yaml.safe_load(workspace.config_path.read_text())
    config["line_length_limit"] = "2MB"
    config["providers"][1]["line_length_limit"] = "1KiB"
    workspace.config_path.write_text(yaml.safe_dump(config))
    loaded = workspace.config()
    assert loaded.provider("contoso-csp").line_file_limits == LineFileLimits(50 * GB, 2 * MB)
    assert loaded.provider("fabrikam-distribution").line_file_limits == LineFileLimits(50 * GB, 1024)

    folder = workspace.add_invoice("G-LONG", usage=[usage_line("U1")], license=[license_line("L1")])
    long_line = usage_line("U2", meter_name="z" * (3 * MB // 2))  # 1.5 MB: within 2 MB, read whole by the schema
    write_csv(folder / "usage_summaries.csv", [usage_line("U1"), long_line])
    result = _import(workspace, warehouse, "G-LONG")
    assert result.status == Status.ERROR
    assert "usage 20.00 + license 36.00" in result.message  # the long line was read, not dropped


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("line_length_limit", "10", "'line_length_limit': line_length_limit must be between 1 KB and 16 MB"),
        ("line_length_limit", "1GB", "'line_length_limit': line_length_limit must be between 1 KB and 16 MB"),
        ("line_file_size_limit", "lots", "line_file_size_limit must be a size such as 1MB, 50GB or 1048576"),
        ("line_file_size_limit", 0, "line_file_size_limit must be at least 1 byte"),
    ],
)
def test_a_bad_limit_in_the_configuration_is_one_line_naming_the_key(workspace, key, value, expected):
    config = yaml.safe_load(workspace.config_path.read_text())
    workspace.config_path.write_text(yaml.safe_dump({**config, key: value}))
    with pytest.raises(ConfigError, match=re.escape(expected)):
        workspace.config()
