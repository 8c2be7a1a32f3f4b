"""How a gated view runs, once for Flask and Django: identity, lease, shortfall rule, refusals, streamed bodies.

Each framework supplies a :class:`GateHost` for the request (who is signed in, the client, where the view finds
the lease, how a JSON answer is built, and which refusals it answers itself instead of leaving them to its error
handlers); :func:`run_gated` and :func:`run_streamed` do the rest, so both frameworks answer the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Union

import attrs

from ._glue import NO_IDENTITY_BODY, Identity, refusal_answer, shortfall_body

if TYPE_CHECKING:
    from .._client import ServiceClient
    from .._lease import Lease

#: An estimate as the decorators take it: a quantity, or a callable computing one when the request arrives.
Estimate = Union[int, str, None, Callable[[], Optional[Union[int, str]]]]


class GateHost(Protocol):
    """One request as a framework's glue presents it to :func:`run_gated` and :func:`run_streamed`."""

    #: The refusals answered as JSON here (``ANSWERED``), or ``()`` to let them reach the framework's handlers.
    answered: tuple[type[BaseException], ...]

    def identity(self) -> Optional[Identity]:
        """The signed-in payer, checked (:func:`~vluna_client.contrib._glue.check_identity`), or ``None``."""

    def client(self) -> ServiceClient:
        """The process's client."""

    def attach(self, lease: Lease) -> None:
        """Make the lease available to the view (``g.vluna_lease``, ``request.vluna_lease``)."""

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> Any:
        """The framework's JSON response."""


@attrs.frozen
class Gate:
    """What a gated view asks for: the feature, the expected usage, further lease arguments, the shortfall rule."""

    feature_code: str
    estimate: Estimate = None
    lease_options: Mapping[str, Any] = attrs.field(factory=dict)
    refuse_shortfall: bool = False

    def lease(self, client: ServiceClient, who: Identity) -> Lease:
        """The (not yet authorized) lease for ``who``."""
        return client.lease(
            feature_code=self.feature_code,
            principal_id=who[0],
            user_id=who[1],
            estimated_quantity_minor=self.estimate() if callable(self.estimate) else self.estimate,
            **self.lease_options,
        )


def _refusal(host: GateHost, exc: BaseException) -> Any:
    answer = refusal_answer(exc)
    if answer is None:  # only reached for the classes in host.answered, which refusal_answer all knows
        raise exc
    return host.answer(*answer)


def run_gated(gate: Gate, host: GateHost, view: Callable[[], Any]) -> Any:
    """Run ``view`` inside an authorized lease: 401 when nobody is signed in, the lease given back unless committed.

    With ``gate.refuse_shortfall``, an authorize that reports a funding shortfall answers 402 (the lease given back,
    the view not run). A refusal in ``host.answered``, from authorize or from the view, is answered as JSON after
    the lease was cancelled; any other error propagates (after the same cancel).
    """
    who = host.identity()
    if who is None:
        return host.answer(401, dict(NO_IDENTITY_BODY), {})
    lease = gate.lease(host.client(), who)
    try:
        with lease:
            short = shortfall_body(lease.hints) if gate.refuse_shortfall else None
            if short is not None:
                return host.answer(402, short, {})  # leaving the block without a commit gives the lease back
            host.attach(lease)
            return view()
    except host.answered as exc:
        return _refusal(host, exc)


def run_streamed(gate: Gate, host: GateHost, view: Callable[[], Any], respond: Callable[[Lease, Any], Any]) -> Any:
    """Authorize, run ``view``, and hand the lease to ``respond(lease, result)``, which wraps it in the body.

    The lease outlives this call: the body (a :class:`~vluna_client.contrib.streaming.LeasedBody`) settles it. A
    view that raises has the lease closed with its error at once. Nobody signed in answers 401; a refusal of the
    authorize in ``host.answered`` is answered as JSON, others propagate.
    """
    who = host.identity()
    if who is None:
        return host.answer(401, dict(NO_IDENTITY_BODY), {})
    lease = gate.lease(host.client(), who)
    try:
        lease.open()
    except host.answered as exc:
        return _refusal(host, exc)
    host.attach(lease)
    try:
        result = view()
    except BaseException as exc:
        lease.close(exc)
        raise
    return respond(lease, result)
