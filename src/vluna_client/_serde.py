"""The one cattrs converter: wire-name renames, open enums, tolerant of unknown fields, None left out."""

from __future__ import annotations

from typing import Any, Union

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_union_passthrough


def _renames(cls: type) -> dict[str, Any]:
    return {f.name: override(rename=f.metadata["wire"]) for f in attrs.fields(cls) if "wire" in f.metadata}


def _build() -> cattrs.Converter:
    # Unknown keys are ignored (the default): the server may add fields at any time.
    conv = cattrs.Converter()
    # Unions of JSON scalars (e.g. a value that is a string or a number) pass through as they are.
    configure_union_passthrough(Union[str, int, float, bool, None], conv)
    conv.register_structure_hook_factory(attrs.has, lambda cls: make_dict_structure_fn(cls, conv, **_renames(cls)))
    # Optional fields default to None, meaning "absent on the wire": they are left out, never sent as null.
    conv.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **_renames(cls)),
    )
    return conv


converter = _build()


def structure(data: Any, type_: Any) -> Any:
    """Build typed objects from decoded JSON."""
    if type_ is Any:
        return data
    return converter.structure(data, type_)


def unstructure(value: Any) -> Any:
    """Plain JSON-ready data from models (wire names, None fields dropped)."""
    return converter.unstructure(value)
