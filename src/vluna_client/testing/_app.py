"""The request pipeline: routing, body parsing, realm and auth guards, idempotency, envelopes and faults.

It reproduces the order in which the real server (NestJS on Fastify) processes a request: route lookup (404),
body parsing (400/413/415), the realm guard (400/404), authentication (401/403), runtime bindings (401/403), the
HTTP idempotency interceptor (400/409/replay) and finally the handler, whose result is wrapped in the success
envelope or turned into the production error envelope.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs

from ._admin import ADMIN_PREFIX
from ._engine import Engine
from ._engine.idempotency import StoredAnswer
from ._errors import HttpError, UnexpectedError
from ._faults import Fault, Faults, default_fail_code
from ._jsutil import JsonValue, iso_ms, js_json, js_trim, parse_js_date, sha256_hex
from ._records import Ledger, RequestRecord
from ._routes import Call, Route, RouteTable
from ._state import CallContext
from ._svcauth import ServiceAuthFailure, ServiceKey, verify_service_request

__all__ = ["App", "Request", "Response"]

logger = logging.getLogger("vluna_client.testing")

BODY_LIMIT = 1024 * 1024
# JSON nesting: the emulator processes bodies up to MAX_NESTING levels (its own recursive code stays well inside
# Python's stack) and refuses deeper ones with a 400. The server processes them up to about SERVER_MAX_NESTING levels
# (measured on the community server: 4,093 fine, 4,147 not) and answers deeper ones with a 500, its processing
# having overflowed V8's stack; the emulator answers those with the same 500.
MAX_NESTING = 256
SERVER_MAX_NESTING = 4096
EXPOSE_HEADERS = "WWW-Authenticate, X-Permissions-Changed, X-Request-Id, traceparent"
UNEXPECTED_MESSAGE = "Unexpected server error. Please try again later."
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Request:
    """An HTTP request as the server sees it.

    Attributes:
        method: HTTP method.
        target: the raw request target (path and query exactly as received).
        headers: values by lower-case name, duplicates combined the way Node.js combines them.
        body: raw body bytes.
        body_too_large: the declared body exceeded the 1 MiB limit and was not read.
    """

    method: str
    target: str
    headers: Dict[str, str]
    body: bytes = b""
    body_too_large: bool = False


@dataclass
class Response:
    """What to send back, and how.

    Attributes:
        status: HTTP status (0 when the connection is reset before anything was computed).
        body: body bytes.
        headers: response headers.
        action: ``"send"``; ``"drop"`` closes the connection unanswered; ``"reset"`` resets it (TCP RST);
            ``"trickle-headers"``/``"trickle-body"`` send that part one byte per ``interval``; ``"oversized"`` pads
            the body with whitespace to ``size`` bytes.
        hold: seconds to hold the answer before the action (an injected stall); cut short when the client hangs up.
        interval: seconds between two bytes of a trickled answer.
        size: total body bytes of an oversized answer.
    """

    status: int
    body: bytes
    headers: List[Tuple[str, str]] = field(default_factory=list)
    action: str = "send"
    hold: float = 0.0
    interval: float = 0.0
    size: int = 0


def _has_binding(request: Request) -> bool:
    return any(js_trim(request.headers.get(name, "")) for name in ("x-principal-id", "x-billing-account-id"))


def _detect_scheme(authorization: str) -> Optional[str]:
    lowered = js_trim(authorization).lower()
    if lowered.startswith(("svc-auth ", "srv-auth ")):
        return "service"
    if lowered.startswith("bearer "):
        return "bearer"
    return None


def _success(data: JsonValue, *, meta: Optional[Dict[str, Any]] = None, hints: Optional[List[Any]] = None) -> bytes:
    envelope: Dict[str, Any] = {"ok": True, "code": "OK", "data": data}
    if meta is not None:
        envelope["meta"] = meta
    if hints:
        envelope["hints"] = hints
    return js_json(envelope).encode("utf-8")


def _error_body(error: HttpError) -> bytes:
    envelope: Dict[str, Any] = {"ok": False, "code": error.code, "message": error.message}
    envelope["meta"] = {**error.meta, "status": error.status}
    if error.hints:
        envelope["hints"] = error.hints
    return js_json(envelope).encode("utf-8")


def _unexpected_body() -> bytes:
    # Non-HTTP failures reach the filter's fallback branch: no meta, a fixed message.
    return js_json({"ok": False, "code": "SERVER.UNEXPECTED", "message": UNEXPECTED_MESSAGE}).encode("utf-8")


def _refuse_nesting(depth: int) -> None:
    if depth > SERVER_MAX_NESTING:
        raise UnexpectedError("body nested beyond the server's stack")  # the server's 500
    if depth > MAX_NESTING:
        message = f"request body nested {depth} levels deep; the emulator processes up to {MAX_NESTING}"
        raise HttpError(400, "VALIDATION.INVALID_INPUT", message)


def _text_nesting(text: str) -> int:
    """The deepest bracket nesting of a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _check_parsed(value: JsonValue) -> None:
    """Refuse ``__proto__`` keys (Fastify's secure-json-parse does) and bodies nested deeper than the emulator goes.

    Iterative, so a deeply nested body cannot exhaust the stack here (see :data:`MAX_NESTING`).
    """
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)  # containers only: `[1]` is one level deep, like `[]`
        if isinstance(node, dict):
            if "__proto__" in node:
                raise HttpError(400, "VALIDATION.INVALID_INPUT", "Object contains forbidden prototype property")
            stack.extend((item, depth + 1) for item in node.values())
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
    _refuse_nesting(deepest)


