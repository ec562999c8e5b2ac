"""Microsoft Partner Center: OAuth client, v1 invoices and line items, v2 asynchronous export, mapping."""
