"""Microsoft's documented Partner Center examples as the fake serves them, and invoices derived from them.

The data below is copied from Microsoft's documentation: the Markdown source of the learn.microsoft.com pages
`partner-center/developer/<page>` (GitHub MicrosoftDocs/partner-center-sdk, `develop/<page>.md`, commit de1e685,
2021-07-15). Values are verbatim: a JSON number is an exact Decimal (an integer an int), a JSON string a string
(Microsoft writes some amounts as strings, "720"). Only the items of each documented response are kept: the fake
builds the envelope (`totalCount`, `links`, continuation tokens) and pages itself.

Two kinds of functions return `FakeInvoice`s for `PartnerCenterFake`:

- `documented_*`: the examples as Microsoft publishes them, inconsistencies included (what the import makes of
  them is the test's to say: test_partner_center_documented_examples.py);
- `derived_*`: invoices made from the examples and made consistent; each change is said where it is made.

Microsoft documents no "org:" customer id, no empty chargeEndDate and no credit-and-rebill JSON (research notes
of #28): the derived invoices that use them say so. The derived invoices carry a billing period, as GET_INVOICE_BY_ID's
example does; the fake's invoice collection lists it only with `faults.collection_billing_periods` (GET_INVOICES'
example has none), else the connector takes the span of the lines' charges.
"""

from __future__ import annotations

import copy
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

from invoice_pipeline.demo.partner_center_fake.invoices import FakeInvoice, make_invoice
from invoice_pipeline.demo.partner_center_fake.server import Faults

_T = TypeVar("_T")

DOCS = "https://learn.microsoft.com/en-us/partner-center/developer/"
GET_INVOICES = DOCS + "get-a-collection-of-invoices"
GET_INVOICE_BY_ID = DOCS + "get-invoice-by-id"
GET_LINE_ITEMS = DOCS + "get-invoiceline-items"
GET_BILLED_CONSUMPTION = DOCS + "get-invoice-billed-consumption-lineitems"
INVOICE_RESOURCES = DOCS + "invoice-resources"
THROTTLING = DOCS + "api-throttling-guidance"
RECONCILIATION_FILE = "https://learn.microsoft.com/en-gb/partner-center/modern-invoice-reconciliation-file"

# THROTTLING, "Documented 429 example": `HTTP/1.1 429 Too Many Requests`, `Retry-After: 57`, body
# `{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }`. The fake's throttling
# fault (server.py) answers that very body and header when its retry_after is "57": see `documented_throttling`.
THROTTLED_RETRY_AFTER = "57"
THROTTLED_BODY: dict[str, Any] = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}

# GET_INVOICES, "Response example": the two items of the collection, verbatim. D02005YFHI: a Recurring GBP invoice
# with Office billing lines. G000024130: a CHF *void note* that names no invoice it voids (no amendsOf) yet lists
# one-time billing lines; nested in its `amendments`, G000024131, an adjustment note with `amendsOf` G000024130
# whose invoiceDetail has no links. Neither item has billingPeriodStartDate or billingPeriodEndDate (the Invoice
# resource has both: INVOICE_RESOURCES); the example's `Content-Length: 256` is not its body's length either.
COLLECTION_ITEMS: list[dict[str, Any]] = [
    {
        "id": "D02005YFHI",
        "invoiceDate": "2017-01-21T00:00:00Z",
        "totalCharges": Decimal("24606.35"),
        "paidAmount": 1000,
        "currencyCode": "GBP",
        "currencySymbol": "£",
        "pdfDownloadLink": "/invoices/D02005YFHI/documents/statement",
        "taxReceipts": [
            {
                "id": "123456",
                "taxReceiptPdfDownloadLink": "/invoices/D02005YFHI/receipts/123456/documents/statement",
            },
        ],
        "invoiceDetails": [
            {
                "invoiceLineItemType": "billing_line_items",
                "billingProvider": "office",
                "links": {
                    "self": {
                        "uri": "/invoices/Recurring-D02005YFHI/lineitems/Office/BillingLineItems",
                        "method": "GET",
                        "headers": [],
                    },
                },
                "attributes": {
                    "objectType": "InvoiceDetail",
                },
            },
        ],
        "documentType": "invoice",
        "invoiceType": "Recurring",
        "links": {
            "self": {
                "uri": "/invoices/Recurring-D02005YFHI",
                "method": "GET",
                "headers": [],
            },
        },
        "attributes": {
            "objectType": "Invoice",
        },
    },
    {
        "id": "G000024130",
        "invoiceDate": "2018-02-08T01:22:47.603895Z",
        "totalCharges": 586366,
        "paidAmount": 0,
        "currencyCode": "CHF",
        "currencySymbol": "CHF",
        "pdfDownloadLink": "/invoices/G000024130/documents/statement",
        "taxReceipts": [
            {
                "id": "234567",
                "taxReceiptPdfDownloadLink": "/invoices/G000024130/receipts/234567/documents/statement",
            },
        ],
        "invoiceDetails": [
            {
                "invoiceLineItemType": "billing_line_items",
                "billingProvider": "one_time",
                "links": {
                    "self": {
                        "uri": "/invoices/OneTime-G000024130/lineitems/OneTime/BillingLineItems",
                        "method": "GET",
                        "headers": [],
                    },
                },
                "attributes": {
                    "objectType": "InvoiceDetail",
                },
            },
        ],
        "amendments": [
            {
                "id": "G000024131",
                "invoiceDate": "2018-02-08T18:44:37.5381456Z",
                "totalCharges": Decimal("107661.12"),
                "paidAmount": 0,
                "currencyCode": "CHF",
                "currencySymbol": "CHF",
                "invoiceDetails": [
                    {
                        "invoiceLineItemType": "billing_line_items",
                        "billingProvider": "one_time",
                        "attributes": {
                            "objectType": "InvoiceDetail",
                        },
                    },
                ],
                "documentType": "adjustment_note",
                "amendsOf": "G000024130",
                "invoiceType": "OneTime",
                "attributes": {
                    "objectType": "Invoice",
                },
            },
        ],
        "documentType": "void_note",
        "invoiceType": "OneTime",
        "links": {
            "self": {
                "uri": "/invoices/OneTime-G000024130",
                "method": "GET",
                "headers": [],
            },
        },
        "attributes": {
            "objectType": "Invoice",
        },
    },
]

