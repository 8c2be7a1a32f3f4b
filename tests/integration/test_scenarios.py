"""The real client against the emulator over loopback HTTP: the scenarios a billing integration depends on."""

from __future__ import annotations

import threading
from typing import Any, List, TypedDict

import pytest
import requests

import vluna_client
from vluna_client import (
    APITimeoutError,
    AuthenticationError,
    ConflictError,
    PaymentRequiredError,
    RateLimitError,
    ValidationError,
)
from vluna_client.testing import Emulator

ORG = "org_acme"
USER = "user_42"


class Who(TypedDict):
    principal_id: str
    user_id: str


WHO: Who = {"principal_id": ORG, "user_id": USER}


def test_full_gate_loop(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    assert client.health().data.status == "healthy"
    lease = client.gate.authorize(feature_code="LLM.Chat", estimated_quantity_minor=500, **WHO)
    assert lease.data.feature_code == "llm.chat"
    assert lease.idempotency_key
    commit = client.gate.commit(
        lease_token=lease.data.lease_token,
        feature_code="llm.chat",
        quantity_minor=120,
        meters=[{"meter_code": "tokens.in", "quantity_minor": 100}, {"meter_code": "tokens.out", "quantity_minor": 20}],
        **WHO,
    )
    assert commit.data.amount_xusd == str(120 * 10)
    assert [line.meter_code for line in commit.data.lines or []] == ["tokens.in", "tokens.out"]
    (record,) = emu.ledger.commits(lease_id=lease.data.lease_id)
    assert (record.commit_id, record.idempotency_key) == (commit.data.commit_id, commit.idempotency_key)

    again = client.gate.authorize(feature_code="llm.chat", **WHO)
    cancelled = client.gate.cancel(lease_token=again.data.lease_token, **WHO)
    assert cancelled.data.cancelled is True
    assert client.gate.cancel(lease_token=again.data.lease_token, **WHO).data.cancelled is False

    batch = client.gate.commit_batch(
        items=[
            {
                "idempotency_key": "item-1",
                "lease_token": client.gate.authorize(feature_code="llm.chat", **WHO).data.lease_token,
                "feature_code": "llm.chat",
                "quantity_minor": 3,
            }
        ],
        **WHO,
    )
    assert batch.data.committed_count == 1
    ingest = client.gate.ingest(feature_code="search.api", quantity_minor=2, **WHO)
    assert ingest.data.amount_xusd == "20"

    limits = client.gate.limits(expand=["quotas"], **WHO)
    assert [item.feature_code for item in limits.data] == ["llm.chat", "search.api"]
    meters = client.gate.meters(expand=["pricing"], **WHO)
    assert "tokens.out" in [item.meter_code for item in meters.data]

    balance = client.wallet.get_balance(**WHO)
    assert balance.data.billing_account_id == emu.billing_ids(ORG)["billing_account_id"]

    token = client.token.issue(principal_id=ORG, user_id=USER, scopes=["portal"], session_ttl_sec=900)
    assert token.data.expires_in == 900
    with emu.bearer_client(token.data.access_token) as bearer:
        assert bearer.wallet.get_balance().data.billing_user_id == balance.data.billing_user_id


def test_idempotent_replay_returns_the_same_lease_and_commit(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    first = client.gate.authorize(feature_code="llm.chat", idempotency_key="authz-1", **WHO)
    second = client.gate.authorize(feature_code="llm.chat", idempotency_key="authz-1", **WHO)
    assert second.data.lease_id == first.data.lease_id
    assert second.data.lease_token == first.data.lease_token
    commit_args: dict[str, Any] = {
        "lease_token": first.data.lease_token,
        "feature_code": "llm.chat",
        "quantity_minor": 7,
        "idempotency_key": "commit-1",
        **WHO,
    }
    one = client.gate.commit(**commit_args)
    two = client.gate.commit(**commit_args)
    assert two.data.commit_id == one.data.commit_id
    assert len(emu.ledger.commits()) == 1
    assert len(emu.ledger.leases()) == 1


def test_key_reuse_with_a_different_body_is_a_conflict(client: vluna_client.ServiceClient) -> None:
    client.gate.authorize(feature_code="llm.chat", idempotency_key="reused", **WHO)
    with pytest.raises(ConflictError) as caught:
        client.gate.authorize(feature_code="llm.embed", idempotency_key="reused", **WHO)
    assert caught.value.status == 409
    assert caught.value.is_idempotency_conflict
    assert caught.value.idempotency_key == "reused"


def test_a_wrong_secret_is_refused(emu: Emulator) -> None:
    impostor = Emulator()  # never started: only its random secret is used
    with (
        vluna_client.ServiceClient(
            base_url=emu.service_base_url, realm_id=emu.realm_id, key_id=emu.key_id, key_secret=impostor.key_secret
        ) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.gate.authorize(feature_code="llm.chat", **WHO)
    assert (caught.value.code, caught.value.message) == ("AUTH.INVALID_SERVICE_SIGNATURE", "Signature mismatch")
    assert emu.ledger.leases() == []


def test_a_tampered_digest_is_refused(
    emu: Emulator, client: vluna_client.ServiceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vluna_client._auth as auth_module

    monkeypatch.setattr(auth_module, "content_digest", lambda body: "sha-256=:" + "A" * 43 + "=:")
    with pytest.raises(AuthenticationError) as caught:
        client.gate.authorize(feature_code="llm.chat", **WHO)
    assert caught.value.message == "Content-Digest mismatch"


def test_a_missing_runtime_binding_is_refused(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    # The client refuses locally before any I/O...
    with pytest.raises(ValidationError):
        client.gate.authorize(feature_code="llm.chat", principal_id=ORG)
    assert emu.ledger.requests == []
    # ...and the server refuses too: a request signed with the client's own signer but without X-User-Id.
    from vluna_client._signing import ServiceKeySigner, content_digest

    body = b'{"feature_code":"llm.chat"}'
    headers = {
        "Content-Type": "application/json",
        "Content-Digest": content_digest(body),
        "X-Realm-Id": emu.realm_id,
        "X-Principal-Id": ORG,
        "Idempotency-Key": "no-user",
    }
    headers["Authorization"] = ServiceKeySigner(emu.key_id, emu.key_secret).authorization(
        "POST", "/mgt/v1/gate/authorize", headers
    )
    with requests.Session() as session:
        response = session.post(emu.url + "/mgt/v1/gate/authorize", data=body, headers=headers, timeout=5)
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH.MISSING_RUNTIME_BINDINGS"


def test_a_500_is_retried_with_the_same_key(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    lease = client.gate.authorize(feature_code="llm.chat", **WHO)
    emu.faults.fail_next(1, status=500, path="/mgt/v1/gate/commits")
    commit = client.gate.commit(lease_token=lease.data.lease_token, feature_code="llm.chat", quantity_minor=5, **WHO)
    attempts = emu.ledger.requests_to("/mgt/v1/gate/commits")
    assert [a.status for a in attempts] == [500, 200]
    assert {a.idempotency_key for a in attempts} == {commit.idempotency_key}
    assert len(emu.ledger.commits()) == 1


def test_a_dropped_response_is_retried_into_exactly_one_commit(
    emu: Emulator, client: vluna_client.ServiceClient
) -> None:
    lease = client.gate.authorize(feature_code="llm.chat", **WHO)
    emu.faults.drop_response_after_processing(1, path="/mgt/v1/gate/commits")
    commit = client.gate.commit(lease_token=lease.data.lease_token, feature_code="llm.chat", quantity_minor=5, **WHO)
    (record,) = emu.ledger.commits()
    assert record.commit_id == commit.data.commit_id
    attempts = emu.ledger.requests_to("/mgt/v1/gate/commits")
    assert [(a.dropped, a.replayed) for a in attempts] == [(True, False), (False, True)]
    assert {a.idempotency_key for a in attempts} == {commit.idempotency_key}


def test_a_slow_first_attempt_times_out_and_the_retry_wins(emu: Emulator) -> None:
    with emu.service_client(retry=vluna_client.RetryPolicy(backoff_base=0.01), timeout=(2.0, 0.3)) as client:
        lease = client.gate.authorize(feature_code="llm.chat", **WHO)
        emu.faults.delay_next(1, 1.0, path="/mgt/v1/gate/commits")
        commit = client.gate.commit(
            lease_token=lease.data.lease_token, feature_code="llm.chat", quantity_minor=5, **WHO
        )
    assert len(emu.ledger.commits()) == 1
    assert emu.ledger.commits()[0].commit_id == commit.data.commit_id


def test_a_timeout_without_retries_surfaces(emu: Emulator) -> None:
    with emu.service_client(retry=vluna_client.NO_RETRIES, timeout=(2.0, 0.2)) as client:
        emu.faults.delay_next(1, 1.0, path="/mgt/v1/gate/authorize")
        with pytest.raises(vluna_client.OutcomeUnknownError) as caught:
            client.gate.authorize(feature_code="llm.chat", idempotency_key="slow", **WHO)
    # the authorize was received (the emulator only delayed its answer): it may have opened a lease
    assert caught.value.idempotency_key == "slow"
    assert isinstance(caught.value.last_error, APITimeoutError)


def test_retry_after_is_honoured(emu: Emulator) -> None:
    waits: List[float] = []
    retrier = vluna_client.Retrier(vluna_client.RetryPolicy(), sleep=waits.append)
    emu.faults.rate_limit_next(1, retry_after=3)
    with emu.service_client(retry=retrier) as client:  # type: ignore[arg-type]  # a Retrier works too
        client.gate.authorize(feature_code="llm.chat", **WHO)
    assert waits == [3.0]
    assert [a.status for a in emu.ledger.requests_to("/mgt/v1/gate/authorize")] == [429, 200]


def test_rate_limit_error_carries_retry_after(emu: Emulator) -> None:
    emu.set_rate_limit("llm.chat", 1, window_seconds=3600)
    with emu.service_client(retry=vluna_client.NO_RETRIES) as client:
        client.gate.authorize(feature_code="llm.chat", **WHO)
        with pytest.raises(RateLimitError) as caught:
            client.gate.authorize(feature_code="llm.chat", **WHO)
    assert caught.value.code == "LIMIT.RATE_EXCEEDED"
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0
    assert caught.value.hints[0].type == "rate.limit"


def test_402_is_a_payment_required_error(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    emu.set_wallet_balance(ORG, 0)
    with pytest.raises(PaymentRequiredError) as caught:
        client.gate.authorize(feature_code="llm.chat", **WHO)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        402,
        "SERVER.CONFIG",
        "grant balance exhausted",
    )


def test_prepaid_balance_is_debited(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    emu.set_wallet_balance(ORG, 1_000)
    with client.lease(feature_code="llm.chat", **WHO) as lease:
        lease.commit(quantity_minor=30)
    balance = client.wallet.get_balance(**WHO)
    assert balance.data.balances.xusd == "700"
    assert emu.wallet_balance(ORG) == 700


def test_the_lease_manager_cancels_on_an_exception(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    with pytest.raises(RuntimeError, match="model failed"), client.lease(feature_code="llm.chat", **WHO):
        raise RuntimeError("model failed")
    (cancel,) = emu.ledger.cancels()
    assert cancel.cancelled is True
    assert emu.ledger.leases()[0].state == "cancelled"
    assert emu.ledger.commits() == []


def test_the_lease_manager_commits_once(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    with client.lease(feature_code="llm.chat", **WHO) as lease:
        result = lease.commit(quantity_minor=12)
        with pytest.raises(vluna_client.LeaseError):
            lease.commit(quantity_minor=12)
    assert result.data.amount_xusd == "120"
    assert len(emu.ledger.commits()) == 1
    assert emu.ledger.cancels() == []


def test_many_threads_share_one_client(emu: Emulator, client: vluna_client.ServiceClient) -> None:
    threads_count, calls = 8, 20
    errors: List[BaseException] = []

    def work(worker: int) -> None:
        try:
            for call in range(calls):
                user = f"user_{worker}"
                lease = client.gate.authorize(feature_code="llm.chat", principal_id=ORG, user_id=user)
                client.gate.commit(
                    lease_token=lease.data.lease_token,
                    feature_code="llm.chat",
                    quantity_minor=call + 1,
                    principal_id=ORG,
                    user_id=user,
                )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert errors == []
    commits = emu.ledger.commits()
    assert len(commits) == threads_count * calls
    assert len({c.idempotency_key for c in commits}) == threads_count * calls
    assert all(c.application_status == "applied" for c in commits)
