"""The emulator's read-only admin route: its ledger, for tests and tools in another process.

``GET /_emulator/ledger`` answers the success envelope with :meth:`~._records.Ledger.snapshot` as ``data``. It takes
the same SVC-AUTH signature (and ``X-Realm-Id``) as the management API, so only a holder of the emulator's service
key can read it; ``vluna emulator ledger`` signs with the ``VLUNA_*`` variables ``vluna emulator serve`` printed.
The route is not part of the Vluna API: it never consumes a scheduled fault, is not itself recorded in the ledger,
and is not listed by :meth:`~vluna_client.testing.Emulator.routes`.
"""

from __future__ import annotations

from typing import List

from ._engine import Engine
from ._routes import Call, Reply, Route

__all__ = ["ADMIN_PREFIX", "LEDGER_PATH", "admin_routes"]

ADMIN_PREFIX = "/_emulator/"
LEDGER_PATH = ADMIN_PREFIX + "ledger"


def _ledger(engine: Engine, call: Call) -> Reply:
    return Reply(engine.realm.ledger.snapshot())


def admin_routes() -> List[Route]:
    """The admin routes (read-only, signed with the emulator's service key)."""
    return [Route("GET", LEDGER_PATH, "emulatorLedger", auth="service", handler=_ledger)]
