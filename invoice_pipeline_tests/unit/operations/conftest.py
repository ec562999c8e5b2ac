"""The unit tier's fixtures for the operations: a configuration and an in-memory warehouse (see `fakes`)."""

from invoice_pipeline_tests.fakes import config_fixture, warehouse_fixture

__all__ = ["config_fixture", "warehouse_fixture"]  # pytest finds fixtures in a conftest's names