# GET_INVOICE_BY_ID, "Response example", verbatim: G000024135, USD 2076.63, February 2018, one-time billing lines.
# GET_LINE_ITEMS' request examples 4 and 5 ask for this invoice's one-time lines (ONE_TIME_ITEMS below). Partner
# Center answers GET /v1/invoices/{id} to App+User credentials only: the fake refuses it (v1.py) and serves this
# body as an item of the invoice collection, where the connector reads every header.
INVOICE_BY_ID: dict[str, Any] = {
    "id": "G000024135",
    "invoiceDate": "2018-02-08T22:40:37.5897767Z",
    "billingPeriodStartDate": "2018-02-01T22:40:37.5897767Z",
    "billingPeriodEndDate": "2018-02-28T22:40:37.5897767Z",
    "totalCharges": Decimal("2076.63"),
    "paidAmount": 0,
    "currencyCode": "USD",
    "currencySymbol": "$",
    "pdfDownloadLink": "/invoices/G000024135/documents/statement",
    "taxReceipts": [
        {
            "id": "123456",
            "taxReceiptPdfDownloadLink": "/invoices/G000024135/receipts/123456/documents/statement",
        },
    ],
    "invoiceDetails": [
        {
            "invoiceLineItemType": "billing_line_items",
            "billingProvider": "one_time",
            "links": {
                "self": {
                    "uri": "/invoices/OneTime-G000024135/lineitems/OneTime/BillingLineItems",
                    "method": "GET",
                    "headers": [],
                },
            },
            "attributes": {
                "objectType": "InvoiceDetail",
            },
        },
    ],
    "documentType": "invoice",
    "invoiceType": "OneTime",
    "links": {
        "self": {
            "uri": "/invoices/OneTime-G000024135",
            "method": "GET",
            "headers": [],
        },
    },
    "attributes": {
        "objectType": "Invoice",
    },
}

# GET_LINE_ITEMS, "Response example 1" (provider=Office, BillingLineItems of invoice 1234000000), the two items
# verbatim: LicenseBasedLineItems with upper-case GUIDs (customerId, syndicationPartnerSubscriptionNumber,
# durableOfferId), dates without a zone, every amount 0.0. (Its next link ends `&offset=` with no number.)
# Response examples 2 and 3 (provider=Azure: legacy UsageBasedLineItem and DailyUsageLineItem) are not served:
# the fake has no provider=azure route (v1.py answers 400) and the connector refuses an invoice whose
# invoiceDetails name them before asking for any line (see `documented_legacy_azure_invoice`).
LICENSE_BASED_ITEMS: list[dict[str, Any]] = [
    {
        "partnerId": "3b33e682-00c3-41ee-9dd2-a548adf56438",
        "customerId": "74221236-D09C-4870-AC1D-33E155E9AEBE",
        "customerName": "TSTAGIN1CUST190",
        "mpnId": 4391507,
        "tier2MpnId": -1,
        "orderId": "567735045559164136",
        "subscriptionId": "4KIKawEAAAAAAAEA",
        "syndicationPartnerSubscriptionNumber": "1F58ACD7-FE51-4705-9567-D009C9ADA150",
        "offerId": "AAA5B3F0-0EE2-431B-A42F-3F18F3C6D540",
        "durableOfferId": "2F707C7C-2433-49A5-A437-9CA7CF40D3EB",
        "offerName": "EXCHANGE ONLINE (PLAN 2)",
        "domainName": "TStagin1Cust190.onmicrosoft.com",
        "billingCycleType": "MONTHLY",
        "subscriptionName": "EXCHANGE ONLINE (PLAN 2)",
        "subscriptionDescription": "EXCHANGE ONLINE (PLAN 2)",
        "subscriptionStartDate": "2017-05-12T00:00:00",
        "subscriptionEndDate": "2018-06-10T00:00:00",
        "chargeStartDate": "2017-05-12T00:00:00",
        "chargeEndDate": "2017-06-09T00:00:00",
        "chargeType": "New",
        "unitPrice": Decimal("0.0"),
        "quantity": 3,
        "amount": Decimal("0.0"),
        "totalOtherDiscount": Decimal("0.0"),
        "subtotal": Decimal("0.0"),
        "tax": Decimal("0.0"),
        "totalForCustomer": Decimal("0.0"),
        "currency": "USD",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "office",
        "attributes": {
            "objectType": "LicenseBasedLineItem",
        },
    },
    {
        "partnerId": "3b33e682-00c3-41ee-9dd2-a548adf56438",
        "customerId": "74221236-D09C-4870-AC1D-33E155E9AEBE",
        "customerName": "TSTAGIN1CUST190",
        "mpnId": 4391507,
        "tier2MpnId": -1,
        "orderId": "567735045564795186",
        "subscriptionId": "Ik4YawEAAAAAAAEA",
        "syndicationPartnerSubscriptionNumber": "D8A8F773-9D3E-4244-8797-3182075F09FA",
        "offerId": "618B53FE-9B99-428B-9745-F706AEAF3979",
        "durableOfferId": "69C67983-CF78-4102-83F6-3E5FD246864F",
        "offerName": "SHAREPOINT ONLINE (PLAN 2)",
        "domainName": "TStagin1Cust190.onmicrosoft.com",
        "billingCycleType": "MONTHLY",
        "subscriptionName": "SHAREPOINT ONLINE (PLAN 2)",
        "subscriptionDescription": "SHAREPOINT ONLINE (PLAN 2)",
        "subscriptionStartDate": "2017-05-13T00:00:00",
        "subscriptionEndDate": "2018-06-10T00:00:00",
        "chargeStartDate": "2017-05-13T00:00:00",
        "chargeEndDate": "2017-06-09T00:00:00",
        "chargeType": "New",
        "unitPrice": Decimal("0.0"),
        "quantity": 1,
        "amount": Decimal("0.0"),
        "totalOtherDiscount": Decimal("0.0"),
        "subtotal": Decimal("0.0"),
        "tax": Decimal("0.0"),
        "totalForCustomer": Decimal("0.0"),
        "currency": "USD",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "office",
        "attributes": {
            "objectType": "LicenseBasedLineItem",
        },
    },
]

