"""A real browser on the Dagster UI after the demo's sync: Active and Error invoices told apart, the message readable.

Debian's `chromium` and `chromium-driver` (`.ci/run` installs them), driven by Selenium. Screenshots go to
`build/ui-screenshots/` (or `$INVOICE_PIPELINE_SCREENSHOTS`) for a reviewer to look at.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from invoice_pipeline_tests.dagster_ui import BIN, PROJECT_ROOT, DagsterWebserver, dagster_env

pytestmark = pytest.mark.slow

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("INVOICE_PIPELINE_SCREENSHOTS", PROJECT_ROOT / "build" / "ui-screenshots"))
ACTIVE, REFERENCES_ERROR, CHECKSUM_ERROR = "contoso-csp:G100000001", "contoso-csp:G100000002", "contoso-csp:G100000003"
CHECKSUM_MESSAGE = (
    "Checksum failed: header 1,679.63 USD; usage 355.26 + license 1,324.00 = 1,679.26; difference 0.37 USD"
)
WAIT_SECONDS = 60
RECONCILIATION, PERIOD = "period_reconciliation", "2026-10"
CUSTOMER_INVOICES = "customer_invoices"
REPORT_PATH = """
query Report($partition: String!) {
  assetOrError(assetKey: {path: ["period_reconciliation"]}) {
    ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) {
      metadataEntries { label ... on PathMetadataEntry { path } } } }
  }
}
"""


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory) -> Iterator[DagsterWebserver]:
    """The bundled demo synced by the CLI, its October reconciliation materialized, and a webserver over its
    instance."""
    root = tmp_path_factory.mktemp("browser")
    env = dagster_env(root / "dagster_home", INVOICE_PIPELINE_DATA_DIR=str(root / "data"))
    env.pop("INVOICE_PIPELINE_CONFIG", None)
    synced = subprocess.run(
        [str(BIN / "invoice-pipeline"), "sync"], env=env, cwd=root, capture_output=True, text=True, timeout=600
    )
    assert synced.returncode == 0, synced.stderr
    for asset in (RECONCILIATION, CUSTOMER_INVOICES):  # reconciled before billing (every chart drawn), then billed
        materialized = subprocess.run(
            [
                str(BIN / "dagster"),
                "asset",
                "materialize",
                "-m",
                "invoice_pipeline.definitions",
                "--select",
                asset,
                "--partition",
                PERIOD,
            ],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert materialized.returncode == 0, materialized.stderr[-3000:]
    server = DagsterWebserver(env, root / "webserver.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[WebDriver]:
    """Headless Chromium as the machine has it (no browser download), with a throwaway profile."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",  # the width the UI must stay readable at
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    # Its own session: the browser's processes are stopped with it and never signal the test processes.
    service = Service(str(CHROMEDRIVER), popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(service=service, options=options)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: WebDriver, url: str, ready_text: str) -> None:
    """Open a page, wait until it shows `ready_text`, and close Dagster's first-visit community dialog."""
    browser.get(url)
    _wait_for_text(browser, ready_text)
    with contextlib.suppress(TimeoutException):  # shown once per browser profile
        _click(browser, "//button[normalize-space()='Skip']", seconds=5)


def _wait_for_text(browser: WebDriver, text: str) -> None:
    try:
        WebDriverWait(browser, WAIT_SECONDS).until(
            expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), text)
        )
    except TimeoutException:
        _shot(browser, "failed-waiting")
        page = browser.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"{text!r} never showed; the page said:\n{page}") from None


def _click(browser: WebDriver, xpath: str, seconds: float = WAIT_SECONDS) -> None:
    WebDriverWait(browser, seconds).until(expected_conditions.element_to_be_clickable((By.XPATH, xpath))).click()


def _partition_url(server: DagsterWebserver, partition: str | None = None) -> str:
    url = f"{server.url}/assets/provider_invoice?view=partitions"
    return f"{url}&partition={quote(partition)}" if partition else url


