"""ServiceClient and BearerClient: configuration, request building, the retry loop and result decoding."""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import sys
import time
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union
from urllib.parse import quote, urlsplit

import requests

from . import __version__
from ._area import AreaHost
from ._envelope import decode, to_error
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    InputValidationError,
    ResponseDecodeError,
    ValidationError,
)
from ._generated.areas import BearerAreas, ServiceAreas
from ._operation import Operation
from ._result import Page, Result
from ._retry import RetryPolicy, parse_retry_after
from ._serde import structure
from ._signing import ServiceKeySigner, content_digest
from ._transport import DEFAULT_TIMEOUT, SessionPool, Timeout, TimeoutTypes, coerce_timeout
from ._validation import validate

if TYPE_CHECKING:
    from ._generated.models.health import HealthStatus
    from ._lease import Lease

logger = logging.getLogger("vluna_client")

T = TypeVar("T")
C = TypeVar("C", bound="_BaseClient")

# Indirection so tests can observe backoff without waiting (monkeypatch ``vluna_client._client._sleep``).
_sleep = time.sleep

_BINDING_HEADERS = {
    "principal_id": "X-Principal-Id",
    "user_id": "X-User-Id",
    "billing_account_id": "X-Billing-Account-Id",
    "billing_user_id": "X-Billing-User-Id",
}
_SURFACE_PREFIX = {"service": "/mgt/v1", "bearer": "/api/v1"}


def _user_agent() -> str:
    py = ".".join(str(v) for v in sys.version_info[:3])
    return f"vluna-client/{__version__} python/{py} requests/{requests.__version__}"


def _header_value(name: str, value: str) -> str:
    """Header values travel signed and raw: refuse what would be mangled or split on the way."""
    if not isinstance(value, str):
        raise InputValidationError(f"{name} must be a string, got {type(value).__name__}", field=name)
    if not value.strip():
        raise InputValidationError(f"{name} must not be empty", field=name)
    if value != value.strip() or value[0].isspace() or value[-1].isspace():
        # The server trims header values before checking the signature: surrounding spaces break it.
        raise InputValidationError(f"{name} must not start or end with whitespace", field=name)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InputValidationError(f"{name} must not contain control characters", field=name)
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise InputValidationError(f"{name} must be latin-1 text to travel in an HTTP header", field=name) from None
    return value


def _idempotency_key(value: Optional[str]) -> str:
    if value is None:
        return str(uuid.uuid4())
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or not all(0x21 <= ord(c) <= 0x7E for c in value):
        raise InputValidationError(
            "idempotency_key must be 1 to 255 visible ASCII characters without spaces", field="idempotency_key"
        )
    return value


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Secret:
    """Holds a credential so that no repr, vars() dump or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The credential itself, for the Authorization header only."""
        return self._value

    def __repr__(self) -> str:
        return "<redacted>"


class _Prepared:
    """A request ready to send: everything but the per-attempt signature."""

    __slots__ = ("body", "headers", "idempotency_key", "method", "url")

    def __init__(self, method: str, url: str, headers: dict[str, str], body: bytes, key: Optional[str]) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.idempotency_key = key