# GET_LINE_ITEMS, "Response example 4" (provider=OneTime, BillingLineItems of G000024135), the three items verbatim.
# The documented body is not JSON: after `"continuationToken": "..."` come two stray `{` lines, and after the items'
# `]` a stray `}` and `],`. Repaired by deleting those four lines and putting the comma after the items' `]`; the
# three items are untouched by the repair. "Response example 5" (seekOperation=Next, the next page) has the same two
# stray `{` and `}`/`],` and repeats these three items exactly: serving both pages would bill each line twice, so
# the fake serves each item once and makes its own seek pages. Microsoft's own inconsistencies, kept:
# - item 1 (Phone System) and item 2 (Power BI) write numbers as strings ("720"), item 3 as numbers (820);
# - item 2: subtotal "720" + taxTotal "73" = totalForCustomer "793" (consistent);
# - item 3: subtotal 820, taxTotal 0, totalForCustomer 0 (820 + 0 is not 0); invoiceNumber T000773581 while items 1
#   and 2 say G000773581 and the request asked G000024135; chargeStartDate with a -08:00 offset and 7 decimal
#   places of seconds; the only documented line with a meterDescription and a fractional billableQuantity
#   (3.1618, quantity 1), and it has a reservationOrderId;
# - items 1 and 2 have a reservationOrderId too, although they are licences.
ONE_TIME_ITEMS: list[dict[str, Any]] = [
    {
        "partnerId": "934f3416-bc2f-47f3-b492-77e517d4e572",
        "customerId": "c139c4bf-2e8b-4ab5-8bed-d9f50dcca7a2",
        "customerName": "Test_Test_Office R2 Reduce Seats Validation",
        "customerDomainName": "testcustomerr2t2reduce.onmicrosoft.com",
        "customerCountry": "US",
        "invoiceNumber": "G000773581",
        "mpnId": "5357564",
        "resellerMpnId": "4649221",
        "orderId": "94e858b6d855",
        "orderDate": "2021-05-20T18:30:06.6045692Z",
        "productId": "CFQ7TTC0LH0R",
        "skuId": "0002",
        "availabilityId": "CFQ7TTC0K5RQ",
        "productName": "Microsoft 365 Phone System - Virtual User",
        "skuName": "Microsoft 365 Phone System - Virtual User",
        "productQualifiers": [
            "AddOn",
            "Trial",
        ],
        "chargeType": "new",
        "unitPrice": "0",
        "effectiveUnitPrice": "0",
        "unitType": "",
        "quantity": "25",
        "subtotal": "0",
        "taxTotal": "0",
        "totalForCustomer": "0",
        "currency": "USD",
        "publisherName": "Microsoft Corporation",
        "publisherId": "",
        "subscriptionDescription": "",
        "subscriptionId": "86646af9-e80a-4aa0-da80-3fd2b792c2cc",
        "subscriptionStartDate": "2021-05-20T00:00:00Z",
        "subscriptionEndDate": "2021-06-19T00:00:00Z",
        "chargeStartDate": "2021-05-20T00:00:00Z",
        "chargeEndDate": "2021-06-19T00:00:00Z",
        "termAndBillingCycle": "One-Month commitment for trial",
        "alternateId": "94e858b6d855",
        "referenceId": "0cf1202a-5b7d-4219-966e-93c637113708",
        "priceAdjustmentDescription": "",
        "discountDetails": "",
        "pricingCurrency": "USD",
        "pcToBCExchangeRate": "1",
        "pcToBCExchangeRateDate": "2021-05-01T00:00:00",
        "billableQuantity": "25",
        "meterDescription": "",
        "billingFrequency": "",
        "reservationOrderId": "99f246cf-ed96-41b4-b0cd-0aa43eb1fe91",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "promotionId": "",
        "attributes": {
            "objectType": "OneTimeInvoiceLineItem",
        },
    },
    {
        "partnerId": "934f3416-bc2f-47f3-b492-77e517d4e572",
        "customerId": "835a59a7-3172-47b5-bdef-d9cc65f4d0e4",
        "customerName": "TEST_TEST Test Promotions 01",
        "customerDomainName": "kyletestpromos01.onmicrosoft.com",
        "customerCountry": "US",
        "invoiceNumber": "G000773581",
        "mpnId": "5357564",
        "resellerMpnId": "0",
        "orderId": "5f9d52bb1408",
        "orderDate": "2021-05-20T18:48:30.6168285Z",
        "productId": "CFQ7TTC0HL8W",
        "skuId": "0001",
        "availabilityId": "CFQ7TTC0K59S",
        "productName": "Power BI Premium Per User",
        "skuName": "Power BI Premium Per User",
        "productQualifiers": [],
        "chargeType": "new",
        "unitPrice": "16",
        "effectiveUnitPrice": "14.4",
        "unitType": "",
        "quantity": "50",
        "subtotal": "720",
        "taxTotal": "73",
        "totalForCustomer": "793",
        "currency": "USD",
        "publisherName": "Microsoft Corporation",
        "publisherId": "",
        "subscriptionDescription": "",
        "subscriptionId": "9d7d1f3d-c8de-461c-db6d-91debd5129f0",
        "subscriptionStartDate": "2021-05-20T00:00:00Z",
        "subscriptionEndDate": "2022-05-19T00:00:00Z",
        "chargeStartDate": "2021-05-20T00:00:00Z",
        "chargeEndDate": "2021-06-19T00:00:00Z",
        "termAndBillingCycle": "One-Year commitment for monthly/yearly billing",
        "alternateId": "5f9d52bb1408",
        "referenceId": "28b535e0-68f4-40b5-84f7-8ed9241eb149",
        "priceAdjustmentDescription": (
            '["Price for given billing period","You are getting a discount due to a pre-determined override.","You are '
            'getting a discount for being a partner.","You are getting a price guarantee for your price.","Price for '
            'given term"]'
        ),
        "discountDetails": "",
        "pricingCurrency": "USD",
        "pcToBCExchangeRate": "1",
        "pcToBCExchangeRateDate": "2021-05-01T00:00:00",
        "billableQuantity": "50",
        "meterDescription": "",
        "billingFrequency": "Monthly",
        "reservationOrderId": "8fdebb4a-7110-496e-9570-623e4c992797",
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "promotionId": "78bcf906-b945-4210-8818-cfb93caf12a1",
        "attributes/objectType": "OneTimeInvoiceLineItem",
        "attributes": {
            "objectType": "OneTimeInvoiceLineItem",
        },
    },
    {
        "partnerId": "934f3416-bc2f-47f3-b492-77e517d4e572",
        "customerId": "c139c4bf-2e8b-4ab5-8bed-d9f50dcca7a2",
        "customerName": "Test_Test_Office R2 Reduce Seats Validation",
        "customerDomainName": "testcustomerr2t2reduce.onmicrosoft.com",
        "customerCountry": "US",
        "invoiceNumber": "T000773581",
        "mpnId": "1234567",
        "resellerMpnId": 0,
        "orderId": "HJVtMZMkgQ2miuCiNv0RSr51zQDans0m1",
        "orderDate": "2019-02-04T17:59:52.9460102Z",
        "productId": "DZH318Z0BXWC",
        "skuId": "0002",
        "availabilityId": "DZH318Z0BP8B",
        "productName": "Test WAF-as-a-Service",
        "skuName": "Test WaaS - Medium Plan",
        "chargeType": "New",
        "unitPrice": 820,
        "effectiveUnitPrice": 820,
        "unitType": "",
        "quantity": 1,
        "subtotal": 820,
        "taxTotal": 0,
        "totalForCustomer": 0,
        "currency": "USD",
        "publisherName": "Test Networks, Inc.",
        "publisherId": "21223810",
        "subscriptionDescription": "",
        "subscriptionId": "12345678-9cf0-4a1f-9514-7fcc7fe9d1fe",
        "subscriptionStartDate": "2019-02-01T00:00:00Z",
        "subscriptionEndDate": "2020-01-31T00:00:00Z",
        "chargeStartDate": "2019-02-04T09:22:40.1767993-08:00",
        "chargeEndDate": "2019-03-03T09:22:40.1767993-08:00",
        "termAndBillingCycle": "1 Year Subscription",
        "alternateId": "123456ad566",
        "priceAdjustmentDescription": '["15.0% Partner earned credit for services managed"]',
        "discountDetails": "",
        "pricingCurrency": "USD",
        "pcToBCExchangeRate": 1,
        "pcToBCExchangeRateDate": "2019-08-01T00:00:00Z",
        "billableQuantity": Decimal("3.1618"),
        "meterDescription": "Bandwidth - Data Transfer In (GB) - Zone 2",
        "reservationOrderId": "883d475b-0000-1234-0000-8818752f1234",
        "attributes": {
            "objectType": "OneTimeInvoiceLineItem",
        },
    },
]

