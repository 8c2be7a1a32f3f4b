"""Gate loops on many threads sharing one client, against the emulator with random faults of every kind.

Each loop does what the README tells a caller to do: authorize, do the work, commit (or cancel when the work fails),
and when a write's outcome is unknown, replay it with the same key. Half the loops use the lease helper, half call
``client.gate.*`` directly. Afterwards the emulator's ledger is compared with what every loop was told:

- no duplicate charge: at most one commit per lease and per commit key;
- nothing lost: every commit the client reported as done is in the ledger, once;
- never "not done" when it was: every recorded commit whose call raised was flagged ``may_have_applied``;
- no lease left open by the client: every lease the emulator holds is committed or cancelled.

Used by ``tests/chaos/test_chaos.py`` (small, seeded, in the default run) and by ``nox -s chaos`` (2,000+ loops,
prints the figures). ``--deployment`` runs the same loops against the real server named by ``VLUNA_*``, through a
fault-injecting proxy, and checks the server's database instead (see ``deployment.py``).
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Protocol, Sequence, Tuple

import attrs

import vluna_client
from vluna_client import OutcomeUnknownError, VlunaError
from vluna_client.testing import Emulator

FEATURE = "llm.chat"
KINDS = ("fail", "rate_limit", "reset", "drop", "stall", "delay", "trickle", "oversized")
# The loops' client refuses answers over this size; an injected oversized answer is twice that (small, so the run
# does not spend its time pushing megabytes through loopback).
ANSWER_CAP = 64 * 1024
OVERSIZED_BYTES = 2 * ANSWER_CAP
# A call may take its retries' budget plus this much scheduling slack, however the server dribbles.
CALL_SLACK = 0.5
# Replays of a write whose outcome is unknown before the loop gives up and reports it as unknown.
REPLAYS = 6


class WorkFailed(Exception):
    """The paid work itself failed: the lease must be given back."""


@attrs.define
class LoopReport:
    """What one gate loop was told by the client."""

    loop: int
    style: str
    commit_key: Optional[str] = None
    lease_id: Optional[str] = None
    # "committed", "refused" (the client said nothing was recorded), "unknown", "cancelled", "not-authorized",
    # "authorize-unknown" (the client said a lease may be held that it could not give back)
    outcome: str = "not-authorized"
    authorize_key: Optional[str] = None
    first_commit_error: Optional[VlunaError] = None
    commit_id: Optional[str] = None
    unknown_errors: int = 0
    replays: int = 0
    slowest_call: float = 0.0  # seconds, over the writes this loop settled


@attrs.define
class ChaosResult:
    """The run's figures and every violation found (empty when the promise held)."""

    loops: int
    threads: int
    rate: float
    seconds: float
    requests: int
    faults: Dict[str, int]
    outcomes: Dict[str, int]
    unknown_errors: int
    replays: int
    commits_recorded: int
    recorded_after_an_error: int
    leases_left_open: int
    violations: List[str]
    target: str = "emulator"
    notes: List[str] = attrs.Factory(list)
    slowest_call: float = 0.0

    def lines(self) -> List[str]:
        """A printable summary."""
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return [
            f"chaos: {self.loops} gate loops on {self.threads} threads sharing one client, "
            f"{self.rate:.0%} of requests faulted, {self.seconds:.1f} s",
            f"  requests seen by the {self.target}: {self.requests}; "
            f"faults injected: {sum(self.faults.values())} ({faults})",
            f"  loop outcomes: {outcomes}",
            f"  OutcomeUnknownError raised: {self.unknown_errors}; replays with the same key: {self.replays}",
            f"  commits recorded: {self.commits_recorded}, of which {self.recorded_after_an_error} after the first "
            "call raised (every one flagged may_have_applied, or the check below fails)",
            f"  leases left open on the {self.target}: {self.leases_left_open}",
            f"  slowest settled call: {self.slowest_call:.2f} s (trickled answers included)",
            *self.notes,
            f"  violations: {len(self.violations)}"
            + ("" if not self.violations else ": " + "; ".join(self.violations[:5])),
        ]


