"""The unit tier: the rules, tested with no engine, no Dagster, no subprocess and no network.

A test here builds its input in memory (or in a temporary folder) and runs in milliseconds; the tier is the inner
loop (`.venv/bin/python -m pytest invoice_pipeline_tests/unit`, in one process: see the README).
`test_the_unit_tier_stays_light` (invoice_pipeline_tests/test_unit_tier.py) fails when a module of this folder
imports an engine or Dagster; the fixture below fails a test that starts a process or opens a connection.
"""

from __future__ import annotations

import socket
import subprocess

import pytest

NOT_A_UNIT_TEST = "a unit test starts no process and opens no connection: move this test out of the unit tier"


@pytest.fixture(autouse=True)
def no_process_and_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a process or connecting a socket fails the test, saying it does not belong here."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError(NOT_A_UNIT_TEST)

    monkeypatch.setattr(subprocess.Popen, "__init__", refused)
    monkeypatch.setattr(socket.socket, "connect", refused)
    monkeypatch.setattr(socket.socket, "connect_ex", refused)
