"""Errors the Dagster UI shows as one sentence, without a stack trace."""

from dagster._core.errors import DagsterUserCodeProcessError
from dagster_shared.error import SerializableErrorInfo


class PlainError(DagsterUserCodeProcessError):
    """An error shown as its sentence alone: an outcome or a refusal, not a crash.

    Dagster shows every raised exception, `dg.Failure` included, with its stack trace, but it shows the
    error of a `DagsterUserCodeProcessError` as given (that class carries errors from other processes).
    It is internal to Dagster (pinned release 1.13.27); the UI tests check the result through GraphQL.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        error = SerializableErrorInfo(message=message, stack=[], cls_name=kind)
        super().__init__(message, user_code_process_error_infos=[error])
