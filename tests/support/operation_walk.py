"""Calls generated operations through real clients against an emulator (the integration tests' walker).

A :class:`Walk` keeps the ids it created (by resource family) so later operations can name them; the caller picks
the order. Argument values come from :mod:`support.operation_calls`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Dict, Optional

import vluna_client
from support.bindings import Who
from support.operation_calls import SCHEMAS, SPEC, Examples, Row, call_with, operation_of, spec_of
from vluna_client._generated.operations import OPERATIONS
from vluna_client.testing import Emulator

ORG, USER = "org_walk", "user_walk"
WHO: Who = {"principal_id": ORG, "user_id": USER}
# Fields of created resources that later writes name as references (the emulator checks them like the server).
REFERENCES = ("feature_family_code", "feature_code", "plan_id", "catalog_product_id", "bundle_key")
OUTCOME_METER = "walk.outcome"
# Creates that reference others run after them (a feature names its family, a price its product...).
CREATE_ORDER = {
    "/feature-families/{feature_family_id}": 0,
    "/features/{feature_id}": 1,
    "/billing-plans/{plan_id}": 2,
    "/gate/policy-bundles/{bundle_id}": 2,
    "/ops/catalog/products/{catalog_product_id}": 2,
}


# Which family a reference field names, for creating what a create needs first (see Walk.prepare).
REFERENCED_FAMILY = {
    "feature_family_code": "/feature-families/{feature_family_id}",
    "feature_code": "/features/{feature_id}",
    "plan_id": "/billing-plans/{plan_id}",
    "catalog_product_id": "/ops/catalog/products/{catalog_product_id}",
    "bundle_key": "/gate/policy-bundles/{bundle_id}",
}


def create_rank(family: Optional[str]) -> int:
    """Where a create of ``family`` goes among the creates: after the resources it references."""
    return CREATE_ORDER.get(family or "", 3)


def rating_dsl(feature_code: str) -> Dict[str, Any]:
    """A rating DSL document the emulator accepts: one intent on the walk's outcome meter."""
    intent = {"feature_code": feature_code, "meters": [{"meter_code": OUTCOME_METER, "quantity_minor": 1}]}
    match = {"event_type": "walk.done"}
    return {"dsl_version": "v1", "engine": "single", "match": match, "emit": {"intents": [intent]}}


def _family_of_param(path: str, param: str) -> str:
    stripped = re.sub(r"^/(mgt|api)/v1", "", path)
    return stripped[: stripped.index("{" + param + "}") + len(param) + 2]


