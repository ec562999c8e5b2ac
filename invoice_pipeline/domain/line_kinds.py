"""A provider invoice line's kind: metered usage, or licence seats.

Its value is the word the files, the warehouse's tables, the Dagster assets and the contract terms use for it.
"""

from __future__ import annotations

from enum import StrEnum


class LineKind(StrEnum):
    """The kind of a provider invoice's line: each kind has its own summary file, table and asset."""

    USAGE = "usage"
    LICENSE = "license"
