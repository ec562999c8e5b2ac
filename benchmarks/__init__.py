"""Benchmarks for the import's data path (see BENCHMARKS.md)."""