class Walk:
    """Calls operations in dependency order, remembering created ids by family."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.service = emu.service_client(retry=vluna_client.NO_RETRIES)
        self.bearer = emu.bearer_client(emu.issue_token(ORG, USER), retry=vluna_client.NO_RETRIES)
        known: Dict[str, Any] = dict(emu.billing_ids(ORG, USER))
        self.known = known
        self.examples = Examples(known)
        self.ids: Dict[str, Any] = {
            "/billing-accounts/{billing_account_id}": known["billing_account_id"],
            "/billing-users/{billing_user_id}": known["billing_user_id"],
        }
        self.bootstrap_token: Optional[str] = None
        self.leases = [self.service.gate.authorize(feature_code="llm.chat", **WHO).data for _ in range(2)]

    def prepare(self, row: Row) -> None:
        """Create what a create's required references name first (a plan for an assignment, a product for a price)."""
        spec = spec_of(row)
        body = SCHEMAS.get((spec["body"] or {}).get("$ref", ""), {})
        required = list(body.get("required") or [])
        if spec["kind"] == "create_many":
            required += body["properties"]["items"]["items"].get("required", [])
        if spec["family"] == "/features/{feature_id}":
            required.append("feature_family_code")  # the walk always names one
        if "dsl_json" in required:
            required.append("feature_code")  # the walk's rating DSL names a feature
        for field in required:
            family = REFERENCED_FAMILY.get(field)
            if family is None or field in self.known or family == spec["family"]:
                continue
            creator = next(r for r in OPERATIONS if spec_of(r)["kind"] == "create" and spec_of(r)["family"] == family)
            self.prepare(creator)
            self.call(creator)

    def close(self) -> None:
        self.service.close()
        self.bearer.close()

    def path_values(self, row: Row) -> Dict[str, Any]:
        values = {}
        for param in operation_of(row).path_params:
            if operation_of(row).not_served:
                values[param] = str(uuid.uuid4())
                continue
            family = _family_of_param(row[6], param)
            if family not in self.ids:
                lists = [s for s in SPEC.values() if s["kind"] == "list" and s["family"] == family]
                assert lists, f"nothing creates or lists {family}"
                self.ids[family] = self.emu.seed(lists[0]["path"], principal_id=ORG)[param]
            values[param] = self.ids[family]
        return values

    def additions(self, row: Row) -> Dict[str, Any]:
        path = row[6]
        spec = spec_of(row)
        if spec["kind"] == "create_many":
            item_schema = SCHEMAS[spec["body"]["$ref"]]["properties"]["items"]["items"]
            return {"items": [self.examples.value(item_schema, "item")]}
        if spec["auth"] == "bootstrap":
            return {"bearer_token": self.bootstrap_token}
        if spec["family"] == "/features/{feature_id}" and spec["kind"] == "create":
            return {"meters": [{"meter_code": OUTCOME_METER, "semantic_kind": "outcome", "unit": "items"}]}
        if "dsl_json" in (SCHEMAS.get((spec["body"] or {}).get("$ref", ""), {}).get("required") or []):
            return {"dsl_json": rating_dsl(self.known["feature_code"])}
        if path.endswith("/users") and spec["kind"] == "create":
            return {"user_id": f"walk-member-{uuid.uuid4().hex[:8]}"}  # the user of the bindings exists already
        if path.endswith("/users") and spec["kind"] == "list":
            return {"user_id": None}  # not the bindings' user_id: that is also this list's filter
        if path.endswith("/billing-details"):
            return {"legal_name": "Walk Ltd"}  # the server refuses a change that changes nothing
        if path == "/mgt/v1/gate/commits":
            return {"lease_token": self.leases[0].lease_token, "feature_code": "llm.chat", "quantity_minor": 1}
        if path == "/mgt/v1/gate/cancel":
            return {"lease_token": self.leases[1].lease_token}
        if path == "/mgt/v1/gate/ingest":
            return {"feature_code": "llm.chat", "quantity_minor": 1}
        return {}

    def call(self, row: Row) -> Any:
        client = self.service if row[0] == "service" else self.bearer
        method = getattr(getattr(client, row[1]), row[2])
        spec = spec_of(row)
        # A create of a family gets a fresh code of its own, not the one other writes use to reference it.
        own = [f for f, family in REFERENCED_FAMILY.items() if family == spec["family"] and f in self.known]
        saved = {field: self.known.pop(field) for field in own} if spec["kind"] == "create" else {}
        try:
            result = call_with(
                method, row, self.examples, path_values=self.path_values(row), bindings=WHO, extra=self.additions(row)
            )
        finally:
            self.known.update(saved)
        if spec["kind"] == "create" and spec["id_field"]:
            self.ids[spec["family"]] = getattr(result.data, spec["id_field"])
            for field in REFERENCES:
                if field.replace("_code", "") in spec["family"].replace("-", "_") and getattr(result.data, field, None):
                    self.known.setdefault(field, getattr(result.data, field))
            if "catalog_product_id" in self.known:
                self.known.setdefault("product_id", [self.known["catalog_product_id"]])  # the price lists' filter
        if spec["kind"] == "create_many":
            self.ids[spec["family"]] = getattr(result.data.items[0], spec["id_field"])
        if row[6] == "/mgt/v1/dat/bootstrap-tokens" and row[5] == "POST":
            self.bootstrap_token = result.data.token
        return result
