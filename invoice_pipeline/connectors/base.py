"""What every provider connector offers: the provider's invoices, and one invoice's files."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from invoice_pipeline.connectors.line_file_limits import LineFileLimits, byte_size_text
from invoice_pipeline.connectors.settings import ConnectorSettings

# What to do with an invoice a connector cannot read: there is no manual import of an automatic provider's invoice.
BY_HAND = (
    "this connector cannot import it: create it by hand under a manual provider (one with `sync: manual`) with "
    "`invoice-pipeline invoices create PROVIDER:ID`, then activate it (README: Manual operations)"
)


class ConnectorError(Exception):
    """The provider could not hand over an invoice; the message says what the provider answered."""


class ProviderFileRefused(ConnectorError):
    """A provider file that is never read (a link, not a regular file) or is refused whole (beyond a limit); the
    message names the file and why."""


# Read in pieces no longer than the smallest line length limit allows checking cheaply (see _LineScan.feed).
CHUNK_BYTES = 256 * 1024
PUT_IT_HERE = "put the file itself in the folder"
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def _refusal(name: str, mode: int) -> ProviderFileRefused | None:
    if stat.S_ISLNK(mode):
        return ProviderFileRefused(f"{name} is a link to somewhere else; {PUT_IT_HERE}")
    if stat.S_ISREG(mode):
        return None
    what = next((text for test, text in _NOT_REGULAR if test(mode)), "not a file")
    return ProviderFileRefused(f"{name} is {what}, not a regular file; {PUT_IT_HERE}")


def regular_file_status(path: Path) -> os.stat_result | None:
    """The file's status when it is a regular file (never following a link), None when there is nothing by that
    name; ProviderFileRefused naming it when it is a link (even to a regular file) or not a regular file."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    refused = _refusal(path.name, status.st_mode)
    if refused is not None:
        raise refused
    return status


def open_regular_file(path: Path) -> BinaryIO:
    """`path` opened for reading in binary, only when it is a regular file and not a link (ProviderFileRefused
    naming it otherwise; FileNotFoundError when it is gone). Checked before opening, so that a FIFO is never opened
    (it would block), and again on what was opened (O_NOFOLLOW, fstat), so that a swap in between is refused too."""
    if regular_file_status(path) is None:
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ProviderFileRefused(f"{path.name} is a link to somewhere else; {PUT_IT_HERE}") from None
        raise
    try:
        refused = _refusal(path.name, os.fstat(fd).st_mode)
        if refused is not None:
            raise refused
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


@dataclass(frozen=True)
class OfferedInvoice:
    """An invoice the provider offers, with its header total when the provider tells it."""

    invoice_id: str
    currency: str | None = None
    total_amount: Decimal | None = None


@dataclass(frozen=True)
class InvoiceFiles:
    """One provider invoice as files on local disk: its header and line summary files by kind."""

    invoice_id: str
    header_path: Path
    line_files: dict[str, Path] = field(default_factory=dict)
    limits: LineFileLimits = field(default_factory=LineFileLimits)  # what each line file may hold


@dataclass(frozen=True)
class ConnectorContext:
    """What the composition root gives a connector besides its settings: whose invoices it reaches, the limits its
    line files are held to, and a folder of its own for what it downloads (`<data_dir>/downloads/<provider>`)."""

    provider_id: str
    limits: LineFileLimits
    downloads: Path


class ConfiguredProvider(Protocol):
    """A provider as the configuration holds it, as far as the connectors read it (the configuration's
    ProviderConfig is one): its id and its connector's settings."""

    @property
    def id(self) -> str:
        """The provider's id."""
        ...

    @property
    def settings(self) -> ConnectorSettings:
        """Its connector's own settings."""
        ...


class ProviderConnector(Protocol):
    """Reaches one provider's invoices."""

    def list_invoices(self) -> list[OfferedInvoice]:
        """The invoices the provider offers now."""
        ...

    def fetch_invoice(self, invoice_id: str) -> InvoiceFiles:
        """The files of one invoice, or ConnectorError."""
        ...


@runtime_checkable
class LineFingerprints(Protocol):
    """A connector that can tell cheaply, each day, whether an invoice's lines changed at the provider."""

    def line_fingerprint(self, invoice_id: str) -> str:
        """The fingerprint of the invoice's line files as the provider has them now, or ConnectorError."""
        ...


