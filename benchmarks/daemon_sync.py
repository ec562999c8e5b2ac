"""Seconds per small invoice through the Dagster daemon: the daily sync run, then the sync sensor's import runs.

    .venv/bin/python -m benchmarks.daemon_sync --invoices 1 10 100 --work /tmp/daemon-bench

The daemon path of `benchmarks.run --many-invoices` (which measures `invoice-pipeline sync`, the CLI path). For each
N it generates N 5-line invoices (small shape, `generate_many`) and their config (`write_config`, its own data
folder), a fresh DAGSTER_HOME holding a copy of the repo's `dagster.yaml` (the run queue, at most 4 runs at once)
with telemetry off, and starts `dagster-daemon run -w workspace.yaml` from the repo root in its own process group
(DAGSTER_HOME and INVOICE_PIPELINE_CONFIG set, INVOICE_PIPELINE_SMTP_HOST unset). Once the daemon has evaluated the
sync sensor (its code location is loaded), it launches the daily sync job `daily_provider_sync` with
`dagster job launch` and its default config (as the schedule would: the sensor imports the plan), then polls the
instance until the N runs of `import_provider_invoice` have ended. The clock starts when the sync run is created
(queued, what a schedule tick does); the `dagster job launch` command's own seconds are said apart.

Reported per N: wall seconds to the last import run's end and per invoice; the parts (the sync run's end, the
first import run created by the sensor and started, the median import run from its start to its end, the median
launch overhead of a run: from launched by the queue to started in its own process, and its median queue wait);
how many import runs ended SUCCESS; the CPU seconds of the daemon's process tree (psutil samples, every process
seen: a lower bound, since a process's last second before it exits is not sampled; from the daemon's start, its
CPU until the launch said apart). The daemon and its children
are stopped after every N. The sensor's minimum interval (30 s) is part of what a user waits: the plan is picked
up at the sensor's next tick after the sync run ends. Rows print as they complete, a markdown table at the end,
`<work>/results.json`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.generate import generate_many, write_config

if TYPE_CHECKING:
    from collections.abc import Sequence

    from dagster import DagsterInstance
    from dagster._core.storage.dagster_run import RunRecord

REPO = Path(__file__).resolve().parent.parent
SYNC_JOB = "daily_provider_sync"
IMPORT_JOB = "import_provider_invoice"
SENSOR = "provider_invoice_sync_sensor"
LINES = 5
POLL_SECONDS = 2.0
STOP_SECONDS = 30.0
TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")

Row = dict[str, object]


@dataclass
class TreeCpu:
    """CPU seconds (user + system) of a process tree, sampled: the last figure of every process ever seen."""

    root: int
    seen: dict[tuple[int, float], float] = field(default_factory=dict)

    def sample(self) -> None:
        """Record the CPU seconds of the root and every live descendant."""
        import psutil  # type: ignore[import-untyped]  # no stubs installed

        try:
            root = psutil.Process(self.root)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in processes:
            try:
                times = process.cpu_times()
                # keyed by pid and start time: a reused pid is another process
                self.seen[(process.pid, process.create_time())] = times.user + times.system
            except psutil.Error:
                continue

    @property
    def seconds(self) -> float:
        """The sum over every process seen (a lower bound: each one's time after its last sample is missed)."""
        return sum(self.seen.values())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: the invoice counts, the work folder, and how long to wait for one count."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, nargs="+", default=[1, 10, 100], help="invoice counts to measure")
    parser.add_argument("--work", type=Path, required=True, help="emptied and filled for every count")
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds to wait for one count's import runs (then stop)"
    )
    args = parser.parse_args(argv)
    if any(count < 1 for count in args.invoices):
        parser.error("--invoices: every count must be at least 1")
    return args


def fresh_home(folder: Path) -> Path:
    """A fresh DAGSTER_HOME under `folder` holding the repo's `dagster.yaml`, telemetry off."""
    home = folder / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    text = (REPO / "dagster.yaml").read_text(encoding="utf-8")
    if "telemetry:" not in text:
        text += "\ntelemetry:\n  enabled: false\n"
    elif "enabled: false" not in text.split("telemetry:", 1)[1].split("\n\n", 1)[0]:
        raise SystemExit("the repo's dagster.yaml turns telemetry on: this benchmark wants it off")
    (home / "dagster.yaml").write_text(text, encoding="utf-8")
    return home


def environment(home: Path, config: Path) -> dict[str, str]:
    """The daemon's (and the launch command's) environment: this home and config, no SMTP host."""
    env = {**os.environ, "DAGSTER_HOME": str(home), "INVOICE_PIPELINE_CONFIG": str(config), "PYTHONWARNINGS": "ignore"}
    env.pop("INVOICE_PIPELINE_SMTP_HOST", None)
    env.pop("INVOICE_PIPELINE_DATA_DIR", None)  # the config's data_dir says where the warehouse is
    return env


