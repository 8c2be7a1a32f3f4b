"""A write whose outcome is unknown, as a small JSON-safe record that any process can replay later.

When a write may have been applied but its answer never arrived, the only safe next step is to send the identical
request again with the same Idempotency-Key: the server answers a replay of an applied write with its first result
and applies a write it never saw. That needs the operation and the arguments exactly as they were sent, not only
the key, so :class:`~vluna_client.OutcomeUnknownError` carries a :class:`PendingWrite` (``exc.pending``) that a web
view can hand to a background job (``record.to_dict()`` is plain JSON) and a worker can settle with
``client.replay(record)``.

A record holds no credential: no service-key secret, no bearer token, no header. The realm is kept so that a record
is never replayed against another realm by mistake.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

import attrs

from ._errors import ConfigurationError, InputValidationError
from ._headers import BINDING_HEADERS

if TYPE_CHECKING:
    from ._call import CallArgs
    from ._operation import Operation
    from ._request import PreparedCall

#: The version of the dictionary form; :meth:`PendingWrite.from_dict` refuses any other.
RECORD_VERSION = 1
_REALM_ADMIN_HEADER = "X-Realm-Admin"


def _json_copy(value: Any, where: str) -> Any:
    """A plain-JSON copy of ``value``, or InputValidationError naming what cannot be one."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InputValidationError(f"pending write: {where} is not plain JSON ({exc})", field=where) from None


@attrs.frozen
class PendingWrite:
    """A write that may or may not have been applied, with everything needed to send it again identically.

    Build one from ``exc.pending`` of an :class:`~vluna_client.OutcomeUnknownError`, or from its dictionary form
    with :meth:`from_dict`; settle it with :meth:`ServiceClient.replay` (or :meth:`BearerClient.replay`).

    Attributes:
        operation: The client operation, e.g. ``gate.commit``.
        surface: ``service`` or ``bearer``: the client that can replay it.
        realm_id: The realm it was sent to.
        idempotency_key: The key every attempt carried; the replay carries it too.
        path: Path parameters by wire name.
        query: Query parameters by wire name, as given to the call.
        body: The JSON body exactly as it was sent (``None`` for a body-less request).
        bindings: The context values that were sent (``principal_id``, ``user_id``, ...), bound ones included.
    """

    operation: str
    surface: str
    realm_id: str
    idempotency_key: str
    path: Mapping[str, Any] = attrs.field(factory=dict)
    query: Mapping[str, Any] = attrs.field(factory=dict)
    body: Any = None
    bindings: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON types (what a task queue or a database column can hold)."""
        return {
            "version": RECORD_VERSION,
            "operation": self.operation,
            "surface": self.surface,
            "realm_id": self.realm_id,
            "idempotency_key": self.idempotency_key,
            "path": dict(self.path),
            "query": dict(self.query),
            "body": self.body,
            "bindings": dict(self.bindings),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PendingWrite:
        """Rebuild a record from :meth:`to_dict`'s form (e.g. after JSON went through a queue).

        Raises:
            InputValidationError: ``data`` is not such a record (wrong version, a field missing or of the wrong
                type).
        """
        if not isinstance(data, Mapping):
            raise InputValidationError("pending write: expected a mapping from PendingWrite.to_dict()", field="record")
        if data.get("version") != RECORD_VERSION:
            raise InputValidationError(
                f"pending write: unknown record version {data.get('version')!r} (this client reads {RECORD_VERSION})",
                field="version",
            )
        for name in ("operation", "surface", "realm_id", "idempotency_key"):
            if not isinstance(data.get(name), str) or not data[name]:
                raise InputValidationError(f"pending write: {name} must be a non-empty string", field=name)
        parts: dict[str, Mapping[str, Any]] = {}
        for name in ("path", "query", "bindings"):
            value = data.get(name) or {}
            if not isinstance(value, Mapping):
                raise InputValidationError(f"pending write: {name} must be a mapping", field=name)
            parts[name] = dict(value)
        return cls(
            operation=data["operation"],
            surface=data["surface"],
            realm_id=data["realm_id"],
            idempotency_key=data["idempotency_key"],
            path=parts["path"],
            query=parts["query"],
            body=data.get("body"),
            bindings=parts["bindings"],
        )


def record_of(
    op: Operation[Any], call: PreparedCall, args: CallArgs, *, surface: str, realm_id: str
) -> Optional[PendingWrite]:
    """The record of a sent write; ``None`` when it cannot be replayed from one (no key, or a non-JSON argument)."""
    if call.idempotency_key is None:
        return None
    bindings: dict[str, Any] = {
        name: call.headers[header] for name, header in BINDING_HEADERS.items() if header in call.headers
    }
    if call.headers.get(_REALM_ADMIN_HEADER) == "true":
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
