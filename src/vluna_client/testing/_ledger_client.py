"""Read a running emulator's ledger from another process (``vluna emulator ledger``).

The request is signed with the service key the ``VLUNA_*`` variables name, through the client's own SVC-AUTH code
(imported here, on use only: the emulator itself never imports the client).
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping
from urllib.parse import urlsplit

from ._admin import LEDGER_PATH

__all__ = ["LedgerReadError", "read_ledger", "summary_lines"]

_NEEDED = ("VLUNA_SERVICE_BASE_URL", "VLUNA_REALM_ID", "VLUNA_SERVICE_KEY_ID", "VLUNA_SERVICE_KEY_SECRET")


class LedgerReadError(Exception):
    """The ledger could not be read (variables missing, emulator unreachable, or it refused the request)."""


def read_ledger(env: Mapping[str, str], timeout: float = 10.0) -> Dict[str, Any]:
    """The ledger snapshot of the emulator named by ``env`` (the ``VLUNA_*`` variables ``serve`` prints)."""
    missing = [name for name in _NEEDED if not env.get(name)]
    if missing:
        raise LedgerReadError(f"set {', '.join(missing)} (eval the lines `vluna emulator serve` prints)")
    import requests

    from .._auth import ServiceKeyAuth
    from .._errors import ConfigurationError
    from .._signing import ServiceKeySigner

    parts = urlsplit(env["VLUNA_SERVICE_BASE_URL"])
    origin = f"{parts.scheme}://{parts.netloc}"
    headers = {"X-Realm-Id": env["VLUNA_REALM_ID"], "Accept": "application/json"}
    try:
        auth = ServiceKeyAuth(ServiceKeySigner(env["VLUNA_SERVICE_KEY_ID"], env["VLUNA_SERVICE_KEY_SECRET"]))
    except ConfigurationError as exc:  # a malformed key id or secret
        raise LedgerReadError(str(exc)) from None
    auth.apply("GET", LEDGER_PATH, headers, b"")
    try:
        response = requests.get(origin + LEDGER_PATH, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        raise LedgerReadError(f"no emulator answered at {origin} ({type(exc).__name__})") from None
    try:
        envelope = response.json()
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict) or envelope.get("ok") is not True or not isinstance(envelope.get("data"), dict):
        code = envelope.get("code") if isinstance(envelope, dict) else None
        raise LedgerReadError(f"{origin} answered {response.status_code} {code or ''}".rstrip() + " (not an emulator?)")
    data: Dict[str, Any] = envelope["data"]
    return data


def summary_lines(snapshot: Mapping[str, Any]) -> List[str]:
    """A short human summary: counts, then one line per commit or ingest."""
    commits = snapshot.get("commits") or []
    lines = [
        f"requests: {len(snapshot.get('requests') or [])}  commits: {len(commits)}  "
        f"cancels: {len(snapshot.get('cancels') or [])}  leases: {len(snapshot.get('leases') or [])}"
    ]
    for commit in commits:
        lines.append(
            "{kind:7} {feature_code} qty={quantity_minor} amount={amount_xusd} xusd "
            "applied={applied_amount_xusd} {application_status} principal={principal_id} user={user_id}".format(
                **{k: commit.get(k) for k in _COMMIT_FIELDS}
            )
        )
    return lines


_COMMIT_FIELDS = (
    "kind",
    "feature_code",
    "quantity_minor",
    "amount_xusd",
    "applied_amount_xusd",
    "application_status",
    "principal_id",
    "user_id",
)
