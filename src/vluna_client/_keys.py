"""Idempotency-Keys: the one place that mints a fresh key, checks a caller's key, or derives a stable one."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Optional, Union

from ._errors import InputValidationError

if TYPE_CHECKING:
    import uuid

# A fixed UUID namespace that is ours alone: the same (namespace, parts) gives the same key in every process,
# on every machine, in every version of this client.
_KEY_NAMESPACE = "6f1d2b5e-8c3a-5e47-9b0d-3c2a71e4f9a8"


@functools.cache
def _namespace() -> uuid.UUID:
    # uuid is imported by the first key minted, not with the client: a process whose first call is a read needs none.
    import uuid

    return uuid.UUID(_KEY_NAMESPACE)


KeyPart = Union[str, int]


def idempotency_key(namespace: str, *parts: KeyPart, realm_id: Optional[str] = None) -> str:
    """A stable Idempotency-Key derived from your own identifiers (a UUIDv5).

    Re-running the same job with the same ids sends the same keys, so the server answers a replay instead of
    recording the work twice::

        key = idempotency_key("usage-import", "2026-11-30.csv", row_number)
        client.gate.ingest(..., idempotency_key=key)

    The server's key cache is shared by every principal and user of a service key (and, for service keys, by every
    realm on one server process), so ``namespace`` must say what the key is for: two jobs that pick the same
    namespace and parts would collide. Pass ``realm_id`` when one namespace is used against several realms.

    Args:
        namespace: What the keys are for, e.g. ``"usage-import"`` or ``"celery:charge_order"``. Not empty.
        *parts: Your identifiers, in a fixed order: strings or integers (``1`` and ``"1"`` give different keys).
        realm_id: Optional realm to fold into the key.

    Raises:
        InputValidationError: a part is not a string or an integer, or the namespace is empty.
    """
    if not isinstance(namespace, str) or not namespace.strip():
        raise InputValidationError("idempotency_key: namespace must be a non-empty string", field="namespace")
    for index, part in enumerate(parts):
        if isinstance(part, bool) or not isinstance(part, (str, int)):
            raise InputValidationError(
                f"idempotency_key: part {index} must be a str or an int, got {type(part).__name__}",
                field=f"parts[{index}]",
            )
    if realm_id is not None and not isinstance(realm_id, str):
        raise InputValidationError("idempotency_key: realm_id must be a string", field="realm_id")
    # JSON keeps the encoding unambiguous: ("a", "b c") and ("a b", "c") must not meet.
    name = json.dumps([namespace, realm_id, *parts], ensure_ascii=False, separators=(",", ":"))
    import uuid

    return str(uuid.uuid5(_namespace(), name))


def mint_idempotency_key() -> str:
    """A fresh random Idempotency-Key (a UUIDv4): every key the client makes up for a caller comes from here."""
    import uuid

    return str(uuid.uuid4())


def new_idempotency_key(value: Optional[str]) -> str:
    """The caller's key, checked, or a fresh one: fixed once per logical call, before any attempt."""
    if value is None:
        return mint_idempotency_key()
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or not all(0x21 <= ord(c) <= 0x7E for c in value):
        raise InputValidationError(
            "idempotency_key must be 1 to 255 visible ASCII characters without spaces", field="idempotency_key"
        )
    return value
