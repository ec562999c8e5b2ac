"""Serve the fake Partner Center from the command line: `python -m invoice_pipeline.demo.partner_center_fake`."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import invoice_pipeline.demo.partner_center_fake as package
from invoice_pipeline.demo.partner_center_fake.invoices import DEMO_CLIENT_SECRET, FakeInvoice
from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake

EXPORT_ERROR = ("500", "Internal server error")
NO_DATA = ("5000", "No data available")  # Partner Center's way of saying a dataset has no lines for the invoice


def failed_exports(fail: Sequence[str], no_data: Sequence[str] = ()) -> dict[str | tuple[str, str], tuple[str, str]]:
    """The exports that end `failed`: `--fail-export` with an error (the import ends Error), `--no-data-export`
    with 5000 "No data available" (the dataset has no lines). Each value is `INVOICE_ID` (each of its datasets)
    or `INVOICE_ID:DATASET` (`reconciliation` or `daily_rated`)."""
    failed: dict[str | tuple[str, str], tuple[str, str]] = {}
    for values, failure in ((fail, EXPORT_ERROR), (no_data, NO_DATA)):
        for value in values:
            invoice_id, _, dataset = value.partition(":")
            failed[(invoice_id, dataset) if dataset else invoice_id] = failure
    return failed


LINE_KINDS = {"license_based": "office", "one_time": "one_time"}


def invoices_from_file(path: Path) -> list[FakeInvoice]:
    """Invoices to serve, from a JSON list of `{"invoice": <Microsoft's Invoice object>, "license_based": [...],
    "one_time": [...], "daily_rated": [...], "nested": false}` (line items as Microsoft's LicenseBasedLineItem,
    OneTimeInvoiceLineItem and DailyRatedUsageLineItem; numbers kept exact). Without `invoiceDetails`, the
    invoice lists the kinds it has lines of."""
    served = []
    entries = json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    if not isinstance(entries, list):
        raise ValueError("not a JSON list")
    for entry in entries:
        unknown = sorted(set(entry) - {"invoice", "license_based", "one_time", "daily_rated", "nested"})
        if unknown or not isinstance(entry.get("invoice"), dict) or "id" not in entry["invoice"]:
            raise ValueError(f"an entry needs an invoice object with an id, and no other key than those ({unknown})")
        invoice = dict(entry["invoice"])
        lines = {kind: list(entry.get(kind) or []) for kind in ("license_based", "one_time", "daily_rated")}
        if "invoiceDetails" not in invoice:
            details = [(provider, "billing_line_items") for kind, provider in LINE_KINDS.items() if lines[kind]]
            details += [("one_time", "usage_line_items")] if lines["daily_rated"] else []
            invoice["invoiceDetails"] = [{"billingProvider": p, "invoiceLineItemType": t} for p, t in details]
        served.append(
            FakeInvoice(
                invoice,
                license_based=lines["license_based"],
                one_time=lines["one_time"],
                daily_rated=lines["daily_rated"],
                nested=bool(entry.get("nested")),
            )
        )
    return served


def main(argv: list[str] | None = None) -> None:
    """Serve the demo invoices until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m invoice_pipeline.demo.partner_center_fake", description=(package.__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--throttle", type=int, default=0, help="answer the next N requests 429 (Retry-After: 1)")
    parser.add_argument("--server-errors", type=int, default=0, help="answer the next N requests 500")
    parser.add_argument(
        "--fail-export",
        action="append",
        default=[],
        metavar="INVOICE_ID[:DATASET]",
        help="that invoice's exports (or one dataset: reconciliation, daily_rated) fail: 500 Internal server error",
    )
    parser.add_argument(
        "--no-data-export",
        action="append",
        default=[],
        metavar="INVOICE_ID[:DATASET]",
        help='that invoice\'s exports (or one dataset) fail 5000 "No data available": no lines in that dataset',
    )
    parser.add_argument(
        "--invoices",
        type=Path,
        metavar="FILE.json",
        help='serve these invoices instead of the demo\'s: a JSON list of {"invoice": {...}, "license_based": [...], '
        '"one_time": [...], "daily_rated": [...], "nested": false} (README: Try it without a Microsoft account)',
    )
    parser.add_argument(
        "--manifest-data-format",
        default="compressedJSONLines",
        help="the export manifests' dataFormat (documented: compressedJSONLines; its example: compressedJSON)",
    )
    parser.add_argument(
        "--collection-billing-periods",
        action="store_true",
        help="list billingPeriodStartDate/EndDate in the invoice collection (Microsoft's example has none)",
    )
    args = parser.parse_args(argv)
    secret = os.environ.get("PARTNER_CENTER_CLIENT_SECRET") or DEMO_CLIENT_SECRET
    try:
        served = invoices_from_file(args.invoices) if args.invoices else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        parser.error(
            f"--invoices {args.invoices}: {type(error).__name__}: {error}; it must be a JSON list of "
            '{"invoice": {...}, "license_based": [...], "one_time": [...], "daily_rated": [...], "nested": false}'
        )
    fake = PartnerCenterFake(served, client_secret=secret, host=args.host, port=args.port)
    fake.faults.collection_billing_periods = args.collection_billing_periods
    fake.faults.manifest_data_format = args.manifest_data_format
    fake.faults.throttled, fake.faults.server_errors = args.throttle, args.server_errors
    fake.faults.failed_exports = failed_exports(args.fail_export, args.no_data_export)
    print(f"Fake Partner Center on {fake.base_url} (invoices {', '.join(fake.invoices)}); Ctrl-C stops it", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.server.server_close()


if __name__ == "__main__":
    main()
