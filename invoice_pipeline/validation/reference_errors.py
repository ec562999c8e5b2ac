"""Reference data that cannot be used, as one exception: light to import (no pandas), so that code which only
says why reference data is wrong does not cost a command's start-up."""

from __future__ import annotations


class ReferenceDataError(Exception):
    """Reference data that cannot be used; `problem` names the file and what to fix."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"reference data: {problem}")
        self.problem = problem
