"""A note attached to a provider invoice: a file a person opens (in a spreadsheet, when it is CSV).

The rules that find something write one, the warehouse keeps them with the invoice's record, the adapters show
them; writing them to files and making their cells safe is `validation.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Note:
    """A file attached to an invoice's notes, e.g. the Missing References `errors.csv`."""

    title: str
    file_name: str
    content: str