class _BaseClient(AreaHost):
    """Shared machinery of both clients; use :class:`ServiceClient` or :class:`BearerClient`."""

    _surface = "service"

    def __init__(
        self,
        *,
        base_url: str,
        realm_id: str,
        timeout: TimeoutTypes = None,
        retry: Optional[RetryPolicy] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.strip():
            raise ConfigurationError("base_url is required")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError("base_url must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ConfigurationError("base_url must not carry a query string or fragment")
        self._base_url = base_url.strip().rstrip("/")
        prefix = _SURFACE_PREFIX[self._surface]
        base_path = parts.path.rstrip("/")
        # `/health` lives at the root of the deployment: the base path minus the surface prefix.
        root_path = base_path[: -len(prefix)] if base_path.endswith(prefix) else ""
        self._root_url = f"{parts.scheme}://{parts.netloc}{root_path}"
        try:
            self._realm_id = _header_value("realm_id", realm_id)
        except InputValidationError as exc:
            raise ConfigurationError(exc.message) from None
        self._timeout = coerce_timeout(timeout, DEFAULT_TIMEOUT)
        self._retry = retry if retry is not None else RetryPolicy()
        if not isinstance(self._retry, RetryPolicy):
            raise ConfigurationError("retry must be a vluna_client.RetryPolicy")
        self._pool = SessionPool(user_agent or _user_agent())
        self._bindings: dict[str, Any] = {}
        self._rng = random.Random()  # noqa: S311 - jitter, not security

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The configured base URL (``.../mgt/v1`` or ``.../api/v1``)."""
        return self._base_url

    @property
    def realm_id(self) -> str:
        """The realm sent as ``X-Realm-Id`` on every call."""
        return self._realm_id

    @property
    def timeout(self) -> Timeout:
        """The default per-call timeout."""
        return self._timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    def close(self) -> None:
        """Close pooled connections. A bound view shares them: close the client it was bound from."""
        self._pool.close()

    def __enter__(self: C) -> C:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def bind(
        self: C,
        *,
        principal_id: Optional[str] = None,
        user_id: Optional[str] = None,
        billing_account_id: Optional[str] = None,
        billing_user_id: Optional[str] = None,
    ) -> C:
        """A view of this client whose calls default to these bindings (same connections and settings).

        Useful per web request or per task: ``client.bind(principal_id=org.id, user_id=user.id).gate.authorize(...)``.
        A value passed to a call still wins over the bound one.
        """
        view = copy.copy(self)
        # cached area objects point at the original client: drop them so the view builds its own.
        for name in [k for k, v in vars(view).items() if hasattr(v, "_host")]:
            delattr(view, name)
        new = dict(self._bindings)
        for key, value in (
            ("principal_id", principal_id),
            ("user_id", user_id),
            ("billing_account_id", billing_account_id),
            ("billing_user_id", billing_user_id),
        ):
            if value is not None:
                new[key] = _header_value(key, value)
        view._bindings = new
        return view

    def _describe(self) -> str:
        return f"base_url={self._base_url!r}, realm_id={self._realm_id!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    # -- request building (no I/O) -------------------------------------------------------------------------

    def _prepare(
        self,
        op: Operation[Any],
        path: Mapping[str, Any],
        query: Mapping[str, Any],
        body: Optional[Mapping[str, Any]],
        bindings: Mapping[str, Any],
        idempotency_key: Optional[str],
    ) -> _Prepared:
        route = op.path
        for name in op.path_params:
            value = path.get(name)
            if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
                raise InputValidationError(f"{op.name}: path parameter {name} is required", field=name)
            if str(value) in (".", ".."):
                # A dot segment would be collapsed on the way and hit (and be signed for) another route.
                raise InputValidationError(f"{op.name}: path parameter {name} must not be {value!r}", field=name)
            route = route.replace("{" + name + "}", quote(str(value), safe=""))

        pairs: list[tuple[str, str]] = []
        for name, schema in op.query_schema.items():
            value = query.get(name)
            if value is None:
                continue
            value = validate(value, schema, name)
            for item in value if isinstance(value, list) else [value]:
                pairs.append((name, _query_text(item)))
        query_string = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)

        headers: dict[str, str] = {"Accept": "application/json", "X-Realm-Id": self._realm_id}
        resolved: dict[str, Any] = {}
        for name, value in bindings.items():
            value = value if value is not None else self._bindings.get(name)
            if value is None or value == "":
                continue
            resolved[name] = value
            if name == "realm_admin":
                if not isinstance(value, bool):
                    raise InputValidationError("realm_admin must be a bool", field="realm_admin")
                if value:
                    headers["X-Realm-Admin"] = "true"
            else:
                headers[_BINDING_HEADERS[name]] = _header_value(name, value)
        missing = [name for name in op.required_bindings if name not in resolved]
        if missing:
            raise InputValidationError(
                f"{op.name} needs {' and '.join(op.required_bindings)}: missing {', '.join(missing)} "
                "(pass it to the call or use client.bind(...))",
                field=missing[0],
            )
        if op.requires_one_of and not any(name in resolved for name in op.requires_one_of):
            raise InputValidationError(
                f"{op.name} needs at least one of {', '.join(op.requires_one_of)}", field=op.requires_one_of[0]
            )

        payload = b""
        if op.body_schema is not None:
            document = validate(dict(body or {}), op.body_schema, "")
            try:
                # Serialised once; these exact bytes are digested, signed and sent on every attempt.
                payload = json.dumps(
                    document, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
                ).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise InputValidationError(f"{op.name}: the body is not JSON-serialisable ({exc})") from None
            headers["Content-Type"] = "application/json"

        key = None
        if op.write:
            key = _idempotency_key(idempotency_key)
            headers["Idempotency-Key"] = key

        base = self._root_url if op.surface == "root" else self._base_url
        url = base + route + (f"?{query_string}" if query_string else "")
        return _Prepared(op.method, url, headers, payload, key)

    def _authorize(self, prep: requests.PreparedRequest, bearer_token: Optional[str]) -> None:
        """Set the Authorization header of one attempt (each attempt gets a fresh timestamp and nonce)."""
        raise NotImplementedError

    # -- sending --------------------------------------------------------------------------------------------

    def _signed(
        self, call: _Prepared, bearer_token: Optional[str]
    ) -> tuple[requests.Session, requests.PreparedRequest]:
        """Build and sign one attempt's request (fresh timestamp and nonce); no I/O."""
        session = self._pool.session()
        request = requests.Request(call.method, call.url, headers=call.headers, data=call.body or None)
        try:
            prepared = session.prepare_request(request)
            self._authorize(prepared, bearer_token)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError) as exc:
            # A local problem: sending it again cannot help, so it is never retried.
            raise InputValidationError(f"the request could not be built: {type(exc).__name__}") from None
        return session, prepared

    def _attempt(self, call: _Prepared, timeout: Timeout, bearer_token: Optional[str]) -> requests.Response:
        session, prepared = self._signed(call, bearer_token)
        settings = self._pool.environment(prepared.url or call.url)
        return session.send(prepared, timeout=timeout.as_tuple(), allow_redirects=False, **settings)

    def _execute(
        self,
        op: Operation[T],
        *,
        path: Mapping[str, Any],
        query: Mapping[str, Any],
        body: Optional[Mapping[str, Any]],
        bindings: Mapping[str, Any],
        idempotency_key: Optional[str],
        timeout: TimeoutTypes,
        bearer_token: Optional[str] = None,
    ) -> Result[Any]:
        call_timeout = coerce_timeout(timeout, self._timeout)
        call = self._prepare(op, path, query, body, bindings, idempotency_key)
        policy = self._retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            t0 = time.monotonic()
            try:
                response = self._attempt(call, call_timeout, bearer_token)
                raw_body = response.content
            except requests.exceptions.RequestException as exc:
                failure, unsent = self._connection_error(op, call, exc)
                delay = self._retry_delay(op, attempt, started, None, safe=op.retry_safe or unsent)
                if delay is None:
                    raise failure from None
                logger.warning(
                    "vluna %s failed (%s); retry %d in %.2fs with idempotency key %s",
                    op.name,
                    type(exc).__name__,
                    attempt,
                    delay,
                    call.idempotency_key,
                )
                _sleep(delay)
                continue
            status = response.status_code
            request_id = response.headers.get("X-Request-Id") or None
            logger.debug(
                "vluna %s %s -> %d in %.0f ms (attempt %d, idempotency key %s)",
                op.name,
                call.method,
                status,
                (time.monotonic() - t0) * 1000,
                attempt,
                call.idempotency_key,
            )
            env = decode(status, raw_body)
            if 200 <= status < 300 and env.ok:
                return self._result(op, env, call, request_id, path, query, body, bindings, timeout, bearer_token)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = to_error(
                env,
                operation=op.name,
                idempotency_key=call.idempotency_key,
                request_id=request_id,
                retry_after=retry_after,
            )
            if status in policy.retry_statuses:
                if retry_after is None and status == 429:
                    rate = next((h for h in env.hints if h.type == "rate.limit"), None)
                    seconds = rate.get("seconds") if rate else None
                    retry_after = float(seconds) if isinstance(seconds, (int, float)) else None
                # A 429 was refused before any work, so it is safe to repeat even without server-side dedup.
                delay = self._retry_delay(op, attempt, started, retry_after, safe=op.retry_safe or status == 429)
                if delay is not None:
                    logger.warning(
                        "vluna %s answered %d; retry %d in %.2fs with idempotency key %s",
                        op.name,
                        status,
                        attempt,
                        delay,
                        call.idempotency_key,
                    )
                    _sleep(delay)
                    continue
            raise error

    def _retry_delay(
        self, op: Operation[Any], attempt: int, started: float, retry_after: Optional[float], *, safe: bool
    ) -> Optional[float]:
        """Seconds to wait before the next attempt, or ``None`` to give up now."""
        policy = self._retry
        if not safe or attempt >= policy.max_attempts:
            return None
        if retry_after is not None and policy.respect_retry_after:
            if retry_after > policy.max_retry_wait:
                return None
            delay = retry_after
        else:
            delay = policy.backoff(attempt, self._rng)
        if time.monotonic() - started + delay > policy.max_elapsed:
            return None
        return delay

    def _connection_error(
        self, op: Operation[Any], call: _Prepared, exc: requests.exceptions.RequestException
    ) -> tuple[APIConnectionError, bool]:
        """The error to raise, and whether the request certainly never reached the server."""
        target = f"{call.method} {urlsplit(call.url).path}"
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return APITimeoutError(
                f"connecting for {target} timed out", operation=op.name, idempotency_key=call.idempotency_key
            ), True
        if isinstance(exc, requests.exceptions.Timeout):
            return APITimeoutError(
                f"no answer to {target} within the read timeout",
                operation=op.name,
                idempotency_key=call.idempotency_key,
            ), False
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        unsent = type(reason).__name__ in ("NewConnectionError", "NameResolutionError")
        kind = "could not connect" if unsent else "the connection failed"
        return APIConnectionError(
            f"{kind} for {target} ({type(exc).__name__})", operation=op.name, idempotency_key=call.idempotency_key
        ), unsent

    def _result(
        self,
        op: Operation[T],
        env: Any,
        call: _Prepared,
        request_id: Optional[str],
        path: Mapping[str, Any],
        query: Mapping[str, Any],
        body: Optional[Mapping[str, Any]],
        bindings: Mapping[str, Any],
        timeout: TimeoutTypes,
        bearer_token: Optional[str],
    ) -> Result[Any]:
        common: dict[str, Any] = {
            "hints": env.hints,
            "meta": env.meta,
            "status_code": env.status,
            "operation": op.name,
            "idempotency_key": call.idempotency_key,
            "request_id": request_id,
        }
        try:
            if op.pagination is None:
                return Result(data=structure(env.data, op.result_type), **common)
            if op.pagination == "meta":
                raw_items = env.data or []
                cursor = env.meta.get("next_cursor")
                has_more = bool(env.meta.get("has_more", cursor is not None))
            else:
                container = env.data if isinstance(env.data, Mapping) else {}
                raw_items = container.get("items") or []
                cursor = container.get("next_cursor")
                has_more = cursor is not None
            items = structure(raw_items, list[op.result_type])  # type: ignore[name-defined]
        except Exception as exc:  # noqa: BLE001 - any shape problem means the same thing to the caller
            raise ResponseDecodeError(
                f"{op.name} succeeded (HTTP {env.status}) but its answer could not be read: {exc}",
                status=env.status,
                raw=env.raw,
                operation=op.name,
                idempotency_key=call.idempotency_key,
            ) from None

        def fetch_next(next_cursor: str) -> Page[Any]:
            page: Page[Any] = self._execute(  # type: ignore[assignment]
                op,
                path=path,
                query={**query, "cursor": next_cursor},
                body=body,
                bindings=bindings,
                idempotency_key=None,
                timeout=timeout,
                bearer_token=bearer_token,
            )
            return page

        return Page(
            data=items,
            next_cursor=cursor if isinstance(cursor, str) and cursor else None,
            has_more=has_more,
            fetch_next=fetch_next,
            **common,
        )


def _env(name: str, value: Optional[str]) -> str:
    if value is not None:
        return value
    found = os.environ.get(name)
    if not found:
        raise ConfigurationError(f"environment variable {name} is not set")
    return found


class ServiceClient(ServiceAreas, _BaseClient):
    """Server-to-server client for ``/mgt/v1``, signing every request with a service key (SVC-AUTH).

    Args:
        base_url: The management base URL, e.g. ``https://api.example.com/mgt/v1``.
        realm_id: Your realm, sent as ``X-Realm-Id``.
        key_id: Service key id (``pk-...``).
        key_secret: The base64 service key secret. Kept in memory only; never logged or shown in a repr.
        timeout: Default timeout: seconds, ``(connect, read)`` or :class:`Timeout`. Never unbounded.
        retry: :class:`RetryPolicy`; ``RetryPolicy(max_attempts=1)`` disables retries.
        user_agent: Replaces the default ``vluna-client/<version> ...`` User-Agent.

    Use it as a context manager, or call :meth:`close`, to release connections. It is thread-safe: every thread
    gets its own connection pool, and a forked child process starts with fresh connections.
    """

    _surface = "service"

    def __init__(
        self,
        *,
        base_url: str,
        realm_id: str,
        key_id: str,
        key_secret: str,
        timeout: TimeoutTypes = None,
        retry: Optional[RetryPolicy] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        super().__init__(base_url=base_url, realm_id=realm_id, timeout=timeout, retry=retry, user_agent=user_agent)
        if not isinstance(key_secret, str):
            raise ConfigurationError("key_secret must be the base64 text of the service key secret")
        self._signer = ServiceKeySigner(key_id, key_secret)

    @classmethod
    def from_env(
        cls,
        *,
        base_url: Optional[str] = None,
        realm_id: Optional[str] = None,
        key_id: Optional[str] = None,
        key_secret: Optional[str] = None,
        timeout: TimeoutTypes = None,
        retry: Optional[RetryPolicy] = None,
        user_agent: Optional[str] = None,
    ) -> ServiceClient:
        """Build from the environment; keyword arguments override it.

        Reads ``VLUNA_SERVICE_BASE_URL``, ``VLUNA_REALM_ID``, ``VLUNA_SERVICE_KEY_ID`` and
        ``VLUNA_SERVICE_KEY_SECRET``.
        """
        return cls(
            base_url=_env("VLUNA_SERVICE_BASE_URL", base_url),
            realm_id=_env("VLUNA_REALM_ID", realm_id),
            key_id=_env("VLUNA_SERVICE_KEY_ID", key_id),
            key_secret=_env("VLUNA_SERVICE_KEY_SECRET", key_secret),
            timeout=timeout,
            retry=retry,
            user_agent=user_agent,
        )

    def _describe(self) -> str:
        return f"{super()._describe()}, key_id={self._signer.key_id!r}"

    def _authorize(self, prep: requests.PreparedRequest, bearer_token: Optional[str]) -> None:
        if bearer_token is not None:
            prep.headers["Authorization"] = "Bearer " + _header_value("bearer_token", bearer_token)
            return
        body = prep.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        prep.headers["Content-Digest"] = content_digest(body)
        prep.headers["Authorization"] = self._signer.authorization(prep.method or "GET", prep.path_url, prep.headers)

    def health(self, *, timeout: TimeoutTypes = None) -> Result[HealthStatus]:
        """``GET /health`` of the deployment (no authentication)."""
        return self.system.health(timeout=timeout)

    def lease(
        self,
        *,
        feature_code: str,
        principal_id: Optional[str] = None,
        user_id: Optional[str] = None,
        estimated_quantity_minor: Optional[Union[int, str]] = None,
        feature_family_code: Optional[str] = None,
        budget_id: Optional[str] = None,
        labels: Optional[Mapping[str, str]] = None,
        idempotency_key: Optional[str] = None,
        timeout: TimeoutTypes = None,
    ) -> Lease:
        """A gate lease as a context manager: authorize on enter, cancel unless committed on exit.

        ::

            with client.lease(feature_code="llm.chat", principal_id=org, user_id=user) as lease:
                reply = call_the_model()
                lease.commit(quantity_minor=reply.total_tokens)

        An exception inside the block, or leaving it without a commit, cancels the lease (best effort, never
        hiding your exception). A second ``commit`` raises :class:`LeaseError` instead of charging twice.
        """
        from ._lease import Lease

        return Lease(
            self,
            feature_code=feature_code,
            principal_id=principal_id,
            user_id=user_id,
            estimated_quantity_minor=estimated_quantity_minor,
            feature_family_code=feature_family_code,
            budget_id=budget_id,
            labels=labels,
            idempotency_key=idempotency_key,
            timeout=timeout,
        )


class BearerClient(BearerAreas, _BaseClient):
    """End-user client for ``/api/v1``, authenticated with a platform token from ``client.token.issue``.

    Args:
        base_url: The public base URL, e.g. ``https://api.example.com/api/v1``.
        realm_id: The realm the token belongs to.
        access_token: The bearer token. Never logged or shown in a repr.
        timeout: Default timeout: seconds, ``(connect, read)`` or :class:`Timeout`.
        retry: :class:`RetryPolicy`.
        user_agent: Replaces the default User-Agent.
    """

    _surface = "bearer"

    def __init__(
        self,
        *,
        base_url: str,
        realm_id: str,
        access_token: str,
        timeout: TimeoutTypes = None,
        retry: Optional[RetryPolicy] = None,
        user_agent: Optional[str] = None,
    ) -> None:
        super().__init__(base_url=base_url, realm_id=realm_id, timeout=timeout, retry=retry, user_agent=user_agent)
        try:
            self._token = _Secret(_header_value("access_token", access_token))
        except ValidationError as exc:
            raise ConfigurationError(exc.message) from None

    @classmethod
    def from_env(
        cls,
        *,
        access_token: Optional[str] = None,
        base_url: Optional[str] = None,
        realm_id: Optional[str] = None,
        timeout: TimeoutTypes = None,
        retry: Optional[RetryPolicy] = None,
        user_agent: Optional[str] = None,
    ) -> BearerClient:
        """Build from ``VLUNA_BEARER_BASE_URL``, ``VLUNA_REALM_ID`` and ``VLUNA_ACCESS_TOKEN``."""
        return cls(
            base_url=_env("VLUNA_BEARER_BASE_URL", base_url),
            realm_id=_env("VLUNA_REALM_ID", realm_id),
            access_token=_env("VLUNA_ACCESS_TOKEN", access_token),
            timeout=timeout,
            retry=retry,
            user_agent=user_agent,
        )

    def _authorize(self, prep: requests.PreparedRequest, bearer_token: Optional[str]) -> None:
        token = self._token.reveal() if bearer_token is None else _header_value("bearer_token", bearer_token)
        prep.headers["Authorization"] = "Bearer " + token

    def health(self, *, timeout: TimeoutTypes = None) -> Result[HealthStatus]:
        """``GET /health`` of the deployment (no authentication)."""
        return self.system.health(timeout=timeout)
