"""Client CPU per call over a real loopback socket: vluna_client beside bare urllib3 (and bare requests).

The server runs in another process, so only the client's own CPU is counted (``time.process_time`` of this
process). Every contender makes the same request (checked at the server before timing): a ``gate.commit`` POST
whose body it serialises and SVC-AUTH signs for each call, the bare ones by hand (``_wire.sign``) with a fresh
idempotency key, as the client mints one; each reads and decodes the whole answer. Only vluna_client also
validates the arguments, checks the envelope and builds typed models. Blocks of calls alternate between the
contenders (the order rotates every round) so that load from other processes falls on all of them alike; the
figure is the median block. Figures, not assertions: ``python benchmarks/percall.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wire import KEY_ID, REALM, SECRET, Server, instructions, same_request, sign

TARGET = 1.15
ROUNDS = 15
BLOCK = 200  # calls per timed block
PATH = "/mgt/v1/gate/commits"


def contenders(base: str) -> dict[str, tuple[Callable[[], object], Callable[[], None]]]:
    """name -> (one call, close); the first is the baseline."""
    import platform

    import requests
    import urllib3

    import vluna_client
    from vluna_client import ServiceClient

    user_agent = f"vluna-client/{vluna_client.__version__} python/{platform.python_version()}"
    fixed = {
        "Accept": "application/json",
        "Accept-Encoding": "gzip, deflate",
        "User-Agent": user_agent,
        "X-Realm-Id": REALM,
        "X-Principal-Id": "org",
        "X-User-Id": "user",
        "Content-Type": "application/json",
    }

    def request() -> tuple[bytes, dict[str, str]]:
        payload = {"feature_code": "llm.chat", "lease_token": "lease.x.y", "quantity_minor": "1200"}
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        headers = {**fixed, "Idempotency-Key": str(uuid.uuid4())}
        return body, sign("POST", PATH, headers, body)

    pool = urllib3.PoolManager()

    def bare_urllib3() -> object:
        body, headers = request()
        response = pool.request("POST", base + PATH, body=body, headers=headers, timeout=urllib3.Timeout(5, 30))
        return json.loads(response.data)

    session = requests.Session()

    def bare_requests() -> object:
        body, headers = request()
        response = session.post(base + PATH, data=body, headers=headers, timeout=(5, 30))
        return json.loads(response.content)

    client = ServiceClient(base_url=base + "/mgt/v1", realm_id=REALM, key_id=KEY_ID, key_secret=SECRET)
    gate = client.bind(principal_id="org", user_id="user").gate

    def ours() -> object:
        return gate.commit(lease_token="lease.x.y", feature_code="llm.chat", quantity_minor=1200)

    return {
        "urllib3": (bare_urllib3, pool.clear),
        "requests": (bare_requests, session.close),
        "vluna_client": (ours, client.close),
    }


def measure(rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Per-call CPU seconds of each block, by contender (``rounds`` blocks each)."""
    samples: dict[str, list[float]] = {}
    with Server() as server:
        calls = contenders(server.base)
        seen = {}
        for name, (call, _) in calls.items():
            for _ in range(50):
                call()  # warm up: connection, caches, lazily built pieces
            seen[name] = server.last()
        for name in calls:
            problems = same_request(seen["vluna_client"], seen[name])
            if problems:
                raise SystemExit(f"vluna_client and {name} send different requests: " + "; ".join(problems))
        names = list(calls)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                call = calls[name][0]
                started = time.process_time()
                for _ in range(BLOCK):
                    call()
                samples.setdefault(name, []).append((time.process_time() - started) / BLOCK)
        for _, close in calls.values():
            close()
    return samples


def _child(name: str, base: str, calls: int) -> None:
    """Run under callgrind by :func:`measure_instructions`: set up, warm up, make ``calls`` calls, exit."""
    call = contenders(base)[name][0]
    for _ in range(50):
        call()
    for _ in range(calls):
        call()
    sys.stdout.flush()
    os._exit(0)


def measure_instructions() -> dict[str, float]:
    """Instructions per call (callgrind): a process making BLOCK more calls than an otherwise identical one."""
    per_call: dict[str, float] = {}
    with Server() as server:
        for name in ("urllib3", "vluna_client"):
            runs = [
                instructions([sys.executable, __file__, "--child", name, "--base", server.base, "--calls", str(n)])
                for n in (0, BLOCK)
            ]
            per_call[name] = (runs[1] - runs[0]) / BLOCK
    floor = per_call["urllib3"]
    print(f"instructions per signed POST (callgrind; {BLOCK} calls after set-up and warm-up):")
    for name, count in per_call.items():
        print(f"  {name:13} {count / 1e3:7.0f} k   {count / floor:4.2f}x bare urllib3")
    return per_call


def report(samples: dict[str, list[float]]) -> tuple[float, float]:
    """Print the medians; return (client median, urllib3 median)."""
    floor = statistics.median(samples["urllib3"])
    n = len(samples["urllib3"])
    print(f"client CPU per signed POST over loopback (median of {n} alternating blocks of {BLOCK} calls):")
    for name, blocks in samples.items():
        median = statistics.median(blocks)
        print(f"  {name:13} {median * 1e6:7.0f} us   {median / floor:4.2f}x bare urllib3")
    print("  (vluna_client also validates the arguments, decodes the envelope and builds typed models)")
    return statistics.median(samples["vluna_client"]), floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed blocks per contender")
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.base, args.calls)
    ours, floor = report(measure(args.rounds))
    print(f"  target <= {TARGET:.2f}x: {'met' if ours / floor <= TARGET else 'NOT met'}")
    if args.instructions:
        measure_instructions()


if __name__ == "__main__":
    main()
