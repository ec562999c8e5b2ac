"""Microsoft Partner Center: its settings, OAuth client, v1 invoices and line items, v2 asynchronous export,
mapping, and the `providers check` command's steps."""
