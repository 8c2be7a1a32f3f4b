"""A mocked Vluna deployment for tests that stub HTTP with ``responses``: URLs, credentials, sample payloads,
answer envelopes, and clients whose backoff waits are recorded instead of slept.

Signature checks delegate to the test-side oracle in :mod:`support.svcauth`, never to the client's signer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Dict, List, Optional

from support import svcauth
from support.svcauth import body_bytes
from vluna_client import Retrier, RetryPolicy, ServiceClient

BASE_URL = "https://vluna.test/mgt/v1"
BEARER_BASE_URL = "https://vluna.test/api/v1"
ROOT = "https://vluna.test"
REALM = "realm_demo"
KEY_ID = "pk-AbCdEfGh12345678"
SECRET_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SECRET_BYTES = bytes(range(32))
BEARER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzQyIn0.c2VjcmV0LWJlYXJlci1zaWduYXR1cmU"


URL = {
    "authorize": f"{BASE_URL}/gate/authorize",
    "commit": f"{BASE_URL}/gate/commits",
    "cancel": f"{BASE_URL}/gate/cancel",
    "limits": f"{BASE_URL}/gate/limits",
    "products": f"{BASE_URL}/catalog/products",
    "features": f"{BASE_URL}/features",
    "revenue": f"{BASE_URL}/ops/reports/revenue",
}

AUTHZ_DATA = {
    "lease_token": "lt_abc",
    "feature_code": "llm.chat",
    "lease_id": "7d4f0e55-9a7c-4a55-8b8e-2f2f6b9a0c11",
    "window_start": "2026-01-15T10:00:00.000Z",
    "window_end": "2026-01-15T11:00:00.000Z",
}
COMMIT_DATA = {"amount_xusd": "1200", "commit_id": "c1a2b3c4-0000-4000-8000-000000000001"}
CANCEL_DATA = {"cancelled": True}
BILLING_USER = {
    "billing_user_id": "bu_1",
    "billing_account_id": "ba_1",
    "billing_principal_id": "org_123",
    "business_user_id": "user_42",
    "user_id": "user_42",
    "status": "disabled",
    "metadata": {},
    "created_at": "2026-01-01T00:00:00.000Z",
    "updated_at": "2026-01-02T00:00:00.000Z",
}

# -- envelopes ------------------------------------------------------------------------------------------------


def ok(data: Any, *, hints: Optional[List[Dict[str, Any]]] = None, meta: Optional[Dict[str, Any]] = None) -> Dict:
    env: Dict[str, Any] = {"ok": True, "code": "OK", "data": data}
    if hints is not None:
        env["hints"] = hints
    if meta is not None:
        env["meta"] = meta
    return env


def err(status: int, code: str, message: str = "refused", **extra: Any) -> Dict[str, Any]:
    env: Dict[str, Any] = {"ok": False, "code": code, "message": message, "meta": {"status": status}}
    env.update(extra)
    return env


# -- SVC-AUTH checks with this deployment's key (the oracle is support.svcauth) ------------------------------


def verify_signed(
    method: str, target: str, headers: Mapping[str, str], body: bytes, secret: bytes = SECRET_BYTES
) -> Dict[str, str]:
    """Check digest and signature the way the server does; return the parsed Authorization parameters."""
    return svcauth.verify_signed(method, target, headers, body, secret=secret, key_id=KEY_ID)


def verify_request(request: Any, secret: bytes = SECRET_BYTES) -> Dict[str, str]:
    """Verify a request captured by ``responses`` (a requests.PreparedRequest)."""
    return svcauth.verify_request(request, secret=secret, key_id=KEY_ID)


def sent_json(call: Any) -> Any:
    return json.loads(body_bytes(call.request))


#: Backoff waits the clients made by make_client() asked for; the ``sleeps`` fixture clears it for every test.
SLEEPS: List[float] = []


def fast_retrier(policy: Optional[RetryPolicy] = None) -> Retrier:
    """The policy's retry decisions, with waits recorded in SLEEPS instead of slept."""
    return Retrier(policy if policy is not None else RetryPolicy(), sleep=SLEEPS.append)


def make_client(**kwargs: Any) -> ServiceClient:
    params: Dict[str, Any] = {
        "base_url": BASE_URL,
        "realm_id": REALM,
        "key_id": KEY_ID,
        "key_secret": SECRET_B64,
    }
    params.update(kwargs)
    if not isinstance(params.get("retry"), Retrier):
        params["retry"] = fast_retrier(params.get("retry"))
    return ServiceClient(**params)
