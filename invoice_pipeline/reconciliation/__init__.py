"""Reconciliation: what the providers charged against what the customers are billed, per billing period."""
