"""Reference resolution: every line must find its customer, subscription and currency.

Blocking errors: customer not mapped for the provider, subscription not found for the provider,
currency not set up, line currency different from the header's. Warnings (not blocking): a
subscription with no product, a product that is not known. Evaluated in SQL over the staged lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from invoice_pipeline.validation.notes import Note, csv_text

EXAMPLE_LINE_IDS = 5
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
    id_column: str
    condition: str
    how_to_fix: str
    blocking: bool


# Each condition is evaluated over `resolved_lines` (lines left-joined to their references).
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

RESOLVED_LINES_SQL = """
CREATE OR REPLACE TEMP VIEW resolved_lines AS
SELECT l.*, a.account_id, s.billing_contract_id, s.product_id AS subscription_product_id,
       coalesce(l.product_id, s.product_id) AS resolved_product_id, p.name AS product_name,
       c.minor_units AS currency_minor_units
FROM all_lines l
LEFT JOIN (SELECT * FROM ref_provider_accounts WHERE provider = (SELECT provider FROM invoice_context)) a
       ON a.provider_account_id = l.customer_id
LEFT JOIN (SELECT * FROM ref_subscriptions WHERE provider = (SELECT provider FROM invoice_context)) s
       ON s.subscription_id = l.subscription_id
LEFT JOIN ref_products p ON p.product_id = coalesce(l.product_id, s.product_id)
LEFT JOIN ref_currencies c ON c.code = l.currency
"""


def find_missing_references(
    con: duckdb.DuckDBPyConnection, provider: str, header_currency: str, header_currency_known: bool
) -> list[MissingReference]:
    """All missing references of the staged lines (view `all_lines`), errors first."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE invoice_context AS SELECT $1 AS provider, $2 AS currency",
        [provider, header_currency],
    )
    con.execute(RESOLVED_LINES_SQL)
    found: list[MissingReference] = []
    for rule in _RULES:
        groups = con.execute(
            f"SELECT {rule.id_column}, count(*) FROM resolved_lines WHERE {rule.condition} "
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
        f"SELECT {rule.id_column}, line_id FROM resolved_lines WHERE {rule.condition} "
        f"QUALIFY row_number() OVER (PARTITION BY {rule.id_column} ORDER BY line_id) <= {EXAMPLE_LINE_IDS}"
    ).fetchall()
    examples: dict[str, list[str]] = {}
    for reference_id, line_id in rows:
        examples.setdefault(reference_id, []).append(line_id)
    return {k: sorted(v) for k, v in examples.items()}


def missing_references_message(missing: list[MissingReference]) -> str:
    """E.g. `Unresolved references: customer 'T-9' (3 lines); subscription 'S-4' (1 line)`."""
    parts = []
    for ref in (m for m in missing if m.blocking):
        lines = f"{ref.line_count} line{'s' if ref.line_count != 1 else ''}" if ref.line_count else "invoice header"
        parts.append(f"{ref.reference_type} '{ref.reference_id}' ({lines})")
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
