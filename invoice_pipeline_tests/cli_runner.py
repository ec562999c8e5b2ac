"""The `invoice-pipeline` command run in this process through click's test runner, as the console script runs it
(same group, same fault handling), with exactly the given environment and working folder; and, for the few
smoke tests that prove the installed console script, as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from invoice_pipeline.cli import cli

CLI = Path(sys.executable).parent / "invoice-pipeline"


@dataclass(frozen=True)
class Completed:
    """What a command ended with, named as `subprocess.CompletedProcess` names it."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str], cwd: Path, input: str | None = None) -> Completed:
    """Run the command in this process with exactly `env` as its environment and `cwd` as its working folder;
    both are restored afterwards (the command sets DAGSTER_HOME and INVOICE_PIPELINE_CONFIG for itself)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in set(os.environ) - set(env):
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.chdir(cwd)
        result = CliRunner().invoke(cli, list(args), input=input, prog_name="invoice-pipeline", catch_exceptions=False)
    return Completed(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the installed console script as its own process, with nothing to read on its input (no one to answer)."""
    return subprocess.run(
        [str(CLI), *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600
    )