def _settle(call: Callable[[], Any], report: LoopReport) -> Tuple[str, Any]:
    """Run a write, replaying it (the caller's same key) while its outcome is unknown."""
    last: Optional[OutcomeUnknownError] = None
    for attempt in range(REPLAYS):
        if attempt:
            report.replays += 1
        started = time.monotonic()
        try:
            return "done", call()
        except OutcomeUnknownError as exc:
            report.unknown_errors += 1
            last = exc
        except VlunaError as exc:
            return "refused", exc
        finally:
            report.slowest_call = max(report.slowest_call, time.monotonic() - started)
    return "unknown", last


def _lease_loop(client: vluna_client.ServiceClient, n: int, rng: random.Random, report: LoopReport, tag: str) -> None:
    fail_work = rng.random() < 0.2
    quantity = rng.randint(1, 50)
    report.authorize_key = f"{tag}loop-{n}-authorize"
    lease = client.lease(feature_code=FEATURE, estimated_quantity_minor=quantity, idempotency_key=report.authorize_key)
    try:
        with lease:
            report.lease_id = lease.lease_id
            if fail_work:
                raise WorkFailed
            report.commit_key = f"{tag}loop-{n}-commit"
            try:
                result = lease.commit(quantity_minor=quantity, idempotency_key=report.commit_key)
            except VlunaError as exc:
                report.first_commit_error = exc
                if not exc.may_have_applied:
                    report.outcome = "refused"
                    return
                report.unknown_errors += 1
                status, result = _settle(lambda: lease.commit(quantity_minor=quantity), report)
                if status != "done":
                    report.outcome = "unknown" if status == "unknown" else "refused"
                    return
            report.outcome, report.commit_id = "committed", result.data.commit_id
    except WorkFailed:
        report.outcome = "cancelled"
    except VlunaError:
        # Authorize failed. One whose answer was lost is recovered (replayed, then cancelled) by the lease; when even
        # that failed, the lease says so with its state.
        report.outcome = "authorize-unknown" if lease.state == "unknown" else "not-authorized"


def _direct_loop(client: vluna_client.ServiceClient, n: int, rng: random.Random, report: LoopReport, tag: str) -> None:
    fail_work = rng.random() < 0.2
    quantity = rng.randint(1, 50)
    authorize_key = report.authorize_key = f"{tag}loop-{n}-authorize"
    status, authorized = _settle(
        lambda: client.gate.authorize(
            feature_code=FEATURE, estimated_quantity_minor=quantity, idempotency_key=authorize_key
        ),
        report,
    )
    if status != "done":
        # Refused: no lease. Unknown after every replay: a lease may exist, and the caller was told so.
        report.outcome = "authorize-unknown" if status == "unknown" else "not-authorized"
        return
    token, report.lease_id = authorized.data.lease_token, authorized.data.lease_id
    if fail_work:
        status, _ = _settle(lambda: client.gate.cancel(lease_token=token), report)
        report.outcome = "cancelled" if status == "done" else "cancel-failed"
        return
    report.commit_key = f"{tag}loop-{n}-commit"

    def commit() -> Any:
        return client.gate.commit(
            lease_token=token, feature_code=FEATURE, quantity_minor=quantity, idempotency_key=report.commit_key
        )

    try:
        result = commit()
    except VlunaError as exc:
        report.first_commit_error = exc
        if not exc.may_have_applied:
            report.outcome = "refused"
            _settle(lambda: client.gate.cancel(lease_token=token), report)
            return
        report.unknown_errors += 1
        status, result = _settle(commit, report)
        if status != "done":
            report.outcome = "unknown" if status == "unknown" else "refused"
            return
    report.outcome, report.commit_id = "committed", result.data.commit_id


class LedgerView(Protocol):
    """What the checker reads: the emulator's ledger, or ``deployment.PsqlLedger`` for a real server."""

    def commits(self) -> Sequence[Any]: ...

    def leases(self) -> Sequence[Any]: ...


