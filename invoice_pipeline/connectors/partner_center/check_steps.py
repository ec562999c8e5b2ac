"""A step of `providers check`: its name, how it ended and what it found (see `check.py`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

OK, WARNING, FAILED, SKIPPED = "ok", "warning", "FAILED", "skipped"
CONFIGURATION = "configuration"
PARTNER_CENTER_TOKEN = "token for Partner Center"
GRAPH_TOKEN = "token for Graph"
COLLECTION = "invoice collection"
DOWNLOAD = "download"
TOTALS = "totals"
STEPS = (CONFIGURATION, PARTNER_CENTER_TOKEN, GRAPH_TOKEN, COLLECTION, DOWNLOAD, TOTALS)


@dataclass(frozen=True)
class CheckStep:
    """One step of the check: its name, how it ended, what it found in one line, and further lines (samples)."""

    name: str
    status: str  # ok | warning | FAILED | skipped
    message: str
    details: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        """Whether this step FAILED (the command then exits 1)."""
        return self.status == FAILED

    def lines(self) -> list[str]:
        """As printed: `status <TAB> step <TAB> what was found`, then each detail indented by two spaces."""
        return [f"{self.status}\t{self.name}\t{self.message}", *(f"  {detail}" for detail in self.details)]

    def as_json(self) -> dict[str, Any]:
        """As `--json` prints it."""
        return asdict(self) | {"details": list(self.details)}


def plural(count: int, word: str) -> str:
    """`count` and the word, in the plural unless it is one."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def present(value: Any) -> bool:
    """Whether a field of Partner Center's answer holds something."""
    return value not in (None, "")
