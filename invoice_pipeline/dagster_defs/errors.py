"""Errors the Dagster UI shows as one sentence, without a stack trace, with the metadata that explains them."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from invoice_pipeline.dagster_defs.dagster_private import DagsterUserCodeProcessError, SerializableErrorInfo
from invoice_pipeline.domain.display import shown


class PlainError(DagsterUserCodeProcessError, dg.Failure):
    """An error shown as its sentence alone: an outcome or a refusal, not a crash.

    Dagster shows every raised exception, `dg.Failure` included, with its stack trace, but it shows the
    error of a `DagsterUserCodeProcessError` as given (that class carries errors from other processes).
    It is internal to Dagster (see `dagster_private`); the UI tests check the result through GraphQL.
    Being a `dg.Failure` too, its `metadata` goes with the step's failure event: the run's log and the
    partition's "View logs" show it. The message is shown as a person may see it (`domain.display.shown`:
    secrets redacted, controls escaped); the metadata must already be (`dagster_defs.metadata.shown_metadata`).
    """

    def __init__(
        self, kind: str, message: str, *, multiline: bool = False, metadata: Mapping[str, Any] | None = None
    ) -> None:
        self.kind = kind
        message = shown(message, multiline=multiline)  # `multiline`: a message made of lines, each escaped
        error = SerializableErrorInfo(message=message, stack=[], cls_name=kind)
        DagsterUserCodeProcessError.__init__(self, message, user_code_process_error_infos=[error])
        dg.Failure.__init__(self, description=message, metadata=metadata or {}, allow_retries=False)