class Target(Protocol):
    """Where the loops run: a context manager with a client factory, a fault switch and a ledger."""

    @property
    def name(self) -> str: ...

    @property
    def ledger(self) -> LedgerView: ...

    @property
    def key_prefix(self) -> str: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: Any) -> None: ...

    def who(self, n: int) -> Tuple[str, str]: ...

    def prepare(self, pairs: Iterable[Tuple[str, str]]) -> None: ...

    def service_client(self, **options: Any) -> vluna_client.ServiceClient: ...

    def start_faults(
        self,
        rate: float,
        *,
        seed: int,
        kinds: Sequence[str],
        hold_seconds: float,
        trickle_interval: float,
        oversized_bytes: int,
    ) -> None: ...

    def stop_faults(self) -> None: ...

    def requests(self) -> Sequence[Any]: ...

    def notes(self) -> List[str]: ...


class EmulatorTarget:
    """The bundled emulator and its own random fault mode (the default target)."""

    name = "emulator"
    key_prefix = ""

    def __init__(self) -> None:
        self.emulator = Emulator()
        self.ledger = self.emulator.ledger

    def __enter__(self) -> EmulatorTarget:
        self.emulator.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.emulator.__exit__(*exc)

    def who(self, n: int) -> Tuple[str, str]:
        return f"org-{n % 7}", f"user-{n % 13}"

    def prepare(self, pairs: Iterable[Tuple[str, str]]) -> None:
        """Nothing to do: the emulator registers principals on first use without a hiccup."""

    def service_client(self, **options: Any) -> vluna_client.ServiceClient:
        return self.emulator.service_client(**options)

    def start_faults(
        self,
        rate: float,
        *,
        seed: int,
        kinds: Sequence[str],
        hold_seconds: float,
        trickle_interval: float,
        oversized_bytes: int,
    ) -> None:
        self.emulator.faults.random(
            rate,
            seed=seed,
            kinds=kinds,
            paths=["/mgt/v1/gate/*"],
            retry_after=0,
            stall_seconds=hold_seconds,
            trickle_interval=trickle_interval,
            oversized_bytes=oversized_bytes,
        )

    def stop_faults(self) -> None:
        self.emulator.faults.clear()

    def requests(self) -> Sequence[Any]:
        return self.emulator.ledger.requests

    def notes(self) -> List[str]:
        return []


def run(
    *,
    loops: int = 2000,
    threads: int = 16,
    rate: float = 0.2,
    seed: int = 7,
    read_timeout: float = 0.3,
    target: Optional[Target] = None,
) -> ChaosResult:
    """Run the chaos scenario against ``target`` (a fresh emulator by default) and check its ledger."""
    reports: List[LoopReport] = []
    lock = threading.Lock()
    started = time.monotonic()
    with target if target is not None else EmulatorTarget() as emu:
        emu.prepare(emu.who(n) for n in range(loops))
        # stall and delay outlast the read timeout: the answer is lost
        # trickled bytes come far faster than the read timeout: only the attempt's deadline ends them
        emu.start_faults(
            rate,
            seed=seed,
            kinds=KINDS,
            hold_seconds=read_timeout * 4,
            trickle_interval=read_timeout / 10,
            oversized_bytes=OVERSIZED_BYTES,
        )
        policy = vluna_client.RetryPolicy(max_attempts=3, backoff_base=0.002, backoff_max=0.02, max_elapsed=30.0)
        transport = vluna_client.RequestsTransport(max_answer_bytes=ANSWER_CAP)
        with emu.service_client(retry=policy, timeout=(2.0, read_timeout), transport=transport) as base:

            def one(n: int) -> None:
                rng = random.Random(seed * 1_000_003 + n)  # a test workload, not cryptography
                principal_id, user_id = emu.who(n)
                client = base.bind(principal_id=principal_id, user_id=user_id)
                report = LoopReport(loop=n, style="lease" if n % 2 == 0 else "direct")
                (_lease_loop if report.style == "lease" else _direct_loop)(client, n, rng, report, emu.key_prefix)
                with lock:
                    reports.append(report)

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(one, range(loops)))
        emu.stop_faults()
        # Delayed requests are processed after their client gave up: let them land before reading the ledger.
        time.sleep(read_timeout * 4 + 0.5)
        violations = check(emu, reports)
        slowest = max((r.slowest_call for r in reports), default=0.0)
        if slowest > policy.max_elapsed + CALL_SLACK:
            violations.append(f"a call took {slowest:.1f} s, past max_elapsed {policy.max_elapsed} s")
        requests = emu.requests()
        faults = collections.Counter(r.fault for r in requests if r.fault is not None)
        commits = emu.ledger.commits()
        left_open = sum(1 for lease in emu.ledger.leases() if lease.state == "open")
        notes = emu.notes()
    recorded = {c.idempotency_key for c in commits}
    return ChaosResult(
        loops=loops,
        threads=threads,
        rate=rate,
        seconds=time.monotonic() - started,
        requests=len(requests),
        faults=dict(faults),
        outcomes=dict(collections.Counter(r.outcome for r in reports)),
        unknown_errors=sum(r.unknown_errors for r in reports),
        replays=sum(r.replays for r in reports),
        commits_recorded=len(commits),
        recorded_after_an_error=sum(
            1 for r in reports if r.first_commit_error is not None and r.commit_key in recorded
        ),
        leases_left_open=left_open,
        violations=violations,
        target=emu.name,
        notes=notes,
        slowest_call=slowest,
    )


