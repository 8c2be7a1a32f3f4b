"""Every request and response model of the API, under one public import path.

::

    from vluna_client.models import AuthorizeResponse, CommitResponse

The models are attrs classes (and open enums) generated from the OpenAPI documents; the package they are generated
into (``vluna_client._generated``) is private and may be laid out differently in any release, so import them from
here. A name that several spec documents define is exported once per document with the document's name as a prefix
(``GateStatus``, ``BillingStatus``, ``OpsStatus``); every other model keeps its own name. Each model's module loads
on first use, so importing this module is cheap. The fields of every model are listed in the API reference
(``docs/api.md``).
"""

from __future__ import annotations

import importlib
from typing import Any

from ._generated.model_index import *  # noqa: F403 - the typed names, for type checkers and IDEs
from ._generated.model_index import _MODELS

__all__ = sorted(_MODELS)


def __getattr__(name: str) -> Any:
    where = _MODELS.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no model {name!r}")
    module, attribute = where
    value = getattr(importlib.import_module(f"._generated.models.{module}", __package__), attribute)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
