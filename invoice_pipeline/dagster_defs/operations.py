"""Manual operations as Dagster jobs a data engineer launches from the UI (launchpad config), and billing.

The Launchpad config is refused before any run exists when it cannot work (see `run_config`); after an
operation, the invoice's partition shows its new state at once (see `invoice_state.show_invoice_change`).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TypeVar

import dagster as dg
from pydantic import Field

from invoice_pipeline.composition import connector_for
from invoice_pipeline.dagster_defs.errors import PlainError
from invoice_pipeline.dagster_defs.invoice_state import show_invoice_change, status_observation
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource
from invoice_pipeline.dagster_defs.run_config import (
    invoice_key_problems,
    iso_date_problems,
    refused_before_launch,
    text_problems,
)
from invoice_pipeline.dagster_defs.run_tags import tag_invoice_run
from invoice_pipeline.domain.invoice_keys import InvoiceKey
from invoice_pipeline.domain.refusals import ImportRefused
from invoice_pipeline.importing.activation_refusals import ActivationRefused
from invoice_pipeline.operations.invoice_operations import (
    OperationRefused,
    create_manual_invoice,
    deactivate_invoice,
    delete_invoice,
    header_fields,
    unlink_invoice,
)
from invoice_pipeline.use_cases import activate_invoice
from invoice_pipeline.validation.checksum import approved_difference
from invoice_pipeline.warehouse.invoice_records import InvoiceRecord
from invoice_pipeline.warehouse.warehouse import Warehouse

OPERATIONS_TAG = "invoice_pipeline/operation"
OPERATION_REFUSED = OperationRefused.__name__  # a refusal is an outcome: the run log shows its sentence, no stack trace
HEADER_DATES = ("invoice_date", "billing_period_start", "billing_period_end")
T = TypeVar("T")


class InvoiceOperationConfig(dg.Config):
    """Which provider invoice, why, and who asks (both kept in the invoice's history)."""

    invoice: str = Field(description="The provider invoice as PROVIDER:INVOICE_ID, e.g. contoso-csp:G000024130.")
    reason: str = Field(description="Why you do this; kept in the invoice's history.")
    requested_by: str = Field(description="Your name or email; kept in the invoice's history.")

    def key(self) -> InvoiceKey:
        """The invoice key (checked when the run was launched)."""
        return InvoiceKey.parse(self.invoice)

    def launch_problems(self) -> list[str]:
        """What must be fixed before this config can launch: a well-formed invoice key, a reason, a name."""
        return invoice_key_problems(self.invoice) + text_problems(
            reason=(self.reason, "why you do this (kept in the invoice's history)"),
            requested_by=(self.requested_by, "your name or email (kept in the invoice's history)"),
        )


def _invoice_of(context: dg.OpExecutionContext, config: InvoiceOperationConfig) -> InvoiceKey:
    """The operation's invoice; its run gets the invoice's tags, so *Runs* lists it beside the imports."""
    key = config.key()
    tag_invoice_run(context, key)
    return key


def _refusals_as_failures(action: Callable[[], T]) -> T:
    """Run `action`; a refusal of the rules fails the op with its sentence alone (nothing was changed)."""
    try:
        return action()
    except ImportRefused as refusal:
        raise PlainError(OPERATION_REFUSED, str(refusal)) from None


def _show_in_dagster(
    context: dg.OpExecutionContext,
    key: InvoiceKey,
    change: str,
    record: InvoiceRecord | None,
    actor: str,
    *,
    status_changed: bool = True,
) -> None:
    """Make the invoice's partition show the operation at once (its new state, or an observation), and log it."""
    if status_changed:
        show_invoice_change(context.instance, key, record, change, context.log_event, actor)
    elif record is not None:
        context.log_event(status_observation(key, record.status, change, record))
    context.log.info(f"{key}: {change}")


@dataclass(frozen=True)
class _OperationDone:
    """What an operation did, in a few words, the invoice's record after it (None once deleted), and whether
    its status changed (unlink changes none)."""

    what: str
    record: InvoiceRecord | None
    status_changed: bool = True


def _invoice_operation_job(
    name: str, description: str, operation: Callable[[Warehouse, InvoiceKey, str, str], _OperationDone]
) -> dg.JobDefinition:
    op_name = f"{name}_op"

    @dg.op(name=op_name, description=description)
    def run_operation(
        context: dg.OpExecutionContext, config: InvoiceOperationConfig, invoice_pipeline: InvoicePipelineResource
    ) -> None:
        key = _invoice_of(context, config)
        with invoice_pipeline.warehouse() as warehouse:
            done = _refusals_as_failures(lambda: operation(warehouse, key, config.requested_by, config.reason))
        change = f"{done.what} by {config.requested_by}: {config.reason}"
        _show_in_dagster(context, key, change, done.record, config.requested_by, status_changed=done.status_changed)

    @dg.job(
        name=name,
        description=description,
        tags={OPERATIONS_TAG: name},
        config=refused_before_launch(name, op_name, InvoiceOperationConfig, InvoiceOperationConfig.launch_problems),
    )
    def operation_job() -> None:
        """Run the operation on one provider invoice."""
        run_operation()

    return operation_job


def _deactivate(warehouse: Warehouse, key: InvoiceKey, actor: str, reason: str) -> _OperationDone:
    return _OperationDone("deactivated", deactivate_invoice(warehouse, key, actor=actor, reason=reason))


def _delete(warehouse: Warehouse, key: InvoiceKey, actor: str, reason: str) -> _OperationDone:
    delete_invoice(warehouse, key, actor=actor, reason=reason)
    return _OperationDone("deleted (its history remains)", None)


def _unlink(warehouse: Warehouse, key: InvoiceKey, actor: str, reason: str) -> _OperationDone:
    unlinked = unlink_invoice(warehouse, key, actor=actor, reason=reason)
    return _OperationDone(unlinked.summary(), warehouse.current_record(key), status_changed=False)


deactivate_provider_invoice_job = _invoice_operation_job(
    "deactivate_provider_invoice",
    "Deactivate a provider invoice: kept as Inactive (history, lines, notes), free to be synced again. "
    "Refused while any of its lines is invoiced to a customer.",
    _deactivate,
)
delete_provider_invoice_job = _invoice_operation_job(
    "delete_provider_invoice",
    "Delete a provider invoice and its lines (its history remains). Refused while any line is invoiced.",
    _delete,
)
unlink_provider_invoice_job = _invoice_operation_job(
    "unlink_provider_invoice",
    "Remove the references from customer invoices to a provider invoice's lines, so it can be deactivated.",
    _unlink,
)


class ManualInvoiceConfig(InvoiceOperationConfig):
    """A manual provider invoice: from its folder in the provider folder format, or from header fields."""

    invoice_date: str = Field(default="", description="YYYY-MM-DD; leave empty to read header.json from the folder.")
    billing_period_start: str = Field(default="", description="YYYY-MM-DD")
    billing_period_end: str = Field(default="", description="YYYY-MM-DD")
    currency: str = Field(default="", description="ISO 4217 code, e.g. USD")
    total_amount: str = Field(default="", description="Decimal text, e.g. 1234.50 (negative for a credit note)")

    def header_fields_given(self) -> dict[str, str]:
        """The header fields, or none when every one is empty (the invoice's folder holds its header.json)."""
        fields = {
            "invoice_date": self.invoice_date,
            "billing_period_start": self.billing_period_start,
            "billing_period_end": self.billing_period_end,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }
        return fields if any(value.strip() for value in fields.values()) else {}

    def launch_problems(self) -> list[str]:
        """The operation's problems, and header fields given only in part or with dates not YYYY-MM-DD."""
        problems = super().launch_problems()
        given = self.header_fields_given()
        missing = [name for name, value in given.items() if not value.strip()]
        if missing:
            problems.append(
                f"{', '.join(missing)}: empty; give every header field, or leave them all empty to read "
                "header.json from the invoice's folder"
            )
        return problems + iso_date_problems(
            **{name: given[name] for name in HEADER_DATES if given.get(name, "").strip()}
        )


@dg.op(description="Create a manual provider invoice (status Populating).")
def create_manual_provider_invoice_op(
    context: dg.OpExecutionContext, config: ManualInvoiceConfig, invoice_pipeline: InvoicePipelineResource
) -> None:
    """Create the invoice from the launchpad's header fields, or from its folder when they are empty."""
    key = _invoice_of(context, config)
    header = None
    if config.header_fields_given():
        header = header_fields(
            invoice_date=date.fromisoformat(config.invoice_date),
            billing_period_start=date.fromisoformat(config.billing_period_start),
            billing_period_end=date.fromisoformat(config.billing_period_end),
            currency=config.currency,
            total_amount=config.total_amount,
        )
    pipeline_config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        record = _refusals_as_failures(
            lambda: create_manual_invoice(
                pipeline_config,
                warehouse,
                key,
                connectors=connector_for,
                actor=config.requested_by,
                reason=config.reason,
                header=header,
            )
        )
    _show_in_dagster(
        context, key, f"created by hand by {config.requested_by}: {config.reason}", record, config.requested_by
    )


@dg.job(
    description="Create a manual provider invoice (third-party vendor, distributor); it starts Populating.",
    config=refused_before_launch(
        "create_manual_provider_invoice",
        "create_manual_provider_invoice_op",
        ManualInvoiceConfig,
        ManualInvoiceConfig.launch_problems,
    ),
)
def create_manual_provider_invoice() -> None:
    """Create a manual provider invoice."""
    create_manual_provider_invoice_op()


class ActivateManualInvoiceConfig(InvoiceOperationConfig):
    """Which manual invoice to set Active, optionally accepting the checksum difference you approve."""

    accept_checksum_difference: str = Field(
        default="",
        description="Leave empty, or the checksum difference you approve, as the refused activation shows it: header "
        'total minus lines total, sign included (e.g. "0.37"). Only that very figure is accepted, and only below '
        "checksum_override_maximum for the invoice's currency (default 0.50).",
    )

    def approved_difference(self) -> Decimal | None:
        """The difference approved (checked when the run was launched), or None."""
        text = self.accept_checksum_difference
        return approved_difference(text) if text.strip() else None

    def launch_problems(self) -> list[str]:
        """The operation's problems, and an approved difference not written as a plain decimal."""
        try:
            self.approved_difference()
        except ValueError as error:
            return [*super().launch_problems(), f"accept_checksum_difference: {error}"]
        return super().launch_problems()


@dg.op(description="Set a manual provider invoice Active after the import's schema, reference and checksum rules.")
def activate_manual_provider_invoice_op(
    context: dg.OpExecutionContext, config: ActivateManualInvoiceConfig, invoice_pipeline: InvoicePipelineResource
) -> None:
    """Activate, or fail with the same message an import would give."""
    key = _invoice_of(context, config)
    pipeline_config = invoice_pipeline.load_config()
    with invoice_pipeline.warehouse(pipeline_config) as warehouse:
        try:
            result = activate_invoice(
                pipeline_config,
                warehouse,
                key,
                connectors=connector_for,
                run_id=context.run.run_id,
                actor=config.requested_by,
                reason=config.reason,
                accept_checksum_difference=config.approved_difference(),
            )
        except ActivationRefused as refusal:  # recorded like a failed import: the partition shows it too
            change = f"activation refused, asked by {config.requested_by}: {config.reason}"
            _show_in_dagster(
                context, key, change, warehouse.current_record(key), config.requested_by, status_changed=False
            )
            raise PlainError(OPERATION_REFUSED, str(refusal)) from None
        except ImportRefused as refusal:
            raise PlainError(OPERATION_REFUSED, str(refusal)) from None
        record = warehouse.current_record(key)
    change = f"activated by {config.requested_by}: {config.reason} ({result.message})"
    _show_in_dagster(context, key, change, record, config.requested_by)


@dg.job(
    description="Set a manual provider invoice Active (refused, unchanged, when the import rules fail).",
    config=refused_before_launch(
        "activate_manual_provider_invoice",
        "activate_manual_provider_invoice_op",
        ActivateManualInvoiceConfig,
        ActivateManualInvoiceConfig.launch_problems,
    ),
)
def activate_manual_provider_invoice() -> None:
    """Activate a manual provider invoice."""
    activate_manual_provider_invoice_op()


operation_jobs: list[dg.JobDefinition] = [
    deactivate_provider_invoice_job,
    delete_provider_invoice_job,
    unlink_provider_invoice_job,
    create_manual_provider_invoice,
    activate_manual_provider_invoice,
]
