"""The Dagster definitions of invoice-pipeline, loaded by `workspace.yaml`: the configuration is read once, when the
code location loads (the daily sync's schedule, the monthly partitions' first month), and again by each run when it
starts (`InvoicePipelineResource`). A configuration that cannot be read fails the code location with its one line."""

from invoice_pipeline.config import load_config
from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.pipeline import pipeline_definitions
from invoice_pipeline.dagster_defs.resources import pipeline_resource

defs = pipeline_definitions(load_config(), {"invoice_pipeline": pipeline_resource(), "smtp": smtp_resource()})
