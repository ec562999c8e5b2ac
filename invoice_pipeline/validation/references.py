"""Reference resolution: every line must find its customer, subscription and currency.

Blocking errors: customer not mapped for the provider, subscription not found for the provider,
customer and subscription of different accounts (the line would bill the wrong customer), currency
not set up, line currency different from the header's. Warnings (not blocking): a
subscription with no product, a product that is not known. Evaluated in SQL over the staged lines:
each rule is a flag on every line, counted in the validation's one pass (`REFERENCE_FLAGS`); only a
rule that some lines break is then looked at in detail (which references, which lines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from invoice_pipeline.domain.notes import Note
from invoice_pipeline.validation.notes import csv_text

EXAMPLE_LINE_IDS = 5
NAMED_IN_MESSAGE = 10  # missing references a message names; the note lists every one
NOTE_TITLE = "Missing References"


@dataclass(frozen=True)
class MissingReference:
    """A reference not found (or incomplete), with how many lines need it and how to fix it."""

    reference_type: str
    reference_id: str
    line_count: int
    example_line_ids: tuple[str, ...]
    how_to_fix: str
    blocking: bool


@dataclass(frozen=True)
class _Rule:
    reference_type: str
    reference_id: str  # SQL over the resolved line: what the note and the message name
    condition: str
    how_to_fix: str
    blocking: bool


# Each condition is evaluated over lines left-joined to their references (`_RESOLVED_COLUMNS`).
_RULES = (
    _Rule(
        "customer",
        "customer_id",
        "account_id IS NULL",
        "map this customer (tenant) id to an account in provider_accounts.csv for this provider",
        True,
    ),
    _Rule(
        "subscription",
        "subscription_id",
        "billing_contract_id IS NULL",
        "add this subscription to subscriptions.csv for this provider, with its account and billing contract",
        True,
    ),
    _Rule(
        "customer/subscription mismatch",
        "subscription_id || ' (account ' || subscription_account_id || ') for customer ' || customer_id "
        "|| ' (account ' || account_id || ')'",
        "account_id <> subscription_account_id",
        "the customer and the subscription belong to different accounts: map the customer to the subscription's "
        "account in provider_accounts.csv or correct the subscription's account in subscriptions.csv; if the "
        "provider's line is wrong, ask the provider for a corrected file",
        True,
    ),
    _Rule(
        "currency",
        "currency",
        "currency_minor_units IS NULL",
        "set up this currency in currencies.csv with its minor units",
        True,
    ),
    _Rule(
        "currency mismatch",
        "currency",
        "currency <> (SELECT currency FROM invoice_context)",
        "lines must be in the invoice header's currency; ask the provider for a corrected file",
        True,
    ),
    _Rule(
        "subscription product",
        "subscription_id",
        "billing_contract_id IS NOT NULL AND subscription_product_id IS NULL",
        "set the product of this subscription in subscriptions.csv",
        False,
    ),
    _Rule(
        "product",
        "resolved_product_id",
        "resolved_product_id IS NOT NULL AND product_name IS NULL",
        "add this product to products.csv",
        False,
    ),
)

REFERENCE_FLAGS = tuple(f"breaks_reference_rule_{i}" for i in range(len(_RULES)))
BLOCKING_FLAGS = tuple(flag for rule, flag in zip(_RULES, REFERENCE_FLAGS, strict=True) if rule.blocking)

# True on a resolved line that breaks a blocking rule (columns of `create_resolved_lines`).
BREAKS_A_BLOCKING_RULE = " OR ".join(f"coalesce({rule.condition}, false)" for rule in _RULES if rule.blocking)

_RESOLVED_COLUMNS = """a.account_id, s.account_id AS subscription_account_id, s.billing_contract_id,
       s.product_id AS subscription_product_id,
       coalesce(l.product_id, s.product_id) AS resolved_product_id, p.name AS product_name,
       c.minor_units AS currency_minor_units"""
_REFERENCE_JOINS = """
LEFT JOIN (SELECT * FROM ref_provider_accounts WHERE provider = (SELECT provider FROM invoice_context)) a
       ON a.provider_account_id = l.customer_id
LEFT JOIN (SELECT * FROM ref_subscriptions WHERE provider = (SELECT provider FROM invoice_context)) s
       ON s.subscription_id = l.subscription_id
LEFT JOIN ref_products p ON p.product_id = coalesce(l.product_id, s.product_id)
LEFT JOIN ref_currencies c ON c.code = l.currency
"""


def register_invoice_context(con: duckdb.DuckDBPyConnection, provider: str, header_currency: str) -> None:
    """The invoice the lines belong to (its provider and header currency), which the rules refer to."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE invoice_context AS SELECT $1 AS provider, $2 AS currency",
        [provider, header_currency],
    )


