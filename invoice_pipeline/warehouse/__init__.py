"""The warehouse: invoice records, history, notes and line summaries (DuckDB or PostgreSQL)."""
