"""The chaos run's deployment target: a real server behind the fault proxy, its database read back through psql.

The loops talk to the server named by the ``VLUNA_*`` variables through :class:`~fault_proxy.FaultProxy`. Every
principal id of a run starts with a fresh run prefix, so the ledger adapter can pick out the run's leases and commits
from a shared database. The adapter shells out to ``psql`` (no new Python dependency) and returns records with the
attribute names the emulator's ledger uses, so ``chaos_engine.check`` reads both alike.

The database role must see every row of the realm: the server's runtime role is held back by row-level security,
so use the migration (owner/superuser) role.
"""

from __future__ import annotations

import collections
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit, urlunsplit

import vluna_client
from chaos.fault_proxy import FaultProxy, ProxyRecord

# A realm without a price for the feature quarantines every commit with this reason alone, yet the commit closes its
# lease like a charge would; other reasons (lease already closed, too late...) mark a commit that charged nothing.
UNPRICED = "pricing_not_configured"

# The server's lease states in the client's words (those of the emulator's ledger and of vluna_client.Lease).
LEASE_STATES = {"active": "open", "closed": "committed", "canceled": "cancelled", "expired": "expired"}

_COMMITS_SQL = """
select coalesce(json_agg(t order by t.committed_at), '[]') from (
  select r.rating_id::text as commit_id,
         r.metadata->>'lease_id' as lease_id,
         e.key as idempotency_key,
         r.metadata->>'application_status' as application_status,
         coalesce(r.metadata->'reason_codes', '[]') as reason_codes,
         r.canonical_quantity_minor as quantity_minor,
         a.billing_principal_id as principal_id,
         u.business_user_id as user_id,
         r.rated_at as committed_at
  from {schema}.billing_ratings r
  join {schema}.idempotency_envelopes e on e.idempotency_id = r.idempotency_id
  join {schema}.billing_accounts a on a.billing_account_id = r.billing_account_id
  join {schema}.billing_users u on u.billing_user_id = r.billing_user_id
  where r.realm_id = :'realm' and r.rating_kind = 'gate'
    and left(a.billing_principal_id, length(:'prefix')) = :'prefix'
) t;
"""

_LEASES_SQL = """
select coalesce(json_agg(t order by t.created_at), '[]') from (
  select l.lease_id::text as lease_id,
         l.idempotency_key,
         l.state,
         l.expires_at < now() as past_expiry,
         a.billing_principal_id as principal_id,
         u.business_user_id as user_id,
         l.created_at
  from {schema}.gate_leases l
  join {schema}.billing_accounts a on a.billing_account_id = l.billing_account_id
  join {schema}.billing_users u on u.billing_user_id = l.billing_user_id
  where a.realm_id = :'realm'
    and left(a.billing_principal_id, length(:'prefix')) = :'prefix'
) t;
"""


@dataclass(frozen=True)
class DbCommit:
    """A gate commit as stored by the server (a ``billing_ratings`` row of kind ``gate``).

    ``application_status`` is ``"applied"`` or ``"quarantined"``, in the checker's sense of "charged the lease" or
    not: the server's ``applied_clipped`` (applied, for less than asked) counts as applied, and so does a commit
    quarantined only because the realm has no price for the feature (``pricing_not_configured``): it closed the
    lease and would have been a charge with a price. ``server_status`` and ``reason_codes`` keep the server's words.
    """

    commit_id: str
    lease_id: Optional[str]
    idempotency_key: str
    application_status: str
    server_status: str
    reason_codes: Tuple[str, ...]
    quantity_minor: int
    principal_id: str
    user_id: str


@dataclass(frozen=True)
class DbLease:
    """A lease as stored by the server; ``state`` is ``open``, ``committed``, ``cancelled`` or ``expired``."""

    lease_id: str
    idempotency_key: str
    state: str
    server_state: str
    past_expiry: bool
    principal_id: str
    user_id: str


