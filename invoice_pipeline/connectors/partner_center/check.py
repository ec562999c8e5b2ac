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

import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from invoice_pipeline.connectors.base import ConfiguredProvider, ConnectorContext, ConnectorError
from invoice_pipeline.connectors.line_file_limits import LineFileLimits
from invoice_pipeline.connectors.partner_center.answers import field as json_field
from invoice_pipeline.connectors.partner_center.check_download import PERIOD_FIELDS, downloaded_step, totals_step
from invoice_pipeline.connectors.partner_center.check_observer import (
    Observations,
    ObservedConnector,
    ObservingClient,
)
from invoice_pipeline.connectors.partner_center.check_steps import (
    COLLECTION,
    CONFIGURATION,
    DOWNLOAD,
    FAILED,
    GRAPH_TOKEN,
    OK,
    PARTNER_CENTER_TOKEN,
    SKIPPED,
    STEPS,
    TOTALS,
    WARNING,
    CheckStep,
    plural,
    present,
)
from invoice_pipeline.connectors.partner_center.client import GRAPH_SCOPE, PARTNER_CENTER_SCOPE, TokenGrant
from invoice_pipeline.connectors.partner_center.connector import NEW_COMMERCE_PROVIDERS, PartnerCenterConnector
from invoice_pipeline.connectors.partner_center.settings import PartnerCenterConnectorSettings
from invoice_pipeline.domain.invoice_keys import INVOICE_ID_PATTERN
from invoice_pipeline.domain.provider_documents import parse_document_type

# The Graph application permission the v2 billing exports need (Graph partners-billing export, "Permissions").
EXPORT_PERMISSION = "PartnerBilling.Read.All"
# The collection fields the connector relies on, and what it does without each.
HEADER_FIELDS = {
    "invoiceDate": "invoice_date",
    "totalCharges": "total_amount",
    "currencyCode": "currency",
}


class CheckedProvider(ConfiguredProvider, Protocol):
    """A provider as the check reads it (the configuration's ProviderConfig is one)."""

    @property
    def connector(self) -> str:
        """The name of its connector."""
        ...

    @property
    def checksum_tolerance(self) -> Decimal:
        """The checksum difference its invoices are allowed."""
        ...

    @property
    def line_file_limits(self) -> LineFileLimits:
        """The limits its line files are held to."""
        ...


def not_partner_center(provider: CheckedProvider) -> str | None:
    """Why the check cannot run for this provider (it is not read from Partner Center), or None when it can."""
    if isinstance(provider.settings, PartnerCenterConnectorSettings):
        return None
    return (
        f"provider {provider.id} uses the {provider.connector} connector: the check talks to Microsoft Partner "
        f"Center only; see what the folder offers with `invoice-pipeline providers invoices {provider.id}`"
    )


def check_partner_center(
    provider: CheckedProvider,
    *,
    invoice_id: str | None = None,
    minor_units: Mapping[str, int] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[CheckStep]:
    """Every step of the check (see `run_checks`)."""
    return list(run_checks(provider, invoice_id=invoice_id, minor_units=minor_units, sleep=sleep))


def run_checks(
    provider: CheckedProvider,
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


class _Check:
    """One run of the check: the steps in order, what each learnt for the next, what to skip after a failure."""

    def __init__(
        self,
        provider: CheckedProvider,
        invoice_id: str | None,
        minor_units: dict[str, int],
        sleep: Callable[[float], None],
    ) -> None:
        assert isinstance(provider.settings, PartnerCenterConnectorSettings)  # not_partner_center said so
        self.provider = provider
        self.settings = provider.settings.partner_center
        # Listing writes nothing: no downloads folder of use until the download step gives a temporary one.
        self.context = ConnectorContext(provider.id, provider.line_file_limits, Path(os.devnull))
        self.invoice_id = invoice_id
        self.minor_units = minor_units
        self.sleep = sleep
        self.secret = os.environ.get(self.settings.client_secret_env) or ""
        self.seen = Observations()
        self.client: ObservingClient | None = None
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
        self.client = ObservingClient(self.settings, self.secret, sleep=self.sleep, seen=self.seen)
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
        # The documents exactly as the connector lists them (pages, notes nested in amendments).
        connector = PartnerCenterConnector(self.settings, self.context, sleep=self.sleep)
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
            f"{plural(count, 'document')} ({plural(len(invoices), 'item')} on {plural(pages, 'page')}, "
            f"{plural(len(notes), 'note')} nested in amendments)"
        )
        if not documents:
            return CheckStep(COLLECTION, WARNING, f"{found}: Partner Center lists no invoice for this partner yet")
        status, said = OK, []
        lacking = {
            name: [i for i, d in self.documents.items() if not present(json_field(d, name))]
            for name in (*HEADER_FIELDS, "documentType")
        }
        periods = sum(all(present(json_field(d, name)) for name in PERIOD_FIELDS) for d in documents)
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
            context = replace(self.context, downloads=Path(folder))
            connector = ObservedConnector(self.settings, context, sleep=self.sleep, seen=self.seen)
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
            yield downloaded_step(which, files, document, seconds, self.seen)
            yield totals_step(files, self.provider.checksum_tolerance, self.minor_units)


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
