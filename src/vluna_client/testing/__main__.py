"""Command line for the emulator.

``python -m vluna_client.testing serve`` runs it in the foreground (until Ctrl-C or SIGTERM) and prints the
``export VLUNA_...=...`` lines that point a client at it. ``python -m vluna_client.testing run -- CMD ARGS...``
starts it, runs ``CMD`` with those variables set, stops it and exits with ``CMD``'s status. Both take a catalog
file (``--catalog``) and per-meter prices (``--price METER=XUSD``). ``python -m vluna_client.testing ledger``
reads a running emulator's ledger (the one the ``VLUNA_*`` variables name) from another process.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import List, Optional, Tuple

from ._emulator import Emulator, is_loopback


def _add_emulator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback interface to bind (default: 127.0.0.1; see --allow-remote)"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (anyone who reaches it can use the emulator)",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: 0, an ephemeral port)")
    parser.add_argument("--realm-id", default=None, help="realm id (default: random)")
    parser.add_argument("--key-id", default=None, help="service key id (default: random pk-...)")
    parser.add_argument("--key-secret", default=None, help="base64 service key secret (default: random)")
    parser.add_argument("--price-per-unit-xusd", type=int, default=10, help="default meter price (default: 10)")
    parser.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="METER=XUSD",
        help="price one unit of METER at XUSD (repeatable; applied after --catalog)",
    )
    parser.add_argument(
        "--catalog",
        default=None,
        metavar="FILE",
        help="seed features, families, meters with prices, plans, policies, wallets from a YAML or JSON file",
    )
    parser.add_argument("--strict", action="store_true", help="refuse stale timestamps and reused nonces")
    parser.add_argument(
        "--wallet",
        action="append",
        default=[],
        metavar="PRINCIPAL=XUSD",
        help="make PRINCIPAL's account prepaid with this balance (repeatable)",
    )
    parser.add_argument(
        "--quota",
        action="append",
        default=[],
        metavar="FEATURE=LIMIT",
        help="give FEATURE a per-user quota of LIMIT minor units (repeatable)",
    )


def _pairs(values: List[str], option: str) -> List[Tuple[str, int]]:
    out = []
    for value in values:
        name, sep, number = value.partition("=")
        if not sep or not name or not number.lstrip("-").isdigit():
            raise SystemExit(f"{option} takes NAME=INTEGER, got {value!r}")
        out.append((name, int(number)))
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vluna_client.testing", description="A local Vluna emulator for development and tests."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator and print its VLUNA_* variables")
    _add_emulator_options(serve)
    run = commands.add_parser("run", help="run a command with VLUNA_* pointing at a fresh emulator")
    _add_emulator_options(run)
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="the command, after --")
    ledger = commands.add_parser(
        "ledger", help="print a running emulator's ledger (the one the VLUNA_* variables point at)"
    )
    ledger.add_argument("--json", action="store_true", help="the whole ledger as JSON (default: a summary)")
    return parser


def _emulator(args: argparse.Namespace) -> Emulator:
    if not args.allow_remote and not is_loopback(args.host):
        raise SystemExit(f"--host {args.host} is not a loopback address; add --allow-remote to bind it anyway")
    emulator = Emulator(
        allow_remote=args.allow_remote,
        host=args.host,
        port=args.port,
        realm_id=args.realm_id,
        key_id=args.key_id,
        key_secret=args.key_secret,
        price_per_unit_xusd=args.price_per_unit_xusd,
        strict=args.strict,
    )
    prices = _pairs(args.price, "--price")
    try:
        if args.catalog:
            emulator.load_catalog(args.catalog)
        for meter, xusd in prices:
            emulator.set_price(meter, xusd)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"vluna emulator: {exc}") from None
    for principal, xusd in _pairs(args.wallet, "--wallet"):
        emulator.set_wallet_balance(principal, xusd)
    for feature, limit in _pairs(args.quota, "--quota"):
        emulator.set_quota(feature, limit)
    return emulator


def _run(args: argparse.Namespace) -> int:
    command = list(args.cmd)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("run: give the command to run after --", file=sys.stderr)
        return 2
    with _emulator(args) as emulator:
        env = dict(os.environ, **emulator.env())
        try:
            completed = subprocess.run(command, env=env, check=False)  # noqa: S603 - the user's own command
        except FileNotFoundError:
            print(f"run: command not found: {command[0]}", file=sys.stderr)
            return 127
        except KeyboardInterrupt:
            return 130
    return completed.returncode


def _ledger(args: argparse.Namespace) -> int:
    # The client side of the admin route: signed like any service call, with the variables `serve` printed.
    from ._ledger_client import LedgerReadError, read_ledger, summary_lines

    try:
        snapshot = read_ledger(os.environ)
    except LedgerReadError as exc:
        print(f"ledger: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(snapshot, indent=2, sort_keys=True))
    else:
        for line in summary_lines(snapshot):
            print(line)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point: ``serve`` (export lines, then serve until stopped), ``run`` (wrap a command), ``ledger``."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "ledger":
        return _ledger(args)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Optional[FrameType]) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    with _emulator(args) as emulator:
        # The secret is printed on purpose: it is a throwaway key that only this local process accepts.
        for name, value in emulator.env().items():
            print(f"export {name}={shlex.quote(value)}")
        print(f"# vluna emulator listening on {emulator.url} (Ctrl-C to stop)", file=sys.stderr)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
