"""The demo's data: its tenant and app, its customers, and invoices with line items as Partner Center describes them.

`make_invoice` and the line builders also build the invoices tests serve; `demo_invoices` are the two the demo serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

DEMO_TENANT_ID = "11111111-2222-3333-4444-555555555555"
DEMO_CLIENT_ID = "demo-client-id"
DEMO_CLIENT_SECRET = "demo"
NORTHWIND = "7f3c2a10-1b7e-4c55-9a51-2d1f0e6b8a01"
ADVENTURE_WORKS = "0b9d4e22-6c3a-4f1d-8e27-9a5c3b7d1e02"
TAILSPIN = "c41e8f33-2d9b-4a6e-b318-7e2f4a9c5d03"


@dataclass
class FakeInvoice:
    """One invoice and its line items, by kind; `v2_datasets` are the exports that have data for it."""

    invoice: dict[str, Any]
    license_based: list[dict[str, Any]] = field(default_factory=list)
    one_time: list[dict[str, Any]] = field(default_factory=list)
    daily_rated: list[dict[str, Any]] = field(default_factory=list)
    v2_datasets: set[str] = field(default_factory=lambda: {"reconciliation", "daily_rated"})
    nested: bool = False  # listed only inside its original's `amendments`, as Microsoft's collection example shows

    @property
    def invoice_id(self) -> str:
        """The invoice number."""
        return str(self.invoice["id"])


def _invoice(invoice_id: str, invoice_type: str, details: list[tuple[str, str]], lines_total: Decimal) -> dict:
    return {
        "id": invoice_id,
        "invoiceDate": "2026-11-05T01:22:47.603895Z",
        "billingPeriodStartDate": "2026-10-01T00:00:00Z",
        "billingPeriodEndDate": "2026-10-31T00:00:00",
        "totalCharges": lines_total.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN),
        "paidAmount": Decimal(0),
        "currencyCode": "USD",
        "currencySymbol": "$",
        "pdfDownloadLink": f"/invoices/{invoice_id}/documents/statement",
        "invoiceDetails": [
            {
                "invoiceLineItemType": item_type,
                "billingProvider": provider,
                "links": {"self": {"uri": f"/invoices/{invoice_id}/lineitems", "method": "GET", "headers": []}},
            }
            for provider, item_type in details
        ],
        "documentType": "invoice",
        "invoiceType": invoice_type,
        "amendments": [],
        "attributes": {"objectType": "Invoice"},
    }


def _parties(customer: str) -> dict[str, str]:
    return {
        "partnerId": "3b2d6f0a-0000-4000-8000-000000000001",
        "customerId": customer,
        "customerName": "Customer " + customer[:4],
    }


def license_based_line(customer: str, subscription: str, offer: str, quantity: int, unit_price: str) -> dict:
    """A LicenseBasedLineItem (v1, office) for October 2026, without discount."""
    amount = Decimal(unit_price) * quantity
    return {
        **_parties(customer),
        "orderId": "ORD-" + subscription,
        "subscriptionId": "BP-" + subscription,  # the billing platform's id (invoice-resources)
        # The legacy offer id and the durable one the product is known by (invoice-resources: durableOfferId).
        "offerId": "LEGACY-" + offer,
        "durableOfferId": offer,
        "syndicationPartnerSubscriptionNumber": subscription,  # the Partner Center subscription
        "offerName": offer.replace("-", " "),
        "domainName": "customer.onmicrosoft.com",
        "billingCycleType": "Monthly",
        "subscriptionName": offer,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00Z",
        "chargeType": "Cycle fee",
        "unitPrice": Decimal(unit_price),
        "quantity": quantity,
        "amount": amount,
        "totalOtherDiscount": Decimal("0.00"),
        "subtotal": amount,
        "tax": Decimal("0.00"),
        "totalForCustomer": amount,
        "currency": "USD",
    }


def one_time_line(
    customer: str, subscription: str, product: str, charge_type: str, quantity: int, price: str, tax: str = "0.00"
) -> dict:
    """A OneTimeInvoiceLineItem (new commerce), as v1 and the reconciliation export describe it; `tax` is its
    taxTotal ("Gets or sets the taxes charged"; totalForCustomer is subtotal plus tax, as in Microsoft's example of
    subtotal 720, taxTotal 73, totalForCustomer 793 on get-invoiceline-items)."""
    subtotal = Decimal(price) * quantity
    return {
        **_parties(customer),
        "customerDomainName": "customer.onmicrosoft.com",
        "customerCountry": "US",
        "invoiceNumber": "G200000002",
        "mpnId": "1234567",
        "orderId": "ORD-" + subscription,
        "orderDate": "2026-10-01T00:00:00Z",
        "productId": product,
        "skuId": "0001",
        "availabilityId": "CFQ7TTC0LFK5",
        "productName": product.replace("-", " "),
        "skuName": product.replace("-", " "),
        "chargeType": charge_type,
        "unitPrice": Decimal(price),
        "effectiveUnitPrice": Decimal(price),
        "unitType": "Licenses",
        "quantity": quantity,
        "subtotal": subtotal,
        "taxTotal": Decimal(tax),
        "totalForCustomer": subtotal + Decimal(tax),
        "currency": "USD",
        "publisherName": "Microsoft Corporation",
        "subscriptionId": subscription,
        "subscriptionDescription": product,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00Z",
        "termAndBillingCycle": "1 Month Subscription",
        "priceAdjustmentDescription": '["Promotion: 0%"]',
        "billableQuantity": Decimal(quantity),
        "billingFrequency": "Monthly",
        "pricingCurrency": "USD",
        "pcToBCExchangeRate": Decimal(1),
        "meterDescription": "",
        "reservationOrderId": "",
        "creditReasonCode": "",
        "referenceId": "",
    }


def azure_plan_reconciliation_line(
    customer: str, subscription: str, meter: str, billable_quantity: str, subtotal: str, tax: str = "0.00"
) -> dict:
    """The invoice reconciliation's aggregate of one Azure plan meter for the month: quantity 1, the units in
    billableQuantity, the meter in meterDescription ("the meter description for consumption line item",
    invoice-resources); the same charge is detailed day by day in the daily-rated usage."""
    line = one_time_line(customer, subscription, "DZH318Z0BQ3P", "new", 1, subtotal, tax)
    return line | {
        "productName": "Azure plan",
        "skuName": "Azure plan",
        "availabilityId": "DZH318Z0BQ3P",
        "unitType": "",
        "billableQuantity": Decimal(billable_quantity),
        "meterDescription": meter,
        "termAndBillingCycle": "",
    }


def daily_rated_line(customer: str, subscription: str, day: int, meter: str, quantity: str, price: str) -> dict:
    """A DailyRatedUsageLineItem (Azure plan) for one day of October 2026."""
    total = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.000001"))
    return {
        **_parties(customer),
        "invoiceNumber": "",
        "productId": "AZURE-PLAN",
        "skuId": "0001",
        "availabilityId": "DZH318Z0BQ3P",
        "skuName": "Microsoft Azure plan",
        "productName": "Azure plan",
        "publisherName": "Microsoft",
        "subscriptionId": subscription,
        "chargeStartDate": "2026-10-01T00:00:00Z",
        "chargeEndDate": "2026-10-31T00:00:00",
        "usageDate": f"2026-10-{day:02d}T00:00:00Z",
        "meterType": "1 Compute Hour",
        "meterCategory": "Virtual Machines",
        "meterId": "m-" + meter.lower().replace(" ", "-"),
        "meterSubCategory": "Dv5 Series",
        "meterName": meter,
        "meterRegion": "EU West",
        "unitOfMeasure": "1 Hour",
        "resourceLocation": "westeurope",
        "consumedService": "Microsoft.Compute",
        "resourceGroup": "rg-prod",
        "resourceUri": f"/subscriptions/{subscription}/resourceGroups/rg-prod/providers/Microsoft.Compute/vm1",
        "tags": {"env": "prod", "costCenter": "CC-42"},
        "additionalInfo": '{"ServiceType": "Standard_D2s_v5"}',
        "chargeType": "new",
        "unitPrice": Decimal(price),
        "quantity": Decimal(quantity),
        "unitType": "1 Hour",
        "billingPreTaxTotal": total,
        "billingCurrency": "USD",
        "pricingPreTaxTotal": total,
        "pricingCurrency": "USD",
        "effectiveUnitPrice": Decimal(price),
        "pcToBCExchangeRate": Decimal(1),
        "entitlementId": subscription,
        "rateOfPartnerEarnedCredit": Decimal(0),
        "rateOfCredit": Decimal(0),
        "creditType": "Credit Not Applicable",
    }


def make_invoice(
    invoice_id: str,
    *,
    license_based: list[dict] | None = None,
    one_time: list[dict] | None = None,
    daily_rated: list[dict] | None = None,
    v2_datasets: set[str] | None = None,
    total_adjustment: str = "0",
    total_charges: str | None = None,
    document_type: str = "invoice",
    amends_of: str | None = None,
    nested: bool = False,
) -> FakeInvoice:
    """An invoice whose totalCharges is what Microsoft bills for its lines: each charge once (the reconciliation's
    Azure plan aggregates are the daily-rated usage summed, so they are not added twice) plus tax, plus an
    adjustment; or `total_charges` as given (a credit note without line items). `amends_of` and a document type
    other than invoice make it a note (documentType and amendsOf, invoice-resources)."""
    license_based, one_time, daily_rated = license_based or [], one_time or [], daily_rated or []
    details = [("office", "billing_line_items")] if license_based else []
    details += [("one_time", "billing_line_items")] if one_time else []
    details += [("one_time", "usage_line_items")] if daily_rated else []
    charges = [Decimal(line["subtotal"]) for line in license_based]
    charges += [Decimal(line["subtotal"]) for line in one_time if not line.get("meterDescription")]
    charges += [Decimal(line["billingPreTaxTotal"]) for line in daily_rated]
    taxes = [Decimal(line["tax"]) for line in license_based] + [Decimal(line["taxTotal"]) for line in one_time]
    total = Decimal(total_charges) if total_charges is not None else sum(charges + taxes, Decimal(total_adjustment))
    invoice_type = "Recurring" if license_based else "OneTime"
    invoice = _invoice(invoice_id, invoice_type, details, total) | {"documentType": document_type}
    if amends_of is not None:
        invoice["amendsOf"] = amends_of
    return FakeInvoice(
        invoice,
        license_based,
        one_time,
        daily_rated,
        v2_datasets if v2_datasets is not None else {"reconciliation", "daily_rated"},
        nested,
    )


def demo_invoices() -> list[FakeInvoice]:
    """Two USD invoices for the demo's customers: both import Active against the demo reference data.

    G200000001: licence-based seats (v1, offset paging) and daily-rated usage (v2 export, several blobs).
    G200000002: new-commerce one-time lines (v2 export) and daily-rated usage the export has no data for
    (v1 with continuation tokens).
    """
    return [
        make_invoice(
            "G200000001",
            license_based=[
                license_based_line(NORTHWIND, "SUB-M365-1001", "M365-E3", 25, "36.00"),
                license_based_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", 12, "22.00"),
                license_based_line(TAILSPIN, "SUB-TEAMS-1003", "MS-TEAMS-ESS", 40, "4.00"),
            ],
            daily_rated=[
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 2, "D2s v5 VM", "24", "0.096"),
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 3, "Standard SSD LRS", "1520.5", "0.0184"),
                daily_rated_line(ADVENTURE_WORKS, "SUB-AZ-1002", 4, "D4s v5 VM", "24", "0.192"),
                daily_rated_line(ADVENTURE_WORKS, "SUB-AZ-1002", 5, "Blob Hot LRS", "310.25", "0.021"),
                daily_rated_line(TAILSPIN, "SUB-AZ-1003", 6, "SQL vCore", "88.75", "1.2"),
                daily_rated_line(TAILSPIN, "SUB-AZ-1003", 7, "SQL vCore", "12.125", "1.2"),
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 8, "D2s v5 VM", "0.0333333", "0.096"),
            ],
        ),
        make_invoice(
            "G200000002",
            one_time=[
                one_time_line(NORTHWIND, "SUB-M365-1001", "M365-E3", "new", 5, "36.00"),
                one_time_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", "renew", 12, "22.00"),
                one_time_line(ADVENTURE_WORKS, "SUB-M365-1002", "M365-BP", "cancel", 2, "-22.00"),
            ],
            daily_rated=[
                daily_rated_line(NORTHWIND, "SUB-AZ-1001", 10, "D2s v5 VM", "24", "0.096"),
                daily_rated_line(ADVENTURE_WORKS, "SUB-AZ-1002", 11, "D4s v5 VM", "12", "0.192"),
                daily_rated_line(TAILSPIN, "SUB-AZ-1003", 12, "SQL vCore", "3.5", "1.2"),
            ],
            v2_datasets={"reconciliation"},
        ),
    ]