def _no_constants(name: str) -> Any:
    raise ValueError(f"invalid JSON constant {name}")


class App:
    """Turns a :class:`Request` into a :class:`Response` through the route table (thread-safe)."""

    def __init__(
        self,
        *,
        engine: Engine,
        routes: RouteTable,
        faults: Faults,
        ledger: Ledger,
        key: ServiceKey,
        other_realms: Set[str],
        strict: bool,
        strict_window_seconds: float,
        stopping: threading.Event,
        replay_hang_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.replay_hang_seconds = replay_hang_seconds
        self.routes = routes
        self.faults = faults
        self.ledger = ledger
        self.keys = {key.key_id: key}
        self.realms = {key.realm_id, *other_realms}
        self.strict = strict
        self.strict_window_seconds = strict_window_seconds
        self.stopping = stopping
        self._nonce_lock = threading.Lock()
        self.seen_nonces: Dict[Tuple[str, str], float] = {}

    # ----------------------------------------------------------------- entry point

    def handle(self, request: Request) -> Response:
        """Process one request, applying at most one fault, and log it to the ledger before answering."""
        path, _, query = request.target.partition("?")
        if path.startswith(ADMIN_PREFIX):
            # The admin routes look at the emulator: no scheduled fault, no ledger entry of their own.
            return self._process(request, path, query)[0]
        fault = self.faults.take(request.method, path)
        replayed = False
        if fault is None or fault.processes:
            if fault is not None and fault.kind == "delay":
                self.stopping.wait(fault.seconds)
            response, replayed = self._process(request, path, query)
            if fault is not None and fault.kind == "drop":
                response.action = "drop"
            elif fault is not None and fault.kind == "stall":
                response.action, response.hold = fault.then, fault.seconds
            elif fault is not None and fault.kind == "trickle":
                response.action, response.interval = "trickle-" + fault.then, fault.seconds
            elif fault is not None and fault.kind == "oversized":
                response.action, response.size = "oversized", fault.size
        elif fault.kind == "reset":
            response = Response(0, b"", action="reset")
        else:
            response = self._fault_response(fault)
        self.ledger._append_request(
            RequestRecord(
                method=request.method,
                path=path,
                query=query,
                idempotency_key=request.headers.get("idempotency-key"),
                status=response.status,
                replayed=replayed,
                fault=fault.kind if fault is not None else None,
                dropped=response.action != "send",
                processed=fault is None or fault.processes,
                held_seconds=response.hold,
            )
        )
        # Never log headers or bodies: they carry signatures, bearer tokens and (for token/issue) new tokens.
        logger.debug("%s %s -> %d (%s)", request.method, path, response.status, response.action)
        return response

    def _fault_response(self, fault: Fault) -> Response:
        headers = [("Content-Type", "application/json; charset=utf-8")]
        if fault.kind == "rate_limit":
            seconds = int(fault.seconds)
            until = iso_ms(datetime.fromtimestamp(time.time() + seconds, tz=timezone.utc))
            error = HttpError(
                429,
                "LIMIT.RATE_EXCEEDED",
                "rate limit exceeded",
                hints=[{"type": "rate.limit", "seconds": seconds, "remaining": 0, "until": until}],
            )
            headers.append(("Retry-After", str(seconds)))
            return Response(429, _error_body(error), headers)
        if fault.status == 500 and fault.code is None and fault.message is None:
            return Response(500, _unexpected_body(), headers)
        code = fault.code or default_fail_code(fault.status)
        message = fault.message or ("service unavailable" if fault.status == 503 else "injected failure")
        return Response(fault.status, _error_body(HttpError(fault.status, code, message)), headers)

    def _process(self, request: Request, path: str, query: str) -> Tuple[Response, bool]:
        json_type = [("Content-Type", "application/json; charset=utf-8")]
        try:
            answer, replayed, hangs = self._pipeline(request, path, query)
        except HttpError as error:
            return Response(error.status, _error_body(error), json_type + list(error.headers.items())), False
        except UnexpectedError:
            return Response(500, _unexpected_body(), json_type), False
        except Exception:
            logger.exception("vluna emulator internal error on %s %s", request.method, path)
            return Response(500, _unexpected_body(), json_type), False
        if hangs and self.replay_hang_seconds > 0:
            return Response(answer.status, b"", [], action="drop", hold=self.replay_hang_seconds), replayed
        headers = [*json_type, ("Access-Control-Expose-Headers", EXPOSE_HEADERS), *answer.headers]
        return Response(answer.status, answer.body, headers), replayed

    # ----------------------------------------------------------------- pipeline (the wrapper of every route)

    def _pipeline(self, request: Request, path: str, query: str) -> Tuple[StoredAnswer, bool, bool]:
        """``(answer, replayed, hangs)``: ``hangs`` when the server would leave this replay unanswered."""
        method = request.method.upper()
        lookup_path = path[:-1] if len(path) > 1 and path.endswith("/") else path  # ignoreTrailingSlash
        found = self.routes.match("GET" if method == "HEAD" else method, lookup_path)
        if found is None:
            raise HttpError(404, "RESOURCE.NOT_FOUND", f"Cannot {method} {request.target}")
        route, path_params = found
        body, raw_body = self._parse_body(request, method)
        if route.auth == "none":
            ctx = CallContext(scheme="none")
        elif route.auth == "bootstrap":
            ctx = self._authenticate_bootstrap(request)
        else:
            realm = js_trim(request.headers.get("x-realm-id", ""))
            if not realm:
                raise HttpError(400, "VALIDATION.INVALID_INPUT", "missing_realm")
            if realm not in self.realms:
                raise HttpError(
                    404, "AUTH.UNKNOWN_REALM", "unknown_realm", meta={"clear_cached_realm": True, "realm_id": realm}
                )
            ctx = self._authenticate(request, route, realm, raw_body)
            if route.bindings == "runtime":
                self._bind_runtime_user(request, ctx)
            elif route.bindings == "account" or (route.bindings == "optional" and _has_binding(request)):
                self._bind_account(request, ctx)
        call = Call(ctx=ctx, body=body, query=_query(query), path_params=path_params, route=route)

        def compute() -> StoredAnswer:
            reply = route.handler(self.engine, call)
            return StoredAnswer(reply.status, _success(reply.data, meta=reply.meta, hints=reply.hints), reply.headers)

        if route.idempotent and method in WRITE_METHODS:
            key = js_trim(request.headers.get("idempotency-key", ""))
            if not key:
                raise HttpError(400, "VALIDATION.INVALID_INPUT", "missing_idempotency_key")
            ctx.idempotency_key = key
            # The server's cache key: method + path without query + JWT subject (empty for SVC-AUTH) + key.
            cache_key = (method, path, ctx.sub, key)
            answer, replayed = self.engine.idempotency.run(cache_key, sha256_hex(js_json(body)), compute)
            # The server's handler writes its own reply there, and its interceptor never answers a replayed key.
            return answer, replayed, replayed and route.replay_hangs
        return compute(), False, False

    def _parse_body(self, request: Request, method: str) -> Tuple[JsonValue, bytes]:
        """Parse like Fastify: bodies of GET/HEAD are ignored; JSON and text/plain are the only known types."""
        headers = request.headers
        content_type = headers.get("content-type")
        has_length = "content-length" in headers or "transfer-encoding" in headers
        if method in ("GET", "HEAD"):
            return None, b""
        if method in ("OPTIONS", "DELETE") and (content_type is None or not has_length):
            return None, b""
        if content_type is None:
            if not request.body and not request.body_too_large:
                return None, b""
            raise HttpError(415, "SERVER.UNEXPECTED", "Unsupported Media Type: ")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type not in ("application/json", "text/plain"):
            raise HttpError(415, "SERVER.UNEXPECTED", f"Unsupported Media Type: {content_type}")
        if request.body_too_large:
            raise HttpError(413, "SERVER.UNEXPECTED", "Request body is too large")
        if media_type == "text/plain":
            return request.body.decode("utf-8", errors="replace"), request.body
        if not request.body:
            raise HttpError(
                400, "VALIDATION.INVALID_INPUT", "Body cannot be empty when content-type is set to 'application/json'"
            )
        try:
            parsed = json.loads(request.body.decode("utf-8"), parse_constant=_no_constants)
        except RecursionError:
            _refuse_nesting(_text_nesting(request.body.decode("utf-8", errors="replace")))
            raise HttpError(400, "VALIDATION.INVALID_INPUT", "request body nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as exc:
            position = getattr(exc, "pos", 0)
            message = f"Unexpected token in JSON at position {position}"
            raise HttpError(400, "VALIDATION.INVALID_INPUT", message) from exc
        _check_parsed(parsed)
        return parsed, request.body

    def _authenticate(self, request: Request, route: Route, realm: str, raw_body: bytes) -> CallContext:
        authorization = request.headers.get("authorization", "")
        scheme = _detect_scheme(authorization)
        if route.auth in ("either", "service") and scheme is None:
            raise HttpError(401, "AUTH.UNAUTHORIZED", "unsupported_authorization_scheme")
        if scheme == "service":
            if route.auth == "bearer":
                # Stricter than the real server, whose bearer guard lets any "SVC-AUTH ..." header through on
                # /api/v1 without verifying it: the emulator treats it as what it is, a request without a token.
                raise HttpError(401, "AUTH.UNAUTHORIZED", "missing_token")
            return self._verify_service(request, raw_body)
        parts = authorization.split(" ")
        token = parts[1] if authorization.lower().startswith("bearer ") and len(parts) > 1 else ""
        if not token:
            raise HttpError(401, "AUTH.UNAUTHORIZED", "missing_token")
        user = self.engine.tokens.verify(token, realm)
        if route.auth == "service":
            # Only DAT session tokens carry service access; the emulator mints none.
            raise HttpError(403, "AUTH.INSUFFICIENT_SCOPE", "service_auth_required")
        return CallContext(scheme="bearer", sub=user.user_id, user=user, account=user.account)

    def _authenticate_bootstrap(self, request: Request) -> CallContext:
        # DAT session routes take a bootstrap token (minted by POST /mgt/v1/dat/bootstrap-tokens) as the bearer.
        authorization = request.headers.get("authorization", "")
        parts = authorization.split(" ")
        token = parts[1] if authorization.lower().startswith("bearer ") and len(parts) > 1 else ""
        if not token:
            raise HttpError(401, "AUTH.UNAUTHORIZED", "missing_token")
        if not self.engine.resources.bootstrap_token_active(token):
            raise HttpError(401, "AUTH.INVALID_BOOTSTRAP_TOKEN", "invalid_bootstrap_token")
        return CallContext(scheme="bootstrap", bootstrap_token=token)

    def _verify_service(self, request: Request, raw_body: bytes) -> CallContext:
        try:
            verified = verify_service_request(
                method=request.method,
                path_with_query=request.target,
                headers=request.headers,
                body=raw_body,
                keys=self.keys,
            )
        except ServiceAuthFailure as failure:
            raise HttpError(failure.status, failure.code, failure.message) from None
        if self.strict:
            self._strict_checks(verified.key_id, verified.timestamp, verified.nonce)
        return CallContext(scheme="service", key_id=verified.key_id)

    def _strict_checks(self, key_id: str, timestamp: str, nonce: str) -> None:
        """Beyond the real server (which checks neither): bounded clock skew and single-use nonces."""
        now = time.time()
        signed_at = parse_js_date(timestamp)
        if signed_at is None:
            raise HttpError(401, "AUTH.INVALID_SERVICE_SIGNATURE", "Timestamp not parseable (strict mode)")
        if abs(now - signed_at.timestamp()) > self.strict_window_seconds:
            raise HttpError(401, "AUTH.INVALID_SERVICE_SIGNATURE", "Timestamp outside allowed window (strict mode)")
        with self._nonce_lock:
            for seen, expires in list(self.seen_nonces.items()):
                if expires < now:
                    del self.seen_nonces[seen]
            if (key_id, nonce) in self.seen_nonces:
                raise HttpError(401, "AUTH.INVALID_SERVICE_SIGNATURE", "Nonce already used (strict mode)")
            self.seen_nonces[(key_id, nonce)] = now + 2 * self.strict_window_seconds

    def _bind_runtime_user(self, request: Request, ctx: CallContext) -> None:
        if ctx.scheme != "service":
            # A platform token carries its own account and user; the server ignores the binding headers then.
            return
        headers = request.headers
        principal_id = js_trim(headers.get("x-principal-id", ""))
        user_id = js_trim(headers.get("x-user-id", ""))
        if not principal_id or not user_id:
            raise HttpError(401, "AUTH.MISSING_RUNTIME_BINDINGS", "x-principal-id and x-user-id are required")
        accounts = self.engine.accounts
        account = accounts.ensure_account(principal_id)
        provided_account = js_trim(headers.get("x-billing-account-id", ""))
        if provided_account and provided_account != account.billing_account_id:
            raise HttpError(403, "AUTH.BILLING_ACCOUNT_MISMATCH", "billing account does not match principal")
        billing_user = accounts.ensure_user(account, user_id)
        provided_user = js_trim(headers.get("x-billing-user-id", ""))
        if provided_user and provided_user != billing_user.billing_user_id:
            raise HttpError(403, "AUTH.BILLING_USER_MISMATCH", "billing user does not match user id")
        ctx.user = billing_user
        ctx.account = account

    def _bind_account(self, request: Request, ctx: CallContext) -> None:
        if ctx.scheme != "service":
            return
        headers = request.headers
        principal_id = js_trim(headers.get("x-principal-id", ""))
        account_id = js_trim(headers.get("x-billing-account-id", ""))
        if not principal_id and not account_id:
            raise HttpError(401, "AUTH.MISSING_SERVICE_BINDINGS", "x-principal-id or x-billing-account-id is required")
        accounts = self.engine.accounts
        # The server's ServiceAccountGuard: a principal alone finds (or creates) its account; an account id is looked
        # up as given, and must belong to the principal sent with it unless X-Realm-Admin says otherwise.
        if account_id:
            found = accounts.find_account_by_id(account_id)
            admin = js_trim(headers.get("x-realm-admin", "")).lower() == "true"
            if found is None or (principal_id and not admin and found.principal_id != principal_id):
                raise HttpError(403, "AUTH.SERVICE_BINDINGS_INVALID", "Unable to resolve service binding for realm")
            account = found
        else:
            account = accounts.ensure_account(principal_id)
        ctx.account = account
        user_id = js_trim(headers.get("x-user-id", ""))
        if user_id:
            ctx.user = accounts.ensure_user(account, user_id)


def _query(query: str) -> Dict[str, JsonValue]:
    """Parse a query string like Node's ``querystring``: repeated keys become lists, blanks are kept."""
    parsed = parse_qs(query, keep_blank_values=True)
    return {key: values[0] if len(values) == 1 else values for key, values in parsed.items()}
