"""Billing contracts' terms (reference data `billing_contracts.csv`) and the terms ruling a billing period."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoice_pipeline.domain.billing_period import BillingPeriod
from invoice_pipeline.domain.pricing import UsageTerms

if TYPE_CHECKING:
    import pandas as pd

CONTRACTS_FILE = "billing_contracts"


class ChargeKind(StrEnum):
    """What a contract's term bills: licence seats, or metered usage."""

    LICENSE = "license"
    USAGE = "usage"


# What a provider line is matched on: account, billing contract, product, kind and currency.
TermsKey = tuple[str, str, str, ChargeKind, str]


@dataclass(frozen=True)
class ContractTerms:
    """One row of `billing_contracts.csv`: a customer's terms for a product on a billing contract."""

    billing_contract_id: str
    account_id: str
    product_id: str
    charge_kind: ChargeKind
    currency: str
    seats: int | None
    unit_price: Decimal | None
    usage_markup_percent: Decimal | None
    valid_from: date
    valid_to: date | None

    def holds_in(self, period: BillingPeriod) -> bool:
        """Whether the terms hold on any day of the period."""
        return self.valid_from <= period.end and (self.valid_to is None or self.valid_to >= period.start)

    @property
    def key(self) -> TermsKey:
        """What a provider line is matched on: account, billing contract, product, kind and currency."""
        return (self.account_id, self.billing_contract_id, self.product_id, self.charge_kind, self.currency)


def _cell_text(row: dict[Hashable, Any], name: str) -> str | None:
    value = row[name]
    return None if value is None or value != value else str(value)  # NaN is the one value not equal to itself


def contract_terms(frame: pd.DataFrame) -> list[ContractTerms]:
    """The validated `billing_contracts` table as terms, amounts exact."""
    terms = []
    for row in frame.to_dict("records"):
        seats, unit_price = _cell_text(row, "seats"), _cell_text(row, "unit_price")
        markup, valid_to = _cell_text(row, "usage_markup_percent"), _cell_text(row, "valid_to")
        terms.append(
            ContractTerms(
                billing_contract_id=str(row["billing_contract_id"]),
                account_id=str(row["account_id"]),
                product_id=str(row["product_id"]),
                charge_kind=ChargeKind(row["charge_kind"]),
                currency=str(row["currency"]),
                seats=None if seats is None else int(seats),
                unit_price=None if unit_price is None else Decimal(unit_price),
                usage_markup_percent=None if markup is None else Decimal(markup),
                valid_from=date.fromisoformat(str(row["valid_from"])),
                valid_to=None if valid_to is None else date.fromisoformat(valid_to),
            )
        )
    return terms


def load_contract_terms(reference_folder: Path) -> list[ContractTerms]:
    """Read and validate `<reference folder>/billing_contracts.csv` (ReferenceDataError says what to fix)."""
    # Imported here: pandas and Pandera cost the CLI's commands that never reconcile half a second to start.
    from invoice_pipeline.validation.reference_data import load_reference_table

    return contract_terms(load_reference_table(reference_folder, CONTRACTS_FILE))


def _holding_by_key(contracts: list[ContractTerms], period: BillingPeriod) -> dict[TermsKey, list[ContractTerms]]:
    """The terms holding on some day of the period, by what a line is matched on, earliest start first."""
    by_key: dict[TermsKey, list[ContractTerms]] = {}
    for terms in sorted(contracts, key=lambda terms: terms.valid_from):
        if terms.holds_in(period):
            by_key.setdefault(terms.key, []).append(terms)
    return by_key


def terms_in(contracts: list[ContractTerms], period: BillingPeriod) -> dict[TermsKey, ContractTerms]:
    """The terms applied to the whole period, by what a provider line is matched on (the schema allows one per day;
    a term ending mid-period and its successor both hold: the one starting last wins). See `partial_terms_in`."""
    return {key: holding[-1] for key, holding in _holding_by_key(contracts, period).items()}


def partial_terms_in(contracts: list[ContractTerms], period: BillingPeriod) -> dict[TermsKey, str]:
    """Why the terms applied to a whole period (see `terms_in`) do not hold on each of its days, by what a line is
    matched on: they change, start or end within it. Nothing is prorated by days: this says so where it matters."""
    notes = {}
    for key, holding in _holding_by_key(contracts, period).items():
        applied, first = holding[-1], holding[0]
        if len(holding) > 1:
            notes[key] = f"the terms change on {applied.valid_from}: those from then apply to the whole month"
        elif first.valid_from > period.start:
            notes[key] = f"the terms start on {first.valid_from}: they apply to the whole month"
        elif applied.valid_to is not None and applied.valid_to < period.end:
            notes[key] = f"the terms end on {applied.valid_to}: they apply to the whole month"
    return notes


def usage_terms_in(contracts: list[ContractTerms], period: BillingPeriod) -> list[UsageTerms]:
    """The usage terms ruling `period`, one per account, contract, product and currency."""
    ruling = terms_in(contracts, period)
    return [
        UsageTerms(
            account_id=terms.account_id,
            billing_contract_id=terms.billing_contract_id,
            product_id=terms.product_id,
            currency=terms.currency,
            usage_markup_percent=terms.usage_markup_percent or Decimal(0),
            valid_from=terms.valid_from.isoformat(),
        )
        for key, terms in ruling.items()
        if key[3] == ChargeKind.USAGE
    ]
