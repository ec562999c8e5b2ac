"""Validation rules: line schemas, references, checksum, and the notes they produce."""
