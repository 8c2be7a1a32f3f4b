"""The core's plain value classes keep what attrs gave them: immutable, compared by value, pickled whole, no secret
in a repr."""

from __future__ import annotations

import pickle

import pytest

from vluna_client._auth import BearerAuth
from vluna_client._call import CallArgs
from vluna_client._operation import Param
from vluna_client._request import RequestBase

TOKEN = "tok-frozen-SECRET-1"


def _base() -> RequestBase:
    return RequestBase("https://h/mgt/v1", "https://h", "realm-1", {"Accept": "application/json"}, BearerAuth(TOKEN))


def test_values_refuse_assignment_and_deletion() -> None:
    args = CallArgs(query={"limit": 1})
    with pytest.raises(AttributeError, match="immutable"):
        args.query = {}  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del args.body  # type: ignore[misc]
    assert args.query == {"limit": 1}


def test_equality_is_by_class_and_fields() -> None:
    assert Param("a", "a", "query") == Param("a", "a", "query")
    assert Param("a", "a", "query") != Param("a", "a", "body")
    assert hash(Param("a", "b", "path")) == hash(Param("a", "b", "path"))
    assert CallArgs() != Param("a", "a", "query")


def test_replaced_changes_only_the_named_fields_and_refuses_unknown_ones() -> None:
    args = CallArgs(query={"limit": 2}, idempotency_key="k-1")
    nxt = args.next_page("c-9")
    assert (nxt.query, nxt.idempotency_key, args.query) == ({"limit": 2, "cursor": "c-9"}, "k-1", {"limit": 2})
    with pytest.raises(TypeError, match="no field 'nope'"):
        args.replaced(nope=1)


def test_pickled_values_come_back_equal() -> None:
    # (Operations never travel: a pending write names its operation and the other side looks it up.)
    for value in (Param("from_", "from", "query"), CallArgs(path={"id": "x"}, idempotency_key="k-2")):
        assert pickle.loads(pickle.dumps(value)) == value  # noqa: S301 - pickled right here
    base = pickle.loads(pickle.dumps(_base().bound({"user_id": "u-1"})))  # noqa: S301 - pickled right here
    assert (base.bindings, base.realm_id, base.auth.apply) == ({"user_id": "u-1"}, "realm-1", base.auth.apply)


def test_credentials_never_show_in_a_repr() -> None:
    assert TOKEN not in repr(_base())
    assert "auth=<redacted>" in repr(_base())
    assert TOKEN not in repr(CallArgs(bearer_token=TOKEN))
    assert "bearer_token=None" in repr(CallArgs())


def test_public_result_types_still_resolve_their_annotations() -> None:
    # Moving Page out of _result must leave typing.get_type_hints working on both (tools and cattrs rely on it).
    import typing

    from vluna_client import Page, Result

    assert "hints" in typing.get_type_hints(Result)
    assert "next_cursor" in typing.get_type_hints(Page)


def test_build_call_sends_the_credentials_the_client_picked() -> None:
    # The choice of credentials is the client's (call_auth): build_call applies what it is given, even when the
    # call's arguments carry a bearer token of their own.
    from vluna_client._operation import operation_named
    from vluna_client._request import build_call

    op = operation_named("service", "gate.cancel")
    args = CallArgs(body={"lease_token": "lt-1"}, bindings={"principal_id": "p", "user_id": "u"}, bearer_token="tok-x")
    call = build_call(op, _base(), args, BearerAuth("tok-given"))
    assert call.attempt_headers()["Authorization"] == "Bearer tok-given"