# GET_BILLED_CONSUMPTION, "Response example 1" (invoice T000001234, provider=onetime, usagelineitems,
# currencycode=usd, period=previous), the two items verbatim: billingPreTaxTotal with 15 decimal places
# (0.486031696515249 = unitPrice 0.0209496384791679 x quantity 23.200004 rounded to 15 places; 0.490235765325545 =
# 0.0209951014286867 x 23.350007), and an empty customerId, customerName, customerDomainName and productId.
DAILY_RATED_ITEMS: list[dict[str, Any]] = [
    {
        "partnerId": "2b8940db-5089-539c-e757-520ed1d1bc88",
        "partnerName": "",
        "customerId": "",
        "customerName": "",
        "customerDomainName": "",
        "invoiceNumber": "T000001234",
        "productId": "",
        "skuId": "",
        "availabilityId": "",
        "skuName": "Test Test on Windows 2012 R2 (WebHost)",
        "productName": "Test Test on Windows",
        "publisherName": "Test",
        "publisherId": "28503520",
        "subscriptionId": "12345678-9d62-4a85-8fd0-91a87c261bc4",
        "subscriptionDescription": "Subscription 10",
        "chargeStartDate": "2018-11-01T00:00:00Z",
        "chargeEndDate": "2018-12-01T00:00:00Z",
        "usageDate": "2018-11-13T00:00:00Z",
        "meterType": "1 Compute Hour - 1core",
        "meterCategory": "Virtual Machine Licenses",
        "meterId": "1core",
        "meterSubCategory": "Test Test on Windows",
        "meterName": "Test Test on Windows - Test Test on Windows 2012 R2 (WebHost) - 1 Core Hours",
        "meterRegion": "",
        "unitOfMeasure": "1 Hour",
        "resourceLocation": "EASTUS2",
        "consumedService": "Microsoft.Compute",
        "resourceGroup": "TestWINRG",
        "resourceUri": (
            "/subscriptions/12345678-9d62-4a85-8fd0-91a87c261bc4/resourceGroups/TestWINRG/providers/Microsoft.Compute/"
            "virtualMachines/testWinTest"
        ),
        "tags": "",
        "additionalInfo": (
            '{  "ImageType": null,  "ServiceType": "Standard_B1s",  "VMName": null,  "VMProperties": null,  '
            '"UsageType": "ComputeHR_SW"}'
        ),
        "serviceInfo1": "",
        "serviceInfo2": "",
        "customerCountry": "",
        "mpnId": "1234567",
        "resellerMpnId": "",
        "chargeType": "new",
        "unitPrice": Decimal("0.0209496384791679"),
        "quantity": Decimal("23.200004"),
        "unitType": "1 Hour",
        "billingPreTaxTotal": Decimal("0.486031696515249"),
        "billingCurrency": "USD",
        "pricingPreTaxTotal": Decimal("0.486031696515249"),
        "pricingCurrency": "USD",
        "creditType": "Credit Not Applied",
        "invoiceLineItemType": "usage_line_items",
        "billingProvider": "marketplace",
        "attributes": {
            "objectType": "DailyRatedUsageLineItem",
        },
    },
    {
        "partnerId": "2b8940db-5089-539c-e757-520ed1d1bc88",
        "partnerName": "",
        "customerId": "",
        "customerName": "",
        "customerDomainName": "",
        "invoiceNumber": "T000001234",
        "productId": "",
        "skuId": "",
        "availabilityId": "",
        "skuName": "Test Test on Ubuntu 16.04 (WebHost)",
        "productName": "Test Test on Linux",
        "publisherName": "Test",
        "publisherId": "28503520",
        "subscriptionId": "12345678-9d62-4a85-8fd0-91a87c261bc4",
        "subscriptionDescription": "Subscription 10",
        "chargeStartDate": "2018-11-01T00:00:00Z",
        "chargeEndDate": "2018-12-01T00:00:00Z",
        "usageDate": "2018-11-13T00:00:00Z",
        "meterType": "1 Compute Hour - 1core",
        "meterCategory": "Virtual Machine Licenses",
        "meterId": "1core",
        "meterSubCategory": "Test Test on Linux",
        "meterName": "Test Test on Linux - Test Test on Ubuntu 16.04 (WebHost) - 1 Core Hours",
        "meterRegion": "",
        "unitOfMeasure": "1 Hour",
        "resourceLocation": "EASTUS",
        "consumedService": "Microsoft.Compute",
        "resourceGroup": "TESTRG",
        "resourceUri": (
            "/subscriptions/12345678-9d62-4a85-8fd0-91a87c261bc4/resourceGroups/TestRG/providers/Microsoft.Compute/"
            "virtualMachines/testUbuntuTest"
        ),
        "tags": "",
        "additionalInfo": (
            '{  "ImageType": null,  "ServiceType": "Standard_B1s",  "VMName": null,  "VMProperties": null,  '
            '"UsageType": "ComputeHR_SW"}'
        ),
        "serviceInfo1": "",
        "serviceInfo2": "",
        "customerCountry": "",
        "mpnId": "1234567",
        "resellerMpnId": "",
        "chargeType": "new",
        "unitPrice": Decimal("0.0209951014286867"),
        "quantity": Decimal("23.350007"),
        "unitType": "1 Hour",
        "billingPreTaxTotal": Decimal("0.490235765325545"),
        "billingCurrency": "USD",
        "pricingPreTaxTotal": Decimal("0.490235765325545"),
        "pricingCurrency": "USD",
        "entitlementId": "66bada28-271e-4b7a-aaf5-c0ead6312345",
        "entitlementDescription": "Partner Subscription",
        "pcToBCExchangeRate": 1,
        "pcToBCExchangeRateDate": "2019-08-01T00:00:00Z",
        "effectiveUnitPrice": Decimal("0.1999968000511991808131"),
        "rateOfPartnerEarnedCredit": 0,
        "rateOfCredit": 1,
        "creditType": "Azure Credit Applied",
        "invoiceLineItemType": "usage_line_items",
        "billingProvider": "marketplace",
        "attributes": {
            "objectType": "DailyRatedUsageLineItem",
        },
    },
]

