"""Secrets in every form an endpoint or a URL can hand them back in: never shown, logged or stored by a run.

The client secret holds characters that URL-encoding, JSON and base64 each change, so that an echo in any of
those forms is told from the raw one; the searches below look for every such form (case-folded, and 8-character
prefixes) in the command's output and in every file of the data folder and the Dagster home.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import socket
from pathlib import Path
from urllib.parse import quote, quote_plus

import dagster as dg
import pytest

from invoice_pipeline.demo.partner_center_fake.invoices import DEMO_CLIENT_ID
from invoice_pipeline_tests.cli_runner import run_cli
from invoice_pipeline_tests.connectors.partner_center_support import start_fake, use_partner_center
from invoice_pipeline_tests.hardening.test_cli_faults import Site

CLIENT_SECRET = 'Zq9+Sx/7kP=aB3&dEf"Gh\\Ij~Kl.mN_oP'
OPTIONS_PASSWORD = "Opt+S3cret/w0rd-88"


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def secret_forms(secret: str, user: str | None = None) -> list[str]:
    """The forms a secret comes back in: raw, URL-encoded (both ways, either hex case), JSON-escaped and base64
    (of the secret, and of `user:secret` as Basic auth sends it)."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    forms |= {_lower_hex(form) for form in forms}
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{secret}".encode()).decode().rstrip("=")[-16:])
    return sorted(forms)


def leaks(text: str, secret: str, user: str | None = None) -> list[str]:
    """The forms of `secret` (case-folded, or their 8-character prefixes) found in `text`."""
    folded = text.casefold()
    return [form for form in secret_forms(secret, user) if form[:8].casefold() in folded]


def files_leaking(root: Path, secret: str, user: str | None = None) -> list[str]:
    """Every file under `root` holding a form of `secret`."""
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            forms = leaks(path.read_bytes().decode("latin-1"), secret, user)
            found += [f"{path}: {form[:8]}" for form in forms]
    return found


def test_the_search_finds_every_form():
    for form in secret_forms(CLIENT_SECRET, DEMO_CLIENT_ID):
        assert leaks(f"x {form.upper()} y", CLIENT_SECRET, DEMO_CLIENT_ID), form
    assert not leaks("nothing here", CLIENT_SECRET)


# 1. The token endpoint echoing the request body -------------------------------------------------------------


@pytest.mark.parametrize(
    ("echo", "said"),
    [
        ("json-400", "400 Bad Request (invalid_client)"),
        ("proxy-502", "502 Bad Gateway (4 attempts)"),
        ("prefix-upper", "400 Bad Request (invalid_request)"),
    ],
)
def test_a_token_endpoint_echoing_the_body_shows_its_status_and_code_and_never_the_secret(
    workspace, monkeypatch, echo, said
):
    fake = start_fake(monkeypatch, secret=CLIENT_SECRET)
    try:
        use_partner_center(workspace, fake)
        fake.faults.token_echo = echo
        env = dict(os.environ)
        runs = [
            run_cli(*args, env=env, cwd=workspace.root)
            for args in (["sync"], ["providers", "invoices", "contoso-csp"], ["providers", "check", "contoso-csp"])
        ]
    finally:
        fake.stop()

    output = "\n".join(r.stdout + r.stderr for r in runs)
    assert said in output, output  # what went wrong is said: the status and the OAuth code
    assert leaks(output, CLIENT_SECRET, DEMO_CLIENT_ID) == [], output
    assert files_leaking(workspace.root, CLIENT_SECRET, DEMO_CLIENT_ID) == []


def test_every_log_record_message_and_metadata_value_is_redacted(caplog):
    from invoice_pipeline.dagster_defs.errors import PlainError
    from invoice_pipeline.dagster_defs.metadata import plain_metadata
    from invoice_pipeline.domain import redaction

    redaction.register(CLIENT_SECRET, user=DEMO_CLIENT_ID)
    basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    echoes = [*secret_forms(CLIENT_SECRET), basic, CLIENT_SECRET.upper(), quote_plus(CLIENT_SECRET)[:9].lower()]
    for echo in echoes:
        with caplog.at_level(logging.INFO):
            logging.getLogger("some.module.written.later").warning("answered %s", f"body=[{echo}]")
            logging.getLogger("httpx").info(f"body=[{echo}]")
        metadata = plain_metadata({"text": f"body=[{echo}]", "rows": [{"message": f"body=[{echo}]"}]})
        shown = [r.getMessage() for r in caplog.records] + [str(PlainError("Kind", f"body=[{echo}]"))]
        shown += [str(metadata["text"]), str(metadata["rows"].records[0].data)]
        caplog.clear()
        assert all("body=[***]" in text for text in shown), (echo, shown)


# 8. A password inside a PostgreSQL URL's options ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "query",
    [
        f"options=-c%20password%3D{quote(OPTIONS_PASSWORD, safe='')}",
        f"options=--password%3D{quote_plus(OPTIONS_PASSWORD)}",
        f"sslmode=disable&PASSWORD={quote(OPTIONS_PASSWORD, safe='')}",
    ],
)
@pytest.mark.parametrize("port", ["port", "free"])
def test_a_password_in_the_urls_options_is_never_shown(tmp_path, query, port):
    site = Site(tmp_path, lock_timeout_seconds=1)
    number = str(_free_port()) if port == "free" else "port"
    url = f"postgresql+psycopg://billing@127.0.0.1:{number}/invoices?{query}"
    completed = run_cli("invoices", "list", env={**site.env, "INVOICE_PIPELINE_WAREHOUSE_URL": url}, cwd=site.root)
    output = completed.stdout + completed.stderr
    assert completed.returncode in (2, 3), output
    assert "postgresql+psycopg://billing@127.0.0.1:" in output  # the warehouse is named
    assert leaks(output, OPTIONS_PASSWORD) == [], output
    assert files_leaking(tmp_path, OPTIONS_PASSWORD) == []


def test_a_run_that_fails_on_such_a_url_keeps_the_password_out_of_run_storage(tmp_path):
    from invoice_pipeline.dagster_defs.errors import PlainError

    url = f"postgresql+psycopg://billing@127.0.0.1:port/invoices?options=-c%20password%3D{quote(OPTIONS_PASSWORD)}"

    @dg.op
    def opens_it() -> None:
        from invoice_pipeline.warehouse.warehouse import Warehouse

        try:
            Warehouse(url, temp_dir=tmp_path, lock_timeout_seconds=1).engine.connect()
        except Exception as error:
            raise PlainError(type(error).__name__, str(error)) from None

    @dg.job
    def broken() -> None:
        opens_it()

    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        result = broken.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
    assert files_leaking(tmp_path, OPTIONS_PASSWORD) == []