def _charged(status: str, reasons: Sequence[str]) -> str:
    if status in ("applied", "applied_clipped") or (status == "quarantined" and set(reasons) == {UNPRICED}):
        return "applied"
    return "quarantined"


class PsqlLedger:
    """Reads a run's leases and commits from the server's database with ``psql``.

    Args:
        dsn: a libpq connection string; ``None`` lets psql use its own ``PG*`` settings.
        schema: the server's schema (``VLUNA_DB_SCHEMA``, ``control_plane`` by default).
        realm_id: the realm the run used.
        prefix: the run's principal-id prefix.
    """

    def __init__(self, *, dsn: Optional[str], schema: str, realm_id: str, prefix: str) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", schema):
            raise ValueError(f"not a plain schema name: {schema!r}")
        if shutil.which("psql") is None:
            raise RuntimeError("psql is not on PATH; the deployment chaos run reads the database with it")
        self._dsn = dsn
        self._schema = schema
        self._realm_id = realm_id
        self._prefix = prefix

    def _query(self, sql: str) -> List[Dict[str, Any]]:
        command = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-v", f"realm={self._realm_id}", "-v", f"prefix={self._prefix}", "-f", "-"]
        if self._dsn:
            command.append(f"--dbname={self._dsn}")
        done = subprocess.run(
            command, input=sql.format(schema=self._schema), capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            # psql's own message; it never contains the password of the connection string.
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr.strip()[:500]}")
        rows: List[Dict[str, Any]] = json.loads(done.stdout.strip() or "[]")
        return rows

    def commits(self) -> List[DbCommit]:
        """Every gate commit of the run's principals, oldest first."""
        return [
            DbCommit(
                commit_id=row["commit_id"],
                lease_id=row["lease_id"],
                idempotency_key=row["idempotency_key"],
                application_status=_charged(row["application_status"], row["reason_codes"]),
                server_status=row["application_status"],
                reason_codes=tuple(row["reason_codes"]),
                quantity_minor=int(row["quantity_minor"]),
                principal_id=row["principal_id"],
                user_id=row["user_id"],
            )
            for row in self._query(_COMMITS_SQL)
        ]

    def leases(self) -> List[DbLease]:
        """Every lease of the run's principals, oldest first."""
        return [
            DbLease(
                lease_id=row["lease_id"],
                idempotency_key=row["idempotency_key"],
                state=LEASE_STATES.get(row["state"], row["state"]),
                server_state=row["state"],
                past_expiry=bool(row["past_expiry"]),
                principal_id=row["principal_id"],
                user_id=row["user_id"],
            )
            for row in self._query(_LEASES_SQL)
        ]