# GET_BILLED_CONSUMPTION, "Response example 2" (seekoperation=next), its one item verbatim: the first item of
# response example 1 again (same meter, day, quantity and billingPreTaxTotal), now with the entitlement fields and
# "Partner Earned Credit Applied" (rateOfPartnerEarnedCredit 0.15, effectiveUnitPrice 0.1835431430074643112595, 22
# places, although unitPrice is still 0.0209496384791679), and without invoiceLineItemType and billingProvider.
# Served after response example 1's page it would count the Windows line twice: it is used alone, as the corrected
# rating of that line in the credit-and-rebill sequence (`derived_credit_and_rebill`).
DAILY_RATED_NEXT_PAGE_ITEM: dict[str, Any] = {  # response example 1's first item, with what example 2 changes
    **{
        key: value
        for key, value in DAILY_RATED_ITEMS[0].items()
        if key not in ("invoiceLineItemType", "billingProvider", "creditType", "attributes")
    },
    "entitlementId": "66bada28-271e-4b7a-aaf5-c0ead6312345",
    "entitlementDescription": "Partner Subscription",
    "pcToBCExchangeRate": 1,
    "pcToBCExchangeRateDate": "2019-08-01T00:00:00Z",
    "effectiveUnitPrice": Decimal("0.1835431430074643112595"),
    "rateOfPartnerEarnedCredit": Decimal("0.15"),
    "rateOfCredit": Decimal("0.15"),
    "creditType": "Partner Earned Credit Applied",
    "attributes": {
        "objectType": "DailyRatedUsageLineItem",
    },
}


