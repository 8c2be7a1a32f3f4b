"""The parameter table of an Operation and how a method's keyword arguments split by it into one call."""

from __future__ import annotations

from vluna_client._area import split_arguments
from vluna_client._operation import Operation, Param

QUERY = {"billing_account_id": {"type": ["string"]}, "from": {"type": ["string"]}, "limit": {"type": ["integer"]}}
BODY = {"type": ["object"], "properties": {"billing_account_id": {"type": ["string"]}, "user_id": {"type": ["string"]}}}


def test_the_table_lists_every_keyword_with_its_wire_name_and_location():
    op: Operation[object] = Operation(
        "ops.thing",
        "thing",
        "/things/{thing_id}",
        method="POST",
        path_params=("thing_id",),
        query_schema=QUERY,
        body_schema=BODY,
        bindings=("billing_account_id", "user_id"),
        renames={"from_": "from", "target_user_id": "user_id"},
    )
    assert op.params == (
        Param("thing_id", "thing_id", "path"),
        Param("billing_account_id", "billing_account_id", "merged"),
        Param("from_", "from", "query"),
        Param("limit", "limit", "query"),
        Param("billing_account_id", "billing_account_id", "merged"),
        Param("target_user_id", "user_id", "body"),
        Param("billing_account_id", "billing_account_id", "binding"),
        Param("user_id", "user_id", "binding"),
    )
    kwargs = {
        "self": object(),
        "thing_id": "t 1",
        "billing_account_id": "ba_9",
        "from_": "2026-01-01",
        "limit": None,
        "target_user_id": "u_other",
        "user_id": "u_me",
        "idempotency_key": "key-1",
        "timeout": 3.0,
    }
    args = split_arguments(op, kwargs)
    assert args.path == {"thing_id": "t 1"}
    # A name shared with a binding feeds the binding and the query filter / body property alike.
    assert args.query == {"billing_account_id": "ba_9", "from": "2026-01-01", "limit": None}
    assert args.body == {"billing_account_id": "ba_9", "user_id": "u_other"}
    assert args.bindings == {"billing_account_id": "ba_9", "user_id": "u_me"}
    assert (args.idempotency_key, args.timeout, args.bearer_token) == ("key-1", 3.0, None)


def test_a_free_form_body_is_passed_whole_and_a_bodyless_call_sends_none():
    whole: Operation[object] = Operation(
        "consent.record", "record", "/consent", method="POST", body_schema={"type": ["object"]}, whole_body=True
    )
    assert [p.location for p in whole.params] == ["whole_body"]
    assert split_arguments(whole, {"body": {"any": 1}, "timeout": None}).body == {"any": 1}
    bodyless: Operation[object] = Operation("x.get", "get", "/x")
    args = split_arguments(bodyless, {"timeout": None, "bearer_token": "dat"})
    assert args.body is None
    assert args.bearer_token == "dat"
    assert bodyless.params == ()


def test_defaults_describe_a_plain_read():
    op: Operation[object] = Operation("system.ping", "ping", "/ping")
    assert (op.method, op.surface, op.write, op.retry, op.success_status) == ("GET", "service", False, "read", 200)
    assert op.query_schema == {}
    assert op.body_schema is None
    assert op.mutates is False
