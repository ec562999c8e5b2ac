"""invoice-pipeline: import and validate provider invoices with Dagster."""