def open_instance(home: Path) -> DagsterInstance:
    """The instance in `home`, read from this process."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def sensor_ticked(instance: DagsterInstance) -> bool:
    """Whether the sync sensor has been evaluated once (the daemon has loaded the code location)."""
    for state in instance.all_instigator_state():
        if state.name == SENSOR and instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1):
            return True
    return False


def stop(daemon: subprocess.Popen[bytes]) -> int:
    """Stop the daemon's process group: SIGTERM, then SIGKILL after STOP_SECONDS; return the daemon's exit code."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(daemon.pid, signal.SIGTERM)
    try:
        code = daemon.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        code = -9
    try:  # anything of the group still alive (a run worker, the code server)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            os.killpg(daemon.pid, 0)
            time.sleep(0.5)
        os.killpg(daemon.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return code


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _run_starting(instance: DagsterInstance, run_id: str) -> float | None:
    """When the queue launched the run (its RUN_STARTING event), or None."""
    from dagster import DagsterEventType

    records = instance.all_logs(run_id, of_type=DagsterEventType.RUN_STARTING)
    return records[0].timestamp if records else None


def measure(count: int, work: Path, timeout: float) -> Row:
    """One count: generate, start the daemon, launch the daily sync, wait for its import runs, stop the daemon."""
    from dagster import RunsFilter

    folder = work / f"daemon-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    generate_many(folder, count, LINES)
    config = write_config(folder, data_dir=folder / "data")
    home = fresh_home(folder)
    env = environment(home, config)
    bin_dir = Path(sys.executable).parent
    log = (folder / "daemon.log").open("wb")
    started = time.time()
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as one
    )
    cpu = TreeCpu(daemon.pid)
    row: Row = {"invoices": count}
    try:
        instance = open_instance(home)
        while not sensor_ticked(instance):
            cpu.sample()
            if daemon.poll() is not None or time.time() - started > timeout:
                raise SystemExit(f"the daemon never evaluated {SENSOR}: see {folder / 'daemon.log'}")
            time.sleep(POLL_SECONDS)
        row["daemon_ready_s"] = time.time() - started
        cpu.sample()
        row["daemon_cpu_before_launch_s"] = cpu.seconds
        launch_start = time.time()
        launch = subprocess.run(
            [str(bin_dir / "dagster"), "job", "launch", "-j", SYNC_JOB, "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        row["launch_command_s"] = time.time() - launch_start
        if launch.returncode != 0:
            raise SystemExit(f"dagster job launch failed: {launch.stdout}{launch.stderr}")
        sync_runs = instance.get_run_records(RunsFilter(job_name=SYNC_JOB))
        if len(sync_runs) != 1:
            raise SystemExit(f"expected one {SYNC_JOB} run, found {len(sync_runs)}")
        t0 = sync_runs[0].create_timestamp.timestamp()
        deadline = time.time() + timeout
        while True:
            cpu.sample()
            sync = instance.get_run_records(RunsFilter(job_name=SYNC_JOB))[0]
            imports = instance.get_run_records(RunsFilter(job_name=IMPORT_JOB))
            if sync.dagster_run.status.value in ("FAILURE", "CANCELED"):
                raise SystemExit(f"the daily sync run ended {sync.dagster_run.status.value}: see the instance")
            done = [r for r in imports if r.dagster_run.status.value in TERMINAL]
            if len(imports) >= count and len(done) == len(imports):
                break
            if time.time() > deadline:
                row["timed_out"] = True
                break
            time.sleep(POLL_SECONDS)
        cpu.sample()
    finally:
        code = stop(daemon)
        log.close()
    row["daemon_exit"] = code
    row["daemon_tree_cpu_s"] = cpu.seconds
    row.update(parts(instance, t0, sync, imports, count))
    return row


def parts(instance: DagsterInstance, t0: float, sync: RunRecord, imports: Sequence[RunRecord], count: int) -> Row:
    """The figures of one count from the instance's run records (`t0`: the sync run created)."""
    ends = [r.end_time for r in imports if r.end_time]
    starts = [r.start_time for r in imports if r.start_time]
    durations = [r.end_time - r.start_time for r in imports if r.start_time and r.end_time]
    created = [r.create_timestamp.timestamp() for r in imports]
    overheads, waits = [], []
    for record in imports:
        starting = _run_starting(instance, record.dagster_run.run_id)
        if starting is not None and record.start_time:
            overheads.append(record.start_time - starting)
            waits.append(starting - record.create_timestamp.timestamp())
    sync_end = sync.end_time
    wall = max(ends) - t0 if len(ends) >= count else None
    return {
        "wall_s": wall,
        "s_per_invoice": wall / count if wall is not None else None,
        "success": sum(1 for r in imports if r.dagster_run.status.value == "SUCCESS"),
        "import_runs": len(imports),
        "sync_end_s": sync_end - t0 if sync_end else None,
        "sync_run_s": sync_end - sync.start_time if sync_end and sync.start_time else None,
        "first_import_created_s": min(created) - t0 if created else None,
        "first_import_start_s": min(starts) - t0 if starts else None,
        "import_run_median_s": _median(durations),
        "launch_overhead_median_s": _median(overheads),
        "queue_wait_median_s": _median(waits),
    }


def _s(value: object) -> str:
    return f"{value:,.2f} s" if isinstance(value, float) else "n/a"


def table(rows: list[Row]) -> str:
    """The markdown table of the rows."""
    lines = [
        "| invoices | wall, sync created to last import ended | s/invoice | SUCCESS | daemon tree CPU (≥) "
        "| sync run ended | first import created (sensor) | first import started | import run, median "
        "| launch overhead, median | queue wait, median |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['invoices']} | {_s(r['wall_s'])}{' (timed out)' if r.get('timed_out') else ''} "
            f"| {_s(r['s_per_invoice'])} | {r['success']}/{r['invoices']} | {_s(r['daemon_tree_cpu_s'])} "
            f"| {_s(r['sync_end_s'])} | {_s(r['first_import_created_s'])} | {_s(r['first_import_start_s'])} "
            f"| {_s(r['import_run_median_s'])} | {_s(r['launch_overhead_median_s'])} "
            f"| {_s(r['queue_wait_median_s'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure every count, print each row as it completes, then the table; write `<work>/results.json`."""
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for count in args.invoices:
        rows.append(measure(count, args.work.resolve(), args.timeout))
        print(json.dumps(rows[-1]), flush=True)
        (args.work / "results.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(table(rows), flush=True)


if __name__ == "__main__":
    main()
