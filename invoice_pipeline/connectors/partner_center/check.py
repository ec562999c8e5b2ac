"""`invoice-pipeline providers check`: the read-only calls against a provider's Partner Center, step by step.

Made for the first run with real credentials: each step says what it found, so what differs from what the
connector expects shows in one command. The steps, in order: the configuration, a token for Partner Center, a
token for Graph, the invoice collection, one invoice downloaded by the real connector, and its totals. A step ends
`ok`, `warning` or `FAILED`; a step that cannot run after a failure is `skipped`, saying why.

Nothing is imported and nothing is kept: the download goes to a temporary folder (under TMPDIR) deleted
afterwards, never to the downloads folder, and the warehouse is not opened. No line carries the client secret or
an access token (every line is masked with both). Plain Python: no Dagster here.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx

from invoice_pipeline.config import PartnerCenterSettings, ProviderConfig
from invoice_pipeline.connectors.base import ConnectorError, InvoiceFiles
from invoice_pipeline.connectors.partner_center.client import (
    GRAPH_SCOPE,
    PARTNER_CENTER_SCOPE,
    PartnerCenterClient,
    TokenGrant,
)
from invoice_pipeline.connectors.partner_center.client import (
    field as json_field,
)
from invoice_pipeline.connectors.partner_center.connector import (
    CONSUMPTION_AGGREGATES_FILE,
    NEW_COMMERCE_PROVIDERS,
    PartnerCenterConnector,
)
from invoice_pipeline.connectors.partner_center.export import EXPORT_PATHS, NO_DATA_CODE
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN
from invoice_pipeline.domain.provider_documents import parse_document_type, voids_amended_invoice
from invoice_pipeline.validation.checksum import check_checksum

OK, WARNING, FAILED, SKIPPED = "ok", "warning", "FAILED", "skipped"
CONFIGURATION = "configuration"
PARTNER_CENTER_TOKEN = "token for Partner Center"
GRAPH_TOKEN = "token for Graph"
COLLECTION = "invoice collection"
DOWNLOAD = "download"
TOTALS = "totals"
STEPS = (CONFIGURATION, PARTNER_CENTER_TOKEN, GRAPH_TOKEN, COLLECTION, DOWNLOAD, TOTALS)
# The Graph application permission the v2 billing exports need (Graph partners-billing export, "Permissions").
EXPORT_PERMISSION = "PartnerBilling.Read.All"
SAMPLE_LINES = 3
SUMMARIES = (("usage", "usage_summaries.csv"), ("license", "license_summaries.csv"))
# The collection fields the connector relies on, and what it does without each.
HEADER_FIELDS = {
    "invoiceDate": "invoice_date",
    "totalCharges": "total_amount",
    "currencyCode": "currency",
}
PERIOD_FIELDS = ("billingPeriodStartDate", "billingPeriodEndDate")


@dataclass(frozen=True)
class CheckStep:
    """One step of the check: its name, how it ended, what it found in one line, and further lines (samples)."""

    name: str
    status: str  # ok | warning | FAILED | skipped
    message: str
    details: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Whether this step FAILED (the command then exits 1)."""
        return self.status == FAILED

    def lines(self) -> list[str]:
        """As printed: `status <TAB> step <TAB> what was found`, then each detail indented by two spaces."""
        return [f"{self.status}\t{self.name}\t{self.message}", *(f"  {detail}" for detail in self.details)]

    def as_json(self) -> dict[str, Any]:
        """As `--json` prints it."""
        return asdict(self) | {"details": list(self.details)}


def not_partner_center(provider: ProviderConfig) -> str | None:
    """Why the check cannot run for this provider (it is not read from Partner Center), or None when it can."""
    if provider.connector == "partner_center" and provider.partner_center is not None:
        return None
    return (
        f"provider {provider.id} uses the {provider.connector} connector: the check talks to Microsoft Partner "
        f"Center only; see what the folder offers with `invoice-pipeline providers invoices {provider.id}`"
    )