def check(emu: Target, reports: List[LoopReport]) -> List[str]:
    """Every way the ledger and what the loops were told disagree."""
    problems: List[str] = []
    commits = emu.ledger.commits()
    per_lease = collections.Counter(c.lease_id for c in commits if c.application_status == "applied")
    per_key = collections.Counter(c.idempotency_key for c in commits)
    problems += [f"lease {lease} charged {n} times" for lease, n in per_lease.items() if n > 1]
    problems += [f"commit key {key} recorded {n} times" for key, n in per_key.items() if n > 1]
    by_key = {c.idempotency_key: c for c in commits}
    for report in reports:
        if report.commit_key is None:
            continue
        stored = by_key.get(report.commit_key)
        if report.outcome == "committed":
            if stored is None or stored.commit_id != report.commit_id:
                problems.append(f"loop {report.loop}: told committed, ledger has {stored}")
            elif stored.application_status != "applied":
                problems.append(f"loop {report.loop}: told committed, but the commit was quarantined")
        elif report.outcome == "refused" and stored is not None:
            problems.append(f"loop {report.loop}: told refused, but the commit was recorded")
        error = report.first_commit_error
        if stored is not None and error is not None and not error.may_have_applied:
            problems.append(f"loop {report.loop}: {type(error).__name__} said not applied")
    open_leases = [lease for lease in emu.ledger.leases() if lease.state == "open"]
    # Leases the client told its caller it could not settle are the caller's to handle, not a broken promise.
    unresolved = {r.lease_id for r in reports if r.outcome in ("unknown", "cancel-failed")}
    unsettled_authorizations = {r.authorize_key for r in reports if r.outcome == "authorize-unknown"}
    problems += [
        f"lease {lease.lease_id} ({lease.idempotency_key}) left open"
        for lease in open_leases
        if lease.lease_id not in unresolved
        and not any(key and lease.idempotency_key.endswith(key) for key in unsettled_authorizations)
    ]
    return problems


def main() -> None:
    """``nox -s chaos``: the full run, with figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loops", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--deployment",
        action="store_true",
        help="run against the server named by VLUNA_*, through a fault proxy; read its database with psql "
        "(VLUNA_CHAOS_DSN, else the PG* settings)",
    )
    parser.add_argument(
        "--read-timeout", type=float, default=None, help="client read timeout in seconds (0.3 emulator, 2.0 server)"
    )
    args = parser.parse_args()
    # Every retry logs a warning; thousands of them would bury the figures.
    logging.getLogger("vluna_client").setLevel(logging.ERROR)
    target: Optional[Target] = None
    if args.deployment:
        # Run as a script, this file's folder is on sys.path but its parent (which holds the `chaos` package) is not.
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from chaos.deployment import DeploymentTarget

        target = DeploymentTarget()
    read_timeout = args.read_timeout or (2.0 if args.deployment else 0.3)
    result = run(
        loops=args.loops, threads=args.threads, rate=args.rate, seed=args.seed, read_timeout=read_timeout, target=target
    )
    for line in result.lines():
        print(line)
    if result.violations:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
