"""How long calls take against a server that dribbles its answer forever (figures for the note, not a test).

For each way of dribbling (status line, headers, body, chunked body) and each setting, a read and a write are made
against a real 127.0.0.1 server that sends one byte every 50 ms; the printed time is what the call took, next to its
budget (connect + read, or max_elapsed with retries). Run: ``python benchmarks/trickle.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.mock_deployment import KEY_ID, REALM, SECRET_B64
from support.trickle_server import TrickleServer
from vluna_client import NO_RETRIES, RetryPolicy, ServiceClient

SETTINGS = [
    ("timeout=(2, 3), no retries", (2, 3), NO_RETRIES, 2 + 3),
    ("timeout=(1, 1.5), no retries", (1, 1.5), NO_RETRIES, 1 + 1.5),
    ("timeout=(2, 3), RetryPolicy(max_elapsed=8)", (2, 3), RetryPolicy(max_elapsed=8, backoff_base=0.1), 8),
]


def main() -> None:
    print("calls against a server that sends one byte every 50 ms, forever:")
    for mode in ("status", "headers", "body", "chunked"):
        for label, timeout, retry, budget in SETTINGS:
            with TrickleServer(mode, interval=0.05) as server:
                client = ServiceClient(
                    base_url=server.url + "/mgt/v1", realm_id=REALM, key_id=KEY_ID, key_secret=SECRET_B64, retry=retry
                )
                calls = {
                    "wallet.get_balance": lambda c=client, t=timeout: c.wallet.get_balance(
                        principal_id="o", user_id="u", timeout=t
                    ),
                    "gate.ingest": lambda c=client, t=timeout: c.gate.ingest(
                        feature_code="f", quantity_minor=1, principal_id="o", user_id="u", timeout=t
                    ),
                }
                for what, call in calls.items():
                    before = server.requests
                    started = time.monotonic()
                    try:
                        call()
                        outcome = "answered?!"
                    except Exception as exc:  # noqa: BLE001 - the figure is what we want, whatever it raised
                        outcome = type(exc).__name__
                    took = time.monotonic() - started
                    print(
                        f"  {mode:8} {label:45} {what:19} {took:5.2f} s (budget {budget:g} s, attempts "
                        f"{server.requests - before}) -> {outcome}"
                    )
                client.close()


if __name__ == "__main__":
    main()
