"""A fresh process's start to its first answered call: vluna_client beside the same call made with bare requests.

Each sample is a new interpreter that reads its settings from the environment and makes one signed ``GET /health``
to a loopback server (in another process): ``import vluna_client``, ``ServiceClient.from_env()``,
``client.system.health()`` for the client; ``import requests``, hand-written SVC-AUTH signing (``_wire.sign``) and
``requests.get`` for the baseline, which sends the same request (checked before timing). Samples alternate client,
baseline, baseline, client, ... so that load from other processes falls on both alike, and medians are reported.

Two figures per sample, both taken when the answer has been decoded: the process's CPU time so far
(``time.process_time()``, interpreter start-up included; the figure the target is judged on, as other work on the
machine barely moves it) and the wall time since the parent started the process. The package is byte-compiled
first, as an installed one is. Figures, not assertions: ``python benchmarks/coldstart.py [--samples N]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _wire import KEY_ID, REALM, SECRET, Server, instructions, same_request

TARGET = 1.25
SAMPLES = 25

CLIENT = """
import os, time
import vluna_client
client = vluna_client.ServiceClient.from_env()
client.system.health()
print(time.process_time(), time.perf_counter(), flush=True)
os._exit(0)  # the figures are taken; what exit costs is no part of them (nor of an instruction count)
"""

# What a careful caller without this package writes for the same signed GET (the signing is _wire.sign's, inlined
# so that the sample imports nothing of ours).
BASELINE = """
import base64, hashlib, hmac, json, os, secrets, time
from datetime import datetime, timezone
import requests
base = os.environ["VLUNA_SERVICE_BASE_URL"]
root = base[: base.index("/", base.index("//") + 2)]
secret = base64.b64decode(os.environ["VLUNA_SERVICE_KEY_SECRET"])
headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": USER_AGENT,
           "X-Realm-Id": os.environ["VLUNA_REALM_ID"],
           "Content-Digest": "sha-256=:" + base64.b64encode(hashlib.sha256(b"").digest()).decode() + ":"}
ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
nonce = secrets.token_hex(16)
lines = ["GET", "/health", f"ts:{ts}", f"nonce:{nonce}", "content-digest:" + headers["Content-Digest"],
         "content-type:", "x-realm-id:" + headers["X-Realm-Id"], "x-principal-id:", "x-user-id:",
         "x-billing-account-id:", "x-billing-user-id:", "idempotency-key:"]
sig = base64.b64encode(hmac.new(secret, "\\n".join(lines).encode(), hashlib.sha256).digest()).decode()
headers["Authorization"] = (
    f"SVC-AUTH keyId={os.environ['VLUNA_SERVICE_KEY_ID']},sig={sig},ts={ts},nonce={nonce},alg=HMAC-SHA256"
)
response = requests.get(root + "/health", headers=headers, timeout=(5, 30))
response.raise_for_status()
json.loads(response.content)
print(time.process_time(), time.perf_counter(), flush=True)
os._exit(0)
"""


def _user_agent() -> str:
    import vluna_client  # only for its version; the samples import it afresh

    return f"vluna-client/{vluna_client.__version__} python/{platform.python_version()}"


def sample(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) from a fresh interpreter's start to its first answered call."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    cpu, answered = (float(x) for x in out.stdout.split())
    return cpu, answered - started


def compile_package() -> None:
    """Byte-compile the vluna_client the samples import, as pip does when it installs it.

    requests and urllib3 come from site-packages with their ``.pyc`` files; a source tree on ``PYTHONPATH``
    (under ``PYTHONDONTWRITEBYTECODE``) would otherwise be compiled again in every sample.
    """
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("vluna_client")
    for location in (spec.submodule_search_locations if spec else None) or ():
        compileall.compile_dir(location, quiet=1)


def measure(samples: int = SAMPLES) -> dict[str, dict[str, list[float]]]:
    """CPU and wall samples per contender, ``samples`` each, alternating; the requests are checked first."""
    compile_package()
    baseline = BASELINE.replace("USER_AGENT", repr(_user_agent()))
    contenders = {"vluna_client": CLIENT, "requests": baseline}
    figures: dict[str, dict[str, list[float]]] = {name: {"cpu": [], "wall": []} for name in contenders}
    with Server() as server:
        base = server.base
        env = {
            **os.environ,
            "VLUNA_SERVICE_BASE_URL": base + "/mgt/v1",
            "VLUNA_REALM_ID": REALM,
            "VLUNA_SERVICE_KEY_ID": KEY_ID,
            "VLUNA_SERVICE_KEY_SECRET": SECRET,
        }
        seen = {}
        for name, code in contenders.items():
            sample(code, env)  # also warms the OS file cache for both
            seen[name] = server.last()
        problems = same_request(seen["vluna_client"], seen["requests"])
        if problems:
            raise SystemExit("the client and the baseline send different requests: " + "; ".join(problems))
        order = list(contenders)
        for i in range(samples):
            for name in order if i % 2 == 0 else order[::-1]:
                cpu, wall = sample(contenders[name], env)
                figures[name]["cpu"].append(cpu)
                figures[name]["wall"].append(wall)
    return figures


def measure_instructions(samples: int = 3) -> dict[str, list[int]]:
    """Instruction counts (callgrind) of whole sample processes, ``samples`` each, alternating."""
    compile_package()
    baseline = BASELINE.replace("USER_AGENT", repr(_user_agent()))
    contenders = {"vluna_client": CLIENT, "requests": baseline}
    counts: dict[str, list[int]] = {name: [] for name in contenders}
    with Server() as server:
        env = {
            **os.environ,
            "VLUNA_SERVICE_BASE_URL": server.base + "/mgt/v1",
            "VLUNA_REALM_ID": REALM,
            "VLUNA_SERVICE_KEY_ID": KEY_ID,
            "VLUNA_SERVICE_KEY_SECRET": SECRET,
        }
        order = list(contenders)
        for i in range(samples):
            for name in order if i % 2 == 0 else order[::-1]:
                counts[name].append(instructions([sys.executable, "-c", contenders[name]], env))
    ours = statistics.median(counts["vluna_client"])
    bare = statistics.median(counts["requests"])
    print(f"start to first answered call, instructions (callgrind, median of {samples} processes each):")
    print(f"  vluna_client {ours / 1e6:7.1f} M   requests {bare / 1e6:7.1f} M   {ours / bare:4.2f}x")
    return counts


def report(figures: dict[str, dict[str, list[float]]]) -> tuple[float, float]:
    """Print the medians; return (client CPU median, baseline CPU median)."""
    n = len(figures["vluna_client"]["cpu"])
    print(f"start to first answered call (signed GET /health), fresh process per sample, median of {n} alternating:")
    for what in ("cpu", "wall"):
        ours = statistics.median(figures["vluna_client"][what])
        bare = statistics.median(figures["requests"][what])
        label = "CPU " if what == "cpu" else "wall"
        print(f"  {label}  vluna_client {ours * 1e3:6.1f} ms   requests {bare * 1e3:6.1f} ms   {ours / bare:4.2f}x")
    return statistics.median(figures["vluna_client"]["cpu"]), statistics.median(figures["requests"]["cpu"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=SAMPLES, help="samples per contender")
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    args = parser.parse_args()
    ours, bare = report(measure(args.samples))
    print(f"  target <= {TARGET:.2f}x (CPU): {'met' if ours / bare <= TARGET else 'NOT met'}")
    if args.instructions:
        measure_instructions()


if __name__ == "__main__":
    main()
