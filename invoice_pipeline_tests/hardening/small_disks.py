"""Small disks for fault tests: a tmpfs mounted for the test (root may mount one; skipped, saying why, else)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs at `folder` with mount `options` (e.g. `size=6m`, `ro,size=1m`), unmounted afterwards."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
