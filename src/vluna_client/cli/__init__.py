"""The ``vluna`` command line.

Commands: ``vluna health``, ``vluna token issue``, ``vluna balance``, ``vluna limits``, ``vluna usage ingest FILE``
and ``vluna emulator serve``.

Configuration comes from the ``VLUNA_*`` variables of :meth:`vluna_client.ServiceClient.from_env`. Output is for
people by default and JSON with ``--json``. Exit status: 0 ok, 1 a call or a row failed, 2 usage or configuration
error, 130 interrupted.
"""

from __future__ import annotations

from ._main import main

__all__ = ["main"]
