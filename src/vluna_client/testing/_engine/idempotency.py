"""The server's HTTP idempotency layer: first successful answer per (method, path, subject, key), replayed after."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

from .._errors import HttpError
from .realm import Realm

__all__ = ["IdempotencyCache", "StoredAnswer"]


@dataclass(frozen=True)
class StoredAnswer:
    """An answer as it went out: status, body bytes and extra headers."""

    status: int
    body: bytes
    headers: List[Tuple[str, str]] = field(default_factory=list)


class IdempotencyCache:
    """In-memory replay cache with the server's cache key and body fingerprint (no expiry: tests are short)."""

    def __init__(self, realm: Realm) -> None:
        self.realm = realm
        self._entries: Dict[Tuple[str, str, str, str], Tuple[str, StoredAnswer]] = {}

    def run(
        self,
        cache_key: Tuple[str, str, str, str],
        fingerprint: str,
        compute: Callable[[], StoredAnswer],
    ) -> Tuple[StoredAnswer, bool]:
        """Replay the stored answer for ``cache_key`` or compute, store (when ``ok``) and return a new one.

        Returns ``(answer, replayed)``. The realm lock is held throughout, so two concurrent first requests with
        one key run one after the other and the second is a replay (the real server does not lock them).

        Raises:
            HttpError: 409 ``idempotency_conflict`` when the key was used with a different body.
        """
        with self.realm.lock:
            hit = self._entries.get(cache_key)
            if hit is not None:
                if hit[0] != fingerprint:
                    raise HttpError(409, "WRITE.INVALID_PAYLOAD", "idempotency_conflict")
                return hit[1], True
            answer = compute()
            if 200 <= answer.status < 300:
                self._entries[cache_key] = (fingerprint, answer)
            return answer, False
