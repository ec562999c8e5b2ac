"""The unit tier's guard (unit/conftest.py) fails a test that starts a process or opens a connection."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from invoice_pipeline_tests.unit.conftest import NOT_A_UNIT_TEST


def test_starting_a_process_in_a_unit_test_fails_it():
    with pytest.raises(AssertionError, match=NOT_A_UNIT_TEST):
        subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_opening_a_connection_in_a_unit_test_fails_it():
    with pytest.raises(AssertionError, match=NOT_A_UNIT_TEST), socket.create_connection(("127.0.0.1", 5432)):
        pass