# The derived invoices' dates: (invoiceDate, billingPeriodStartDate, billingPeriodEndDate). A billing period is a
# calendar month and its invoice is out by the eighth (learn.microsoft.com/en-us/partner-center/azure-plan-billing).
MAY_2017 = ("2017-06-08T00:00:00Z", "2017-05-01T00:00:00Z", "2017-05-31T00:00:00Z")  # example 1's charges
MAY_2021 = ("2021-06-08T00:00:00Z", "2021-05-01T00:00:00Z", "2021-05-31T00:00:00Z")  # example 4's items 1, 2
NOVEMBER_2018 = ("2018-12-08T00:00:00Z", "2018-11-01T00:00:00Z", "2018-11-30T00:00:00Z")  # the daily-rated lines'

# GET_LINE_ITEMS, response example 3: customer 9E9B71BA-3442-458B-B519-E1CCF72FBB54, "600 TEST",
# test600.onmicrosoft.com. The daily-rated examples leave the customer empty; the derived invoices give their lines
# this one, written `org:` + the upper-case GUID: a form Microsoft documents nowhere (#28's research found none), the
# one the connector's mapping accepts (mapping.normalise_customer_id).
ORG_CUSTOMER_ID = "org:9E9B71BA-3442-458B-B519-E1CCF72FBB54"
ORG_CUSTOMER = {
    "customerId": ORG_CUSTOMER_ID,
    "customerName": "600 TEST",
    "customerDomainName": "test600.onmicrosoft.com",
}


def _copy(value: _T) -> _T:
    return copy.deepcopy(value)


def _dated(invoice: FakeInvoice, dates: tuple[str, str, str]) -> FakeInvoice:
    invoice_date, start, end = dates
    invoice.invoice |= {"invoiceDate": invoice_date, "billingPeriodStartDate": start, "billingPeriodEndDate": end}
    return invoice


def documented_throttling(faults: Faults, requests: int) -> None:
    """Throttle the fake's next `requests` API, Graph or blob requests as THROTTLING's example answers: 429,
    `Retry-After: 57` and THROTTLED_BODY (the connector waits at most its max_retry_after_seconds)."""
    faults.throttled = requests
    faults.retry_after = THROTTLED_RETRY_AFTER


