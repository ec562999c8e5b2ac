"""Provider invoices as dynamic partitions, keyed `provider:invoice_id`."""

import dagster as dg

provider_invoice_partitions = dg.DynamicPartitionsDefinition(name="provider_invoices")
