"""Usage events (``POST /events`` and ``/events/batch``) as the server stores them (``billing-events.service.ts``).

An event is deduplicated by its content: the same user, kind, type, time, subject and payload give one stored
event (its ``request_hash``), whatever Idempotency-Key carried it. ``record`` answers 201 for a new event and 200
with the stored one for a duplicate; invalid fields raise inside the server's service, outside its HTTP errors, so
they answer 500 ``SERVER.UNEXPECTED`` (a server quirk kept). ``record_batch`` answers 207 with per-item
``accepted`` / ``duplicate`` / ``invalid`` results and ``accepted_count`` / ``failed_count``. Events are stored in
the spec-driven ``/ops/events/{event_id}`` family, which ``ops.list_events`` / ``ops.get_event`` read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .._errors import UnexpectedError
from .._inputs import as_object
from .._jsutil import JsonValue, iso_ms, js_string, js_trim, parse_js_date
from .._state import CallContext, User
from .realm import Realm, locked

__all__ = ["EVENTS", "Events"]

EVENTS = "/ops/events/{event_id}"


class _Invalid(Exception):
    """A field the server's event service refuses (``invalid`` in a batch, a 500 for a single event)."""


def _stable(value: Any) -> str:
    # The server's stableStringify: keys sorted, undefined and non-finite numbers as null.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value) if math.isfinite(value) else "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_stable(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_stable(value[k])}" for k in sorted(value)) + "}"
    return json.dumps(str(value))


def _normalized(raw: Mapping[str, Any]) -> Dict[str, Any]:
    kind = js_trim(raw["semantic_kind"]).lower() if isinstance(raw.get("semantic_kind"), str) else ""
    if kind not in ("activity", "outcome"):
        raise _Invalid("semantic_kind must be activity or outcome")
    occurred = raw.get("occurred_at")
    when = parse_js_date(js_string(occurred)) if occurred is not None else None
    if when is None:
        raise _Invalid("occurred_at must be a valid ISO timestamp")
    event_type = js_trim(raw["event_type"]) if isinstance(raw.get("event_type"), str) else ""
    if not event_type:
        raise _Invalid("event_type is required")
    if len(event_type) > 128:
        raise _Invalid("event_type is too long")
    subject = js_trim(raw["subject_ref"]) if isinstance(raw.get("subject_ref"), str) else ""
    if len(subject) > 256:
        raise _Invalid("subject_ref is too long")
    payload = raw.get("payload")
    return {
        "semantic_kind": kind,
        "occurred_at": iso_ms(when),
        "event_type": event_type,
        "subject_ref": subject or None,
        "payload": dict(payload) if isinstance(payload, Mapping) else {},
    }


class Events:
    """Stored usage events, deduplicated by content per billing user."""

    def __init__(self, realm: Realm, families: Dict[str, Dict[Any, Dict[str, Any]]]) -> None:
        self.realm = realm
        self.families = families

    def _store(self) -> Dict[Any, Dict[str, Any]]:
        return self.families.setdefault(EVENTS, {})

    def _ingest(self, user: User, fields: Dict[str, Any], labels: Any) -> Tuple[Dict[str, Any], bool]:
        canonical = _stable(
            {
                "billing_user_id": user.billing_user_id,
                "billing_account_id": user.account.billing_account_id,
                "semantic_kind": fields["semantic_kind"],
                "event_type": fields["event_type"],
                "occurred_at": fields["occurred_at"],
                "subject_ref": fields["subject_ref"],
                "payload": fields["payload"],
            }
        )
        digest = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("utf-8")).digest()).decode().rstrip("=")
        for stored in self._store().values():
            if stored.get("billing_user_id") == user.billing_user_id and stored.get("request_hash") == digest:
                return stored, False
        record: Dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "realm_id": self.realm.realm_id,
            "billing_account_id": user.account.billing_account_id,
            "billing_user_id": user.billing_user_id,
            **fields,
            "request_hash": digest,
            "created_at": iso_ms(self.realm.now()),
        }
        if isinstance(labels, Mapping) and labels:
            record["_labels"] = dict(labels)
        self._store()[(record["event_id"],)] = record
        return record, True

    @staticmethod
    def view(record: Mapping[str, Any], labels: Any) -> Dict[str, Any]:
        """The ``BillingEvent`` answer (labels are the request's, as the server echoes them)."""
        view: Dict[str, Any] = {
            "event_id": record["event_id"],
            "semantic_kind": record["semantic_kind"],
            "occurred_at": record["occurred_at"],
            "event_type": record["event_type"],
        }
        if record.get("subject_ref") is not None:
            view["subject_ref"] = record["subject_ref"]
        view["request_hash"] = record["request_hash"]
        view["payload"] = record["payload"]
        if labels is not None:
            view["labels"] = labels
        view["created_at"] = record["created_at"]
        return view

    @locked
    def record(self, ctx: CallContext, body: JsonValue) -> Tuple[int, Dict[str, Any]]:
        """``POST /mgt/v1/events``: ``(201 or 200, event)``."""
        user = ctx.runtime_user()
        data = as_object(body)
        try:
            fields = _normalized(data)
        except _Invalid as exc:
            raise UnexpectedError(str(exc)) from exc
        record, created = self._ingest(user, fields, data.get("labels"))
        return (201 if created else 200), self.view(record, data.get("labels"))

    @locked
    def record_batch(self, ctx: CallContext, body: JsonValue) -> Dict[str, Any]:
        """``POST /mgt/v1/events/batch``: per-item results, ``accepted_count`` and ``failed_count``."""
        user = ctx.runtime_user()
        data = as_object(body)
        incoming = data.get("events") if isinstance(data.get("events"), list) else []
        results: List[Dict[str, Any]] = []
        accepted = failed = 0
        for index, raw in enumerate(incoming or []):
            item = raw if isinstance(raw, Mapping) else {}
            try:
                fields = _normalized(item)
            except _Invalid as exc:
                failed += 1
                error = {"code": "VALIDATION.INVALID_INPUT", "message": str(exc)}
                results.append({"index": index, "status": "invalid", "error": error})
                continue
            record, created = self._ingest(user, fields, item.get("labels"))
            accepted += 1 if created else 0
            status = "accepted" if created else "duplicate"
            results.append({"index": index, "status": status, "event_id": record["event_id"]})
        return {"results": results, "accepted_count": accepted, "failed_count": failed}

    @locked
    def of_user(self, user: User) -> List[Dict[str, Any]]:
        """The user's stored events (for the activity view)."""
        return [r for r in self._store().values() if r.get("billing_user_id") == user.billing_user_id]

    @staticmethod
    def labels_of(record: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
        """The labels an event was first stored with."""
        labels = record.get("_labels")
        return dict(labels) if isinstance(labels, Mapping) else None