# As documented ----------------------------------------------------------------------------------------------------


def documented_collection() -> list[FakeInvoice]:
    """GET_INVOICES' example as documented: D02005YFHI, the void note G000024130 and, nested in its amendments, the
    adjustment note G000024131."""
    d02005yfhi, g000024130 = _copy(COLLECTION_ITEMS)
    # The collection example names no line items. D02005YFHI's invoiceDetail asks for Office billing lines: it gets
    # GET_LINE_ITEMS example 1's (documented for invoice 1234000000), unchanged. G000024130 and G000024131 have no
    # documented lines: none are served.
    return [
        FakeInvoice(d02005yfhi, license_based=_copy(LICENSE_BASED_ITEMS)),
        FakeInvoice(g000024130),
        FakeInvoice(_copy(g000024130["amendments"][0]), nested=True),
    ]


def documented_invoice_by_id() -> FakeInvoice:
    """GET_INVOICE_BY_ID's G000024135 as documented, with the three one-time lines GET_LINE_ITEMS' example 4 gives
    for it (its JSON repaired, see ONE_TIME_ITEMS)."""
    return FakeInvoice(_copy(INVOICE_BY_ID), one_time=_copy(ONE_TIME_ITEMS))


def documented_daily_rated_invoice() -> FakeInvoice:
    """T000001234 with GET_BILLED_CONSUMPTION's example 1 lines as documented: 15 decimal places, no customer."""
    # Microsoft documents no header for T000001234: make_invoice's (totalCharges the lines' 0.486031696515249 +
    # 0.490235765325545 = 0.976267461840794, in cents 0.98), dated November 2018.
    return _dated(make_invoice("T000001234", daily_rated=_copy(DAILY_RATED_ITEMS)), NOVEMBER_2018)


def documented_legacy_azure_invoice() -> FakeInvoice:
    """1234000000, the invoice GET_LINE_ITEMS' examples 1 to 3 read: Office billing lines (example 1) and the legacy
    Azure billing and usage lines of examples 2 and 3 (provider=Azure)."""
    # Microsoft documents no header for 1234000000: make_invoice's with example 1's lines, its invoiceDetails also
    # naming the kinds examples 2 and 3 ask for (azure billing_line_items, azure usage_line_items), totalCharges
    # example 2's postTaxTotal 69.67 (pretaxCharges 63.33 + taxAmount 6.34 + 0; example 1's lines are 0.0, example 3
    # has no amounts), dated May 2017 (example 1's charges).
    invoice = make_invoice("1234000000", license_based=_copy(LICENSE_BASED_ITEMS), total_charges="69.67")
    invoice.invoice["invoiceDetails"] += [
        {"invoiceLineItemType": item_type, "billingProvider": "azure", "attributes": {"objectType": "InvoiceDetail"}}
        for item_type in ("billing_line_items", "usage_line_items")
    ]
    return _dated(invoice, MAY_2017)


# Derived ----------------------------------------------------------------------------------------------------------


def derived_licence_invoice() -> FakeInvoice:
    """D02005YFHI made consistent with the Office lines it is served (GET_LINE_ITEMS example 1: upper-case customer,
    subscription and offer GUIDs)."""
    # Changed from the collection example's D02005YFHI (make_invoice's header): currency USD (GBP documented; the
    # lines are USD); totalCharges 0.00 (24606.35 documented; the lines' subtotals 0.0 + 0.0, tax 0.0 + 0.0); the
    # billing period May 2017 added (none documented; the charges start 2017-05-12 and 2017-05-13); invoiceDate
    # 2017-06-08 (2017-01-21 documented, before the charges).
    return _dated(make_invoice("D02005YFHI", license_based=_copy(LICENSE_BASED_ITEMS)), MAY_2017)


def derived_taxed_invoice() -> FakeInvoice:
    """G000773581, a taxed new-commerce invoice: GET_LINE_ITEMS example 4's Phone System line (0, no tax) and Power BI
    line (subtotal 720, taxTotal 73, totalForCustomer 793)."""
    phone_system, power_bi, _ = _copy(ONE_TIME_ITEMS)
    # Changed: the invoice is the lines' invoiceNumber, G000773581 (example 4 asked for G000024135, whose documented
    # total 2076.63 adds up none of its lines); item 3 is left out (its invoiceNumber is T000773581); the header is
    # make_invoice's: totalCharges = subtotals 0 + 720 + taxTotal 0 + 73 = 793.00, dated May 2021 (the charges start
    # 2021-05-20).
    return _dated(make_invoice("G000773581", one_time=[phone_system, power_bi]), MAY_2021)


def reconciliation_subtotal(daily: dict[str, Any]) -> Decimal:
    """What the invoice reconciliation bills for the usage of one daily-rated line: RECONCILIATION_FILE's Subtotal,
    usage-based, `ROUNDDOWN(ROUNDDOWN(EffectiveUnitPrice * BillableQuantity, 2) * PCToBCExchangeRate, 2)`, with the
    line's unitPrice (the documented effectiveUnitPrice values do not multiply to their billingPreTaxTotal)."""
    cents = Decimal("0.01")
    rate = Decimal(daily.get("pcToBCExchangeRate", 1))
    usage = Decimal(daily["unitPrice"]) * Decimal(daily["quantity"])
    return (usage.quantize(cents, ROUND_DOWN) * rate).quantize(cents, ROUND_DOWN)


