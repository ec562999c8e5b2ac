"""Provider invoice statuses: the status reasons and the record state each implies.

Which changes each status allows is the lifecycle's table, `domain.lifecycle`.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A provider invoice's status reason."""

    POPULATING = "Populating"
    ACTIVE = "Active"
    ERROR = "Error"
    INACTIVE = "Inactive"

    @property
    def state(self) -> str:
        """The record state: Populating and Active are active records; Error and Inactive are inactive."""
        return "Active" if self in (Status.POPULATING, Status.ACTIVE) else "Inactive"


NOT_IMPORTED = "not imported"
DELETED = "Deleted"  # recorded in the history when a record is deleted; not a status a record can have


def parse_status(value: str) -> Status:
    """The status named by `value`, case-insensitively; ValueError lists the valid ones."""
    for status in Status:
        if status.value.lower() == value.strip().lower():
            return status
    valid = ", ".join(s.value for s in Status)
    raise ValueError(f"unknown status {value!r}; use one of {valid}")
