"""Spec-driven resources: every operation not modelled by hand acts on an in-memory family of resources.

A family is a path template ending in a parameter (``/budgets/{budget_id}``; see ``codegen/emulator_spec.py``),
shared by both surfaces. Resources are plain dicts keyed by the values of the template's parameters; answers are
built from each operation's response schema with the stored fields echoed where they fit. Billing accounts and
billing users are views of the gate's own account and user objects (:mod:`.people`), and the server's rules for
particular operations (filters, reference checks, soft deletes...) live in :mod:`.rules`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .._errors import HttpError
from .._jsutil import JsonValue, iso_ms, js_number
from .._schema import Schemas
from .._spec_data.spec_types import EmulatorOperation
from .._state import CallContext
from .accounts import Accounts
from .ops_views import NEWEST_FIRST
from .realm import Realm, locked
from .rules import Rules
from .spec_call import Answer, SpecCall, family_of

__all__ = ["Resources"]

Key = Tuple[str, ...]
BOOTSTRAP_TOKENS = "/dat/bootstrap-tokens/{token_id}"
DEFAULT_PAGE = 50
MAX_PAGE = 200


class Resources:
    """The families' resources and the generic create/get/list/update/delete/action semantics."""

    def __init__(self, realm: Realm, accounts: Accounts, schemas: Schemas) -> None:
        self.realm = realm
        self.accounts = accounts
        self.schemas = schemas
        self.families: Dict[str, Dict[Key, Dict[str, Any]]] = {}
        self._counters: Dict[str, int] = {}
        self.rules = Rules(self)
        self.rules.install()

    # ----------------------------------------------------------------- entry point

    @locked
    def handle(self, call: SpecCall) -> Answer:
        """Run a spec-driven operation: ``(status, data, meta)``."""
        op = call.op
        ruled = self.rules.before(call)
        if ruled is not None:
            return ruled
        kind = op["kind"]
        if kind == "list":
            return self._list(call)
        if kind == "create":
            return self._create(call)
        if kind == "create_many":
            return self._create_many(call)
        if kind == "call":
            values = {**call.body, **call.path_params, **self._context_values(call.ctx)}
            return op["status"], self.schemas.build(op["data"], values), None
        item = self._find(call)
        if kind == "get":
            return op["status"], self._answer(call, item), None
        if kind == "read":
            return op["status"], self._answer(call, {**item, **call.body}), None
        if kind == "delete":
            soft = self.rules.delete(call, item)
            if soft is not None:
                return soft
            del self.families[family_of(op)][self._key_of(op, call.path_params)]
            return op["status"], self._answer(call, item), None
        verb_status = op["verb_status"]
        if kind == "action" and verb_status:
            item["status"] = verb_status
            item["updated_at"] = iso_ms(self.realm.now())
            return op["status"], self._answer(call, {**call.body, **item}), None
        # update, or an action without a state change (its body is applied like an update)
        item.update(call.body)
        item["updated_at"] = iso_ms(self.realm.now())
        return op["status"], self._answer(call, item), None

    @locked
    def bootstrap_token_active(self, token: str) -> bool:
        """Whether ``token`` is a DAT bootstrap token created through the API and not revoked."""
        return self.rules.bootstrap_token(token) is not None

    @locked
    def seed(self, op: EmulatorOperation, fields: Mapping[str, Any]) -> Dict[str, Any]:
        """Store a resource built from a list operation's item schema (for read-only families such as invoices)."""
        item_schema = self._item_schema(op)
        values = {**fields}
        id_field = op["id_field"]
        if id_field:
            values.setdefault(id_field, self._new_id(op, values))
        now = iso_ms(self.realm.now())
        values.setdefault("created_at", now)
        values.setdefault("updated_at", now)
        resource = {**values, **self.schemas.build(item_schema, values)}
        self._store(op, resource)
        return dict(resource)

    # ----------------------------------------------------------------- operations

    def _list(self, call: SpecCall) -> Answer:
        op = call.op
        rows = [
            (key, item)
            for key, item in self.families.get(family_of(op), {}).items()
            if self._visible(call, item)
            and all(item.get(name) == call.path_params.get(name) for name in op["parent_params"])
            and self.rules.keep(call, item)
        ]
        if op["family"] in NEWEST_FIRST and call.query.get("sort_order") != "asc":
            rows.reverse()  # the ops views list the newest first unless asked otherwise
        rows = self.rules.order(call, rows)
        limit = self._limit(call)
        start = 0
        after = _decode_cursor(call.query.get("cursor"))
        if after is not None:
            keys = [list(key) for key, _ in rows]
            start = keys.index(after) + 1 if after in keys else 0
        page = rows[start : start + limit]
        has_more = start + limit < len(rows)
        next_cursor = _encode_cursor(page[-1][0]) if has_more and page else None
        item_schema = self._item_schema(op)
        items = [self.schemas.build(item_schema, item) for _, item in page]
        if op["pagination"] == "meta":
            return op["status"], items, {"next_cursor": next_cursor, "has_more": has_more, "limit": limit}
        data_schema = self.schemas.resolve(op["data"])
        if data_schema.get("type") == "array" or "array" in (data_schema.get("type") or []):
            return op["status"], items, None
        return op["status"], self.schemas.build(op["data"], {"items": items, "next_cursor": next_cursor}), None

    def _create(self, call: SpecCall) -> Answer:
        op = call.op
        family = self.families.setdefault(family_of(op), {})
        values: Dict[str, Any] = {**self._context_values(call.ctx), **call.body, **call.path_params}
        values.update(self._scope_values(call))
        natural = op["natural_key"]
        if natural and values.get(natural) is not None:
            for item in family.values():
                if item.get(natural) == values[natural] and self._visible(call, item):
                    if not op["method_name"].startswith("upsert"):
                        raise HttpError(409, "CONFLICT", f"{natural} already exists")
                    item.update(call.body)
                    item["updated_at"] = iso_ms(self.realm.now())
                    return 200, self._answer(call, item), None
        id_field = op["id_field"]
        if id_field:
            # Some ids are chosen by the caller (a rating policy's slug, a version label); the rest are minted.
            chosen = call.body.get(id_field)
            values[id_field] = chosen if chosen not in (None, "") else self._new_id(op, values)
        if op["family"] == BOOTSTRAP_TOKENS:
            # The secret is shown once, at creation; DAT session routes accept it as their bearer token.
            values["token"] = "dat_" + secrets.token_urlsafe(24)
            values["token_masked"] = "dat_..." + values["token"][-4:]
            values.setdefault("status", "active")
        now = iso_ms(self.realm.now())
        values["created_at"] = values["updated_at"] = now
        resource = {**values, **self.schemas.build(op["data"], values)}
        self._store(op, resource)
        self.rules.after_create(call, resource)
        return op["status"], self._answer(call, resource), None

    def _create_many(self, call: SpecCall) -> Answer:
        op = call.op
        family = self.families.setdefault(family_of(op), {})
        if call.body.get("mode") == "replace":
            for key, item in list(family.items()):
                if all(item.get(name) == call.path_params.get(name) for name in op["parent_params"]):
                    del family[key]
        item_schema = self._item_schema(op)
        now = iso_ms(self.realm.now())
        for element in call.body.get("items") or []:
            values = {**(element if isinstance(element, dict) else {}), **call.path_params}
            id_field = op["id_field"]
            if id_field:
                values[id_field] = self._new_id(op, values)
            values["created_at"] = values["updated_at"] = now
            self._store(op, {**values, **self.schemas.build(item_schema, values)})
        # The answer is the whole list, unpaged: the same operation read as a list without pagination.
        as_list = op.copy()
        as_list["kind"], as_list["pagination"] = "list", None
        listing = SpecCall(as_list, call.ctx, {}, {"limit": MAX_PAGE}, call.path_params)
        _status, data, _meta = self._list(listing)
        return op["status"], data, None

    # ----------------------------------------------------------------- helpers

    def _answer(self, call: SpecCall, item: Mapping[str, Any]) -> JsonValue:
        return self.schemas.build(call.op["data"], item)

    answer = _answer

    def store_new(self, family: str, id_field: str, values: Mapping[str, Any]) -> Dict[str, Any]:
        """Store a new resource of a non-collection family under a fresh UUID (a side effect of another write)."""
        now = iso_ms(self.realm.now())
        resource = {**values, id_field: str(uuid.uuid4()), "created_at": now, "updated_at": now}
        self.families.setdefault(family, {})[(resource[id_field],)] = resource
        return resource

    def _find(self, call: SpecCall) -> Dict[str, Any]:
        op = call.op
        item = self.families.get(family_of(op), {}).get(self._key_of(op, call.path_params))
        if item is None or not self._visible(call, item):
            noun = _singular(family_of(op).rsplit("/", 2)[-2].replace("-", "_"))
            raise HttpError(404, "RESOURCE.NOT_FOUND", f"{noun} not found")
        return item

    def _store(self, op: EmulatorOperation, resource: Dict[str, Any]) -> None:
        family = self.families.setdefault(family_of(op), {})
        if op["collection"]:
            self._counters[family_of(op)] = self._counters.get(family_of(op), 0) + 1
            key: Key = (*[str(resource.get(p, "")) for p in op["key_params"]], str(self._counters[family_of(op)]))
        else:
            key = tuple(str(resource.get(p, "")) for p in op["key_params"])
        family[key] = resource

    @staticmethod
    def _key_of(op: EmulatorOperation, path_params: Mapping[str, str]) -> Key:
        return tuple(str(path_params.get(p, "")) for p in op["key_params"])

    def _new_id(self, op: EmulatorOperation, values: Mapping[str, Any]) -> Any:
        schema = self.schemas.resolve(op["id_schema"] or {})
        if "integer" in (schema.get("type") or []):
            # Versions and the like count per parent.
            scope = (family_of(op), *[str(values.get(p, "")) for p in op["parent_params"]])
            counter = "/".join(scope)
            self._counters[counter] = self._counters.get(counter, 0) + 1
            return self._counters[counter]
        return str(uuid.uuid4())

    def _item_schema(self, op: EmulatorOperation) -> Any:
        data = self.schemas.resolve(op["data"])
        if data.get("type") == "array" or "array" in (data.get("type") or []):
            return data.get("items", {})
        items = self.schemas.resolve(self.schemas.properties(data).get("items", {}))
        return items.get("items", data)

    @staticmethod
    def _scoped(call: SpecCall) -> bool:
        return call.ctx.account is not None and (
            call.op["bindings"] in ("runtime", "account") or call.ctx.scheme == "bearer"
        )

    def _visible(self, call: SpecCall, item: Mapping[str, Any]) -> bool:
        # Account-scoped routes only see the bound account's resources (the server's row-level security).
        if (
            self.rules.realm_wide(call.op["family"])
            or not self._scoped(call)
            or "billing_account_id" not in item
            or call.ctx.account is None
        ):
            return True
        return bool(item["billing_account_id"] == call.ctx.account.billing_account_id)

    visible = _visible

    def _scope_values(self, call: SpecCall) -> Dict[str, Any]:
        if self.rules.realm_wide(call.op["family"]) or not self._scoped(call) or call.ctx.account is None:
            return {}
        values = {"billing_account_id": call.ctx.account.billing_account_id}
        if call.ctx.user is not None:
            values["billing_user_id"] = call.ctx.user.billing_user_id
        return values

    def _context_values(self, ctx: CallContext) -> Dict[str, Any]:
        values: Dict[str, Any] = {"realm_id": self.realm.realm_id}
        if ctx.account is not None:
            values["billing_account_id"] = ctx.account.billing_account_id
            values["billing_principal_id"] = ctx.account.principal_id
            values["principal_id"] = ctx.account.principal_id
        if ctx.user is not None:
            values["billing_user_id"] = ctx.user.billing_user_id
            values["user_id"] = ctx.user.user_id
            values["business_user_id"] = ctx.user.user_id
        return values

    def _limit(self, call: SpecCall) -> int:
        raw = call.query.get("limit")
        number = js_number(raw) if raw is not None and not isinstance(raw, list) else None
        maximum = int(self.schemas.resolve(call.op["query"].get("limit", {})).get("maximum", MAX_PAGE))
        if number is None:
            return min(DEFAULT_PAGE, maximum)
        return max(1, min(maximum, int(number)))  # the server clamps instead of refusing


def _singular(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    return plural[:-1] if plural.endswith("s") else plural or "resource"


def _encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(value: JsonValue) -> Optional[List[str]]:
    # Like the server: an undecodable cursor reads as "first page".
    if not isinstance(value, str) or not value:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error):
        return None
    return [str(part) for part in decoded] if isinstance(decoded, list) else None
