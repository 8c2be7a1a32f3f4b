"""Sending a client to another process (multiprocessing, Dask, Spark): what goes with it and what is rebuilt there.

A client pickles as its configuration. Connection pools, locks and threads belong to one process and are rebuilt
lazily by the copy. Something the caller plugged in (a ``requests.Session``, a custom transport) travels only if it
pickles itself; when it cannot, the client refuses with a :class:`TypeError` that says what to do instead, rather
than the pickler's message about some lock or socket deep inside it.
"""

from __future__ import annotations

import sys
from typing import Any

# pickle is imported when something is sent or received, not with the client (whose first import this module is
# part of).


def _dumpers() -> list[Any]:
    """The picklers to try: the standard one, then each cloudpickle this process already loaded.

    Dask pickles with the cloudpickle package and Spark with its own copy of it; either may manage what the
    standard pickler cannot (a class defined in a notebook).
    """
    import pickle

    dumpers: list[Any] = [pickle.dumps]
    for name in ("cloudpickle", "pyspark.cloudpickle"):
        module = sys.modules.get(name)
        if module is not None and callable(getattr(module, "dumps", None)):
            dumpers.append(module.dumps)
    return dumpers


def packed(value: Any, *, what: str) -> bytes:
    """``value`` pickled now, so that a part that cannot travel is named clearly before anything is sent.

    Raises:
        TypeError: ``value`` cannot be pickled; the message says how to build the client on the other side.
    """
    problem: BaseException = TypeError("not picklable")
    for dumps in _dumpers():
        try:
            data: bytes = dumps(value)
            return data
        except Exception as exc:  # noqa: BLE001 - every pickling failure means the same thing here
            problem = exc
    raise TypeError(
        f"this vluna_client client cannot be pickled: the {what} it was built with ({type(value).__name__}) "
        f"cannot be sent to another process ({type(problem).__name__}: {problem}). Build the client in the "
        f"worker instead (e.g. call ServiceClient.from_env({what}=...) inside the task, or cache one per process), "
        f"or build it without {what}=: the built-in transport travels and opens its own connections there"
    ) from None


def unpacked(data: bytes) -> Any:
    """The value :func:`packed` pickled (bytes this package made itself, in the process that sent them)."""
    import pickle

    return pickle.loads(data)  # noqa: S301 - produced by packed() for this very object