def check_partner_center(
    provider: ProviderConfig,
    *,
    invoice_id: str | None = None,
    minor_units: Mapping[str, int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[CheckStep]:
    """Every step of the check (see `run_checks`)."""
    return list(run_checks(provider, invoice_id=invoice_id, minor_units=minor_units, sleep=sleep))


def run_checks(
    provider: ProviderConfig,
    *,
    invoice_id: str | None = None,
    minor_units: Mapping[str, int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[CheckStep]:
    """The steps of the check, each as soon as it has run: `invoice_id` is the invoice downloaded (else the newest
    by invoiceDate); `minor_units` the currencies' minor units (the reference data's), for the totals as the
    import compares them. ValueError when the provider is not read from Partner Center (`not_partner_center`)."""
    refusal = not_partner_center(provider)
    if refusal is not None:
        raise ValueError(refusal)
    check = _Check(provider, invoice_id, dict(minor_units or {}), sleep)
    try:
        for step in check.steps():
            yield check.masked(step)
    finally:
        check.close()


# Observing the real connector ------------------------------------------------------------------------------


@dataclass
class _Export:
    """One v2 export the connector ran, as observed: its dataset and how it ended."""

    dataset: str
    outcome: str = "started, no manifest read"
    empty: bool = False  # no blob, or 5000 "No data available": the connector then reads the lines from v1


@dataclass
class _Seen:
    """What the client was asked and answered: the invoice collection's pages, the exports, the v1 line pages."""

    collection_pages: list[Any] = field(default_factory=list)
    exports: list[_Export] = field(default_factory=list)
    v1_pages: Counter[str] = field(default_factory=Counter)

    def requested(self, method: str, url: str) -> None:
        where = httpx.URL(url)
        datasets = {path: dataset for dataset, path in EXPORT_PATHS.items()}
        dataset = next((name for path, name in datasets.items() if where.path.endswith(path)), None)
        if method == "POST" and dataset:
            self.exports.append(_Export(dataset))
        elif method == "GET" and where.path.rstrip("/").endswith("/lineitems"):
            query = {k.lower(): v[-1] for k, v in parse_qs(where.query.decode()).items()}
            self.v1_pages[f"{query.get('provider', '?')} {query.get('invoicelineitemtype', '?')}"] += 1

    def answered(self, url: str, answer: Any) -> None:
        if httpx.URL(url).path.rstrip("/").endswith("/invoices"):
            self.collection_pages.append(answer)
            return
        if not isinstance(answer, dict) or not self.exports:
            return
        export = self.exports[-1]
        status = str(json_field(answer, "status") or "").lower()
        if status == "failed":
            error = json_field(answer, "error")
            code, message = json_field(error, "code"), json_field(error, "message")
            said = " ".join(str(part) for part in (code, message) if part) or "no error details"
            no_data = str(code or "").strip() == NO_DATA_CODE
            export.outcome, export.empty = (f"no data ({said})", True) if no_data else (f"failed ({said})", False)
            return
        inline = json_field(answer, "resourceLocation")
        manifest = inline if status == "succeeded" and isinstance(inline, dict) else answer
        if json_field(manifest, "dataFormat") is not None or json_field(manifest, "blobs") is not None:
            blobs = json_field(manifest, "blobs")
            count = len(blobs) if isinstance(blobs, list) else 0
            data_format = json_field(manifest, "dataFormat") or "(no dataFormat)"
            export.outcome, export.empty = f"manifest {data_format}, {_plural(count, 'blob')}", not count

    def exports_text(self, *, complete: bool) -> str:
        """The exports and v1 pages as observed; `complete`: the download succeeded (so an empty export's lines
        were read from v1)."""
        parts = [
            f"{export.dataset} export: {export.outcome}"
            + (", so its lines were read from v1" if complete and export.empty else "")
            for export in self.exports
        ]
        if self.v1_pages:
            pages = ", ".join(f"{kind} {n} page{'' if n == 1 else 's'}" for kind, n in sorted(self.v1_pages.items()))
            parts.append(f"v1 line items: {pages}")
        return "; ".join(parts) or "no export, no v1 line item page"


class _ObservingClient(PartnerCenterClient):
    """The connector's client, telling `seen` what it was asked and what it was answered (it changes nothing)."""

    def __init__(
        self, settings: PartnerCenterSettings, secret: str, *, sleep: Callable[[float], None], seen: _Seen
    ) -> None:
        super().__init__(settings, secret, sleep=sleep)
        self.seen = seen

    def request(
        self,
        method: str,
        url: str,
        *,
        scope: str | None,
        headers: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> httpx.Response:
        """The client's request, noted."""
        self.seen.requested(method, url)
        return super().request(method, url, scope=scope, headers=headers, json_body=json_body)

    def parse_json(self, response: httpx.Response, url: str) -> Any:
        """The client's reading of an answer, noted."""
        answer = super().parse_json(response, url)
        self.seen.answered(url, answer)
        return answer


class _ObservedConnector(PartnerCenterConnector):
    """The real connector, whose clients report to `seen`."""

    def __init__(
        self, provider: ProviderConfig, downloads: Path, *, sleep: Callable[[float], None], seen: _Seen
    ) -> None:
        super().__init__(provider, downloads, sleep=sleep)
        self.seen = seen

    def new_client(self, secret: str) -> PartnerCenterClient:
        """The connector's client (the same secret from the same variable), observed."""
        return _ObservingClient(self.settings, secret, sleep=self.sleep, seen=self.seen)


# The steps ----------------------------------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _present(value: Any) -> bool:
    return value not in (None, "")


class _Check:
    """One run of the check: the steps in order, what each learnt for the next, what to skip after a failure."""

    def __init__(
        self,
        provider: ProviderConfig,
        invoice_id: str | None,
        minor_units: dict[str, int],
        sleep: Callable[[float], None],
    ) -> None:
        assert provider.partner_center is not None  # not_partner_center said so
        self.provider = provider
        self.settings = provider.partner_center
        self.invoice_id = invoice_id
        self.minor_units = minor_units
        self.sleep = sleep
        self.secret = os.environ.get(self.settings.client_secret_env) or ""
        self.seen = _Seen()
        self.client: _ObservingClient | None = None
        self.documents: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def masked(self, step: CheckStep) -> CheckStep:
        """The step with the secret and every access token replaced by `***`, wherever they might have slipped in."""

        def mask(text: str) -> str:
            if self.client is not None:
                return self.client.mask(text)
            return text.replace(self.secret, "***") if self.secret else text

        return CheckStep(step.name, step.status, mask(step.message), tuple(mask(d) for d in step.details))

    def steps(self) -> Iterator[CheckStep]:
        configuration = self.configuration()
        yield configuration
        if configuration.failed:
            yield from self.skipped(STEPS[1:], "no client secret (see configuration)")
            return
        self.client = _ObservingClient(self.settings, self.secret, sleep=self.sleep, seen=self.seen)
        partner_center = self.token(PARTNER_CENTER_TOKEN, PARTNER_CENTER_SCOPE)
        yield partner_center
        if partner_center.failed:
            yield from self.skipped(STEPS[2:], "no token for Partner Center (see that step)")
            return
        graph = self.token(GRAPH_TOKEN, GRAPH_SCOPE)
        yield graph
        collection = self.collection()
        yield collection
        if not self.documents:
            why = "could not be read" if collection.failed else "lists no document"
            yield from self.skipped(STEPS[4:], f"the invoice collection {why}")
            return
        chosen = self.chosen()
        if isinstance(chosen, CheckStep):
            yield chosen
            yield from self.skipped(STEPS[5:], "nothing was downloaded")
            return
        if graph.failed and self.needs_export(chosen):
            yield from self.skipped(
                STEPS[4:],
                f"invoice {chosen} has new-commerce line items, read through the Graph export, and the token for "
                "Graph was refused",
            )
            return
        yield from self.download(chosen)

    def skipped(self, names: tuple[str, ...], why: str) -> Iterator[CheckStep]:
        for name in names:
            yield CheckStep(name, SKIPPED, why)

    # 1. configuration

    def configuration(self) -> CheckStep:
        s = self.settings
        where = (
            f"provider {self.provider.id} uses the partner_center connector (tenant {s.tenant_id}, app {s.client_id}; "
            f"token endpoint {s.login_url}, API {s.api_url}, Graph {s.graph_url})"
        )
        if not self.secret:
            return CheckStep(
                CONFIGURATION,
                FAILED,
                f"{where}; the environment variable {s.client_secret_env} (client_secret_env) is not set or empty: "
                f"set it to the client secret of app {s.client_id}",
            )
        return CheckStep(CONFIGURATION, OK, f"{where}; {s.client_secret_env} (client_secret_env) is set")

    # 2. and 3. tokens

    def token(self, name: str, scope: str) -> CheckStep:
        assert self.client is not None
        try:
            grant = self.client.fresh_token(scope)
        except ConnectorError as error:
            consequence = (
                f"; without it the exports cannot run (the app needs the Graph application permission "
                f"{EXPORT_PERMISSION}, with admin consent)"
                if scope == GRAPH_SCOPE
                else ""
            )
            return CheckStep(name, FAILED, f"not granted for scope {scope}: {error}{consequence}")
        granted = f"granted for scope {scope}, valid {grant.lifetime_seconds:g} s"
        if scope == GRAPH_SCOPE:
            return self.graph_permissions(grant, granted)
        return CheckStep(name, OK, granted)

    def graph_permissions(self, grant: TokenGrant, granted: str) -> CheckStep:
        if grant.roles is None:
            return CheckStep(GRAPH_TOKEN, OK, f"{granted} (its permissions are not readable: the download shows them)")
        if EXPORT_PERMISSION in grant.roles:
            return CheckStep(GRAPH_TOKEN, OK, f"{granted}, with the application permission {EXPORT_PERMISSION}")
        roles = ", ".join(grant.roles) or "none"
        return CheckStep(
            GRAPH_TOKEN,
            WARNING,
            f"{granted}, but without the application permission {EXPORT_PERMISSION} (its roles: {roles}): the "
            "exports will be refused; grant it to the app and give admin consent",
        )

    # 4. the invoice collection

    def collection(self) -> CheckStep:
        assert self.client is not None
        # The documents exactly as the connector lists them (pages, notes nested in amendments); listing writes
        # nothing, so the connector is given no downloads folder of use.
        connector = PartnerCenterConnector(self.provider, Path(os.devnull), sleep=self.sleep)
        try:
            self.documents = connector._listed(self.client)
        except ConnectorError as error:
            return CheckStep(COLLECTION, FAILED, f"GET /v1/invoices failed: {error}")
        items = [i for page in self.seen.collection_pages for i in (json_field(page, "items") or [])]
        invoices = [i for i in items if isinstance(i, dict)]
        notes = [n for i in invoices for n in json_field(i, "amendments") or [] if isinstance(n, dict)]
        ids = [str(json_field(entry, "id") or "") for entry in invoices + notes]
        unread = [invoice_id or "(no id)" for invoice_id in ids if not INVOICE_ID_PATTERN.fullmatch(invoice_id)]
        documents = list(self.documents.values())
        count = len(documents)
        pages = len(self.seen.collection_pages)
        found = (
            f"{_plural(count, 'document')} ({_plural(len(invoices), 'item')} on {_plural(pages, 'page')}, "
            f"{_plural(len(notes), 'note')} nested in amendments)"
        )
        if not documents:
            return CheckStep(COLLECTION, WARNING, f"{found}: Partner Center lists no invoice for this partner yet")
        status, said = OK, []
        lacking = {
            name: [i for i, d in self.documents.items() if not _present(json_field(d, name))]
            for name in (*HEADER_FIELDS, "documentType")
        }
        periods = sum(all(_present(json_field(d, name)) for name in PERIOD_FIELDS) for d in documents)
        fields = ", ".join(f"{name} {count - len(without)}/{count}" for name, without in lacking.items())
        said.append(
            f"fields: id {len(ids) - len(unread)}/{len(ids)}, {fields}, {'/'.join(PERIOD_FIELDS)} {periods}/{count}"
        )
        for name, column in HEADER_FIELDS.items():
            if lacking[name]:
                status = FAILED
                said.append(
                    f"{name} missing in {_first(lacking[name])}: their header.json would lack {column}, the import "
                    "puts them in Error"
                )
        if lacking["documentType"]:
            said.append("a document without documentType is taken as an invoice")
        if periods < count:
            said.append(
                f"without {'/'.join(PERIOD_FIELDS)} (Microsoft's collection example has none) the connector takes the "
                "billing period from the span of the lines' charge dates, the invoice date for a document without lines"
            )
        kinds = Counter(str(json_field(d, "documentType") or "(none)") for d in documents)
        said.append("document types: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())))
        unknown = sorted(kind for kind in kinds if kind != "(none)" and not _known_document_type(kind))
        if unknown:
            status = WARNING if status == OK else status
            said.append(
                f"document types the pipeline does not know ({', '.join(unknown)}): import those as manual invoices"
            )
        currencies = Counter(str(json_field(d, "currencyCode") or "(none)") for d in documents)
        said.append("currencies: " + ", ".join(f"{code} {n}" for code, n in sorted(currencies.items())))
        if unread:
            status = WARNING if status == OK else status
            said.append(f"never imported, their id is not one the pipeline reads: {_first(unread)}")
        return CheckStep(COLLECTION, status, f"{found}; " + "; ".join(said))

    def chosen(self) -> str | CheckStep:
        """The invoice to download: the one asked for, else the newest by invoiceDate; or the FAILED download step."""
        if self.invoice_id is not None:
            if self.invoice_id in self.documents:
                return self.invoice_id
            return CheckStep(
                DOWNLOAD,
                FAILED,
                f"invoice {self.invoice_id} is not in the invoice collection (GET /v1/invoices); it lists "
                f"{_listed_ids(self.documents)}",
            )
        return max(self.documents, key=lambda i: (str(json_field(self.documents[i], "invoiceDate") or ""), i))

    def needs_export(self, invoice_id: str) -> bool:
        details = json_field(self.documents[invoice_id], "invoiceDetails") or []
        providers = {str(json_field(d, "billingProvider") or "").lower() for d in details if isinstance(d, dict)}
        return bool(providers & NEW_COMMERCE_PROVIDERS)

    # 5. and 6. one invoice downloaded, its totals

    def download(self, invoice_id: str) -> Iterator[CheckStep]:
        document = self.documents[invoice_id]
        which = (
            f"invoice {invoice_id}"
            if self.invoice_id
            else f"invoice {invoice_id} (the newest by invoiceDate, {json_field(document, 'invoiceDate')})"
        )
        self.seen.exports.clear()
        self.seen.v1_pages.clear()
        with tempfile.TemporaryDirectory(prefix="invoice-pipeline-check-") as folder:
            connector = _ObservedConnector(self.provider, Path(folder), sleep=self.sleep, seen=self.seen)
            started = time.monotonic()
            try:
                files = connector.fetch_invoice(invoice_id)
            except ConnectorError as error:
                exports = self.seen.exports_text(complete=False)
                said = str(error).removeprefix(f"invoice {invoice_id}: ")  # the error names the invoice too
                yield CheckStep(DOWNLOAD, FAILED, f"{which}: {said} (so far: {exports})")
                yield CheckStep(TOTALS, SKIPPED, "the download failed")
                return
            seconds = time.monotonic() - started
            yield self.downloaded(which, files, document, seconds)
            yield self.totals(files)

    def downloaded(self, which: str, files: InvoiceFiles, document: dict[str, Any], seconds: float) -> CheckStep:
        header = _header(files)
        status = OK
        said = [f"{which} downloaded by the connector into a temporary folder in {seconds:.1f} s"]
        said.append(self.seen.exports_text(complete=True))
        counts, details = [], []
        for summary, name in SUMMARIES:
            path = files.header_path.parent / name
            if not path.is_file():
                counts.append(f"{summary} 0 lines")
                continue
            rows = 0
            with path.open(newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    rows += 1
                    if rows <= SAMPLE_LINES:
                        details.append(_sample(summary, row))
            counts.append(f"{summary} {_plural(rows, 'line')}")
        said.append(", ".join(counts))
        aggregates = files.header_path.parent / CONSUMPTION_AGGREGATES_FILE
        if aggregates.is_file():
            with aggregates.open(newline="", encoding="utf-8") as handle:
                kept = sum(1 for _ in csv.DictReader(handle))
            said.append(
                f"{_plural(kept, 'Azure consumption aggregate')} of the reconciliation set aside (detailed in the "
                "daily-rated usage)"
            )
        period = (header.get("billing_period_start"), header.get("billing_period_end"))
        if all(period):
            derived = " (from the lines)" if counts != ["usage 0 lines", "license 0 lines"] else " (its invoice date)"
            origin = "" if all(_present(json_field(document, n)) for n in PERIOD_FIELDS) else derived
            said.append(f"billing period {period[0]} to {period[1]}{origin}")
        else:
            status = FAILED
            said.append("header.json has no billing period: the import would put the invoice in Error")
        said.append(f"document type {header.get('document_type', '(none)')}")
        if not details and not _voids(header, has_lines=False):
            status = WARNING if status == OK else status
            said.append("no line items: an invoice without lines")
        return CheckStep(DOWNLOAD, status, "; ".join(said), tuple(details))

    def totals(self, files: InvoiceFiles) -> CheckStep:
        header = _header(files)
        currency = str(header.get("currency") or "")
        try:
            total = Decimal(str(header.get("total_amount")))
            tax = Decimal(str(header.get("tax_amount") or "0"))
        except InvalidOperation:
            return CheckStep(TOTALS, FAILED, f"header.json's total_amount {header.get('total_amount')!r} is no amount")
        sums: dict[str, Decimal] = {}
        other_currencies: Counter[str] = Counter()
        for summary, name in SUMMARIES:
            path = files.header_path.parent / name
            sums[summary] = Decimal(0)
            if not path.is_file():
                continue
            with path.open(newline="", encoding="utf-8") as handle, localcontext() as exact:
                exact.prec = 80  # the sum is exact
                for row in csv.DictReader(handle):
                    try:
                        sums[summary] += Decimal(row["amount"])
                    except InvalidOperation:
                        return CheckStep(
                            TOTALS, FAILED, f"line {row['line_id']}: amount {row['amount']!r} is not a decimal"
                        )
                    if row["currency"] != currency:
                        other_currencies[row["currency"]] += 1
        with localcontext() as exact:
            exact.prec = 80
            lines = sums["usage"] + sums["license"]
            provider_total = total + tax
        header_said = (
            f"header total_amount {total} {currency} (Partner Center's totalCharges {provider_total} less the lines' "
            f"tax, tax_amount {tax})"
        )
        lines_said = f"lines {lines} exactly (usage {sums['usage']} + license {sums['license']})"
        if _voids(header, has_lines=bool(files.line_files)):
            return CheckStep(TOTALS, OK, f"{header_said}; a note that voids the invoice it amends: no checksum")
        tolerance = self.provider.checksum_tolerance
        units = self.minor_units.get(currency)
        if units is None:
            difference = total - lines
            passed = abs(difference) <= tolerance
            verdict = (
                f"difference {difference} {currency} compared exactly: {currency} is not in the reference data's "
                "currencies (the import would not evaluate the checksum)"
            )
            status = WARNING if passed else FAILED
        else:
            checksum = check_checksum(
                header_total=total,
                usage_total=sums["usage"],
                license_total=sums["license"],
                currency=currency,
                minor_units=units,
                tolerance=tolerance,
            )
            passed = checksum.passed
            shown = f"{{:.{units}f}}"
            verdict = (
                f"in {currency}'s {units} decimals: lines {shown.format(checksum.lines_total)}, header "
                f"{shown.format(checksum.header_total)}, difference {shown.format(checksum.difference)} {currency} "
                f"(tolerance {tolerance})"
            )
            status = OK if passed else FAILED
        if not passed:
            verdict += "; beyond the tolerance: the import would put the invoice in Error"
        said = [header_said, lines_said, verdict]
        if other_currencies:
            status = FAILED
            said.append(
                "lines in another currency than the header's: "
                + ", ".join(f"{code or '(none)'} {n}" for code, n in sorted(other_currencies.items()))
            )
        return CheckStep(TOTALS, status, "; ".join(said))


def _known_document_type(text: str) -> bool:
    try:
        parse_document_type(text)
    except ValueError:
        return False
    return True


def _first(ids: list[str], shown: int = 5) -> str:
    """Some ids, then how many more."""
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def _listed_ids(documents: Mapping[str, Any]) -> str:
    return _first(sorted(documents), 10) if documents else "none"


def _header(files: InvoiceFiles) -> dict[str, Any]:
    header = json.loads(files.header_path.read_text(encoding="utf-8"))
    return header if isinstance(header, dict) else {}


def _voids(header: Mapping[str, Any], *, has_lines: bool) -> bool:
    """Whether the downloaded document withdraws the invoice it amends (then the import checks no totals)."""
    try:
        document = parse_document_type(str(header.get("document_type") or "invoice"))
    except ValueError:
        return False
    return voids_amended_invoice(document, has_lines=has_lines)


def _sample(summary: str, row: Mapping[str, str]) -> str:
    return (
        f"{summary} {row.get('line_id')}: customer {row.get('customer_id')}, subscription {row.get('subscription_id')}"
        f", product {row.get('product_id')}, charged {row.get('charge_start_date')} to {row.get('charge_end_date')}, "
        f"amount {row.get('amount')} {row.get('currency')}"
    )