def _shot(browser: WebDriver, name: str) -> None:
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_partitions_view_counts_three_failed_and_three_materialized_and_filters_to_the_error_ones(demo_ui, browser):
    _open(browser, _partition_url(demo_ui), "Failed (3)")
    _wait_for_text(browser, "Materialized (3)")
    _shot(browser, "1-partitions")
    _click(browser, "//label[contains(., 'Materialized (3)')]")  # hide the Active invoices
    WebDriverWait(browser, WAIT_SECONDS).until(lambda b: ACTIVE not in b.find_element(By.TAG_NAME, "body").text)
    listed = browser.find_element(By.TAG_NAME, "body").text
    assert all(f"contoso-csp:G10000000{n}" in listed for n in (2, 3, 4))
    assert not any(f"contoso-csp:G10000000{n}" in listed for n in (1, 5, 6))
    _shot(browser, "2-failed-partitions")


def test_an_error_partitions_view_logs_shows_status_message_what_to_do_and_its_notes_first_rows(demo_ui, browser):
    _open(browser, _partition_url(demo_ui, REFERENCES_ERROR), "failed, and did not materialize this asset")
    _click(browser, "//button[contains(., 'View logs')]")
    _wait_for_text(browser, "STEP_FAILURE")
    _click(browser, "(//*[@role='dialog']//button[contains(., 'View full message')])[last()]")
    for told in ("what_to_do", "Add the missing references", "errors.csv", "SUB-UNKNOWN-9", "errors.csv path"):
        _wait_for_text(browser, told)
    _shot(browser, "3-error-partition-logs")


def test_the_failed_runs_log_shows_the_message_and_no_stack_trace(demo_ui, browser):
    _open(browser, _partition_url(demo_ui, CHECKSUM_ERROR), "failed, and did not materialize this asset")
    _click(browser, "//a[contains(@href, '/runs/')]")
    _wait_for_text(browser, f"{CHECKSUM_ERROR} is in Error: {CHECKSUM_MESSAGE}")
    assert "Stack Trace" not in browser.find_element(By.TAG_NAME, "body").text
    _shot(browser, "4-error-run")


def test_an_active_partition_is_materialized_with_its_status_and_totals(demo_ui, browser):
    _open(browser, _partition_url(demo_ui, ACTIVE), "Imported with 1 reference warning(s)")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Materialized" in text and "Active" in text and "1679.26" in text
    _shot(browser, "5-active-partition")


def test_the_checks_tab_says_failed_for_a_check_an_invoice_failed(demo_ui, browser):
    _open(browser, f"{demo_ui.url}/assets/provider_invoice?view=checks", "checksum_matches")
    _click(browser, "//a[contains(., 'checksum_matches')] | //*[normalize-space()='checksum_matches']")
    _wait_for_text(browser, "Failed")
    _shot(browser, "6-checks")


def test_the_reconciliation_partition_shows_its_totals_and_a_short_table_per_kind_of_finding(demo_ui, browser):
    _open(browser, f"{demo_ui.url}/assets/{RECONCILIATION}?view=partitions&partition={PERIOD}", "finding_counts")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "totals_by_currency" in text and "unbilled_seats" in text and "report" in text
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth"), width  # nothing runs off to the right
    _shot(browser, "7-reconciliation-partition")


def test_the_customer_invoices_partition_shows_the_months_drafts_totals_and_usage_held_back(demo_ui, browser):
    _open(browser, f"{demo_ui.url}/assets/{CUSTOMER_INVOICES}?view=partitions&partition={PERIOD}", "held_back")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "largest_documents" in text and "totals_by_currency" in text and "drafts_changed" in text
    _shot(browser, "9-customer-invoices-partition")


def test_the_reconciliation_report_renders_its_charts_and_tables_with_the_network_off(demo_ui, browser):
    entries = demo_ui.graphql(REPORT_PATH, {"partition": PERIOD})["assetOrError"]["assetMaterializations"][0]
    report = next(entry["path"] for entry in entries["metadataEntries"] if entry["label"] == "report")
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    try:
        browser.get(Path(report).as_uri())
        _wait_for_text(browser, f"Reconciliation {PERIOD}")
        charts = browser.execute_script(
            "return [...document.images].map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        _shot(browser, "8-reconciliation-report")
    finally:
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
    assert len(charts) == 6 and all(drawn for _, drawn in charts), charts
    assert fetched == []
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "ties out" in text and "unbilled_seats: 1 (70.00 USD)" in text and "overbilled_seats: 1 (-48.00 USD)" in text
