"""The Dagster layer: assets, checks, jobs and resources over the import rules."""
