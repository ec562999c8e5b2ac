"""The tags every run of one provider invoice carries, whoever launched it (sensor, CLI, UI)."""

import dagster as dg

from invoice_pipeline.domain.invoice_keys import InvoiceKey

RUN_TAG_PROVIDER = "invoice_pipeline/provider"
RUN_TAG_INVOICE = "invoice_pipeline/invoice_id"
RUN_TAG_KEY = "invoice_pipeline/invoice"
# The process a run executes in, when the launcher knows it (the CLI runs imports in its own process).
RUN_TAG_PROCESS = "invoice_pipeline/process"
# How an import run ended when its status cannot say it: `refused` (a green run that wrote nothing).
RUN_TAG_OUTCOME = "invoice_pipeline/outcome"
REFUSED = "refused"
# How a refused import run's log line starts, before its reason (the CLI shows the reason alone).
REFUSAL_PREFIX = "Import refused: "


def import_run_tags(key: InvoiceKey) -> dict[str, str]:
    """Run tags that let the Runs page filter import runs by provider and invoice."""
    return {RUN_TAG_PROVIDER: key.provider, RUN_TAG_INVOICE: key.invoice_id, RUN_TAG_KEY: str(key)}


def tag_invoice_run(context: dg.AssetExecutionContext | dg.OpExecutionContext, key: InvoiceKey) -> None:
    """Add the invoice's tags to this run when its launcher did not (asset page, backfill, Launchpad).

    The one-run-per-invoice limit does not depend on these: it applies to Dagster's own
    `dagster/partition` tag, which every launcher sets (see dagster.yaml).
    """
    missing = {name: value for name, value in import_run_tags(key).items() if context.run.tags.get(name) != value}
    if missing:
        context.instance.add_run_tags(context.run.run_id, missing)
