"""The parameter table of an Operation: every keyword with its wire name and where it travels.

That generated methods send each keyword as this table says is checked in tests/codegen/test_generated_calls.py.
"""

from __future__ import annotations

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
    # A name shared with a binding feeds the binding and the query filter / body property alike.
    assert op.shared_bindings == ("billing_account_id", "billing_account_id")


def test_a_free_form_body_is_one_keyword_and_a_bodyless_call_has_none():
    whole: Operation[object] = Operation(
        "consent.record", "record", "/consent", method="POST", body_schema={"type": ["object"]}, whole_body=True
    )
    assert [p.location for p in whole.params] == ["whole_body"]
    bodyless: Operation[object] = Operation("x.get", "get", "/x")
    assert bodyless.params == ()
    assert bodyless.shared_bindings == ()


def test_defaults_describe_a_plain_read():
    op: Operation[object] = Operation("system.ping", "ping", "/ping")
    assert (op.method, op.surface, op.write, op.retry, op.success_status) == ("GET", "service", False, "read", 200)
    assert op.query_schema == {}
    assert op.body_schema is None
    assert op.mutates is False
