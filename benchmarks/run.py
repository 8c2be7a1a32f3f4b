"""Print the figures we track: import cost, first use of each API area, and per-call overhead.

Figures, not assertions: run with `nox -s bench`. Every import figure is the best of several fresh interpreters.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

RUNS = 7
SECRET = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
CLIENT = (
    "from vluna_client import ServiceClient, BearerClient;"
    f"c = ServiceClient(base_url='http://127.0.0.1:9/mgt/v1', realm_id='r', key_id='pk-bench', key_secret='{SECRET}');"
    "b = BearerClient(base_url='http://127.0.0.1:9/api/v1', realm_id='r', access_token='t');"
)


def fresh(code: str) -> float:
    """Best-of-RUNS seconds printed by `code` in a fresh interpreter."""
    best = float("inf")
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        best = min(best, float(out.stdout.strip()))
    return best


def import_time(module: str) -> float:
    return fresh(f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)")


def area_time(client: str, area: str) -> float:
    code = f"import time;{CLIENT} t=time.perf_counter(); {client}.{area}; print(time.perf_counter()-t)"
    return fresh(code)


class _Canned:
    """A transport that answers every request from memory, so only the client's own work is timed."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def send(self, method, url, headers, body, timeout):  # type: ignore[no-untyped-def]
        from vluna_client import RawResponse

        return RawResponse(200, {"Content-Type": "application/json"}, self._body)

    def close(self) -> None:
        pass


def client_overhead() -> None:
    """Validation, serialisation, signing, envelope decoding and model building, without any socket."""
    from vluna_client import ServiceClient

    commit = {
        "ok": True,
        "code": "OK",
        "data": {
            "commit_id": "c1",
            "amount_xusd": "12000",
            "cost_xusd": "0",
            "lines": [
                {"line_id": f"l{i}", "meter_code": f"m{i}", "quantity_minor": "600", "amount_xusd": "6000"}
                for i in range(2)
            ],
        },
        "hints": [{"type": "quota.remaining", "max_quantity_minor": 10}],
    }
    client = ServiceClient(
        base_url="http://bench.local/mgt/v1",
        realm_id="r",
        key_id="pk-bench",
        key_secret=SECRET,
        transport=_Canned(json.dumps(commit).encode()),
    )
    gate = client.bind(principal_id="org", user_id="user")
    meters = [{"meter_code": "m0", "quantity_minor": 600}, {"meter_code": "m1", "quantity_minor": 600}]
    gate.gate.commit(lease_token="lease.x.y", feature_code="llm.chat", quantity_minor=1200, meters=meters)
    n = 2000
    t = time.perf_counter()
    for _ in range(n):
        gate.gate.commit(lease_token="lease.x.y", feature_code="llm.chat", quantity_minor=1200, meters=meters)
    per_call = (time.perf_counter() - t) / n
    print(
        f"client overhead per commit (validate, sign, hand to an in-memory transport, parse): {per_call * 1e6:.0f} us"
    )


def main() -> None:
    from vluna_client._generated.operations import OPERATIONS

    print(f"python {sys.version.split()[0]}; best of {RUNS} fresh interpreters")
    base = import_time("requests")
    ours = import_time("vluna_client")
    print(f"import requests      {base * 1000:7.1f} ms")
    print(f"import vluna_client  {ours * 1000:7.1f} ms  (the namespace alone: clients, attrs and requests load on use)")
    print("first use of each area (imports its endpoint and model modules):")
    areas = sorted({(client, area) for client, area, *_ in OPERATIONS})
    for client, area in areas:
        var = "c" if client == "service" else "b"
        print(f"  {client:7} {area:18} {area_time(var, area) * 1000:7.1f} ms")

    client_overhead()

    from vluna_client.testing import Emulator

    with Emulator() as emu, emu.service_client() as client:
        gate = client.bind(principal_id="org_bench", user_id="user_bench")
        gate.gate.authorize(feature_code="bench.feature")  # warm up: connection, hooks
        samples = []
        for _ in range(200):
            t = time.perf_counter()
            lease = gate.gate.authorize(feature_code="bench.feature").data
            gate.gate.commit(lease_token=lease.lease_token, feature_code="bench.feature", quantity_minor=1)
            samples.append((time.perf_counter() - t) / 2)
        print(
            f"authorize+commit over loopback to the emulator: median {statistics.median(samples) * 1000:.2f} ms/call, "
            f"p95 {sorted(samples)[int(len(samples) * 0.95)] * 1000:.2f} ms/call (200 pairs)"
        )


if __name__ == "__main__":
    main()
