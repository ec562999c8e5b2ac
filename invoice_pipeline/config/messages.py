"""A configuration problem told in one line that names the key: from a YAML error or a validation error."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError


def yaml_problem(error: yaml.YAMLError) -> str:
    """What the YAML parser found wrong, and where (line and column)."""
    parts = []
    for text, mark in (
        (getattr(error, "context", None), getattr(error, "context_mark", None)),
        (getattr(error, "problem", None), getattr(error, "problem_mark", None)),
    ):
        if text:
            parts.append(f"{text} (line {mark.line + 1}, column {mark.column + 1})" if mark else text)
    return ": ".join(parts) or str(error).splitlines()[0]


def validation_problem(error: ValidationError, source: Path) -> str:
    """The first validation error as one line naming its key (dotted, e.g. providers.0.path).

    An error raised for a whole mapping names the key inside it that is wrong in its context's `where` (a secret
    written in a connector's settings, an unknown connector, a setting of another connector).
    """
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    where = (first.get("ctx") or {}).get("where")
    key = ".".join([*loc, where] if where else loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}'; remove it or check its spelling"
    if first["type"] == "missing":
        return f"{source}: missing key '{key}'"
    message = first["msg"].removeprefix("Value error, ")
    return f"{source}: '{key}': {message}"
