"""Import claims: the process importing an invoice holds a lease on it, renewed while it works.

A claim names its holder (machine, boot and process) and an expiry a few seconds ahead; a renewal thread
in the importing process pushes the expiry on. When the process is killed, its machine goes away or its
run ends without recording an outcome, renewals stop and the claim lapses: the next command turns the
invoice Error (saying what happened) and the next sync takes it over. A holder on this machine whose
process is gone counts as lapsed at once, without waiting for the expiry.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import sqlalchemy as sa

from invoice_pipeline.warehouse import tables as t

log = logging.getLogger(__name__)

DEFAULT_LAPSE = timedelta(seconds=30)
RENEWALS_PER_LAPSE = 6  # renewed every 5 s for a 30 s claim: a few missed renewals do not lose it


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return ""  # not Linux: a holder's process cannot be looked up, its claim lapses by its expiry


def _process_started(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (with the pid, unique on this boot), if it runs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name, in parentheses, may hold spaces
    return int(fields[19])


@dataclass(frozen=True)
class ClaimHolder:
    """The process holding a claim: its machine, that machine's boot, its pid and start time."""

    host: str
    boot_id: str
    pid: int
    process_started: int

    @staticmethod
    @cache
    def this_process() -> ClaimHolder:
        """This process, as a claim names it."""
        pid = os.getpid()
        return ClaimHolder(socket.gethostname(), _boot_id(), pid, _process_started(pid) or 0)

    def as_text(self) -> str:
        """The holder as one string (e.g. a run tag); `from_text` reads it back."""
        return f"{self.host}|{self.boot_id}|{self.pid}|{self.process_started}"

    @staticmethod
    def from_text(text: str) -> ClaimHolder | None:
        """A holder written by `as_text`, or None for anything else."""
        parts = text.split("|")
        if len(parts) != 4 or not (parts[2].isdigit() and parts[3].isdigit()):
            return None
        return ClaimHolder(parts[0], parts[1], int(parts[2]), int(parts[3]))

    def describe(self) -> str:
        """The holder in a few words, for messages."""
        return f"process {self.pid} on {self.host}"

    def is_gone(self) -> bool:
        """Whether the holder certainly no longer runs: it ran on this machine, since its last boot, and no
        process with its pid and start time exists. A holder elsewhere is never known gone (its claim lapses)."""
        here = ClaimHolder.this_process()
        if not here.boot_id or (self.host, self.boot_id) != (here.host, here.boot_id):
            return False
        return _process_started(self.pid) != self.process_started


@dataclass(frozen=True)
class ImportClaim:
    """A claim as stored: who holds it, for which run, and until when."""

    holder: ClaimHolder
    run_id: str | None
    claimed_at: datetime
    renewed_at: datetime
    expires_at: datetime

    def lapsed(self, now: datetime) -> bool:
        """Whether the claim no longer holds: not renewed in time, or its process is gone."""
        return self.expires_at <= now or self.holder.is_gone()

    def why_lapsed(self) -> str:
        """What stopped the import, as far as this machine can tell."""
        if self.holder.is_gone():
            return (
                f"{self.holder.describe()} ended without recording an outcome (killed, its run stopped, or it "
                "could not write to the warehouse)"
            )
        return (
            f"{self.holder.describe()} stopped renewing its claim at {self.renewed_at:%Y-%m-%d %H:%M:%S} UTC "
            "(the process was killed, its machine went away, or its run ended without recording an outcome)"
        )


CLAIM_COLUMNS = {
    "claim_host": t.import_claims.c.host,
    "claim_boot_id": t.import_claims.c.boot_id,
    "claim_pid": t.import_claims.c.pid,
    "claim_process_started": t.import_claims.c.process_started,
    "claim_run_id": t.import_claims.c.run_id,
    "claim_claimed_at": t.import_claims.c.claimed_at,
    "claim_renewed_at": t.import_claims.c.renewed_at,
    "claim_expires_at": t.import_claims.c.expires_at,
}


def claim_from_values(values: sa.RowMapping) -> ImportClaim | None:
    """The claim read beside a record (the `claim_*` columns of a record query), if it has one."""
    if values.get("claim_host") is None:
        return None
    holder = ClaimHolder(
        values["claim_host"], values["claim_boot_id"], values["claim_pid"], values["claim_process_started"]
    )
    return ImportClaim(
        holder,
        values["claim_run_id"],
        _utc(values["claim_claimed_at"]),
        _utc(values["claim_renewed_at"]),
        _utc(values["claim_expires_at"]),
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stopped_import_message(run_id: str | None, claim: ImportClaim | None, longest: timedelta, now: datetime) -> str:
    """The Error message of an import that stopped without finishing: what happened, as far as is known."""
    if claim is not None and claim.lapsed(now):
        what = claim.why_lapsed()
    else:
        minutes = int(longest.total_seconds() // 60)
        what = (
            f"it was still Populating after {minutes} minutes, the longest an import may take "
            "(stuck_populating_after_minutes)"
        )
    return (
        f"Import stopped without finishing (run {run_id or 'none'}): {what}; no line was stored, "
        "the next sync imports it again"
    )


def write_claim(conn: sa.Connection, record_id: str, run_id: str | None, lapse: timedelta, now: datetime) -> None:
    """This process claims the record (inside the transaction that sets it Populating), replacing any old claim."""
    holder = ClaimHolder.this_process()
    conn.execute(sa.delete(t.import_claims).where(t.import_claims.c.record_id == record_id))
    conn.execute(
        sa.insert(t.import_claims).values(
            record_id=record_id,
            run_id=run_id,
            host=holder.host,
            boot_id=holder.boot_id,
            pid=holder.pid,
            process_started=holder.process_started,
            claimed_at=now,
            renewed_at=now,
            expires_at=now + lapse,
        )
    )


def renew_claim(engine: sa.Engine, record_id: str, run_id: str | None, lapse: timedelta) -> bool:
    """Push this process's claim on the record `lapse` ahead; False when the claim is no longer ours."""
    holder = ClaimHolder.this_process()
    claims = t.import_claims
    now = datetime.now(UTC)
    with engine.begin() as conn:
        renewed = conn.execute(
            sa.update(claims)
            .where(
                claims.c.record_id == record_id,
                claims.c.host == holder.host,
                claims.c.pid == holder.pid,
                claims.c.process_started == holder.process_started,
                claims.c.run_id.is_(None) if run_id is None else claims.c.run_id == run_id,
            )
            .values(renewed_at=now, expires_at=now + lapse)
        )
    return renewed.rowcount == 1


@contextmanager
def claim_renewed(engine: sa.Engine, record_id: str, run_id: str | None, lapse: timedelta) -> Iterator[None]:
    """Renew this process's claim on the record in a background thread while the block runs.

    A renewal that fails (the warehouse briefly unreachable) is logged and tried again at the next beat; the
    claim lapses only when renewals fail for the whole lapse. One that finds the claim taken over stops.
    """
    stop = threading.Event()
    interval = lapse.total_seconds() / RENEWALS_PER_LAPSE

    def renew() -> None:
        while not stop.wait(interval):
            try:
                if not renew_claim(engine, record_id, run_id, lapse):
                    log.warning("the claim on record %s was taken over by another run; renewals stop", record_id)
                    return
            except Exception as error:  # noqa: BLE001 - a renewal must never kill the import it serves
                log.warning("renewing the claim on record %s failed (%s); trying again", record_id, error)

    renewer = threading.Thread(target=renew, name=f"import-claim-{record_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=interval)  # a renewal stuck on an unreachable warehouse is left to end by itself
