"""The two speed figures of the client, each beside its baseline and its target, in one run (``nox -s bench``).

- per-call client CPU: ``gate.commit`` over loopback vs the same request signed by hand and sent with bare urllib3
  (``percall.py``);
- start to first answered call: a fresh process's ``import vluna_client``, ``ServiceClient.from_env()`` and
  ``client.system.health()`` vs the same signed call with bare requests (``coldstart.py``).

Figures, not assertions: a miss is printed, never raised. ``python benchmarks/targets.py [--rounds N]
[--samples N] [--instructions]`` (``nox -s bench -- --instructions``: also valgrind instruction counts, steadier
than CPU time on a loaded machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import coldstart
import percall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=percall.ROUNDS, help="per-call: timed blocks per contender")
    parser.add_argument("--samples", type=int, default=coldstart.SAMPLES, help="cold start: processes per contender")
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    args = parser.parse_args()
    call, call_base = percall.report(percall.measure(args.rounds))
    print()
    cold, cold_base = coldstart.report(coldstart.measure(args.samples))
    rows = [
        ("per-call client CPU", f"{call * 1e6:.0f} us", f"urllib3 {call_base * 1e6:.0f} us", call / call_base,
         percall.TARGET),
        ("start to first answered call (CPU)", f"{cold * 1e3:.1f} ms", f"requests {cold_base * 1e3:.1f} ms",
         cold / cold_base, coldstart.TARGET),
    ]  # fmt: skip
    if args.instructions:
        print()
        counts = percall.measure_instructions()
        cold_counts = coldstart.measure_instructions()
        ours, bare = (statistics.median(cold_counts[n]) for n in ("vluna_client", "requests"))
        rows += [
            ("per-call instructions", f"{counts['vluna_client'] / 1e3:.0f} k",
             f"urllib3 {counts['urllib3'] / 1e3:.0f} k", counts["vluna_client"] / counts["urllib3"], percall.TARGET),
            ("start to first answer (instructions)", f"{ours / 1e6:.0f} M", f"requests {bare / 1e6:.0f} M",
             ours / bare, coldstart.TARGET),
        ]  # fmt: skip
    print()
    print(f"{'figure':36} {'vluna_client':>12} {'baseline':>18} {'ratio':>6} {'target':>8}")
    for name, ours, base, ratio, target in rows:
        verdict = "met" if ratio <= target else "NOT met"
        print(f"{name:36} {ours:>12} {base:>18} {ratio:5.2f}x {'<= ' + format(target, '.2f') + 'x':>8}  {verdict}")


if __name__ == "__main__":
    main()