class DeploymentTarget:
    """The deployment named by ``VLUNA_*``, behind a fault proxy, with a :class:`PsqlLedger`; a context manager.

    Args:
        dsn: connection string of the server's database (``VLUNA_CHAOS_DSN`` when ``None``; psql's ``PG*``
            settings when that is unset too).
        prefix: principal-id prefix of the run (a fresh random one when ``None``).
    """

    name = "server"

    def __init__(self, *, dsn: Optional[str] = None, prefix: Optional[str] = None) -> None:
        missing = [
            name
            for name in ("VLUNA_SERVICE_BASE_URL", "VLUNA_REALM_ID", "VLUNA_SERVICE_KEY_ID", "VLUNA_SERVICE_KEY_SECRET")
            if not os.environ.get(name)
        ]
        if missing:
            raise SystemExit(f"set {', '.join(missing)} to run the chaos scenario against a deployment")
        self._base_url = os.environ["VLUNA_SERVICE_BASE_URL"]
        parts = urlsplit(self._base_url)
        self._origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        self._base_path = parts.path.rstrip("/")
        self.prefix = prefix or f"chaos-{secrets.token_hex(4)}"
        # The server's HTTP idempotency cache is not scoped by principal: a loop's fixed keys must not meet those
        # of an earlier run, or a replayed answer from that run comes back.
        self.key_prefix = f"{self.prefix}-"
        self.ledger = PsqlLedger(
            dsn=dsn if dsn is not None else os.environ.get("VLUNA_CHAOS_DSN"),
            schema=os.environ.get("VLUNA_DB_SCHEMA", "control_plane"),
            realm_id=os.environ["VLUNA_REALM_ID"],
            prefix=self.prefix,
        )
        self.proxy = FaultProxy(self._origin, paths=[f"{self._base_path}/gate/"])
        self._chaos_from = 0
        self._warmup: Tuple[int, int] = (0, 0)

    def __enter__(self) -> DeploymentTarget:
        self.proxy.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proxy.__exit__(*exc)

    def who(self, n: int) -> Tuple[str, str]:
        """The principal and user of loop ``n`` (7 principals, 13 users, all under the run prefix)."""
        return f"{self.prefix}-org-{n % 7}", f"{self.prefix}-user-{n % 13}"

    def service_client(self, **options: Any) -> vluna_client.ServiceClient:
        """A service client that goes through the proxy (credentials from ``VLUNA_*``)."""
        return vluna_client.ServiceClient.from_env(base_url=self.proxy.url + self._base_path, **options)

    def prepare(self, pairs: Iterable[Tuple[str, str]]) -> None:
        """Register the run's principals and users before any fault (``token.issue`` creates them).

        The community server answers 500 to the first request naming a new principal; the quick retries here absorb
        that, and :meth:`notes` reports how often it happened.
        """
        policy = vluna_client.RetryPolicy(max_attempts=4, backoff_base=0.05, backoff_max=0.5)
        with self.service_client(retry=policy, timeout=(5.0, 30.0)) as client:
            for principal_id, user_id in sorted(set(pairs)):
                client.token.issue(principal_id=principal_id, user_id=user_id)
        records = self.proxy.requests
        self._warmup = (len(records), sum(1 for r in records if r.status == 500))
        self._chaos_from = len(records)

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
        """Fault ``rate`` of the gate requests from now on."""
        self.proxy.reseed(rate, seed=seed, kinds=kinds, hold_seconds=hold_seconds)
        self.proxy.trickle_interval = trickle_interval
        self.proxy.oversized_bytes = oversized_bytes

    def stop_faults(self) -> None:
        """Relay faithfully from now on."""
        self.proxy.stop_faults()

    def requests(self) -> List[ProxyRecord]:
        """The requests of the chaos phase (after the warm-up)."""
        return self.proxy.requests[self._chaos_from :]

    def notes(self) -> List[str]:
        """Server behaviour worth printing with the figures."""
        records = self.requests()
        statuses = collections.Counter(r.status for r in records if r.forwarded)
        unforwarded = sum(1 for r in records if not r.forwarded)
        expired = [lease for lease in self.ledger.leases() if lease.state == "open" and lease.past_expiry]
        commits = self.ledger.commits()
        reasons = collections.Counter(f"{c.server_status}[{','.join(c.reason_codes) or '-'}]" for c in commits)
        rows_per_lease = collections.Counter(c.lease_id for c in commits)
        return [
            f"  run prefix {self.prefix}; warm-up: {self._warmup[0]} token.issue requests, "
            f"{self._warmup[1]} answered 500 (first call naming a new principal)",
            "  upstream statuses of forwarded requests: "
            + ", ".join(f"{status} x{n}" for status, n in sorted(statuses.items()))
            + f"; not forwarded (reset/503/429 by the proxy): {unforwarded}",
            "  commit rows by server status[reasons]: " + ", ".join(f"{k} x{n}" for k, n in sorted(reasons.items())),
            f"  leases with more than one commit row (any status): {sum(1 for n in rows_per_lease.values() if n > 1)}; "
            f"open leases past their expiry: {len(expired)}",
        ]
