"""Errors the Dagster UI shows as one sentence, without a stack trace."""

from dagster._core.errors import DagsterUserCodeProcessError
from dagster_shared.error import SerializableErrorInfo

from invoice_pipeline.domain.display import shown


class PlainError(DagsterUserCodeProcessError):
    """An error shown as its sentence alone: an outcome or a refusal, not a crash.

    Dagster shows every raised exception, `dg.Failure` included, with its stack trace, but it shows the
    error of a `DagsterUserCodeProcessError` as given (that class carries errors from other processes).
    It is internal to Dagster (pinned release 1.13.27); the UI tests check the result through GraphQL.
    The message is shown as a person may see it (`domain.display.shown`: secrets redacted, controls escaped).
    """

    def __init__(self, kind: str, message: str, *, multiline: bool = False) -> None:
        self.kind = kind
        message = shown(message, multiline=multiline)  # `multiline`: a message made of lines, each escaped
        error = SerializableErrorInfo(message=message, stack=[], cls_name=kind)
        super().__init__(message, user_code_process_error_infos=[error])
