"""Provider files replaced while an invoice is imported: its line files are read twice (validated, then published),
so the import checks they did not change in between and stores nothing when they did."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoice_pipeline.connectors.base import InvoiceFiles


def no_files_read() -> None:
    """No provider file was read, so none can have changed."""


class ProviderFileChanged(Exception):
    """A provider file was replaced while it was being imported; nothing was stored."""


def unchanged_check(files: InvoiceFiles) -> Callable[[], None]:
    """A check that raises ProviderFileChanged when a line file's size or modification time differs from now."""

    def fingerprints() -> dict[Path, tuple[int, int] | None]:
        found: dict[Path, tuple[int, int] | None] = {}
        for path in files.line_files.values():
            try:
                stat = path.stat()
                found[path] = (stat.st_size, stat.st_mtime_ns)
            except FileNotFoundError:
                found[path] = None
        return found

    before = fingerprints()

    def check() -> None:
        changed = [path.name for path, seen in fingerprints().items() if seen != before[path]]
        if changed:
            raise ProviderFileChanged(
                f"{', '.join(changed)} changed while the invoice was being imported; nothing was stored, "
                "run it again once the provider's files are complete"
            )

    return check
