"""Tests of the provider connectors."""
