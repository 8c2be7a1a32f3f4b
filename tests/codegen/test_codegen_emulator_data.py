"""The emulator's spec data is read by the client generator's reader and is shaped as its TypedDict says."""

from __future__ import annotations

import json
import typing

import pytest

from support import codegen_tools

emulator_spec = codegen_tools.load("emulator_spec")
ir = codegen_tools.load("ir")
spec = codegen_tools.load("spec")

DATA = codegen_tools.ROOT / "src" / "vluna_client" / "testing" / "_spec_data" / "operations.json"


def operation(**changes):
    base = {
        "operation_id": "op",
        "client": "service",
        "area": "things",
        "method_name": "get",
        "http_method": "GET",
        "path": "/mgt/v1/things",
        "rel_path": "/things",
        "surface": "service",
        "summary": "",
        "description": "",
        "params": [],
        "bindings": [],
        "write": False,
        "body_schema": None,
        "result_type": "Any",
        "item_type": None,
        "pagination": None,
        "not_served": False,
        "requires_one_of": [],
        "bearer_override": False,
        "success_status": 200,
    }
    return ir.OperationSpec(**{**base, **changes})


def source(security=()):
    return ir.SourceSpec("x.yaml", 0, frozenset(security), {}, {}, None, False, None)


@pytest.mark.parametrize(
    ("security", "bearer_override", "expected"),
    [
        ((), False, "none"),
        (("serviceKey",), False, "service"),
        (("bearer",), False, "bearer"),
        (("bearer", "serviceKey"), False, "either"),
        (("serviceKey",), True, "bootstrap"),
    ],
)
def test_auth_class_follows_the_security_schemes_and_the_bearer_override(security, bearer_override, expected):
    assert emulator_spec._auth(operation(bearer_override=bearer_override), source(security)) == expected


def test_binding_class_follows_the_bindings_the_client_sends():
    binding = ir.BindingSpec
    runtime = [binding("principal_id", True), binding("user_id", False)]
    assert emulator_spec._bindings(operation(bindings=runtime)) == "runtime"
    account = [binding("billing_account_id", False), binding("principal_id", False)]
    assert emulator_spec._bindings(operation(bindings=account, requires_one_of=["principal_id"])) == "account"
    assert emulator_spec._bindings(operation(bindings=account)) == "optional"
    # An optional principal with a user binding is not a runtime call.
    assert emulator_spec._bindings(operation(bindings=[binding("principal_id", False), binding("user_id", False)])) == (
        "optional"
    )
    assert emulator_spec._bindings(operation()) == "none"


def test_the_shipped_data_has_exactly_the_keys_its_typed_dicts_declare():
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert set(data) == set(typing.get_type_hints(emulator_spec.EmulatorData))
    keys = set(typing.get_type_hints(emulator_spec.EmulatorOperation))
    assert set(typing.get_type_hints(emulator_spec.EmulatorRoute)) < keys
    wrong = [op["operation_id"] for op in data["operations"] if set(op) != keys]
    assert not wrong


def test_every_route_of_the_specs_is_in_the_data_once_with_the_clients_rules():
    api = spec.load_api()
    data = emulator_spec.build(api)
    by_route = {(op["method"], op["path"]): op for op in data["operations"]}
    assert len(by_route) == len(data["operations"]) == len(api.routes)
    for op in api.operations:
        found = by_route[(op.http_method, op.path)]
        assert (found["status"], found["idempotent"], found["pagination"]) == (
            op.success_status,
            op.write,
            op.pagination,
        )
