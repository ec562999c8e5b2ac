"""Provider connectors: how invoices reach the pipeline (folder drops, Partner Center)."""
