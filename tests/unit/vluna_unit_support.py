"""Constants, envelope builders and an independent SVC-AUTH verifier for the unit tests.

Nothing here imports the client's signing code: the verifier below re-implements wire-protocol.md §3 from the
reference text so that a signing bug cannot hide behind shared code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Dict, List, Optional

from vluna_client import Retrier, RetryPolicy, ServiceClient

BASE_URL = "https://vluna.test/mgt/v1"
BEARER_BASE_URL = "https://vluna.test/api/v1"
ROOT = "https://vluna.test"
REALM = "realm_demo"
KEY_ID = "pk-AbCdEfGh12345678"
SECRET_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
SECRET_BYTES = bytes(range(32))
BEARER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyXzQyIn0.c2VjcmV0LWJlYXJlci1zaWduYXR1cmU"

EMPTY_DIGEST = "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"

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

# §3.1: the server's grammar, anchored here (the client must produce exactly this shape).
AUTH_RE = re.compile(
    r"^SVC-AUTH keyId=(?P<key_id>[^,]+),sig=(?P<sig>[^,]+),ts=(?P<ts>[^,]+),nonce=(?P<nonce>[^,]+),alg=HMAC-SHA256$"
)


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


# -- independent SVC-AUTH verifier ----------------------------------------------------------------------------


def digest_of(body: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def body_bytes(request: Any) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body)


def canonical(method: str, path_with_query: str, ts: str, nonce: str, headers: Mapping[str, str]) -> str:
    """wire-protocol.md §3.2, written from the text (headers: any mapping, looked up case-insensitively)."""
    lower = {str(k).lower(): v for k, v in headers.items()}

    def h(name: str) -> str:
        return lower.get(name, "")

    return "\n".join(
        [
            method.upper(),
            path_with_query,
            "ts:" + ts,
            "nonce:" + nonce,
            "content-digest:" + h("content-digest"),
            "content-type:" + h("content-type"),
            "x-realm-id:" + h("x-realm-id"),
            "x-principal-id:" + h("x-principal-id"),
            "x-user-id:" + h("x-user-id"),
            "x-billing-account-id:" + h("x-billing-account-id"),
            "x-billing-user-id:" + h("x-billing-user-id"),
            "idempotency-key:" + h("idempotency-key"),
        ]
    )


def hmac_b64(secret: bytes, text: str) -> str:
    return base64.b64encode(hmac.new(secret, text.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def parse_auth(value: str) -> Dict[str, str]:
    match = AUTH_RE.match(value)
    assert match, f"Authorization header does not follow the SVC-AUTH grammar: {value!r}"
    return match.groupdict()


def verify_signed(
    method: str, path_with_query: str, headers: Mapping[str, str], body: bytes, secret: bytes = SECRET_BYTES
) -> Dict[str, str]:
    """Check digest + signature the way the server does; return the parsed Authorization parameters."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    assert lower.get("content-digest") == digest_of(body), "Content-Digest is not over the bytes sent"
    auth = parse_auth(lower["authorization"])
    assert auth["key_id"] == KEY_ID
    expected = hmac_b64(secret, canonical(method, path_with_query, auth["ts"], auth["nonce"], lower))
    assert auth["sig"] == expected, "signature does not match the canonical string of what was sent"
    return auth


def verify_request(request: Any, secret: bytes = SECRET_BYTES) -> Dict[str, str]:
    """Verify a request captured by ``responses`` (a requests.PreparedRequest)."""
    return verify_signed(request.method, request.path_url, request.headers, body_bytes(request), secret)


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


# -- a real HTTP server on 127.0.0.1 (for what only the wire shows) ---------------------------------------------


class Recorded:
    """One request as the server received it: raw request target, header list, body bytes."""

    def __init__(self, method: str, target: str, headers: List[Any], body: bytes) -> None:
        self.method = method
        self.target = target
        self.headers = headers  # [(name, value), ...] as received
        self.body = body

    def header_map(self) -> Dict[str, str]:
        """Lower-cased names; repeated headers joined with ',' as the server does (§3.2)."""
        out: Dict[str, str] = {}
        for name, value in self.headers:
            key = name.lower()
            out[key] = value if key not in out else out[key] + "," + value
        return out


class LocalServer:
    """A tiny threaded HTTP/1.0 server that records requests and answers from a queue of (status, body)."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.received: List[Recorded] = []
        self.answers: List[Any] = []
        self.default = (200, {"ok": True, "code": "OK", "data": []})
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.received.append(Recorded(self.command, self.path, list(self.headers.items()), body))
                status, payload = owner.answers.pop(0) if owner.answers else owner.default
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
