"""Platform bearer tokens: minted by ``/mgt/v1/token/issue`` and checked on every bearer call."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from .._errors import HttpError
from .._inputs import as_object
from .._jsutil import JsonValue, iso_ms, js_string, js_trim, js_truthy
from .._jwt import TokenError, decode_hs256, encode_hs256
from .._state import CallContext, User
from .accounts import Accounts
from .realm import Realm, locked

__all__ = ["Tokens"]

TOKEN_AUDIENCE = "oss.vluna.ai"  # noqa: S105 - a JWT audience, not a secret
ISSUER_BASE = "https://api.vluna.ai"
_TOKEN_KID = re.compile(r"^(plt|apt):v(\d+):realm:(.+)$")


class Tokens:
    """HS256 platform tokens with the server's claims, issuer and audience."""

    def __init__(self, realm: Realm, accounts: Accounts) -> None:
        self.realm = realm
        self.accounts = accounts

    @locked
    def issuer(self) -> str:
        """JWT issuer for this realm: the server's default public URL + ``/realms/<realm>``.

        A constant base (not the emulator's own URL) keeps tokens valid whatever port the emulator gets.
        """
        return f"{ISSUER_BASE}/realms/{self.realm.realm_id}"

    @locked
    def mint(
        self,
        user: User,
        *,
        ttl: int = 900,
        platform_scopes: Optional[List[str]] = None,
        traits: Optional[Dict[str, Any]] = None,
        nonce: Optional[str] = None,
        key_id: Optional[str] = None,
    ) -> Tuple[str, int, datetime]:
        """Mint a platform bearer token; returns ``(token, expires_in, expires_at)``."""
        scopes = platform_scopes if platform_scopes is not None else ["checkout", "portal"]
        issued_at = int(self.realm.now().timestamp())
        expires = issued_at + ttl
        scope_text = "billing:read billing:write" if "checkout" in scopes else "billing:read"
        payload: Dict[str, Any] = {
            "scope": scope_text,
            "realm_id": self.realm.realm_id,
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            "billing_principal_id": user.account.principal_id,
            "business_user_id": user.user_id,
            "plt_scopes": scopes,
            "tu": "plt",
            "token_use": "platform",
            "tv": 1,
        }
        if traits:
            payload["plt_traits"] = traits
        if nonce:
            payload["nonce"] = nonce
        if key_id:
            payload["ib"] = key_id
        payload.update(
            {
                "iat": issued_at,
                "exp": expires,
                "aud": TOKEN_AUDIENCE,
                "iss": self.issuer(),
                "sub": user.user_id,
                "jti": str(uuid.uuid4()),
            }
        )
        header = {"alg": "HS256", "kid": f"plt:v1:realm:{self.realm.realm_id}", "typ": "JWT"}
        token = encode_hs256(header, payload, self.realm.token_secret)
        return token, ttl, datetime.fromtimestamp(expires, tz=timezone.utc)

    @locked
    def verify(self, token: str, realm_header: str) -> User:
        """Verify a platform token for the request's realm and return its billing user.

        Raises:
            HttpError: 401 ``invalid_token`` or 403 ``realm_mismatch`` like the server's token guard.
        """
        invalid = HttpError(401, "AUTH.UNAUTHORIZED", "invalid_token")
        try:
            header, claims = decode_hs256(token, self.realm.token_secret)
        except TokenError:
            raise invalid from None
        kid = header.get("kid")
        kid_match = _TOKEN_KID.match(kid) if isinstance(kid, str) else None
        if kid_match is None or kid_match.group(3) != self.realm.realm_id:
            raise invalid
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        now = self.realm.now().timestamp()
        expires = claims.get("exp")
        not_before = claims.get("nbf")
        if (
            claims.get("iss") != self.issuer()
            or TOKEN_AUDIENCE not in audiences
            or not isinstance(expires, (int, float))
            or expires <= now
            or (isinstance(not_before, (int, float)) and not_before > now)
        ):
            raise invalid
        token_use = claims.get("tu") or claims.get("token_use")
        if not isinstance(token_use, str) or token_use.lower() not in ("plt", "platform"):
            raise invalid
        claim_realm = js_trim(js_string(claims.get("realm_id") or ""))
        if claim_realm and claim_realm != realm_header:
            raise HttpError(403, "AUTH.INSUFFICIENT_SCOPE", "realm_mismatch")
        principal_id = js_trim(js_string(claims.get("billing_principal_id") or ""))
        user_id = js_trim(js_string(claims.get("business_user_id") or claims.get("sub") or ""))
        account = self.realm.accounts.get(principal_id)
        user = account.users.get(user_id) if account else None
        if user is None or user.billing_user_id != claims.get("billing_user_id"):
            raise invalid
        return user

    @locked
    def issue(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/token/issue``."""
        data = as_object(body)
        principal_id = js_trim(js_string(data.get("principal_id"))) if js_truthy(data.get("principal_id")) else ""
        user_id = js_trim(js_string(data.get("user_id"))) if js_truthy(data.get("user_id")) else ""
        if not principal_id:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "missing_principal")
        if not user_id:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "missing_user_id")
        scopes = self._platform_scopes(data.get("scopes"))
        ttl_raw = data.get("session_ttl_sec")
        ttl_input = ttl_raw if isinstance(ttl_raw, (int, float)) and not isinstance(ttl_raw, bool) else 900
        ttl = 900 if not math.isfinite(ttl_input) or math.floor(ttl_input) <= 0 else math.floor(ttl_input)
        ttl = min(max(ttl, 60), 3600)
        traits = self._traits(data.get("traits"))
        nonce = data.get("nonce") if isinstance(data.get("nonce"), str) else None
        user = self.accounts.ensure_user(self.accounts.ensure_account(principal_id), user_id)
        token, expires_in, expires_at = self.mint(
            user, ttl=ttl, platform_scopes=scopes, traits=traits, nonce=nonce, key_id=ctx.key_id
        )
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "expires_at": iso_ms(expires_at),
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
        }

    @staticmethod
    def _platform_scopes(value: JsonValue) -> List[str]:
        default = ["checkout", "portal"]
        if not isinstance(value, list):
            return default
        cleaned = [js_trim(js_string(item)) if js_truthy(item) else "" for item in value]
        cleaned = [item for item in cleaned if item]
        if not cleaned:
            return default
        kept: List[str] = []
        for item in cleaned:
            if item in ("checkout", "portal") and item not in kept:
                kept.append(item)
        return kept or default

    @staticmethod
    def _traits(value: JsonValue) -> Optional[Dict[str, Any]]:
        if isinstance(value, dict):
            pairs = list(value.items())[:20]
        elif isinstance(value, list):
            pairs = [(str(index), item) for index, item in enumerate(value)][:20]
        else:
            return None
        traits = {key: item for key, item in pairs if key}
        return traits or None
