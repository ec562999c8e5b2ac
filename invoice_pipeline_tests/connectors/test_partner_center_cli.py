"""The bundled Partner Center demo config, run from the command line (in this process) against the fake Partner
Center."""

from __future__ import annotations

from invoice_pipeline.config import DEMO_CONFIG_PATH
from invoice_pipeline_tests.test_cli import Demo, _no_traceback, _outcomes


def test_sync_with_the_demo_config_imports_the_fakes_invoices_active(fake, tmp_path):
    # The demo config as shipped, pointed at this test's port and the bundled reference data.
    shipped = (DEMO_CONFIG_PATH.parent / "partner_center.yaml").read_text(encoding="utf-8")
    config = tmp_path / "partner_center.yaml"
    config.write_text(
        shipped.replace("http://127.0.0.1:8765", fake.base_url).replace(
            "reference_data: reference", f"reference_data: {DEMO_CONFIG_PATH.parent / 'reference'}"
        ),
        encoding="utf-8",
    )
    (tmp_path / "run").mkdir()
    demo = Demo(tmp_path / "run")
    demo.env |= {"INVOICE_PIPELINE_CONFIG": str(config), "PARTNER_CENTER_CLIENT_SECRET": "demo"}
    fake.faults.poll_retry_after = "0"

    synced = demo.run("sync")

    _no_traceback(synced)
    assert synced.returncode == 0, synced.stderr
    outcomes = _outcomes(synced.stdout)
    assert {key: outcome for key, (outcome, _) in outcomes.items()} == {
        "contoso-csp:G200000001": "Active",
        "contoso-csp:G200000002": "Active",
    }
    listed = demo.run("providers", "invoices", "contoso-csp")
    assert listed.stdout.splitlines() == ["G200000001\tActive\t1486.46 USD", "G200000002\tActive\t408.81 USD"]
