"""Serve the fake Partner Center from the command line: `python -m invoice_pipeline.demo.partner_center_fake`."""

from __future__ import annotations

import argparse
import os

import invoice_pipeline.demo.partner_center_fake as package
from invoice_pipeline.demo.partner_center_fake.invoices import DEMO_CLIENT_SECRET
from invoice_pipeline.demo.partner_center_fake.server import PartnerCenterFake


def main(argv: list[str] | None = None) -> None:
    """Serve the demo invoices until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m invoice_pipeline.demo.partner_center_fake", description=(package.__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--throttle", type=int, default=0, help="answer the next N requests 429 (Retry-After: 1)")
    parser.add_argument("--server-errors", type=int, default=0, help="answer the next N requests 500")
    parser.add_argument("--fail-export", action="append", default=[], metavar="INVOICE_ID")
    args = parser.parse_args(argv)
    secret = os.environ.get("PARTNER_CENTER_CLIENT_SECRET") or DEMO_CLIENT_SECRET
    fake = PartnerCenterFake(client_secret=secret, host=args.host, port=args.port)
    fake.faults.throttled, fake.faults.server_errors = args.throttle, args.server_errors
    fake.faults.failed_exports = {i: ("5000", "No data available") for i in args.fail_export}
    print(f"Fake Partner Center on {fake.base_url} (invoices {', '.join(fake.invoices)}); Ctrl-C stops it", flush=True)
    try:
        fake.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake.server.server_close()


if __name__ == "__main__":
    main()
