"""How the Python client is put together around the API: what codegen takes from this repository, not the specs.

The OpenAPI documents describe the HTTP API and nothing else; a choice about the Python code built from them (which
hand-written class a generated area inherits) is made here, in typed code the reader applies
(:func:`codegen.spec.load_api`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from .ir import AreaKey, MixinSpec

__all__ = ["AREA_MIXINS"]

# Hand-written base classes of a generated area class, placed before ``AreaApi`` in its bases. A mixin holds helpers
# built on the area's generated methods, lives in its own module (generated and hand-written code never share a
# file), defines ``__slots__ = ()`` and only uses the area's public methods and its documented ``host``.
AREA_MIXINS: Mapping[AreaKey, tuple[MixinSpec, ...]] = MappingProxyType(
    {
        # client.gate.ingest_many: bulk usage ingest over gate.ingest.
        ("service", "gate"): (MixinSpec("vluna_client._bulk", "GateBulkMixin"),),
    }
)
