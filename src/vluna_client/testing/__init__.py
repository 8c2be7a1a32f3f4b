"""A local Vluna emulator for tests: real HTTP on 127.0.0.1, real SVC-AUTH checks, scriptable faults.

Typical use::

    from vluna_client.testing import Emulator

    with Emulator() as emu:
        client = emu.service_client()
        result = client.gate.authorize(feature_code="openai.gpt-4o", principal_id="org_1", user_id="u_1")
        emu.faults.fail_next(1, status=503, path="/mgt/v1/gate/commits")
        ...
        assert len(emu.ledger.commits()) == 1

Run it standalone with ``python -m vluna_client.testing serve``. With the package installed, pytest gets the
``vluna_emulator`` and ``vluna_service_client`` fixtures from :mod:`vluna_client.testing.pytest_plugin`.

This package uses the standard library only and does not import the rest of ``vluna_client`` (nor
``requests``) until :meth:`Emulator.service_client` or :meth:`Emulator.bearer_client` is called: its SVC-AUTH
verifier is an independent implementation, so it catches signing bugs instead of sharing them.
"""

from __future__ import annotations

from ._emulator import Emulator
from ._faults import FAULT_KINDS, Fault, Faults
from ._records import CancelRecord, CommitLineRecord, CommitRecord, LeaseRecord, Ledger, RequestRecord
from ._svcauth import EMPTY_BODY_DIGEST

__all__ = [
    "EMPTY_BODY_DIGEST",
    "FAULT_KINDS",
    "CancelRecord",
    "CommitLineRecord",
    "CommitRecord",
    "Emulator",
    "Fault",
    "Faults",
    "LeaseRecord",
    "Ledger",
    "RequestRecord",
]
