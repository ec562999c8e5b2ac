"""The import of provider invoices: reading provider files, deciding what to sync, the import itself."""