def line_files_fingerprint(files: InvoiceFiles) -> str:
    """A SHA-256 over the invoice's line files as read (kind, file name and bytes of each): any change of a
    line (amount, customer, subscription, a line added or removed) changes it; the header does not.

    The same single pass holds each file to `files.limits` before anything parses it: its size (decompressed for
    .csv.gz) and, for CSV, its longest line, stopping at the first line beyond either; such a file is refused
    whole (ProviderFileRefused naming it, the limit and the line). Links and what is not a regular file are
    refused without being read.
    """
    fingerprint = hashlib.sha256()
    for kind, path in sorted(files.line_files.items()):
        try:
            with open_regular_file(path) as handle:
                digest = _hash_within_limits(handle, path.name, files.limits)
        except FileNotFoundError:
            raise ProviderFileRefused(f"{path.name} was removed while being read; send it again") from None
        fingerprint.update(f"{kind}\t{path.name}\t{digest}\n".encode())
    return fingerprint.hexdigest()


def _hash_within_limits(handle: BinaryIO, name: str, limits: LineFileLimits) -> str:
    """The SHA-256 of the file's bytes, read once, while its content is held to `limits`."""
    size = os.fstat(handle.fileno()).st_size
    lowered = name.lower()
    compressed = lowered.endswith(".gz")
    if not compressed and size > limits.file_size:
        raise ProviderFileRefused(_size_refusal(name, limits, f"it has {size} bytes"))
    digest = hashlib.sha256()
    scan = None if lowered.endswith(".parquet") else _LineScan(name, limits)
    decompressor = zlib.decompressobj(wbits=31) if compressed and size else None
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
        if decompressor is not None:
            decompressor = _feed_compressed(decompressor, chunk, name, scan)
        elif scan is not None:
            scan.feed(chunk)
    if decompressor is not None and not decompressor.eof:
        raise ProviderFileRefused(_not_gzip(name))
    return digest.hexdigest()


def _not_gzip(name: str) -> str:
    return f"{name}: cannot be read: not valid gzip; send it uncompressed or compress it again"


def _feed_compressed(
    decompressor: zlib._Decompress, data: bytes, name: str, scan: _LineScan | None
) -> zlib._Decompress:
    """Decompress `data` in pieces of at most CHUNK_BYTES into `scan` (one gzip member after another); the
    decompressor to feed next."""
    while data:
        if decompressor.eof:  # the next member of a multi-member gzip file
            decompressor = zlib.decompressobj(wbits=31)
        try:
            out = decompressor.decompress(data, CHUNK_BYTES)
        except zlib.error:
            raise ProviderFileRefused(_not_gzip(name)) from None
        if scan is not None:
            scan.feed(out)
        data = decompressor.unconsumed_tail or (decompressor.unused_data if decompressor.eof else b"")
    return decompressor


def _size_refusal(name: str, limits: LineFileLimits, found: str) -> str:
    return (
        f"{name}: cannot be read: {found}, more than the line file size limit of {byte_size_text(limits.file_size)} "
        "allows (line_file_size_limit); the file is refused whole: split the invoice's lines into smaller files or "
        "raise the limit"
    )


class _LineScan:
    """Counts a CSV's lines as its bytes pass and refuses it at once at the first line (or byte) beyond its limits."""

    def __init__(self, name: str, limits: LineFileLimits) -> None:
        self.name, self.limits = name, limits
        self.ended_lines = 0  # lines ended by a newline so far
        self.open_line = 0  # bytes of the line not ended yet
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        """The next bytes of the file, in order."""
        self.size += len(chunk)
        if self.size > self.limits.file_size:
            within = len(chunk) - (self.size - self.limits.file_size)
            line = self.ended_lines + chunk.count(b"\n", 0, within) + 1
            raise ProviderFileRefused(
                _size_refusal(self.name, self.limits, f"decompressed, it grows beyond that at line {line}")
            )
        limit = self.limits.line_length
        first = chunk.find(b"\n")
        if first < 0:
            self.open_line += len(chunk)
            if self.open_line > limit:
                self._too_long(self.ended_lines + 1)
            return
        if self.open_line + first > limit:
            self._too_long(self.ended_lines + 1)
        if len(chunk) - first - 1 > limit:  # a whole line inside this chunk may be beyond the limit
            for i, whole_line in enumerate(chunk[first + 1 :].split(b"\n")[:-1]):
                if len(whole_line) > limit:
                    self._too_long(self.ended_lines + 2 + i)
        self.ended_lines += chunk.count(b"\n")
        self.open_line = len(chunk) - chunk.rfind(b"\n") - 1
        if self.open_line > limit:
            self._too_long(self.ended_lines + 1)

    def _too_long(self, line: int) -> None:
        raise ProviderFileRefused(
            f"{self.name}: cannot be read at line {line}: the line is longer than the reader allows (the line length "
            f"limit, line_length_limit, is {byte_size_text(self.limits.line_length)}); the file is refused whole: "
            "check it is not corrupted (a line that never ends?), or raise the limit"
        )
