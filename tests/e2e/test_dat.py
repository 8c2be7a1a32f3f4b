"""Delegated access tokens: bootstrap tokens (service key) and the sessions they issue (bootstrap bearer)."""

from __future__ import annotations

import os

import pytest

from vluna_client import AuthenticationError, NotFoundError, ServiceClient

from ._support import covers, fresh


@covers(
    "service dat.create_bootstrap_token",
    "service dat.list_bootstrap_tokens",
    "service dat.reveal_bootstrap_token",
    "service dat.issue_session",
    "service dat.introspect_session",
    "service dat.revoke_session",
    "service dat.revoke_bootstrap_token",
)
def test_bootstrap_token_issues_a_session_until_revoked(service: ServiceClient) -> None:
    realm = os.environ["VLUNA_REALM_ID"]
    created = service.dat.create_bootstrap_token(
        subject_id=fresh("e2e-agent"), allowed_realms=[realm], granted_scopes=["mcp:read"]
    ).data
    tid = created.token_id
    assert tid in [t.token_id for t in service.dat.list_bootstrap_tokens().data.items]
    secret = service.dat.reveal_bootstrap_token(token_id=tid).data
    assert secret.token_id == tid
    bootstrap = created.token or secret.token

    session = service.dat.issue_session(bearer_token=bootstrap, requested_scopes=["mcp:read"]).data
    assert session.subject_id == created.subject_id
    seen = service.dat.introspect_session(bearer_token=bootstrap, access_token=session.access_token).data
    assert seen.valid is True
    revoked = service.dat.revoke_session(bearer_token=bootstrap, access_token=session.access_token).data
    assert revoked.revoked is True
    assert service.dat.introspect_session(bearer_token=bootstrap, access_token=session.access_token).data.valid is False

    assert service.dat.revoke_bootstrap_token(token_id=tid).data.revoked is True
    with pytest.raises(AuthenticationError):
        service.dat.issue_session(bearer_token=bootstrap)


@covers("service dat.issue_session")
def test_session_with_an_unknown_bootstrap_token_is_refused(service: ServiceClient) -> None:
    with pytest.raises(AuthenticationError):
        service.dat.issue_session(bearer_token=f"dat_{fresh('bogus')}")


@covers("service dat.reveal_bootstrap_token", "service dat.revoke_bootstrap_token")
def test_unknown_bootstrap_token_is_not_found(service: ServiceClient) -> None:
    with pytest.raises(NotFoundError):
        service.dat.reveal_bootstrap_token(token_id="00000000-0000-4000-8000-000000000000")
    # Revoking is idempotent: an unknown token reports that nothing was revoked.
    assert service.dat.revoke_bootstrap_token(token_id="00000000-0000-4000-8000-000000000000").data.revoked is False
