"""The README quickstart: the gate loop against whatever Vluna the VLUNA_* variables name.

Needs VLUNA_SERVICE_BASE_URL, VLUNA_BEARER_BASE_URL, VLUNA_REALM_ID, VLUNA_SERVICE_KEY_ID and
VLUNA_SERVICE_KEY_SECRET. `nox -s demo` runs it against the bundled local emulator. The feature and identities
can be changed with VLUNA_DEMO_FEATURE, VLUNA_DEMO_PRINCIPAL_ID and VLUNA_DEMO_USER_ID.
"""

from __future__ import annotations

import os
import uuid

from vluna_client import BearerClient, ServiceClient

FEATURE = os.environ.get("VLUNA_DEMO_FEATURE", "llm.chat")
PRINCIPAL = os.environ.get("VLUNA_DEMO_PRINCIPAL_ID", "org_demo")
USER = os.environ.get("VLUNA_DEMO_USER_ID", "user_demo")


def show(step: str, text: str) -> None:
    print(f"{step:<10} {text}")


def hints(result) -> str:
    return ", ".join(f"{h.type}{dict(h.fields)}" for h in result.hints) or "-"


def main() -> None:
    with ServiceClient.from_env() as client:
        health = client.health().data
        show("health", f"{health.service} is {health.status}")

        token = client.token.issue(principal_id=PRINCIPAL, user_id=USER, scopes=["portal"], session_ttl_sec=900)
        show("token", f"billing account {token.data.billing_account_id}, expires in {token.data.expires_in}s")

        # Bind the customer and user once; every gate call below carries both.
        gate = client.bind(principal_id=PRINCIPAL, user_id=USER)

        # 1) authorize -> work -> commit, with a per-meter breakdown.
        with gate.lease(feature_code=FEATURE, estimated_quantity_minor=2500) as lease:
            show("authorize", f"lease {lease.lease_id}; hints: {hints(lease.authorization)}")
            input_tokens, output_tokens = 800, 400  # the work happens here (e.g. an LLM call)
            committed = lease.commit(
                quantity_minor=input_tokens + output_tokens,
                meters=[
                    {"meter_code": f"{FEATURE}.input", "quantity_minor": input_tokens},
                    {"meter_code": f"{FEATURE}.output", "quantity_minor": output_tokens},
                ],
                labels={"request_id": "r-1"},
            )
        show("commit", f"amount {committed.data.amount_xusd} xusd; hints: {hints(committed)}")
        for line in committed.data.lines or []:
            show("", f"  {line.meter_code}: {line.quantity_minor} x {line.unit_price_xusd} = {line.amount_xusd} xusd")

        # 2) authorize -> the work fails -> the lease is cancelled, the exception still reaches us.
        try:
            with gate.lease(feature_code=FEATURE, estimated_quantity_minor=500) as lease:
                show("authorize", f"lease {lease.lease_id}")
                raise TimeoutError("the model provider timed out")
        except TimeoutError as exc:
            show("cancel", f"lease {lease.lease_id} is {lease.state} after: {exc}")

        # 3) several leases committed in one call.
        leases = [gate.gate.authorize(feature_code=FEATURE).data for _ in range(2)]
        batch = gate.gate.commit_batch(
            items=[
                {
                    "lease_token": lease.lease_token,
                    "feature_code": FEATURE,
                    "quantity_minor": 100 * (i + 1),
                    "idempotency_key": f"batch-{uuid.uuid4()}",
                }
                for i, lease in enumerate(leases)
            ]
        )
        show("batch", f"{batch.data.committed_count} committed, {batch.data.failed_count} failed")

        balance = gate.wallet.get_balance()
        show("balance", f"{balance.data.balances.xusd} xusd (service view)")

        realm = client.realm_id
    bearer_url = os.environ["VLUNA_BEARER_BASE_URL"]
    with BearerClient(base_url=bearer_url, realm_id=realm, access_token=token.data.access_token) as user_client:
        show("balance", f"{user_client.wallet.get_balance().data.balances.xusd} xusd (end-user token view)")


if __name__ == "__main__":
    main()
