"""Pandera schemas: what valid headers, line summaries and reference data are."""
