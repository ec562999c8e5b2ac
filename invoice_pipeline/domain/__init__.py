"""The domain's words and rules, with no engine, no framework and no configuration: statuses and the lifecycle,
invoice keys, money, billing periods and the pricing rule, provider documents, why an import failed, refusals, notes,
and what may be shown to a person (display, redaction)."""
