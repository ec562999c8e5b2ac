"""What one provider line file may hold, and sizes in bytes as the configuration writes them (1MB, 50GB).

Every connector hands its line files over with these limits; the fingerprint pass holds each file to them before
anything parses it (`base.line_files_fingerprint`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

DEFAULT_LINE_FILE_SIZE_LIMIT = 50 * 1000**3  # 50 GB
DEFAULT_LINE_LENGTH_LIMIT = 1000**2  # 1 MB
MIN_LINE_LENGTH_LIMIT = 1000
# DuckDB reads a CSV in buffers 16 times its longest line (and drops a last line longer than them): kept small.
MAX_LINE_LENGTH_LIMIT = 16 * 1000**2
_BYTE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_BYTE_UNITS |= {"KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
_BYTE_SIZE_PATTERN = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


@dataclass(frozen=True)
class LineFileLimits:
    """What one provider line file may hold (a file beyond either is refused whole, never truncated): its size in
    bytes (decompressed for .csv.gz) and its longest line in bytes (CSV)."""

    file_size: int = DEFAULT_LINE_FILE_SIZE_LIMIT
    line_length: int = DEFAULT_LINE_LENGTH_LIMIT


def byte_size(value: object, key: str) -> int:
    """A size in bytes from a configuration value: a whole number of bytes, or a number with a unit (B, KB, MB, GB,
    TB by powers of 1000; KiB, MiB, GiB, TiB by powers of 1024), e.g. 50GB or 1MB."""
    hint = f"{key} must be a size such as 1MB, 50GB or 1048576 (bytes)"
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(hint)
    if isinstance(value, int):
        size = value
    else:
        match = _BYTE_SIZE_PATTERN.fullmatch(value)
        if not match or match.group(2).upper() not in _BYTE_UNITS:
            raise ValueError(hint)
        size = int(Decimal(match.group(1)) * _BYTE_UNITS[match.group(2).upper()])
    if size < 1:
        raise ValueError(f"{key} must be at least 1 byte")
    return size


def byte_size_text(size: int) -> str:
    """A size as a person reads it: 1 MB, 50 GB, 1.5 MB; else bytes."""
    for unit in ("TB", "TIB", "GB", "GIB", "MB", "MIB", "KB", "KIB"):
        amount = Decimal(size) / _BYTE_UNITS[unit]
        if amount >= 1 and amount == amount.quantize(Decimal("0.1")):
            return f"{amount.normalize():f} {unit.replace('I', 'i')}"
    return f"{size} bytes"
