"""ServiceClient and BearerClient: configuration, and the loop that turns one call into attempts and a result."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Optional, TypeVar, Union
from urllib.parse import urlsplit

import attrs

from ._area import AreaHost
from ._auth import Auth, BearerAuth, ServiceKeyAuth, call_auth
from ._call import CallArgs
from ._config import Surface, config_header, normalize_base_url, refuse_other_surface, root_url
from ._envelope import Envelope, UnreadableAnswer, decode, rate_limit_wait, to_error
from ._errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    OutcomeUnknownError,
    ResponseDecodeError,
    ValidationError,
    VlunaError,
)
from ._generated.areas import BearerAreas, ServiceAreas
from ._operation import Operation, operation_named
from ._pending import PendingWrite, check_replayable, record_of
from ._request import PreparedCall, RequestBase, build_call
from ._result import Result
from ._retry import Retrier, RetryPolicy, RetryRun, parse_retry_after
from ._serde import structure
from ._signing import ServiceKeySigner
from ._transport import (
    ATTEMPT_FAILURES,
    DEFAULT_TIMEOUT,
    RequestsTransport,
    Timeout,
    TimeoutTypes,
    Transport,
    TransportError,
    coerce_timeout,
)
from ._travel import packed, unpacked
from ._version import __version__

if TYPE_CHECKING:
    from ._generated.models.health import HealthStatus
    from ._lease import Lease
    from ._page import Page

logger = logging.getLogger("vluna_client")

T = TypeVar("T")
C = TypeVar("C", bound="_BaseClient")


def _user_agent() -> str:
    py = ".".join(str(v) for v in sys.version_info[:3])
    return f"vluna-client/{__version__} python/{py}"


def _transport_from(transport: Optional[Transport], session: Any) -> Transport:
    if transport is not None and session is not None:
        raise ConfigurationError("pass either transport or session, not both")
    if transport is None:
        return RequestsTransport(session)
    if not callable(getattr(transport, "send", None)) or not callable(getattr(transport, "close", None)):
        raise ConfigurationError("transport must have send(method, url, headers, body, timeout) and close()")
    return transport


class _BaseClient(AreaHost):
    """Shared machinery of both clients; use :class:`ServiceClient` or :class:`BearerClient`."""

    _surface: Surface = "service"

    def __init__(
        self,
        *,
        base_url: str,
        realm_id: str,
        auth: Auth,
        timeout: TimeoutTypes = None,
        retry: Union[RetryPolicy, Retrier, None] = None,
        user_agent: Optional[str] = None,
        transport: Optional[Transport] = None,
        session: Any = None,
    ) -> None:
        base_url = normalize_base_url(base_url)
        refuse_other_surface(base_url, self._surface, client=type(self).__name__)
        user_agent = config_header("user_agent", user_agent) if user_agent is not None else _user_agent()
        self._base = RequestBase(
            base_url=base_url,
            root_url=root_url(base_url, self._surface),
            realm_id=config_header("realm_id", realm_id),
            headers={"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": user_agent},
            auth=auth,
        )
        self._timeout = coerce_timeout(timeout, DEFAULT_TIMEOUT)
        if retry is None or isinstance(retry, RetryPolicy):
            self._retrier = Retrier(retry if retry is not None else RetryPolicy())
        elif isinstance(retry, Retrier):
            self._retrier = retry
        else:
            raise ConfigurationError("retry must be a vluna_client.RetryPolicy (or a Retrier)")
        self._transport = _transport_from(transport, session)
        # A bound view shares this transport; only the client that built it may close it.
        self._owns_transport = True

    # -- lifecycle ------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The configured base URL (``.../mgt/v1`` or ``.../api/v1``)."""
        return self._base.base_url

    @property
    def realm_id(self) -> str:
        """The realm sent as ``X-Realm-Id`` on every call."""
        return self._base.realm_id

    @property
    def timeout(self) -> Timeout:
        """The default per-call timeout."""
        return self._timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retrier.policy

    @property
    def transport(self) -> Transport:
        """The transport every attempt goes through."""
        return self._transport

    def close(self) -> None:
        """Close pooled connections.

        On a view from :meth:`bind` this does nothing: the view shares its parent's connections, so using a view as
        a context manager (``with client.bind(...) as view:``) leaves the parent usable. Close the parent instead.
        """
        if self._owns_transport:
            self._transport.close()

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
        A value passed to a call still wins over the bound one. A bound ``billing_account_id`` also fills the body
        property or list filter of that name on operations that have one.
        """
        base = self._base.bound(
            {
                "principal_id": principal_id,
                "user_id": user_id,
                "billing_account_id": billing_account_id,
                "billing_user_id": billing_user_id,
            }
        )
        view = self._view()
        view._base = base
        return view

    def _view(self: C) -> C:
        """A shallow copy sharing connections and settings, with its own API area objects."""
        view = object.__new__(type(self))
        # (Not copy.copy: that would go through __getstate__, which is for sending a client to another process.)
        view.__dict__.update(self._settings())
        view._owns_transport = False
        return view

    def replay(self, record: Union[PendingWrite, Mapping[str, Any]], *, timeout: TimeoutTypes = None) -> Result[Any]:
        """Send a write whose outcome is unknown again, identically: same operation, arguments and key.

        ``record`` is ``exc.pending`` of an :class:`OutcomeUnknownError`, or its ``to_dict()`` form after it went
        through a queue or a database. The server answers a replay of a write it applied with the first result and
        applies one it never saw, so the write happens exactly once either way; the result says which (a replayed
        answer comes back as it was first given). Any process with a client for the same realm can do it: a web
        view can enqueue the record and let a worker settle it after the request has ended.

        Raises:
            InputValidationError: ``record`` is not a pending-write record, or names an operation this client does
                not have or that is not a write.
            ConfigurationError: the record was sent by the other kind of client or to another realm.
            OutcomeUnknownError: the replay's answer was lost too; it carries the same record, replay it later.
            VlunaError: any other error the write itself can raise (a 402, a 409...).
        """
        if not isinstance(record, PendingWrite):
            record = PendingWrite.from_dict(record)
        check_replayable(record, surface=self._surface, realm_id=self._base.realm_id)
        op = operation_named(self._surface, record.operation)
        # Only what the record says was sent: a binding it lacks must not be filled from this client's defaults.
        bindings = {name: record.bindings.get(name, "") for name in op.bindings}
        args = CallArgs(
            path=record.path,
            query=record.query,
            body=record.body,
            bindings=bindings,
            idempotency_key=record.idempotency_key,
            timeout=timeout,
        )
        return self._execute(op, args)

    def _settings(self) -> dict[str, Any]:
        """The instance's attributes without the cached area objects (they point at this client)."""
        return {k: v for k, v in vars(self).items() if not hasattr(v, "_host")}

    def __getstate__(self) -> dict[str, Any]:
        # What travels to another process (pickle, cloudpickle, multiprocessing, Dask, Spark): the configuration,
        # credentials (the secret inside its redacting wrapper), timeouts, retry policy and bindings. The default
        # transport travels as its settings and opens its own connections there; one you passed in travels only
        # if it pickles, else this raises a TypeError saying how to build the client on the worker.
        state = self._settings()
        transport = state["_transport"]
        if not isinstance(transport, RequestsTransport):
            state["_transport"] = _PackedTransport(packed(transport, what="transport"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        transport = state["_transport"]
        if isinstance(transport, _PackedTransport):
            state = {**state, "_transport": unpacked(transport.data)}
        self.__dict__.update(state)

    def with_retry(self: C, policy: RetryPolicy) -> C:
        """A view of this client whose calls retry by ``policy`` (same connections, bindings and other settings).

        ``client.with_retry(NO_RETRIES)`` for a call that must fail fast; ``gate.ingest_many`` takes a view
        without 429 in ``retry_statuses``, so that a 429 reaches its pacer at once. The clock, sleep and jitter
        source of a :class:`Retrier` given to the client stay; like a view from :meth:`bind`, closing the view
        leaves the client's connections open.

        Raises:
            ConfigurationError: ``policy`` is not a :class:`RetryPolicy`.
        """
        if not isinstance(policy, RetryPolicy):
            raise ConfigurationError("with_retry takes a vluna_client.RetryPolicy")
        view = self._view()
        view._retrier = attrs.evolve(self._retrier, policy=policy)
        return view

    def _describe(self) -> str:
        return f"base_url={self._base.base_url!r}, realm_id={self._base.realm_id!r}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    # -- one call -------------------------------------------------------------------------------------------

    def _execute(self, op: Operation[T], args: CallArgs) -> Result[Any]:
        """Build the request once (no I/O), then attempt, classify and maybe wait until it succeeds or gives up."""
        # The client picks the credentials: its own, or the call's bearer token on the routes that take one.
        call = build_call(op, self._base, args, call_auth(self._base.auth, args.bearer_token))
        run = self._retrier.start(op.retry, coerce_timeout(args.timeout, self._timeout))
        applied_by: Optional[str] = None  # what made the write's outcome unknown, in the error table's words
        while True:
            try:
                env, request_id, wait_hint = self._attempt(op, call, run)
            except TransportError as exc:
                error: VlunaError = self._connection_error(op, call, exc)
                delay = run.failed(status=None, unsent=exc.unsent)
            except _Unreadable as exc:
                # An answer arrived but cannot be taken in: for a write, whatever it said may have been applied.
                error = ResponseDecodeError(
                    f"{op.name}: {exc.reason}",
                    status=exc.status,
                    raw=None,
                    operation=op.name,
                    idempotency_key=call.idempotency_key,
                )
                if op.retry != "read":
                    run.may_have_applied = True
                delay = None
            else:
                if env.ok:
                    return self._result(op, env, call, request_id, args)
                error = to_error(
                    env,
                    operation=op.name,
                    idempotency_key=call.idempotency_key,
                    request_id=request_id,
                    retry_after=wait_hint,
                )
                delay = run.failed(status=env.status, unsent=False, retry_after=wait_hint)
            if run.may_have_applied and applied_by is None:
                applied_by = f"{_what_happened(error)} on attempt {run.attempt}"
            if delay is None:
                raise self._give_up(op, call, args, run, error, applied_by)
            logger.warning(
                "vluna %s: %s; retry %d in %.2fs%s",
                op.name,
                _what_happened(error),
                run.attempt,
                delay,
                _key_note(call),
            )
            run.wait(delay)

    def _attempt(
        self, op: Operation[Any], call: PreparedCall, run: RetryRun
    ) -> tuple[Envelope, Optional[str], Optional[float]]:
        """One signed attempt: the decoded answer, the request id and, for a 429, the wait it asks for."""
        started = time.monotonic()
        headers = call.attempt_headers()
        try:
            raw = self._transport.send(call.method, call.url, headers, call.body, run.timeout)
        except (TransportError, VlunaError):
            raise
        except ATTEMPT_FAILURES as exc:
            # A transport that broke mid-way (not one of ours, or a bug): the request may have left.
            raise TransportError(f"the transport failed ({type(exc).__name__})", unsent=False) from None
        logger.debug(
            "vluna %s %s -> %d in %.0f ms (attempt %d%s)",
            op.name,
            call.method,
            raw.status,
            (time.monotonic() - started) * 1000,
            run.attempt,
            _key_note(call),
        )
        try:
            env = decode(raw.status, raw.body)
        except UnreadableAnswer as exc:
            raise _Unreadable(raw.status, str(exc)) from None
        wait = None
        if not env.ok:
            retry_after = raw.header("Retry-After")
            wait = rate_limit_wait(env, retry_after) if raw.status == 429 else parse_retry_after(retry_after)
        return env, raw.header("X-Request-Id") or None, wait

    def _give_up(
        self,
        op: Operation[Any],
        call: PreparedCall,
        args: CallArgs,
        run: RetryRun,
        error: VlunaError,
        applied_by: Optional[str],
    ) -> VlunaError:
        """The error the caller gets: the last one, unless a write may have been applied on the way."""
        if not run.may_have_applied:
            return error
        last = _what_happened(error)
        story = applied_by or last
        if not story.endswith(f"on attempt {run.attempt}"):
            story += f"; last attempt: {last}"
        unknown = OutcomeUnknownError(
            f"{op.name} may have been applied: {story}; replay it with the same idempotency key, never with a new one",
            operation=op.name,
            idempotency_key=call.idempotency_key,
            last_error=error,
            attempts=run.attempt,
            pending=record_of(op, call, args, surface=self._surface, realm_id=self._base.realm_id),
        )
        unknown.__cause__ = error
        return unknown

    def _connection_error(self, op: Operation[Any], call: PreparedCall, exc: TransportError) -> APIConnectionError:
        """The typed error for an attempt that got no answer."""
        target = f"{call.method} {urlsplit(call.url).path}"
        cls = APITimeoutError if exc.timeout else APIConnectionError
        return cls(
            f"{exc.message} for {target}",
            operation=op.name,
            idempotency_key=call.idempotency_key,
            unsent=exc.unsent,
        )

    def _result(
        self, op: Operation[T], env: Envelope, call: PreparedCall, request_id: Optional[str], args: CallArgs
    ) -> Result[Any]:
        """The typed result of a success; a page knows how to fetch the next one."""
        common: dict[str, Any] = {
            "hints": env.hints,
            "meta": env.meta,
            "status_code": env.status,
            "operation": op.name,
            "idempotency_key": call.idempotency_key,
            "request_id": request_id,
            "raw": env.raw,
        }
        try:
            if op.pagination is None:
                return Result(data=structure(env.data, op.result_type), **common)
            from ._page import page_from_answer  # loaded (and its class built) by a process's first list call

            def fetch_next(next_cursor: str) -> Page[Any]:
                page: Page[Any] = self._execute(op, args.next_page(next_cursor))  # type: ignore[assignment]
                return page

            return page_from_answer(
                op.pagination,
                env.data,
                env.meta,
                structure_items=lambda raw: structure(raw, list[op.result_type]),  # type: ignore[name-defined]
                fetch_next=fetch_next,
                item_id=op.item_id,
                **common,
            )
        except Exception as exc:  # noqa: BLE001 - any shape problem means the same thing to the caller
            raise ResponseDecodeError(
                f"{op.name} succeeded (HTTP {env.status}) but its answer could not be read: {exc}",
                status=env.status,
                raw=env.raw,
                operation=op.name,
                idempotency_key=call.idempotency_key,
            ) from None


class _PackedTransport:
    """A transport of the caller's, already pickled (see :func:`~vluna_client._travel.packed`)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (_PackedTransport, (self.data,))


class _Unreadable(Exception):
    """Internal: an attempt's answer could not be decoded safely."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _what_happened(error: VlunaError) -> str:
    """One attempt's failure in the words of the error table: never sent, the answer was lost, refused, failed."""
    if isinstance(error, APIConnectionError):
        return f"{'never sent' if error.unsent else 'the answer was lost'} ({type(error).__name__})"
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return f"the server failed (HTTP {status})" if status >= 500 else f"refused (HTTP {status})"
    return type(error).__name__


def _key_note(call: PreparedCall) -> str:
    return f", idempotency key {call.idempotency_key}" if call.idempotency_key else ""


def _from_env(names: dict[str, tuple[str, Optional[str]]]) -> dict[str, str]:
    """Each argument from its keyword or environment variable; every missing one is named at once."""
    values: dict[str, str] = {}
    missing = []
    for arg, (variable, given) in names.items():
        value = given if given is not None else os.environ.get(variable)
        if value:
            values[arg] = value
        else:
            missing.append(variable)
    if missing:
        raise ConfigurationError(
            "missing configuration: set " + ", ".join(missing) + " (or pass the matching keyword arguments)"
        )
    return values


class ServiceClient(ServiceAreas, _BaseClient):
    """Server-to-server client for ``/mgt/v1``, signing every request with a service key (SVC-AUTH).

    Args:
        base_url: The management base URL, e.g. ``https://api.example.com/mgt/v1``.
        realm_id: Your realm, sent as ``X-Realm-Id``.
        key_id: Service key id (``pk-...``).
        key_secret: The base64 service key secret. Kept in memory only; never logged or shown in a repr.
        timeout: Default timeout: seconds, ``(connect, read)`` or :class:`Timeout`. Never unbounded.
        retry: :class:`RetryPolicy`; ``RetryPolicy(max_attempts=1)`` disables retries. A :class:`Retrier` also
            lets you supply the clock, sleep and jitter source (tests that must not wait).
        user_agent: Replaces the default ``vluna-client/<version> ...`` User-Agent.
        session: A ``requests.Session`` to send through (proxies, client certificates, custom adapters).
        transport: Any :class:`Transport` (e.g. a test double) instead of the built-in one.

    Use it as a context manager, or call :meth:`close`, to release connections. One client per process is enough:
    it is thread-safe (threads share one connection pool), and a forked child process starts with fresh
    connections.
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
        retry: Union[RetryPolicy, Retrier, None] = None,
        user_agent: Optional[str] = None,
        session: Any = None,
        transport: Optional[Transport] = None,
    ) -> None:
        if not isinstance(key_secret, str):
            raise ConfigurationError("key_secret must be the base64 text of the service key secret")
        self._service_auth = ServiceKeyAuth(ServiceKeySigner(key_id, key_secret))
        super().__init__(
            base_url=base_url,
            realm_id=realm_id,
            auth=self._service_auth,
            timeout=timeout,
            retry=retry,
            user_agent=user_agent,
            transport=transport,
            session=session,
        )

    @classmethod
    def from_env(
        cls,
        *,
        base_url: Optional[str] = None,
        realm_id: Optional[str] = None,
        key_id: Optional[str] = None,
        key_secret: Optional[str] = None,
        timeout: TimeoutTypes = None,
        retry: Union[RetryPolicy, Retrier, None] = None,
        user_agent: Optional[str] = None,
        session: Any = None,
        transport: Optional[Transport] = None,
    ) -> ServiceClient:
        """Build from the environment; keyword arguments override it.

        Reads ``VLUNA_SERVICE_BASE_URL``, ``VLUNA_REALM_ID``, ``VLUNA_SERVICE_KEY_ID`` and
        ``VLUNA_SERVICE_KEY_SECRET``; every missing one is named in one :class:`ConfigurationError`.
        """
        values = _from_env(
            {
                "base_url": ("VLUNA_SERVICE_BASE_URL", base_url),
                "realm_id": ("VLUNA_REALM_ID", realm_id),
                "key_id": ("VLUNA_SERVICE_KEY_ID", key_id),
                "key_secret": ("VLUNA_SERVICE_KEY_SECRET", key_secret),
            }
        )
        return cls(**values, timeout=timeout, retry=retry, user_agent=user_agent, session=session, transport=transport)

    def _describe(self) -> str:
        return f"{super()._describe()}, key_id={self._service_auth.key_id!r}"

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
        from ._lease import Lease, LeaseTerms

        terms = LeaseTerms(
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
        return Lease(self.gate, terms)


class BearerClient(BearerAreas, _BaseClient):
    """End-user client for ``/api/v1``, authenticated with a platform token from ``client.token.issue``.

    Args:
        base_url: The public base URL, e.g. ``https://api.example.com/api/v1``.
        realm_id: The realm the token belongs to.
        access_token: The bearer token. Never logged or shown in a repr.
        timeout: Default timeout: seconds, ``(connect, read)`` or :class:`Timeout`.
        retry: :class:`RetryPolicy` (or a :class:`Retrier`).
        user_agent: Replaces the default User-Agent.
        session: A ``requests.Session`` to send through.
        transport: Any :class:`Transport` instead of the built-in one.
    """

    _surface = "bearer"

    def __init__(
        self,
        *,
        base_url: str,
        realm_id: str,
        access_token: str,
        timeout: TimeoutTypes = None,
        retry: Union[RetryPolicy, Retrier, None] = None,
        user_agent: Optional[str] = None,
        session: Any = None,
        transport: Optional[Transport] = None,
    ) -> None:
        try:
            auth = BearerAuth(access_token)
        except ValidationError as exc:
            raise ConfigurationError(exc.message) from None
        super().__init__(
            base_url=base_url,
            realm_id=realm_id,
            auth=auth,
            timeout=timeout,
            retry=retry,
            user_agent=user_agent,
            transport=transport,
            session=session,
        )

    @classmethod
    def from_env(
        cls,
        *,
        access_token: Optional[str] = None,
        base_url: Optional[str] = None,
        realm_id: Optional[str] = None,
        timeout: TimeoutTypes = None,
        retry: Union[RetryPolicy, Retrier, None] = None,
        user_agent: Optional[str] = None,
        session: Any = None,
        transport: Optional[Transport] = None,
    ) -> BearerClient:
        """Build from ``VLUNA_BEARER_BASE_URL``, ``VLUNA_REALM_ID`` and ``VLUNA_ACCESS_TOKEN``.

        Every missing variable is named in one :class:`ConfigurationError`.
        """
        values = _from_env(
            {
                "base_url": ("VLUNA_BEARER_BASE_URL", base_url),
                "realm_id": ("VLUNA_REALM_ID", realm_id),
                "access_token": ("VLUNA_ACCESS_TOKEN", access_token),
            }
        )
        return cls(**values, timeout=timeout, retry=retry, user_agent=user_agent, session=session, transport=transport)

    def health(self, *, timeout: TimeoutTypes = None) -> Result[HealthStatus]:
        """``GET /health`` of the deployment (no authentication)."""
        return self.system.health(timeout=timeout)
