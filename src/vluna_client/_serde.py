"""The one cattrs converter: wire-name renames, open enums, tolerant of unknown fields, None left out.

Generated models mark two things in attrs field metadata: ``wire`` (the JSON name when the Python name had to
differ, e.g. ``from``) and ``extras`` (the field that keeps keys a free-form object carries beyond its listed
properties). Everything else is plain cattrs.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import attrs

if TYPE_CHECKING:
    import cattrs

# cattrs is imported on the first (un)structure, not with the package: `import vluna_client` stays cheap.


def _renames(cls: type) -> dict[str, Any]:
    from cattrs.gen import override

    return {f.name: override(rename=f.metadata["wire"]) for f in attrs.fields(cls) if "wire" in f.metadata}


def _extras_field(cls: type) -> Optional[attrs.Attribute]:  # type: ignore[type-arg]
    return next((f for f in attrs.fields(cls) if f.metadata.get("extras")), None)


def _structure_factory(conv: cattrs.Converter) -> Callable[[type], Callable[[Any, type], Any]]:
    from cattrs.gen import make_dict_structure_fn, override

    def factory(cls: type) -> Callable[[Any, type], Any]:
        overrides = _renames(cls)
        extras = _extras_field(cls)
        if extras is None:
            return make_dict_structure_fn(cls, conv, **overrides)
        overrides[extras.name] = override(omit=True)
        base: Callable[[Any, type], Any] = make_dict_structure_fn(cls, conv, **overrides)
        known = {f.metadata.get("wire", f.name) for f in attrs.fields(cls) if f is not extras}

        def structure(data: Mapping[str, Any], _: type) -> Any:
            obj = base(data, cls)
            setattr(obj, extras.name, {k: v for k, v in data.items() if k not in known})
            return obj

        return structure

    return factory


def _unstructure_factory(conv: cattrs.Converter) -> Callable[[type], Callable[[Any], Any]]:
    from cattrs.gen import make_dict_unstructure_fn, override

    def factory(cls: type) -> Callable[[Any], Any]:
        overrides = _renames(cls)
        extras = _extras_field(cls)
        if extras is None:
            # Optional fields default to None, meaning "absent on the wire": they are left out, never sent as null.
            return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)
        overrides[extras.name] = override(omit=True)
        base: Callable[[Any], Any] = make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **overrides)

        def unstructure(obj: Any) -> Any:
            out = base(obj)
            for key, value in getattr(obj, extras.name).items():
                out.setdefault(key, value)
            return out

        return unstructure

    return factory


@cache
def converter() -> cattrs.Converter:
    """The shared converter, built on first use."""
    import cattrs
    from cattrs.strategies import configure_union_passthrough

    # Unknown keys are ignored (the default): the server may add fields at any time.
    conv = cattrs.Converter()
    # Unions of JSON scalars (e.g. a value that is a string or a number) pass through as they are.
    configure_union_passthrough(Union[str, int, float, bool, None], conv)
    conv.register_structure_hook_factory(attrs.has, _structure_factory(conv))
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_factory(conv))
    return conv


def structure(data: Any, type_: Any) -> Any:
    """Build typed objects from decoded JSON."""
    if type_ is Any:
        return data
    return converter().structure(data, type_)


def unstructure(value: Any) -> Any:
    """Plain JSON-ready data from models (wire names, None fields dropped, extras merged back)."""
    return converter().unstructure(value)