def with_reference_flags(source: str, columns: Sequence[str]) -> str:
    """A query over the lines in `source`, keeping `columns` (plain column names) and adding one boolean
    per rule (`REFERENCE_FLAGS`), true on a line that breaks it. Needs `register_invoice_context` first."""
    kept = ", ".join(columns)
    flags = ", ".join(f"({rule.condition}) AS {flag}" for rule, flag in zip(_RULES, REFERENCE_FLAGS, strict=True))
    picked = ", ".join(f"l.{c}" for c in columns)
    return (
        f"SELECT {kept}, {flags} FROM "
        f"(SELECT {picked}, {_RESOLVED_COLUMNS} FROM {source} l {_REFERENCE_JOINS}) AS resolved"
    )


def create_resolved_lines(con: duckdb.DuckDBPyConnection) -> None:
    """The view `resolved_lines`: the typed lines (`all_lines`) with what their references resolve to."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW resolved_lines AS SELECT l.*, {_RESOLVED_COLUMNS} FROM all_lines l "
        + _REFERENCE_JOINS
    )


def find_missing_references(
    con: duckdb.DuckDBPyConnection,
    header_currency: str,
    header_currency_known: bool,
    lines_breaking: Sequence[int],
) -> list[MissingReference]:
    """All missing references of the lines in `resolved_lines`, errors first.

    `lines_breaking` is, per rule, how many lines break it (counted with `REFERENCE_FLAGS`): a rule no
    line breaks is not evaluated again.
    """
    found: list[MissingReference] = []
    for rule, breaking in zip(_RULES, lines_breaking, strict=True):
        if not breaking:
            continue
        groups = con.execute(
            f"SELECT {rule.reference_id}, count(*) FROM resolved_lines WHERE {rule.condition} "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
        examples = _example_line_ids(con, rule) if groups else {}
        found.extend(
            MissingReference(
                rule.reference_type, ref_id, count, tuple(examples.get(ref_id, ())), rule.how_to_fix, rule.blocking
            )
            for ref_id, count in groups
        )
    if not header_currency_known and not any(
        f.reference_type == "currency" and f.reference_id == header_currency for f in found
    ):
        found.append(
            MissingReference(
                "currency", header_currency, 0, (), "set up the invoice header's currency in currencies.csv", True
            )
        )
    return sorted(found, key=lambda f: (not f.blocking, -f.line_count, f.reference_type, f.reference_id))


def _example_line_ids(con: duckdb.DuckDBPyConnection, rule: _Rule) -> dict[str, list[str]]:
    rows = con.execute(
        f"SELECT {rule.reference_id}, line_id FROM resolved_lines WHERE {rule.condition} "
        f"QUALIFY row_number() OVER (PARTITION BY {rule.reference_id} ORDER BY line_id) <= {EXAMPLE_LINE_IDS}"
    ).fetchall()
    examples: dict[str, list[str]] = {}
    for reference_id, line_id in rows:
        examples.setdefault(reference_id, []).append(line_id)
    return {k: sorted(v) for k, v in examples.items()}


def missing_references_message(missing: list[MissingReference]) -> str:
    """E.g. `Unresolved references: customer 'T-9' (3 lines); subscription 'S-4' (1 line)`: the
    `NAMED_IN_MESSAGE` with the most lines, then how many more (the note lists them all)."""
    errors = [m for m in missing if m.blocking]
    parts = []
    for ref in errors[:NAMED_IN_MESSAGE]:
        lines = f"{ref.line_count} line{'s' if ref.line_count != 1 else ''}" if ref.line_count else "invoice header"
        parts.append(f"{ref.reference_type} '{ref.reference_id}' ({lines})")
    if len(errors) > NAMED_IN_MESSAGE:
        parts.append(f"and {len(errors) - NAMED_IN_MESSAGE:,} more")
    return "Unresolved references: " + "; ".join(parts) + "; see the Missing References note"


def missing_references_notes(missing: list[MissingReference]) -> list[Note]:
    """The Missing References note: `errors.csv` (blocking) and `warnings.csv` (not blocking)."""
    columns = ("reference_type", "reference_id", "line_count", "example_line_ids", "how_to_fix")
    notes = []
    for file_name, blocking in (("errors.csv", True), ("warnings.csv", False)):
        rows = [
            (m.reference_type, m.reference_id, m.line_count, " ".join(m.example_line_ids), m.how_to_fix)
            for m in missing
            if m.blocking == blocking
        ]
        notes.append(Note(NOTE_TITLE, file_name, csv_text(columns, rows)))
    return notes
