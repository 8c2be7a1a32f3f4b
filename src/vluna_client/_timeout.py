"""Timeouts as configuration: the :class:`Timeout` type, its bounds and how callers' values are read.

A leaf (it depends on the error types only), so the retry policy, call arguments, leases and framework glue can
name a timeout without importing the transport.
"""

from __future__ import annotations

from typing import Union

import attrs

from ._attrs_methods import shared_methods
from ._errors import ConfigurationError

#: The longest connect or read timeout the client accepts, in seconds. A longer wait would hold a worker for more
#: than ten minutes on one answer; an infinite or huge one used to crash deep inside the socket layer after a write
#: had already been sent.
MAX_TIMEOUT = 600.0

_MAX_SECONDS_TEXT = 64


def _seconds(value: object, name: str) -> float:
    """``value`` as a finite number of seconds in ``(0, MAX_TIMEOUT]``, or a :class:`ConfigurationError` naming it."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) > _MAX_SECONDS_TEXT:
                raise ValueError
            value = float(text)
        except ValueError:
            raise ConfigurationError(f"{name} must be a number of seconds, got a string that is not one") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, got {type(value).__name__}")
    # Comparing before converting: a 5,000-digit int compares fine but cannot become a float.
    if not value > 0 or not value <= MAX_TIMEOUT:  # also refuses NaN
        shown = repr(value) if isinstance(value, float) or value.bit_length() < 64 else "a huge integer"
        raise ConfigurationError(f"{name} must be more than 0 and at most {MAX_TIMEOUT:g} seconds, got {shown}")
    return float(value)


@shared_methods(frozen=True)
@attrs.frozen(repr=False, eq=False)
class Timeout:
    """Connect and read timeouts in seconds; each finite, more than 0 and at most :data:`MAX_TIMEOUT` (600).

    ``connect`` bounds opening a connection. ``read`` bounds the rest of the attempt as a whole: from the moment
    the request starts to go out until the last byte of the answer arrived, however slowly the server dribbles
    its status line, headers or body (the default transport shuts the connection when it passes). So one attempt
    takes at most ``connect + read``; a retry gets its own, and ``RetryPolicy.max_elapsed`` bounds the whole call.

    A bad value raises :class:`ConfigurationError` when the timeout is built, before anything is sent.
    """

    connect: float = attrs.field(default=5.0)
    read: float = attrs.field(default=30.0)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "connect", _seconds(self.connect, "timeout connect"))
        object.__setattr__(self, "read", _seconds(self.read, "timeout read"))

    def as_tuple(self) -> tuple[float, float]:
        """The ``(connect, read)`` pair requests expects."""
        return (self.connect, self.read)


#: A timeout as callers may give it: seconds for both phases, a ``(connect, read)`` pair, or a Timeout.
TimeoutTypes = Union[None, float, tuple[float, float], Timeout]

DEFAULT_TIMEOUT = Timeout()


def parse_timeout(value: object, *, name: str = "timeout") -> Timeout:
    """Validate a timeout from code, settings or a command line; the one rule every entry point applies.

    Accepts seconds (an ``int``, ``float`` or numeric string, used for both phases), a ``(connect, read)`` pair of
    those, or a :class:`Timeout`. Every number must be finite, more than 0 and at most :data:`MAX_TIMEOUT`.

    Args:
        value: What was given.
        name: How the value is named in the error (``"TIMEOUT"``, ``"--timeout"``...).

    Raises:
        ConfigurationError: the value is none of the above; the message names ``name``, never a secret.
    """
    if isinstance(value, Timeout):
        return value
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ConfigurationError(f"{name} must be seconds or a (connect, read) pair")
        return Timeout(connect=_seconds(value[0], f"{name} connect"), read=_seconds(value[1], f"{name} read"))
    seconds = _seconds(value, name)
    return Timeout(connect=seconds, read=seconds)


def coerce_timeout(value: TimeoutTypes, default: Timeout) -> Timeout:
    """Resolve a per-call or per-client timeout; ``None`` means the default, never "wait forever"."""
    if value is None:
        return default
    if isinstance(value, Timeout):
        return value
    if isinstance(value, str):  # code passes numbers; strings come from settings, which call parse_timeout
        raise ConfigurationError("timeout must be seconds, a (connect, read) pair or a Timeout, got str")
    return parse_timeout(value)
