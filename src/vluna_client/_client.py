"""ServiceClient and BearerClient: configuration, request building, the retry loop and result decoding."""

from __future__ import annotations

import copy
import logging
import os
import random
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union
from urllib.parse import urlsplit

import requests

from . import __version__
from ._area import AreaHost
from ._call import CallArgs
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
from ._request import PreparedCall, Secret, build_call, header_value
from ._result import Page, Result
from ._retry import RetryPolicy, parse_retry_after
from ._serde import structure
from ._signing import ServiceKeySigner, content_digest
from ._transport import DEFAULT_TIMEOUT, SessionPool, Timeout, TimeoutTypes, coerce_timeout

if TYPE_CHECKING:
    from ._generated.models.health import HealthStatus
    from ._lease import Lease

logger = logging.getLogger("vluna_client")

T = TypeVar("T")
C = TypeVar("C", bound="_BaseClient")

# Indirection so tests can observe backoff without waiting (monkeypatch ``vluna_client._client._sleep``).
_sleep = time.sleep

_SURFACE_PREFIX = {"service": "/mgt/v1", "bearer": "/api/v1"}


def _user_agent() -> str:
    py = ".".join(str(v) for v in sys.version_info[:3])
    return f"vluna-client/{__version__} python/{py} requests/{requests.__version__}"


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
            self._realm_id = header_value("realm_id", realm_id)
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
                new[key] = header_value(key, value)
        view._bindings = new
        return view

    def _describe(self) -> str:
        return f"base_url={self._base_url!r}, realm_id={self._realm_id!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    # -- request building (no I/O) -------------------------------------------------------------------------

    def _authorize(self, prep: requests.PreparedRequest, bearer_token: Optional[str]) -> None:
        """Set the Authorization header of one attempt (each attempt gets a fresh timestamp and nonce)."""
        raise NotImplementedError

    # -- sending --------------------------------------------------------------------------------------------

    def _signed(
        self, call: PreparedCall, bearer_token: Optional[str]
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

    def _attempt(self, call: PreparedCall, timeout: Timeout, bearer_token: Optional[str]) -> requests.Response:
        session, prepared = self._signed(call, bearer_token)
        settings = self._pool.environment(prepared.url or call.url)
        return session.send(prepared, timeout=timeout.as_tuple(), allow_redirects=False, **settings)

    def _execute(self, op: Operation[T], args: CallArgs) -> Result[Any]:
        call_timeout = coerce_timeout(args.timeout, self._timeout)
        bearer_token = args.bearer_token
        call = build_call(
            op,
            base_url=self._base_url,
            root_url=self._root_url,
            realm_id=self._realm_id,
            defaults=self._bindings,
            path=args.path,
            query=args.query,
            body=args.body,
            bindings=args.bindings,
            idempotency_key=args.idempotency_key,
        )
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
                delay = self._retry_delay(op, attempt, started, None, safe=op.retry in ("read", "idempotent") or unsent)
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
                return self._result(op, env, call, request_id, args)
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
                delay = self._retry_delay(op, attempt, started, retry_after, safe=op.retry != "unsent" or status == 429)
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
        self, op: Operation[Any], call: PreparedCall, exc: requests.exceptions.RequestException
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
        call: PreparedCall,
        request_id: Optional[str],
        args: CallArgs,
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
            page: Page[Any] = self._execute(op, args.next_page(next_cursor))  # type: ignore[assignment]
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
            prep.headers["Authorization"] = "Bearer " + header_value("bearer_token", bearer_token)
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
            self._token = Secret(header_value("access_token", access_token))
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
        token = self._token.reveal() if bearer_token is None else header_value("bearer_token", bearer_token)
        prep.headers["Authorization"] = "Bearer " + token

    def health(self, *, timeout: TimeoutTypes = None) -> Result[HealthStatus]:
        """``GET /health`` of the deployment (no authentication)."""
        return self.system.health(timeout=timeout)
