"""Provider invoice keys: `provider:invoice_id`, safe as a partition key, a folder name and a SQL value."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A provider's id: lowercase letters, digits and inner '-', at most 64 (a DNS label: safe in a path, a key and SQL).
PROVIDER_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
INVOICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.)){0,99}$")


class InvalidInvoiceKey(ValueError):
    """An invoice or provider id that cannot be used safely."""


def _escaped(text: str, limit: int) -> str:
    """Refused input as a refusal quotes it: control and non-ASCII characters as escapes, cut at `limit`."""
    return text.encode("unicode_escape").decode("ascii")[:limit]


def check_invoice_id(invoice_id: str) -> str:
    """Return `invoice_id` if it is safe (ASCII letters, digits, `.`, `_`, `-`; at most 100; no `..`)."""
    if not INVOICE_ID_PATTERN.fullmatch(invoice_id):
        raise InvalidInvoiceKey(
            f"invoice id '{_escaped(invoice_id, 120)}' is not allowed: use 1-100 ASCII letters, digits, '.', '_' "
            "or '-', starting with a letter or digit, without '..'"
        )
    return invoice_id


@dataclass(frozen=True, order=True)
class InvoiceKey:
    """Identifies one provider invoice: the provider's id and the provider's invoice number."""

    provider: str
    invoice_id: str

    def __post_init__(self) -> None:
        if not PROVIDER_ID_PATTERN.fullmatch(self.provider):
            raise InvalidInvoiceKey(
                f"provider id '{_escaped(self.provider, 80)}' is not allowed: use lowercase letters, digits and '-'"
            )
        check_invoice_id(self.invoice_id)

    @classmethod
    def parse(cls, text: str) -> InvoiceKey:
        """Parse `provider:invoice_id` (the CLI's and the partition's spelling)."""
        provider, sep, invoice_id = text.partition(":")
        if not sep:
            raise InvalidInvoiceKey(
                f"'{_escaped(text, 120)}' is not an invoice key; write PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130"
            )
        return cls(provider, invoice_id)

    def __str__(self) -> str:
        return f"{self.provider}:{self.invoice_id}"
