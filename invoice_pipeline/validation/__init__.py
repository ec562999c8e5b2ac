"""Validation rules run on an invoice's staged lines: line schemas, references, billing period, checksum; loading the
reference data they check against; the notes' files they produce."""
