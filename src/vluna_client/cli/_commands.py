"""The small commands: health, token issue, balance, limits."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .._serde import unstructure
from ._output import EXIT_OK, emit

if TYPE_CHECKING:
    from .. import ServiceClient


def _client(args: argparse.Namespace) -> ServiceClient:
    from .. import ServiceClient

    return ServiceClient.from_env(timeout=args.timeout)


def health(args: argparse.Namespace) -> int:
    """``vluna health``: is the deployment serving?"""
    with _client(args) as client:
        result = client.health()
    data = unstructure(result.data)
    emit(args.json, f"{data.get('service') or 'vluna'}: {data.get('status') or 'unknown'} ({client.base_url})", data)
    return EXIT_OK


def token_issue(args: argparse.Namespace) -> int:
    """``vluna token issue``: mint a bearer token for one user."""
    with _client(args) as client:
        result = client.token.issue(
            principal_id=args.principal_id,
            user_id=args.user_id,
            scopes=args.scope or None,
            session_ttl_sec=args.ttl,
        )
    token = result.data
    human = "\n".join(
        [
            token.access_token,
            f"# {token.token_type} token for principal {args.principal_id!r}, user {args.user_id!r}; "
            f"expires in {token.expires_in} s" + (f" (at {token.expires_at})" if token.expires_at else ""),
            f"# billing_account_id {token.billing_account_id}, billing_user_id {token.billing_user_id}",
        ]
    )
    emit(args.json, human, unstructure(token))
    return EXIT_OK


def balance(args: argparse.Namespace) -> int:
    """``vluna balance``: a user's spendable and outstanding balance."""
    with _client(args) as client:
        result = client.wallet.get_balance(principal_id=args.principal_id, user_id=args.user_id)
    data = result.data
    lines = [
        f"balance      {_money(data.balances.xusd, data.balances.usd)}",
        f"outstanding  {_money(data.outstanding_balances.xusd, data.outstanding_balances.usd)}",
        f"# billing_account_id {data.billing_account_id}, billing_user_id {data.billing_user_id}",
    ]
    for grant in data.grants or []:
        fields = unstructure(grant)
        lines.append("grant        " + ", ".join(f"{k}={v}" for k, v in sorted(fields.items()) if v is not None))
    emit(args.json, "\n".join(lines), unstructure(data))
    return EXIT_OK


def limits(args: argparse.Namespace) -> int:
    """``vluna limits``: quota and rate windows of the features a user may use."""
    with _client(args) as client:
        result = client.gate.limits(
            principal_id=args.principal_id,
            user_id=args.user_id,
            feature_code=args.feature_code or None,
            expand=["quotas", "rates"],
        )
    rows = []
    for item in result.data:
        windows = [("quota", w) for w in item.quotas or []] + [("rate", w) for w in item.rates or []]
        if not windows:
            rows.append(f"{item.feature_code}  no windows")
        for kind, window in windows:
            limit = window.limit_minor if window.limit_minor is not None else "unlimited"
            rows.append(
                f"{item.feature_code}  {kind} used {window.used_minor or 0} of {limit}"
                + (f" until {window.window_end}" if window.window_end else "")
            )
    human = "\n".join(rows) if rows else "no features"
    emit(args.json, human, [unstructure(item) for item in result.data])
    return EXIT_OK


def _money(xusd: Any, usd: Any) -> str:
    return f"{xusd} xusd" + (f" (${usd})" if usd is not None else "")


def add_parsers(commands: Any, parent: argparse.ArgumentParser) -> None:
    """Register health, token issue, balance and limits."""
    cmd = commands.add_parser("health", parents=[parent], help="check that the deployment is serving")
    cmd.set_defaults(handler=health)

    token = commands.add_parser("token", help="platform bearer tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    issue = token_commands.add_parser("issue", parents=[parent], help="mint a bearer token for one user")
    _identity(issue)
    issue.add_argument("--scope", action="append", choices=("checkout", "portal"), help="token scope (repeatable)")
    issue.add_argument("--ttl", type=int, default=None, help="lifetime in seconds (the server clamps it to 60..3600)")
    issue.set_defaults(handler=token_issue)

    cmd = commands.add_parser("balance", parents=[parent], help="a user's spendable and outstanding balance")
    _identity(cmd)
    cmd.set_defaults(handler=balance)

    cmd = commands.add_parser("limits", parents=[parent], help="quota and rate windows of a user's features")
    _identity(cmd)
    cmd.add_argument("--feature-code", action="append", help="only this feature (repeatable)")
    cmd.set_defaults(handler=limits)


def _identity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--principal-id", required=True, help="your id of the paying customer")
    parser.add_argument("--user-id", required=True, help="your id of the end user")
