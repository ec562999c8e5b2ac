"""No module of the package grows past 400 lines: a module that does is split by concern before it lands.

The Alembic migrations (history, written once) and the bundled demo (data and a fake server) are left out.
"""

from __future__ import annotations

from pathlib import Path

import invoice_pipeline

MAX_LINES = 400
PACKAGE = Path(invoice_pipeline.__file__).parent
LEFT_OUT = ("warehouse/migrations/", "demo/")


def _modules() -> list[Path]:
    return [
        path for path in sorted(PACKAGE.rglob("*.py")) if not path.relative_to(PACKAGE).as_posix().startswith(LEFT_OUT)
    ]


def test_no_module_of_the_package_is_over_400_lines():
    too_long = {
        path.relative_to(PACKAGE).as_posix(): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these by concern (at most {MAX_LINES} lines each): {too_long}"


def test_the_size_rule_reads_every_module_of_the_package():
    names = {path.relative_to(PACKAGE).as_posix() for path in _modules()}
    assert {"domain/lifecycle.py", "importing/invoice_import.py", "config/__init__.py"} <= names
