"""What spec-driven operations do beyond generic create/get/list/update/delete: the server's own rules.

Each rule names the operation (its spec ``operationId``) and follows the server's service code: list filters with
their quirks (``budgets.list`` reads ``status`` only as a repeated parameter), references checked before a write
(a feature's family, a price's product, a plan's features...), the parent of a sub-resource route checked first
(404), soft deletes where the server archives, immutable versions and terms (409 on a different value), the rating
DSL checked against the catalog, and the DAT sessions a bootstrap token issues. :class:`Rules` is consulted by
:class:`~.resources.Resources` at four points: before an operation runs (:meth:`Rules.before`), for each listed
item (:meth:`Rules.keep`), after a create (:meth:`Rules.after_create`) and on delete (:meth:`Rules.delete`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Protocol, Tuple

from .._errors import HttpError
from .._jsutil import JsonValue, iso_ms, js_trim, parse_js_date
from .._schema import Schemas
from .accounts import Accounts
from .people import AccountFamily, People, UserFamily
from .realm import Realm
from .spec_call import Answer, SpecCall, family_of

__all__ = ["ACCOUNTS", "PRICES", "PRODUCTS", "ResourceStore", "Rules"]

ACCOUNTS = "/billing-accounts/{billing_account_id}"
USERS = "/billing-users/{billing_user_id}"
FAMILIES = "/feature-families/{feature_family_id}"
FEATURES = "/features/{feature_id}"
METERS = "/meters/{meter_id}"
PLANS = "/billing-plans/{plan_id}"
ENTITLEMENTS = "/billing-plans/{plan_id}/entitlements/{bpe_id}"
BUNDLES = "/gate/policy-bundles/{bundle_id}"
PRODUCTS = "/ops/catalog/products/{catalog_product_id}"
PRICES = "/ops/catalog/prices/{catalog_price_id}"
RATING_POLICIES = "/event-rating-policies/{policy_id}"
VERSIONS = "/event-rating-policies/{policy_id}/versions/{policy_version}"
TERMS = "/contracts/{contract_id}/terms"
BOOTSTRAP_TOKENS = "/dat/bootstrap-tokens/{token_id}"
# The catalog is the realm's, whichever account the ops route was called for.
REALM_WIDE = frozenset({PRODUCTS, PRICES})
# Sub-resource lists that answer an empty page for an unknown parent instead of a 404 (both targets agree).
LISTS_WITHOUT_PARENT_CHECK = frozenset({"listBillingPlanEntitlements", "listGatePoliciesForBundle"})
PUBLIC_LISTS = frozenset({"listCatalogPrices", "listCatalogProducts"})
# Query parameters that never filter.
NOT_FILTERS = frozenset({"cursor", "limit", "expand", "include", "sort", "sort_by", "sort_order", "order"})
DAT_SESSION_TTL = 900

Filter = Callable[[Mapping[str, Any], Any], bool]


def _values(raw: Any) -> List[str]:
    """A query value as a list: repeated parameters, or one value split on commas (the server's parseList)."""
    items = raw if isinstance(raw, list) else [raw]
    out: List[str] = []
    for item in items:
        if isinstance(item, str):
            out.extend(part.strip() for part in item.split(",") if part.strip())
    return out


def _text(raw: Any) -> str:
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    return js_trim(raw) if isinstance(raw, str) else ""


def _flag(raw: Any) -> Optional[bool]:
    text = _text(raw).lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


def _moment(value: Any) -> Optional[datetime]:
    return parse_js_date(value) if isinstance(value, str) else None


def _ilike(*fields: str) -> Filter:
    def check(item: Mapping[str, Any], raw: Any) -> bool:
        needle = _text(raw).lower()
        return not needle or any(needle in str(item.get(f) or "").lower() for f in fields)

    return check


def _equals(field: str) -> Filter:
    def check(item: Mapping[str, Any], raw: Any) -> bool:
        text = _text(raw)
        return not text or str(item.get(field)) == text

    return check


def _one_of(field: str) -> Filter:
    def check(item: Mapping[str, Any], raw: Any) -> bool:
        wanted = _values(raw)
        return not wanted or str(item.get(field)) in wanted

    return check


def _boolean(field: str) -> Filter:
    def check(item: Mapping[str, Any], raw: Any) -> bool:
        wanted = _flag(raw)
        return wanted is None or bool(item.get(field, True)) is wanted

    return check


def _compare(field: str, op: str, allow_missing: bool = False) -> Filter:
    def check(item: Mapping[str, Any], raw: Any) -> bool:
        bound = _moment(_text(raw))
        if bound is None:
            return True
        value = _moment(item.get(field))
        if value is None:
            return allow_missing
        return {">": value > bound, ">=": value >= bound, "<": value < bound, "<=": value <= bound}[op]

    return check


def _budget_status(item: Mapping[str, Any], raw: Any) -> bool:
    # The server only reads `status` when it arrives as an array (a repeated parameter): one value filters nothing.
    if not isinstance(raw, list):
        return True
    wanted = {value for value in raw if value in ("active", "closed", "expired", "canceled")}
    if "closed" in wanted:
        wanted.add("closing")
    return not wanted or item.get("status") in wanted


def _budget_feature(item: Mapping[str, Any], raw: Any) -> bool:
    if not isinstance(raw, str) or not raw:
        return True
    scope, metadata = item.get("scope_payload"), item.get("metadata")
    return raw in (
        scope.get("feature") if isinstance(scope, dict) else None,
        metadata.get("feature") if isinstance(metadata, dict) else None,
    )


def _window(field: str, op: str) -> Filter:
    return _compare(field, op, allow_missing=True)


FILTERS: Dict[str, Dict[str, Filter]] = {
    "listBudgets": {
        "status": _budget_status,
        "scope_kind": _equals("scope_kind"),
        "name": _ilike("name"),
        "feature": _budget_feature,
        "window_start_ge": _window("window_start", ">="),
        "window_start_le": _window("window_start", "<="),
        "window_end_ge": _window("window_end", ">="),
        "window_end_le": _window("window_end", "<="),
        "created_at_ge": _compare("created_at", ">="),
        "created_at_le": _compare("created_at", "<="),
    },
    "listBillingAccounts": {
        "billing_account_id": _one_of("billing_account_id"),
        "billing_principal_id": _equals("billing_principal_id"),
        "created_after": _compare("created_at", ">"),
        "created_before": _compare("created_at", "<"),
        "q": _ilike("billing_account_id", "billing_principal_id"),
    },
    "listBillingUsers": {
        "user_id": _equals("business_user_id"),
        "business_user_id": _equals("business_user_id"),
        "status": _one_of("status"),
        "q": _ilike("billing_user_id", "business_user_id", "display_name", "email"),
    },
    "listFeatureFamilies": {"q": _ilike("feature_family_code", "name"), "active": _boolean("active")},
    "listFeatures": {
        "q": _ilike("feature_code", "name"),
        "feature_family_code": _equals("feature_family_code"),
        "active": _boolean("active"),
    },
    "listMeters": {
        "q": _ilike("meter_code"),
        "active": _boolean("active"),
        "unit": _equals("unit"),
        "semantic_kind": _equals("semantic_kind"),
        "feature_code": lambda item, raw: not _text(raw) or _text(raw) in (item.get("_feature_codes") or []),
    },
    "listBillingPlans": {
        "kind": _one_of("kind"),
        "active": _boolean("active"),
        "plan_id": _one_of("plan_id"),
        "plan_code": _one_of("plan_code"),
        "q": _ilike("name", "plan_code"),
        "gate_bundle_key": lambda item, raw: (
            not _text(raw) or (item.get("metadata") or {}).get("gate_bundle_key") == _text(raw)
        ),
        "issue_anchor": _equals("issue_anchor"),
        "billing_mode": _equals("billing_mode"),
    },
    "listOpsCatalogPrices": {"product_id": _one_of("catalog_product_id"), "q": _ilike("price_code", "nickname")},
    "listCatalogPrices": {"product_id": _one_of("catalog_product_id")},
    "listOpsCatalogProducts": {"q": _ilike("product_code", "name")},
}


def dsl_hash(value: JsonValue) -> str:
    """The server's ``sha256Base64Url(stableStringify(dsl))``: sorted keys, no blanks, base64url without padding."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class ResourceStore(Protocol):
    """What the rules use of the generic resources (:class:`~.resources.Resources`, which consults the rules)."""

    realm: Realm
    accounts: Accounts
    schemas: Schemas
    families: Dict[str, Dict[Tuple[str, ...], Dict[str, Any]]]

    def answer(self, call: SpecCall, item: Mapping[str, Any]) -> JsonValue:
        """The operation's answer built from ``item``."""

    def visible(self, call: SpecCall, item: Mapping[str, Any]) -> bool:
        """Whether the caller may see ``item`` (account-scoped routes see their own account's resources)."""

    def store_new(self, family: str, id_field: str, values: Mapping[str, Any]) -> Dict[str, Any]:
        """Store a new resource of a non-collection family under a fresh id."""


class Rules:
    """The server's rules for the spec-driven operations, applied around :class:`~.resources.Resources`."""

    def __init__(self, resources: ResourceStore) -> None:
        self.res = resources
        self.realm = resources.realm
        self.people = People(resources.realm, resources.accounts, resources.schemas.build)
        self._handlers: Dict[str, Callable[[SpecCall], Answer]] = {
            "validateEventRatingPolicyVersion": self._validate_version,
            "issueDatSession": self._issue_session,
            "introspectDatSession": self._introspect_session,
            "revokeDatSession": self._revoke_session,
            "revokeDatBootstrapToken": self._revoke_bootstrap_token,
        }
        self._sessions: Dict[str, Dict[str, Any]] = {}
        self._current_query: Mapping[str, Any] = {}

    def install(self) -> None:
        """Put the read-only account and user views where the generic code looks for those families."""
        self.res.families[ACCOUNTS] = AccountFamily(self.realm)  # type: ignore[assignment]
        self.res.families[USERS] = UserFamily(self.realm)  # type: ignore[assignment]

    @staticmethod
    def realm_wide(family: Optional[str]) -> bool:
        """Whether a family's resources belong to the realm, not to the account an ops route was called for."""
        return family in REALM_WIDE

    # ----------------------------------------------------------------- before an operation

    def before(self, call: SpecCall) -> Optional[Answer]:
        """Check the operation's parent and references; an answer when the rule handles the whole operation."""
        op = call.op
        name = op["operation_id"]
        people = self.people.handlers().get(name)
        if people is not None:
            return people(op, call.path_params, call.body)
        handler = self._handlers.get(name)
        if handler is not None:
            return handler(call)
        if not (op["kind"] == "list" and name in LISTS_WITHOUT_PARENT_CHECK):
            self._check_parents(call)
        check = getattr(self, "_check_" + name, None)
        if check is not None:
            return check(call)  # type: ignore[no-any-return]
        return None

    def _check_parents(self, call: SpecCall) -> None:
        for param in call.op["parent_params"]:
            value = call.path_params.get(param)
            if value is None:
                continue
            family = self._family_of(family_of(call.op), param)
            if family is None:
                continue
            item = self.res.families.get(family, {}).get((str(value),))
            if item is None or not self.res.visible(call, item):
                if family == ACCOUNTS:
                    raise HttpError(404, "NOT_FOUND", "billing account not found")
                if family == USERS:
                    raise HttpError(404, "NOT_FOUND", "billing user not found")
                raise HttpError(404, "NOT_FOUND", f"{_noun(family)} not found")

    def _family_of(self, child: str, param: str) -> Optional[str]:
        marker = "{" + param + "}"
        if marker in child:
            # /contracts/{contract_id}/terms -> /contracts/{contract_id}
            return child[: child.index(marker) + len(marker)]
        for family in (ACCOUNTS, USERS, *self.res.families):
            if family.endswith("/{" + param + "}") and family.count("{") == 1:
                return family
        return None

    def _find_by(self, family: str, field: str, value: Any) -> Optional[Dict[str, Any]]:
        for item in self.res.families.get(family, {}).values():
            if item.get(field) == value:
                return item
        return None

    def _check_upsertFeature(self, call: SpecCall) -> Optional[Answer]:
        body = call.body
        code = body.get("feature_family_code")
        if isinstance(code, str) and code:
            family = self._find_by(FAMILIES, "feature_family_code", code)
            if family is None:
                raise HttpError(422, "VALIDATION.INVALID_INPUT", "feature_family_code not found")
            body["feature_family_id"] = family["feature_family_id"]
        elif isinstance(body.get("feature_family_id"), str):
            family = self.res.families.get(FAMILIES, {}).get((body["feature_family_id"],))
            if family is None:
                raise HttpError(422, "VALIDATION.INVALID_INPUT", "feature_family_id not found")
            body["feature_family_code"] = family["feature_family_code"]
        return None

    def _check_upsertMeter(self, call: SpecCall) -> Optional[Answer]:
        code = call.body.get("feature_code")
        if isinstance(code, str) and code and self._find_by(FEATURES, "feature_code", code) is None:
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "feature not found")
        return None

    def _check_upsertBillingPlanEntitlements(self, call: SpecCall) -> Optional[Answer]:
        for item in call.body.get("items") or []:
            if not isinstance(item, dict):
                continue
            code = item.get("feature_code")
            if isinstance(code, str) and code and self._find_by(FEATURES, "feature_code", code) is None:
                raise HttpError(422, "VALIDATION.INVALID_INPUT", f"feature_code not found: {code}")
            family = item.get("feature_family_code")
            if isinstance(family, str) and family and self._find_by(FAMILIES, "feature_family_code", family) is None:
                raise HttpError(422, "VALIDATION.INVALID_INPUT", f"feature_family_code not found: {family}")
        return None

    def _check_createBillingPlanAssignment(self, call: SpecCall) -> Optional[Answer]:
        plan_id = call.body.get("plan_id")
        plan_code = call.body.get("plan_code")
        plan = None
        if isinstance(plan_id, str) and plan_id:
            plan = self.res.families.get(PLANS, {}).get((plan_id,))
        elif isinstance(plan_code, str) and plan_code:
            plan = self._find_by(PLANS, "plan_code", plan_code)
        if (plan_id or plan_code) and plan is None:
            raise HttpError(404, "NOT_FOUND", "billing plan not found")
        if plan is not None:
            call.body.setdefault("plan_id", plan["plan_id"])
            call.body.setdefault("plan_code", plan.get("plan_code"))
        return None

    def _check_createGatePolicy(self, call: SpecCall) -> Optional[Answer]:
        key, bundle_id = call.body.get("bundle_key"), call.body.get("bundle_id")
        if isinstance(key, str) and key:
            bundle = self._find_by(BUNDLES, "bundle_key", key)
            if bundle is None:
                raise HttpError(422, "VALIDATION.INVALID_INPUT", "bundle_key not found")
            call.body["bundle_id"] = bundle["bundle_id"]
        elif isinstance(bundle_id, str) and bundle_id:
            bundle = self.res.families.get(BUNDLES, {}).get((bundle_id,))
            if bundle is None:
                raise HttpError(422, "VALIDATION.INVALID_INPUT", "bundle_id not found")
            call.body.setdefault("bundle_key", bundle.get("bundle_key"))
        return None

    def _check_createOpsCatalogPrice(self, call: SpecCall) -> Optional[Answer]:
        product_id = call.body.get("catalog_product_id")
        if isinstance(product_id, str) and self.res.families.get(PRODUCTS, {}).get((product_id,)) is None:
            raise HttpError(404, "NOT_FOUND", "catalog product not found")
        return None

    def _check_upsertContractTerm(self, call: SpecCall) -> Optional[Answer]:
        body = call.body
        for item in self.res.families.get(TERMS, {}).values():
            same = all(item.get(k) == body.get(k) for k in ("kind", "term_key")) and item.get(
                "contract_id"
            ) == call.path_params.get("contract_id")
            if same and _moment(item.get("effective_at")) == _moment(body.get("effective_at")):
                if item.get("value_json") != body.get("value_json"):
                    raise HttpError(409, "CONFLICT", "term already exists with different value_json")
                return 200, self.res.answer(call, item), None
        return None

    def _check_createEventRatingPolicyVersion(self, call: SpecCall) -> Optional[Answer]:
        body = call.body
        validation = self.validate_dsl(body.get("dsl_json"))
        if not validation["valid"]:
            raise HttpError(
                422, "VALIDATION.INVALID_INPUT", "dsl_json invalid", meta={"details": {"errors": validation["errors"]}}
            )
        policy = self.res.families.get(RATING_POLICIES, {}).get((call.path_params.get("policy_id", ""),))
        if policy is not None and policy.get("status") == "disabled":
            raise HttpError(422, "VALIDATION.INVALID_INPUT", "policy is disabled")
        body["dsl_hash"] = validation["computed_dsl_hash"]
        body.setdefault("status", "active")
        key = (str(call.path_params.get("policy_id", "")), str(body.get("policy_version", "")))
        existing = self.res.families.get(VERSIONS, {}).get(key)
        if existing is not None:
            if existing.get("dsl_hash") != body["dsl_hash"]:
                raise HttpError(409, "CONFLICT", "policy_version is immutable (dsl_hash mismatch)")
            return 200, self.res.answer(call, existing), None
        return None

    # ----------------------------------------------------------------- lists

    def keep(self, call: SpecCall, item: Mapping[str, Any]) -> bool:
        """Whether a listed item passes the operation's query filters (the server's semantics)."""
        name = call.op["operation_id"]
        if name in PUBLIC_LISTS and item.get("status", "active") != "active":
            return False  # the public catalog shows active entries only
        user_id = call.ctx.user.billing_user_id if call.ctx.user is not None else None
        if name == "listBudgets" and item.get("billing_user_id") not in (None, user_id):
            return False  # the server lists the calling user's budgets only
        filters = {**FILTERS.get(name, {}), **self._joined_filters(name)}
        self._current_query = call.query
        for name, raw in call.query.items():
            if name in NOT_FILTERS:
                continue
            check = filters.get(name)
            if check is not None:
                if not check(item, raw):
                    return False
            elif name in item and not isinstance(item.get(name), (dict, list)) and name in call.op["query"]:
                # A parameter named after a stored field: equality (or membership for a repeated parameter).
                wanted = _values(raw)
                if wanted and str(_scalar(item[name])) not in wanted:
                    return False
        return True

    def order(self, call: SpecCall, rows: List[Tuple[Any, Dict[str, Any]]]) -> List[Tuple[Any, Dict[str, Any]]]:
        """Rows in the order the server lists them, where it is not creation order."""
        name = call.op["operation_id"]
        if name == "listBudgets":
            return rows[::-1]  # newest first
        if name == "listContractTerms":
            # term_key ascending, then the latest effective_at first (stable for equal times)
            by_time = sorted(rows, key=lambda row: _moment(row[1].get("effective_at")) or self.realm.started_at)
            return sorted(by_time[::-1], key=lambda row: str(row[1].get("term_key")))
        return rows

    def _joined_filters(self, operation_id: str) -> Dict[str, Filter]:
        """Filters that look at other resources (a plan's entitlements, a term's later versions)."""
        if operation_id == "listContractTerms":
            return {"latest": self._latest_term, "as_of": lambda item, raw: True}
        if operation_id != "listBillingPlans":
            return {}

        def entitled(field: str) -> Filter:
            def check(plan: Mapping[str, Any], raw: Any) -> bool:
                wanted = _values(raw)
                if not wanted:
                    return True
                return any(
                    e.get("plan_id") == plan.get("plan_id") and e.get(field) in wanted
                    for e in self.res.families.get(ENTITLEMENTS, {}).values()
                )

            return check

        return {"feature_code": entitled("feature_code"), "feature_family_code": entitled("feature_family_code")}

    def _latest_term(self, term: Mapping[str, Any], raw: Any) -> bool:
        # The server reads `latest` with JavaScript's Boolean(): any non-empty value, "false" included, turns it on.
        # Then, per term_key, only the version in effect at `as_of` (default: now) is listed.
        if raw in ("", None, []):
            return True
        query = self._current_query
        at = _moment(_text(query.get("as_of"))) or self.realm.now()
        effective = _moment(term.get("effective_at"))
        if effective is None or effective > at:
            return False
        kind = _text(query.get("kind"))
        for other in self.res.families.get(TERMS, {}).values():
            if other is term or other.get("contract_id") != term.get("contract_id"):
                continue
            if other.get("term_key") != term.get("term_key") or (kind and other.get("kind") != kind):
                continue
            moment = _moment(other.get("effective_at"))
            if moment is not None and effective < moment <= at:
                return False
        return True

    # ----------------------------------------------------------------- after a create

    def after_create(self, call: SpecCall, resource: Dict[str, Any]) -> None:
        """Side effects of a create the server performs: a feature's meters, linked both ways.

        What the gate makes of features and meters (allowed meters, prices) is :mod:`.meter_catalog`'s concern.
        """
        name = call.op["operation_id"]
        if name == "upsertFeature":
            self._feature_meters(resource, call.body.get("meters") or [])
        elif name == "upsertMeter":
            code = call.body.get("feature_code")
            if isinstance(code, str) and code:
                self._link_meter(resource, code)

    def _feature_meters(self, feature: Dict[str, Any], meters: Iterable[Any]) -> None:
        codes: List[str] = list(feature.get("_meter_codes") or [])
        for entry in meters:
            if not isinstance(entry, dict) or not isinstance(entry.get("meter_code"), str):
                continue
            meter = self._find_by(METERS, "meter_code", entry["meter_code"])
            if meter is None:
                meter = self.res.store_new(METERS, "meter_id", {**entry, "active": entry.get("active", True)})
            else:
                meter.update({k: v for k, v in entry.items() if k != "meter_code"})
            self._link_meter(meter, str(feature["feature_code"]))
            if meter["meter_code"] not in codes:
                codes.append(meter["meter_code"])
        feature["_meter_codes"] = codes

    def _link_meter(self, meter: Dict[str, Any], feature_code: str) -> None:
        linked = list(meter.get("_feature_codes") or [])
        if feature_code not in linked:
            linked.append(feature_code)
        meter["_feature_codes"] = linked
        feature = self._find_by(FEATURES, "feature_code", feature_code)
        if feature is not None:
            codes = list(feature.get("_meter_codes") or [])
            if meter["meter_code"] not in codes:
                codes.append(meter["meter_code"])
            feature["_meter_codes"] = codes

    # ----------------------------------------------------------------- deletes

    def delete(self, call: SpecCall, item: Dict[str, Any]) -> Optional[Answer]:
        """The answer of a soft delete (the item stays, archived), or ``None`` for a hard delete."""
        name = call.op["operation_id"]
        now = iso_ms(self.realm.now())
        if name == "deleteFeatureFamily":
            in_use = self._find_by(FEATURES, "feature_family_id", item.get("feature_family_id")) is not None
            if not in_use:
                return None
            item["active"], item["updated_at"] = False, now
            return call.op["status"], {"deleted": False, "soft_deleted": True}, None
        if name in ("deleteOpsCatalogProduct", "deleteOpsCatalogPrice"):
            item["status"], item["updated_at"] = "archived", now
            return call.op["status"], {"archived": True}, None
        return None

    # ----------------------------------------------------------------- the rating DSL

    def validate_dsl(self, dsl: Any) -> Dict[str, Any]:
        """The server's check of a rating DSL document against the catalog (features, outcome meters, links)."""
        errors: List[Dict[str, Any]] = []
        computed = dsl_hash(dsl)
        intents = None
        if isinstance(dsl, dict) and isinstance(dsl.get("emit"), dict):
            intents = dsl["emit"].get("intents")
        if not isinstance(intents, list) or not all(isinstance(i, dict) for i in intents):
            message = "emit.intents must be an array of objects"
            errors.append({"code": "dsl_invalid", "message": message})
            return {
                "valid": False,
                "computed_dsl_hash": computed,
                "summary": {"compile_error": message},
                "errors": errors,
            }
        pairs = [
            (str(intent.get("feature_code") or ""), str(meter.get("meter_code") or ""))
            for intent in intents
            for meter in (intent.get("meters") or [])
            if isinstance(meter, dict)
        ]
        features = _unique(str(i.get("feature_code") or "") for i in intents)
        meters = _unique(m for _, m in pairs)
        found_features = {f for f in features if self._find_by(FEATURES, "feature_code", f) is not None}
        found_meters = {m: self._find_by(METERS, "meter_code", m) for m in meters}
        missing_features = [f for f in features if f and f not in found_features]
        missing_meters = [m for m in meters if m and found_meters[m] is None]
        wrong_kind = [m for m, row in found_meters.items() if row is not None and row.get("semantic_kind") != "outcome"]
        if missing_features:
            errors.append(_dsl_error("feature_missing", "unknown feature_code(s)", feature_codes=missing_features))
        if missing_meters:
            errors.append(_dsl_error("meter_missing", "unknown meter_code(s)", meter_codes=missing_meters))
        if wrong_kind:
            errors.append(
                _dsl_error(
                    "meter_semantic_kind_invalid", "meters must have semantic_kind='outcome'", meter_codes=wrong_kind
                )
            )
        unmapped = [
            {"feature_code": f, "meter_code": m}
            for f, m in _unique_pairs(pairs)
            if f in found_features
            and found_meters.get(m) is not None
            and f not in (found_meters[m] or {}).get("_feature_codes", [])
        ]
        if unmapped:
            errors.append(
                _dsl_error("feature_meter_unmapped", "meter_code not allowed for feature_code", pairs=unmapped)
            )
        summary = {"dsl_version": dsl.get("dsl_version"), "engine": dsl.get("engine"), "feature_codes": features}
        return {"valid": not errors, "computed_dsl_hash": computed, "summary": summary, "errors": errors}

    def _validate_version(self, call: SpecCall) -> Answer:
        return call.op["status"], self.res.answer(call, self.validate_dsl(call.body.get("dsl_json"))), None

    # ----------------------------------------------------------------- DAT

    def bootstrap_token(self, token: str) -> Optional[Dict[str, Any]]:
        """The active bootstrap token created through the API whose secret is ``token``."""
        for item in self.res.families.get(BOOTSTRAP_TOKENS, {}).values():
            if item.get("token") == token and item.get("status") != "revoked":
                return item
        return None

    def _issue_session(self, call: SpecCall) -> Answer:
        bootstrap = self.bootstrap_token(call.ctx.bootstrap_token or "")
        if bootstrap is None:
            raise HttpError(401, "AUTH.INVALID_BOOTSTRAP_TOKEN", "invalid_bootstrap_token")
        granted = list(bootstrap.get("granted_scopes") or [])
        requested = call.body.get("requested_scopes")
        scopes = [s for s in requested if s in granted] if isinstance(requested, list) else granted
        ttl_raw = call.body.get("ttl_sec")
        ttl = int(ttl_raw) if isinstance(ttl_raw, int) and ttl_raw > 0 else DAT_SESSION_TTL
        now = self.realm.now()
        token = "dat_session_" + secrets.token_urlsafe(24)
        session: Dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "expires_at": iso_ms(now + timedelta(seconds=ttl)),
            "exp": int((now + timedelta(seconds=ttl)).timestamp()),
            "jti": secrets.token_hex(16),
            "subject_id": bootstrap.get("subject_id"),
            "subject_type": bootstrap.get("subject_type") or "agent",
            "granted_scopes": scopes,
            "allowed_realms": list(bootstrap.get("allowed_realms") or []),
            "token_use": "dat_session",
            "bootstrap_token_id": bootstrap.get("token_id"),
            "revoked": False,
        }
        self._sessions[token] = session
        return call.op["status"], self.res.answer(call, session), None

    def _session_of(self, call: SpecCall) -> Optional[Dict[str, Any]]:
        token, jti = call.body.get("access_token"), call.body.get("jti")
        for session in self._sessions.values():
            if session["access_token"] == token or (jti and session["jti"] == jti):
                return session
        return None

    def _introspect_session(self, call: SpecCall) -> Answer:
        session = self._session_of(call)
        expires = _moment(session["expires_at"]) if session is not None else None
        if session is None or session["revoked"] or expires is None or expires <= self.realm.now():
            return call.op["status"], {"valid": False}, None
        return call.op["status"], self.res.answer(call, {**session, "valid": True}), None

    def _revoke_session(self, call: SpecCall) -> Answer:
        session = self._session_of(call)
        revoked = session is not None and not session["revoked"]
        if session is not None:
            session["revoked"] = True
        jti = session["jti"] if session is not None else str(call.body.get("jti") or "")
        return call.op["status"], {"revoked": revoked, "jti": jti}, None

    def _revoke_bootstrap_token(self, call: SpecCall) -> Answer:
        token_id = call.path_params.get("token_id", "")
        item = self.res.families.get(BOOTSTRAP_TOKENS, {}).get((token_id,))
        if item is None or item.get("status") == "revoked":
            return call.op["status"], {"revoked": False, "token_id": token_id}, None
        item["status"], item["updated_at"] = "revoked", iso_ms(self.realm.now())
        return call.op["status"], {"revoked": True, "token_id": token_id}, None


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _noun(family: str) -> str:
    plural = family.rsplit("/", 2)[-2].replace("-", "_")
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    return plural[:-1] if plural.endswith("s") else plural


def _unique(values: Iterable[str]) -> List[str]:
    out: List[str] = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def _unique_pairs(pairs: Iterable[Tuple[str, str]]) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []
    for pair in pairs:
        if pair not in out:
            out.append(pair)
    return out


def _dsl_error(code: str, message: str, **details: Any) -> Dict[str, Any]:
    return {"code": code, "message": message, "details": details}
