"""Hand-built requests to an emulator: signed with the test-side oracle (:mod:`support.svcauth`), or broken on
purpose after signing, so the emulator's verifier is checked against an implementation it does not share.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, Optional

import requests

from support.svcauth import content_digest, decode_secret, sign_request
from vluna_client.testing import Emulator

PRINCIPAL = "org_acme"
USER = "user_42"
TS = "2026-01-15T10:00:00Z"


class Wire:
    """Sends hand-built requests to an emulator and returns the raw ``requests.Response``."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.session = requests.Session()

    def close(self) -> None:
        self.session.close()

    def svc(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: Optional[bytes] = None,
        principal: Optional[str] = PRINCIPAL,
        user: Optional[str] = USER,
        key: Optional[str] = "auto",
        headers: Optional[Dict[str, str]] = None,
        nonce: Optional[str] = None,
        ts: str = TS,
        tamper: Optional[str] = None,
        digest: bool = True,
        timeout: float = 10.0,
        key_id: Optional[str] = None,
        secret: Optional[str] = None,
    ) -> requests.Response:
        """A signed service request; ``tamper`` in {"sig", "body", "path"} breaks it after signing."""
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        hdrs: Dict[str, str] = {"X-Realm-Id": self.emu.realm_id}
        if data:
            hdrs["Content-Type"] = "application/json"
        if principal is not None:
            hdrs["X-Principal-Id"] = principal
        if user is not None:
            hdrs["X-User-Id"] = user
        if key == "auto" and method.upper() != "GET":
            hdrs["Idempotency-Key"] = str(uuid.uuid4())
        elif key is not None and key != "auto":
            hdrs["Idempotency-Key"] = key
        hdrs.update(headers or {})
        prep = self.session.prepare_request(requests.Request(method, self.emu.url + path, data=data or None))
        prep.headers.update(hdrs)
        if digest:
            prep.headers["Content-Digest"] = content_digest(data)
        signed_headers = {name: str(value) for name, value in prep.headers.items()}
        auth = sign_request(
            method,
            prep.path_url,
            signed_headers,
            key_id=key_id or self.emu.key_id,
            secret=decode_secret(secret or self.emu.key_secret),
            ts=ts,
            nonce=nonce or uuid.uuid4().hex,
        )
        if tamper == "sig":
            start = auth.index(",sig=") + len(",sig=")
            auth = auth[:start] + ("A" if auth[start] != "A" else "B") + auth[start + 1 :]
        prep.headers["Authorization"] = auth
        if tamper == "body":
            tampered = data.replace(b"1", b"2") if b"1" in data else data + b" "
            prep.body = tampered
            prep.headers["Content-Length"] = str(len(tampered))
        if tamper == "path":
            url = str(prep.url)
            prep.url = url + ("&" if "?" in url else "?") + "x=1"
        return self.session.send(prep, timeout=timeout)

    def bearer(
        self,
        method: str,
        path: str,
        token: str,
        body: Any = None,
        *,
        key: Optional[str] = None,
        realm: Optional[str] = None,
    ) -> requests.Response:
        hdrs = {"X-Realm-Id": realm or self.emu.realm_id, "Authorization": "Bearer " + token}
        if key:
            hdrs["Idempotency-Key"] = key
        data = None if body is None else json.dumps(body).encode()
        if data:
            hdrs["Content-Type"] = "application/json"
        return self.session.request(method, self.emu.url + path, data=data, headers=hdrs, timeout=10)

    def plain(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.emu.url + path, **kwargs)

    # Convenience wrappers for the gate loop.

    def authorize(self, feature: str = "llm.chat", key: Optional[str] = "auto", **extra: Any) -> requests.Response:
        return self.svc("POST", "/mgt/v1/gate/authorize", {"feature_code": feature, **extra}, key=key)

    def lease_token(self, feature: str = "llm.chat", **extra: Any) -> str:
        response = self.authorize(feature, **extra)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["lease_token"])

    def commit(
        self, token: str, quantity: Any = "5", feature: str = "llm.chat", key: Optional[str] = "auto", **extra: Any
    ) -> requests.Response:
        body = {"lease_token": token, "feature_code": feature, "quantity_minor": quantity, **extra}
        return self.svc("POST", "/mgt/v1/gate/commits", body, key=key)

    def token(self, principal: str = PRINCIPAL, user: str = USER) -> str:
        response = self.svc(
            "POST", "/mgt/v1/token/issue", {"principal_id": principal, "user_id": user}, principal=None, user=None
        )
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["access_token"])
