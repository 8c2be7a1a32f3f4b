"""A write whose outcome is unknown, as a small JSON-safe record that any process can replay later.

When a write may have been applied but its answer never arrived, the only safe next step is to send the identical
request again with the same Idempotency-Key: the server answers a replay of an applied write with its first result
and applies a write it never saw. That needs the operation and the arguments exactly as they were sent, not only
the key, so :class:`~vluna_client.OutcomeUnknownError` carries a :class:`PendingWrite` (``exc.pending``) that a web
view can hand to a background job (``record.to_dict()`` is plain JSON) and a worker can settle with
``client.replay(record)``.

A record holds no credential: no service-key secret, no bearer token, no header. The realm is kept so that a record
is never replayed against another realm by mistake.

This module makes records from sent calls and checks them before a replay. The record type, :class:`PendingWrite`,
is defined in :mod:`._errors` beside the error that carries it (an error rebuilt from its JSON form rebuilds its
record too), which keeps the imports one way: this module imports the errors, never the reverse.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

from ._errors import ConfigurationError, InputValidationError, PendingWrite
from ._headers import BINDING_HEADERS, REALM_ADMIN_HEADER

if TYPE_CHECKING:
    from ._call import CallArgs
    from ._operation import Operation
    from ._request import PreparedCall

__all__ = ["PendingWrite", "check_replayable", "record_of"]  # PendingWrite: also where older pickles look for it


def _json_copy(value: Any, where: str) -> Any:
    """A plain-JSON copy of ``value``, or InputValidationError naming what cannot be one."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"pending write: {where} is not plain JSON ({exc})", field=where) from None


def record_of(
    op: Operation[Any], call: PreparedCall, args: CallArgs, *, surface: str, realm_id: str
) -> Optional[PendingWrite]:
    """The record of a sent write; ``None`` when it cannot be replayed from one (no key, or a non-JSON argument)."""
    if call.idempotency_key is None:
        return None
    bindings: dict[str, Any] = {
        name: call.headers[header] for name, header in BINDING_HEADERS.items() if header in call.headers
    }
    if call.headers.get(REALM_ADMIN_HEADER) == "true":
        bindings["realm_admin"] = True
    try:
        return PendingWrite(
            operation=op.name,
            surface=surface,
            realm_id=realm_id,
            idempotency_key=call.idempotency_key,
            path=_json_copy(dict(args.path), "path"),
            query=_json_copy({k: v for k, v in args.query.items() if v is not None}, "query"),
            body=json.loads(call.body) if call.body else None,
            bindings=bindings,
        )
    except InputValidationError:
        return None


def check_replayable(record: PendingWrite, *, surface: str, realm_id: str) -> None:
    """Refuse a record this client must not replay (another surface or realm), before any I/O."""
    if record.surface != surface:
        raise ConfigurationError(
            f"this pending write was sent by a {record.surface} client; replay it with one (this is {surface})"
        )
    if record.realm_id != realm_id:
        raise ConfigurationError(
            f"this pending write was sent to realm {record.realm_id!r}; this client talks to {realm_id!r}"
        )
