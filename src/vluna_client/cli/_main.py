"""Argument parsing and dispatch for ``vluna``; every error ends as one line and a documented exit status."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from .._errors import ConfigurationError, InputValidationError, VlunaError
from .._timeout import MAX_TIMEOUT, Timeout, parse_timeout
from ._commands import add_parsers
from ._output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, fail
from ._usage import add_parser as add_usage_parser

_EPILOG = """\
configuration: VLUNA_SERVICE_BASE_URL, VLUNA_REALM_ID, VLUNA_SERVICE_KEY_ID and VLUNA_SERVICE_KEY_SECRET
(`vluna emulator serve` prints a set that points at a local emulator).

exit status: 0 ok; 1 a call failed, or some rows were refused for their data; 2 usage or configuration error;
3 some rows' outcomes are unknown or they were not sent (run again); 130 interrupted. `vluna usage ingest
--help` says more.
"""


def _timeout(text: str) -> Timeout:
    """``--timeout``: the client's own timeout rule (finite, more than 0, at most MAX_TIMEOUT)."""
    try:
        return parse_timeout(text, name="--timeout")
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    common.add_argument(
        "--timeout",
        type=_timeout,
        default=None,
        help=f"per-request timeout in seconds, more than 0 and at most {MAX_TIMEOUT:g} (default: 30)",
    )
    common.add_argument("-v", "--verbose", action="count", default=0, help="log retries to stderr (-vv: every request)")

    parser = argparse.ArgumentParser(
        prog="vluna",
        description="Command line for the Vluna billing and usage-gate API.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"vluna-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parsers(commands, common)
    usage = commands.add_parser("usage", help="usage events")
    add_usage_parser(usage.add_subparsers(dest="usage_command", required=True, metavar="COMMAND"), common)
    commands.add_parser(
        "emulator", help="the local Vluna emulator (same as python -m vluna_client.testing)", add_help=False
    )
    return parser


def _logging(verbosity: int) -> None:
    """The client logs a WARNING per retry: shown with -v, kept off the terminal otherwise (the summary counts)."""
    logger = logging.getLogger("vluna_client")
    if verbosity <= 0:
        logger.addHandler(logging.NullHandler())  # without a handler Python would print warnings anyway
        logger.propagate = False
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)


def main(argv: Optional[list[str]] = None) -> int:
    """Run ``vluna`` with ``argv`` (default: the process arguments) and return the exit status."""
    args_list = sys.argv[1:] if argv is None else list(argv)
    if args_list[:1] == ["emulator"]:
        # Delegated whole: `vluna emulator serve ...` is `python -m vluna_client.testing serve ...`.
        from ..testing.__main__ import main as emulator_main

        return emulator_main(args_list[1:] or ["--help"])
    parser = _parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    as_json = bool(getattr(args, "json", False))
    _logging(int(getattr(args, "verbose", 0)))
    try:
        code: int = args.handler(args)
    except ConfigurationError as exc:
        return fail(as_json, exc, EXIT_USAGE)
    except InputValidationError as exc:
        return fail(as_json, exc, EXIT_USAGE, hint="nothing was sent")
    except VlunaError as exc:
        return fail(as_json, exc, EXIT_FAILED)
    except KeyboardInterrupt:
        print("vluna: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code
