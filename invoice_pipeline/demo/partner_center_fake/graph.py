"""The Graph billing export: export requests, their long-running operations and the manifests of their blobs."""

from __future__ import annotations

import json
from dataclasses import dataclass

from invoice_pipeline.demo.partner_center_fake.blobs import SAS_TOKEN, export_blobs
from invoice_pipeline.demo.partner_center_fake.handler import FakeRequestHandler
from invoice_pipeline.demo.partner_center_fake.invoices import DEMO_TENANT_ID

EXPORTS = {
    "/graph/v1.0/reports/partners/billing/reconciliation/billed/export": "reconciliation",
    "/graph/v1.0/reports/partners/billing/usage/billed/export": "daily_rated",
}


@dataclass
class ExportOperation:
    """One export request: the invoice and dataset it exports, and how many polls still answer `running`."""

    invoice_id: str
    dataset: str
    polls_left: int


class GraphRoutes(FakeRequestHandler):
    """The `/graph/...` routes."""

    def _graph(self, method: str, path: str) -> None:
        fake = self.fake
        if method == "POST" and path in EXPORTS:
            request = json.loads(self.body or b"{}")
            invoice_id = str(request.get("invoiceId", ""))
            if request.get("attributeSet") not in ("full", "basic"):
                return self._error(400, "attributeSet must be full or basic")
            if invoice_id in fake.faults.forbidden:
                return self._error(403, "Forbidden: PartnerBilling.Read.All is not granted")
            if invoice_id not in fake.invoices:
                return self._error(404, f"Invoice {invoice_id} was not found")
            operation_id = fake.next_id("op")
            fake.operations[operation_id] = ExportOperation(invoice_id, EXPORTS[path], fake.faults.running_polls)
            location = f"{fake.base_url}/graph/v1.0/reports/partners/billing/operations/{operation_id}"
            return self._send(202, b"", {"Location": location, "Retry-After": fake.faults.poll_retry_after})
        prefix = "/graph/v1.0/reports/partners/billing/"
        if method == "GET" and path.startswith(prefix + "operations/"):
            return self._operation(path.rsplit("/", 1)[-1])
        if method == "GET" and path.startswith(prefix + "manifests/"):
            return self._manifest(path.rsplit("/", 1)[-1])
        return self._error(404, f"no route {path}")

    def _operation(self, operation_id: str) -> None:
        operation = self.fake.operations.get(operation_id)
        if operation is None:
            return self._error(404, f"operation {operation_id} was not found")
        kind = "#microsoft.graph.partners.billing."
        stamps = {"createdDateTime": "2026-11-06T08:00:00Z", "lastActionDateTime": "2026-11-06T08:00:05Z"}
        if operation.polls_left > 0:
            operation.polls_left -= 1
            return self._json(
                200,
                {"@odata.type": kind + "runningOperation", "id": operation_id, "status": "running", **stamps},
                {"Retry-After": self.fake.faults.poll_retry_after},
            )
        failed = self.fake.faults.failed_exports
        failure = failed.get((operation.invoice_id, operation.dataset)) or failed.get(operation.invoice_id)
        if failure:
            return self._json(
                200,
                {
                    "@odata.type": kind + "failedOperation",
                    "id": operation_id,
                    "status": "failed",
                    **stamps,
                    "error": {"code": failure[0], "message": failure[1]},
                },
            )
        link = f"{self.fake.base_url}/graph/v1.0/reports/partners/billing/manifests/{operation_id}"
        self._json(
            200,
            {
                "@odata.type": kind + "exportSuccessOperation",
                "id": operation_id,
                "status": self.fake.faults.succeeded_status,
                **stamps,
                "resourceLocation@odata.navigationLink": link,
            },
        )

    def _manifest(self, operation_id: str) -> None:
        operation = self.fake.operations.get(operation_id)
        if operation is None:
            return self._error(404, f"manifest {operation_id} was not found")
        blobs = export_blobs(self.fake, operation.invoice_id, operation.dataset)
        root = (
            f"{self.fake.base_url}/blobs/billing/v1/PartnerTenantId={DEMO_TENANT_ID}/BillingMonth=202610/"
            f"InvoiceId={operation.invoice_id}/{operation.dataset}"
        )
        self._json(
            200,
            {
                "id": operation_id,
                "schemaVersion": "1",
                "dataFormat": self.fake.faults.manifest_data_format,
                "createdDateTime": "2026-11-06T08:00:05Z",
                "eTag": "fake-etag",
                "partnerTenantId": DEMO_TENANT_ID,
                "rootDirectory": root,
                "sasToken": SAS_TOKEN,
                "partitionType": "Default",
                "blobCount": len(blobs) + self.fake.faults.blob_count_off,
                "blobs": [{"name": name, "partitionValue": "default"} for name in blobs],
            },
        )
