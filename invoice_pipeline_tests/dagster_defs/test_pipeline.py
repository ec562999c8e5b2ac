"""The pipeline's definitions as the code location builds them: how its runs execute."""

import dagster as dg

from invoice_pipeline.dagster_defs.mail import smtp_resource
from invoice_pipeline.dagster_defs.pipeline import pipeline_definitions
from invoice_pipeline.dagster_defs.resources import InvoicePipelineResource


def test_every_job_runs_its_steps_in_the_runs_own_process(workspace):
    """A one-step import run was two processes (the run's and its step's), the daily sync six, each loading Dagster
    and the definitions: the warehouse takes one writer at a time, so the steps run in the run's process."""
    resources = {"invoice_pipeline": InvoicePipelineResource(config_path=str(workspace.config_path))}
    defs = pipeline_definitions(workspace.config(), resources | {"smtp": smtp_resource()})

    jobs = defs.resolve_all_job_defs()

    assert {job.name for job in jobs} >= {"import_provider_invoice", "daily_provider_sync", "refresh_reference_data"}
    assert {job.name: job.executor_def.name for job in jobs} == {job.name: "in_process" for job in jobs}
    assert all(job.executor_def is dg.in_process_executor for job in jobs)