def consumption_aggregate(daily: dict[str, Any]) -> dict[str, Any]:
    """The invoice reconciliation's line summing the usage of one daily-rated line, derived from GET_LINE_ITEMS
    example 4's item 3 (quantity 1, the units in billableQuantity, the meter in meterDescription)."""
    aggregate = _copy(ONE_TIME_ITEMS[2])
    # Removed: reservationOrderId (Azure plan usage is no reservation; the connector sets aside a line with a
    # meterDescription and no reservationOrderId as usage the daily-rated lines detail). Changed: who, what and
    # when from the daily-rated line, the units and the meter from it, subtotal by RECONCILIATION_FILE's rule, and
    # totalForCustomer = subtotal + taxTotal 0 (documented: 820 + 0 = 0). Kept: quantity 1, the product ids.
    del aggregate["reservationOrderId"]
    subtotal = reconciliation_subtotal(daily)
    same = (
        *("customerId", "customerName", "customerDomainName", "invoiceNumber", "subscriptionId", "productName"),
        *("skuName", "publisherName", "publisherId", "chargeStartDate", "chargeEndDate", "unitPrice"),
    )
    return (
        aggregate
        | {name: daily[name] for name in same}
        | {
            "effectiveUnitPrice": daily["unitPrice"],
            "billableQuantity": daily["quantity"],
            "meterDescription": daily["meterName"],
            "subtotal": subtotal,
            "totalForCustomer": subtotal + Decimal(aggregate["taxTotal"]),
        }
    )


def derived_azure_plan_invoice(*, total_from_reconciliation: bool = False) -> FakeInvoice:
    """T000001234, its usage in both datasets: GET_BILLED_CONSUMPTION example 1's daily-rated lines (15 decimal
    places) and, in the invoice reconciliation, one `consumption_aggregate` per line.

    totalCharges is make_invoice's, the daily-rated usage once: 0.486031696515249 + 0.490235765325545 =
    0.976267461840794, in cents 0.98. With `total_from_reconciliation`, the reconciliation's subtotals instead
    (ROUNDDOWN per meter: 0.48 + 0.49 = 0.97), what RECONCILIATION_FILE's rules make the invoice's total."""
    # Changed on the daily-rated lines: the customer (empty documented) is ORG_CUSTOMER.
    windows, linux = (_copy(item) | ORG_CUSTOMER for item in DAILY_RATED_ITEMS)
    aggregates = [consumption_aggregate(windows), consumption_aggregate(linux)]
    total = sum((a["subtotal"] + Decimal(a["taxTotal"]) for a in aggregates), Decimal(0))
    invoice = make_invoice(
        "T000001234",
        one_time=aggregates,
        daily_rated=[windows, linux],
        total_charges=str(total) if total_from_reconciliation else None,
    )
    return _dated(invoice, NOVEMBER_2018)


def derived_credit_and_rebill(note_type: str = "void_note") -> tuple[FakeInvoice, FakeInvoice, FakeInvoice]:
    """Credit-and-rebill after GET_INVOICES' void note G000024130 and its adjustment note G000024131: the original
    (`derived_azure_plan_invoice`, T000001234, 0.98), the note voiding it without line items, and the replacement,
    nested in the note's amendments, which bills the Windows line again and the Linux line no more.

    `note_type`: "void_note" as GET_INVOICES' example writes it, or "Credit Note" as INVOICE_RESOURCES' documentType
    does (a credit note without line items voids the invoice it amends too)."""
    original = derived_azure_plan_invoice()
    # The replacement: GET_BILLED_CONSUMPTION example 2's item (the Windows line with Partner Earned Credit recorded,
    # billingPreTaxTotal unchanged 0.486031696515249) and its consumption aggregate (0.48). Changed: the customer
    # (ORG_CUSTOMER), invoiceNumber G000024131; as documented: documentType adjustment_note, amendsOf G000024130.
    # make_invoice's header: totalCharges 0.486031696515249 in cents, 0.49; USD (CHF 107661.12 documented).
    windows = _copy(DAILY_RATED_NEXT_PAGE_ITEM) | ORG_CUSTOMER | {"invoiceNumber": "G000024131"}
    replacement = make_invoice(
        "G000024131",
        one_time=[consumption_aggregate(windows)],
        daily_rated=[windows],
        document_type="adjustment_note",
        amends_of="G000024130",
        nested=True,
    )
    # The note: documentType as `note_type`; changed: amendsOf T000001234 added (the documented void note names no
    # invoice, so nothing would say what it voids), no invoiceDetails (documented: one-time billing lines, which the
    # connector would not read for a void note anyway), totalCharges -0.98, the original's total withdrawn (586366
    # CHF documented), USD.
    note = make_invoice(
        "G000024130",
        total_charges=str(-original.invoice["totalCharges"]),
        document_type=note_type,
        amends_of=original.invoice_id,
    )
    note.invoice["amendments"] = [replacement.invoice]
    return original, _dated(note, NOVEMBER_2018), _dated(replacement, NOVEMBER_2018)
