"""Checking calls without a server: the same request building and validation as a real send, then no I/O."""

from __future__ import annotations

from typing import Any

from .._call import CallArgs
from .._operation import Operation
from .._request import RequestBase, build_call
from .._result import Result


class _NoCredentials:
    """Nothing is sent, so nothing is signed."""

    def apply(self, method: str, target: str, headers: dict[str, str], body: bytes) -> None:
        """Leave the headers as they are."""


class OfflineHost:
    """An :class:`~vluna_client._area.AreaHost` that validates each call exactly as a client would and sends nothing.

    ``vluna usage ingest --dry-run`` runs ``client.gate.ingest_many`` on it, so a dry run refuses precisely the rows
    a real run would refuse before sending, and needs no credentials.
    """

    def __init__(self, realm_id: str = "dry-run") -> None:
        self.realm_id = realm_id
        self._base = RequestBase(
            base_url="http://dry-run.invalid/mgt/v1",
            root_url="http://dry-run.invalid",
            realm_id=realm_id,
            headers={},
            auth=_NoCredentials(),
        )

    def _execute(self, op: Operation[Any], args: CallArgs) -> Result[Any]:
        call = build_call(op, self._base, args, self._base.auth)  # never sent: no credentials to pick
        from .._generated.models.gate import CommitResponse

        return Result(data=CommitResponse(amount_xusd="0"), operation=op.name, idempotency_key=call.idempotency_key)
