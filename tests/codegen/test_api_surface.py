"""The API change report: the committed snapshot is the live surface, and changes are classified correctly.

``codegen/api_surface.py`` snapshots the package by introspection; ``nox -s api_diff`` prints its classification of
the differences between the committed ``api/surface.json`` and a fresh snapshot, one ``breaking:``/``additive:``
line per change. The classifier is exercised here on small synthetic snapshots.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from support import codegen_tools

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "api" / "surface.json"


surface = codegen_tools.load("api_surface")


def param(name, annotation="Optional[str]", *, required=False, kind="KEYWORD_ONLY", default=None):
    return {"name": name, "kind": kind, "annotation": annotation, "default": default, "required": required}


SELF = {"name": "self", "kind": "POSITIONAL_OR_KEYWORD", "annotation": None, "default": None, "required": True}


def method(*params, returns="Result[m_billing.Budget]"):
    return {"params": [SELF, *params], "returns": returns}


def base_snapshot():
    return {
        "format": 1,
        "clients": {
            "ServiceClient": {
                "budgets": {
                    "create": method(
                        param("name"),
                        param("limit_xusd", "Optional[Union[int, str]]"),
                        param("principal_id"),
                        param("timeout", "TimeoutTypes"),
                    ),
                    "get": method(param("budget_id", "str", required=True)),
                }
            }
        },
        "models": {
            "billing.Budget": {
                "kind": "class",
                "fields": {
                    "budget_id": {"type": "str", "default": None, "required": True},
                    "name": {"type": "Optional[str]", "default": None, "required": False},
                },
            },
            "billing.Status": {"kind": "enum", "members": {"ACTIVE": "active", "CLOSED": "closed"}},
            "common.Code": {"kind": "alias", "type": "str"},
        },
        "public": {
            "idempotency_key": {
                "kind": "function",
                "params": [param("namespace", "str", required=True, kind="POSITIONAL_OR_KEYWORD")],
                "returns": "str",
            },
            "NO_RETRIES": {"kind": "constant", "type": "RetryPolicy"},
        },
    }


def report(before, after):
    return [str(c) for c in surface.classify(before, after)]


def create_params(snap):
    return snap["clients"]["ServiceClient"]["budgets"]["create"]["params"]


def test_identical_snapshots_report_nothing():
    assert report(base_snapshot(), base_snapshot()) == []


def test_a_renamed_parameter_and_model_field_are_breaking_one_line_each():
    after = base_snapshot()
    create_params(after)[1]["name"] = "title"
    fields = after["models"]["billing.Budget"]["fields"]
    fields["title"] = fields.pop("name")
    assert report(base_snapshot(), after) == [
        "breaking: ServiceClient.budgets.create: parameter name renamed to title",
        "breaking: models.billing.Budget: field name renamed to title",
    ]


def test_removed_method_parameter_field_and_enum_member_are_breaking():
    after = base_snapshot()
    del after["clients"]["ServiceClient"]["budgets"]["get"]
    del create_params(after)[3]  # principal_id
    del after["models"]["billing.Budget"]["fields"]["name"]
    del after["models"]["billing.Status"]["members"]["CLOSED"]
    del after["models"]["common.Code"]
    assert report(base_snapshot(), after) == [
        "breaking: ServiceClient.budgets.create: parameter principal_id removed",
        "breaking: ServiceClient.budgets.get: method removed",
        "breaking: models.billing.Budget: field name removed",
        "breaking: models.billing.Status: enum member CLOSED removed",
        "breaking: models.common.Code: alias removed",
    ]


def test_new_optional_things_are_additive_and_new_required_ones_breaking():
    after = base_snapshot()
    area = after["clients"]["ServiceClient"]["budgets"]
    area["close"] = method(param("budget_id", "str", required=True))
    area["create"]["params"].insert(3, param("metadata", "Optional[Mapping[str, Any]]"))
    area["get"]["params"].append(param("expand", "Sequence[str]", required=True))
    after["models"]["billing.Budget"]["fields"]["closed_at"] = {
        "type": "Optional[str]",
        "default": None,
        "required": False,
    }
    after["models"]["billing.Budget"]["fields"]["realm_id"] = {"type": "str", "default": None, "required": True}
    after["models"]["billing.Status"]["members"]["PENDING"] = "pending"
    after["models"]["billing.Rounding"] = {"kind": "enum", "members": {"FLOOR": "floor"}}
    after["public"]["Lease"] = {"kind": "class", "bases": ["object"], "members": {}}
    assert report(base_snapshot(), after) == [
        "breaking: ServiceClient.budgets.get: new required parameter expand",
        "breaking: models.billing.Budget: new required field realm_id",
        "additive: ServiceClient.budgets.close: new method",
        "additive: ServiceClient.budgets.create: new optional parameter metadata",
        "additive: models.billing.Budget: new optional field closed_at",
        "additive: models.billing.Rounding: new enum",
        "additive: models.billing.Status: new enum member PENDING",
        "additive: vluna_client.Lease: new public name",
    ]


def test_a_parameter_made_required_is_breaking_and_made_optional_additive():
    after = base_snapshot()
    create_params(after)[1].update(required=True, annotation="str")
    get = after["clients"]["ServiceClient"]["budgets"]["get"]["params"]
    get[1].update(required=False, annotation="Optional[str]")
    lines = report(base_snapshot(), after)
    assert "breaking: ServiceClient.budgets.create: parameter name is now required" in lines
    # Dropping Optional from an input narrows what callers may pass.
    assert "breaking: ServiceClient.budgets.create: parameter name type Optional[str] -> str (narrowed)" in lines
    assert "additive: ServiceClient.budgets.get: parameter budget_id is now optional" in lines
    assert "additive: ServiceClient.budgets.get: parameter budget_id type str -> Optional[str] (widened)" in lines


@pytest.mark.parametrize(
    ("before", "after", "verdict"),
    [
        ("Optional[Union[int, str]]", "Optional[str]", "breaking"),  # a Union member removed
        ("Optional[str]", "Optional[Union[int, str]]", "additive"),  # a member added
        ("Optional[str]", "str | int | None", "additive"),  # PEP 604 spelling, same rules
        ("Optional[Sequence[str]]", "Optional[Sequence[Union[str, int]]]", "additive"),  # widened inside
        ("Optional[Sequence[str]]", "Optional[Sequence[int]]", "breaking"),  # unrelated: changed
        ("Optional[str]", "Optional[Any]", "additive"),
    ],
)
def test_input_types_may_widen_but_not_narrow(before, after, verdict):
    old, new = base_snapshot(), base_snapshot()
    create_params(old)[2]["annotation"] = before
    create_params(new)[2]["annotation"] = after
    lines = report(old, new)
    assert len(lines) == 1
    assert lines[0].startswith(f"{verdict}: ServiceClient.budgets.create: parameter limit_xusd type ")


def test_return_types_may_narrow_but_not_widen():
    after = base_snapshot()
    after["clients"]["ServiceClient"]["budgets"]["get"]["returns"] = "Union[Result[m_billing.Budget], None]"
    assert report(base_snapshot(), after) == [
        "breaking: ServiceClient.budgets.get: return type Result[m_billing.Budget] -> "
        "Union[Result[m_billing.Budget], None] (widened)"
    ]
    assert report(after, base_snapshot())[0].startswith("additive: ServiceClient.budgets.get: return type")


def test_enum_value_change_and_positional_reorder_are_breaking():
    after = base_snapshot()
    after["models"]["billing.Status"]["members"]["ACTIVE"] = "enabled"
    after["public"]["idempotency_key"]["params"].append(
        param("parts", "str", required=True, kind="POSITIONAL_OR_KEYWORD")
    )
    before = copy.deepcopy(after)
    before["models"] = base_snapshot()["models"]
    after["public"]["idempotency_key"]["params"].reverse()
    lines = report(before, after)
    assert "breaking: models.billing.Status: enum member ACTIVE value 'active' -> 'enabled'" in lines
    assert "breaking: vluna_client.idempotency_key: positional order namespace, parts -> parts, namespace" in lines


def test_the_diff_command_prints_the_report_and_fails(tmp_path, capsys):
    before, after = base_snapshot(), base_snapshot()
    create_params(after)[1]["name"] = "title"
    (tmp_path / "a.json").write_text(json.dumps(before))
    (tmp_path / "b.json").write_text(json.dumps(after))
    assert surface.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1
    assert capsys.readouterr().out == "breaking: ServiceClient.budgets.create: parameter name renamed to title\n"
    assert surface.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0


def test_the_committed_snapshot_is_the_live_surface():
    """api/surface.json describes the package as it is; after an API change, `nox -s codegen` rewrites it."""
    live = json.loads(surface.dumps(surface.snapshot()))
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    changes = [str(c) for c in surface.classify(committed, live)]
    assert not changes, "api/surface.json is out of date (run `nox -s codegen`):\n" + "\n".join(changes)
    assert live == committed
    # The committed text is exactly what the tool writes, so regenerating never produces a spurious diff.
    assert SNAPSHOT.read_text(encoding="utf-8") == surface.dumps(committed)


def test_the_live_surface_covers_both_clients_models_and_the_public_names():
    live = surface.snapshot()
    import vluna_client

    assert set(live["public"]) == set(vluna_client.__all__)
    assert "gate" in live["clients"]["ServiceClient"]
    assert "wallet" in live["clients"]["BearerClient"]
    authorize = live["clients"]["ServiceClient"]["gate"]["authorize"]
    names = [p["name"] for p in authorize["params"]]
    assert names[0] == "self"
    assert {"feature_code", "principal_id", "user_id", "idempotency_key", "timeout"} <= set(names)
    assert live["models"]["gate.AuthorizeResponse"]["kind"] == "class"
    assert live["models"]["common.Rounding"]["kind"] == "enum"
