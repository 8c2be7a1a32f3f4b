"""Clients, bound views, bearer clients and leases travel by pickle and cloudpickle, and work on the other side."""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from typing import Any, Callable, Dict

import pytest
import requests

import vluna_client
from support import scale_jobs
from vluna_client import Lease, RequestsTransport, Retrier, RetryPolicy, ServiceClient
from vluna_client.testing import Emulator

cloudpickle = pytest.importorskip("cloudpickle")


def _pickle(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))  # noqa: S301 - our own bytes, made on this line


def _cloudpickle(value: Any) -> Any:
    return pickle.loads(cloudpickle.dumps(value))  # noqa: S301 - our own bytes, made on this line


ROUND_TRIPS = pytest.mark.parametrize("round_trip", [_pickle, _cloudpickle], ids=["pickle", "cloudpickle"])


@ROUND_TRIPS
def test_a_service_client_travels_and_calls_the_server_on_the_other_side(
    emu: Emulator, round_trip: Callable[[Any], Any]
) -> None:
    retry = RetryPolicy(max_attempts=5, backoff_base=0.01, max_elapsed=9.0)
    with emu.service_client(retry=retry, timeout=(2.0, 7.0), user_agent="scale-test/1") as client:
        copy = round_trip(client)
        assert isinstance(copy, ServiceClient)
        assert (copy.base_url, copy.realm_id, copy.retry, copy.timeout) == (
            client.base_url,
            client.realm_id,
            retry,
            vluna_client.Timeout(2.0, 7.0),
        )
        assert copy.transport is not client.transport  # its own connections
        assert isinstance(copy.transport, RequestsTransport)
        # Signed calls succeed, so the key id and secret arrived intact.
        assert copy.health().data.status == "healthy"
        result = copy.gate.ingest(
            feature_code="scale.pickle", quantity_minor="3", principal_id="org_p", user_id="u1", idempotency_key="k1"
        )
        assert result.data.amount_xusd == "30"
        copy.close()
        assert client.health().data.status == "healthy"  # closing the copy leaves the original alone
    sent = emu.ledger.requests_to("/mgt/v1/gate/ingest")
    assert [r.status for r in sent] == [200]


@ROUND_TRIPS
def test_a_bound_view_travels_as_a_view_with_its_bindings(emu: Emulator, round_trip: Callable[[Any], Any]) -> None:
    with emu.service_client() as client:
        view = client.bind(principal_id="org_bound", user_id="user_bound")
        copy = round_trip(view)
        result = copy.gate.ingest(feature_code="scale.bound", quantity_minor="2", idempotency_key="bound-1")
        assert result.data.amount_xusd == "20"
    (record,) = emu.ledger.ingests("bound-1")
    assert (record.principal_id, record.user_id) == ("org_bound", "user_bound")


@ROUND_TRIPS
def test_a_bearer_client_travels_with_its_token(emu: Emulator, round_trip: Callable[[Any], Any]) -> None:
    token = emu.issue_token("org_bearer", "user_bearer")
    with emu.bearer_client(token) as client:
        copy = round_trip(client)
        assert copy.health().data.status == "healthy"
        assert copy.wallet.get_balance().status_code == 200
    assert token not in repr(copy)
    assert token not in repr(vars(copy))


def test_the_secret_never_shows_in_what_pickling_exposes(emu: Emulator) -> None:
    with emu.service_client() as client:
        state = client.__getstate__()
        signer_state = client._service_auth._signer.__reduce__()
    assert emu.key_secret not in repr(state)
    assert emu.key_secret not in repr(signer_state)
    assert "<redacted>" in repr(signer_state)


def test_a_seeded_jitter_source_travels_and_the_os_one_is_drawn_afresh() -> None:
    import random

    seeded = _pickle(Retrier(RetryPolicy(), rng=random.Random(7)))
    assert seeded.rng.random() == random.Random(7).random()
    fresh = _pickle(Retrier(RetryPolicy()))
    assert isinstance(fresh.rng, random.SystemRandom)


def test_a_session_that_pickles_travels_with_its_settings(emu: Emulator) -> None:
    session = requests.Session()
    session.headers["X-Team"] = "billing"
    with emu.service_client(session=session) as client:
        copy = _pickle(client)
        assert copy.transport._session is not session
        assert copy.transport._session.headers["X-Team"] == "billing"
        assert copy.health().data.status == "healthy"


class _LockedTransport:
    """A transport that holds something no pickler can take (a lock, as a connection pool would)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def send(self, *args: Any) -> Any:
        raise AssertionError("not used")

    def close(self) -> None:
        pass


class _LockedAdapter(requests.adapters.HTTPAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def __getstate__(self) -> Dict[str, Any]:
        return dict(vars(self))


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_a_transport_or_session_that_cannot_travel_is_refused_clearly(emu: Emulator, dumps: Any) -> None:
    client = emu.service_client(transport=_LockedTransport())
    with pytest.raises(TypeError, match=r"transport it was built with \(_LockedTransport\).*in the worker"):
        dumps(client)
    session = requests.Session()
    session.mount("http://", _LockedAdapter())
    client = emu.service_client(session=session)
    with pytest.raises(TypeError, match=r"session it was built with \(Session\).*from_env\(session=\.\.\.\)"):
        dumps(client.bind(principal_id="p"))


def test_binding_does_not_copy_or_repickle_a_custom_transport(emu: Emulator) -> None:
    transport = _LockedTransport()
    with emu.service_client(transport=transport) as client:
        view = client.bind(principal_id="org_x")
        assert view.transport is transport
        assert view._retrier is client._retrier


def test_a_lease_travels_and_is_committed_once_on_the_other_side(emu: Emulator) -> None:
    with emu.service_client() as client:
        lease = client.lease(feature_code="scale.lease", principal_id="org_l", user_id="user_l")
        lease.__enter__()
        copy: Lease = _cloudpickle(lease)
        assert copy.state == "open"
        assert copy.token == lease.token
        copy.commit(quantity_minor="4")
        assert copy.state == "committed"
        with pytest.raises(vluna_client.LeaseError):
            copy.commit(quantity_minor="4")
    (commit,) = emu.ledger.commits()
    assert commit.lease_id == lease.lease_id


def test_a_lease_mid_call_refuses_to_travel(emu: Emulator) -> None:
    with emu.service_client() as client:
        lease = client.lease(feature_code="scale.lease", principal_id="org_l", user_id="user_l")
        lease._state = "committing"  # as seen from another thread while commit is in flight
        with pytest.raises(TypeError, match="in flight"):
            pickle.dumps(lease)


def test_a_spawned_process_gets_a_working_client(emu: Emulator) -> None:
    context = multiprocessing.get_context("spawn")
    with emu.service_client() as client, context.Pool(2) as pool:
        answers = pool.map(scale_jobs.health_in_child, [client, client.bind(principal_id="ignored")])
    assert {a["status"] for a in answers} == {"healthy"}
    assert {a["amount"] for a in answers} == {"70"}
    keys = {r.idempotency_key for r in emu.ledger.ingests()}
    assert keys == {f"child-{a['pid']}" for a in answers}
