"""The one cattrs converter: wire-name renames, open enums, tolerant of unknown fields, None left out.

Generated models mark two things in attrs field metadata: ``wire`` (the JSON name when the Python name had to
differ, e.g. ``from``) and ``extras`` (the field that keeps keys a free-form object carries beyond its listed
properties). Everything else is plain cattrs.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import attrs

if TYPE_CHECKING:
    import cattrs

# cattrs is imported on the first unstructure or the first answer the direct path below cannot take, not with the
# package: `import vluna_client` and a first call stay cheap.


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


class _Unsure(Exception):
    """The direct path met a value it does not take as it is; the converter decides (and reports) instead."""


_Reader = Callable[[Any], Any]
_ABSENT = object()  # a key the answer leaves out (JSON never decodes to this object)


def _exactly(kind: type) -> _Reader:
    def read(value: Any) -> Any:
        if type(value) is not kind:
            raise _Unsure  # e.g. 5 for a str field: the converter's str(5), or its error
        return value

    return read


def _passthrough(value: Any) -> Any:
    return value


def _optional(inner: _Reader) -> _Reader:
    def read(value: Any) -> Any:
        return None if value is None else inner(value)

    return read


def _list_of(item: _Reader) -> _Reader:
    def read(value: Any) -> Any:
        if type(value) is not list:
            raise _Unsure
        return [item(v) for v in value]

    return read


def _dict_of(item: _Reader) -> _Reader:
    def read(value: Any) -> Any:
        if type(value) is not dict:
            raise _Unsure
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _Unsure
            out[k] = item(v)
        return out

    return read


def _enum(cls: type[enum.Enum]) -> _Reader:
    def read(value: Any) -> Any:
        if type(value) is not str:
            raise _Unsure
        try:
            return cls(value)
        except ValueError:
            raise _Unsure from None  # a closed enum's unknown value: the converter's error

    return read


def _model(cls: type) -> _Reader:
    attrs.resolve_types(cls)
    extras = _extras_field(cls)
    fields = []
    for f in attrs.fields(cls):
        if f is extras or not f.init:
            continue
        inner = _reader(f.type)
        if inner is None:
            raise TypeError(cls)  # a field type the direct path does not know: this class goes to the converter
        fields.append((f.metadata.get("wire", f.name), f.alias, inner))
    # As the converter's hook below: every listed property but the extras field itself is known.
    known = frozenset(f.metadata.get("wire", f.name) for f in attrs.fields(cls) if f is not extras)

    def read(value: Any) -> Any:
        if type(value) is not dict:
            raise _Unsure
        kwargs = {}
        for wire, alias, inner in fields:
            item = value.get(wire, _ABSENT)
            if item is not _ABSENT:
                kwargs[alias] = inner(item)
        try:
            obj = cls(**kwargs)
        except TypeError:
            raise _Unsure from None  # a required field is missing: the converter's error names it
        if extras is not None:
            setattr(obj, extras.name, {k: v for k, v in value.items() if k not in known})
        return obj

    return read


_SCALARS: dict[Any, _Reader] = {str: _exactly(str), int: _exactly(int), bool: _exactly(bool), float: _exactly(float)}
_READERS: dict[Any, Optional[_Reader]] = {}


def _reader(type_: Any) -> Optional[_Reader]:
    """A direct reader for the JSON shape of ``type_``, or None when only the converter knows the type."""
    try:
        return _READERS[type_]
    except KeyError:
        pass
    except TypeError:
        return None  # an unhashable type form
    reader: Optional[_Reader] = None
    origin = typing.get_origin(type_)
    args = typing.get_args(type_)
    if type_ is Any:
        reader = _passthrough
    elif type_ in _SCALARS:
        reader = _SCALARS[type_]
    elif origin is Union and len(args) == 2 and type(None) in args:
        inner = _reader(next(a for a in args if a is not type(None)))
        reader = None if inner is None else _optional(inner)
    elif origin is list and len(args) == 1:
        inner = _reader(args[0])
        reader = None if inner is None else _list_of(inner)
    elif origin is dict and len(args) == 2 and args[0] is str:
        inner = _reader(args[1])
        reader = None if inner is None else _dict_of(inner)
    elif isinstance(type_, type) and issubclass(type_, enum.Enum):
        reader = _enum(type_)
    elif isinstance(type_, type) and attrs.has(type_):
        _READERS[type_] = _recursive(type_)  # a model may (indirectly) hold itself
        try:
            reader = _model(type_)
        except (TypeError, NameError):
            reader = None
    _READERS[type_] = reader
    return reader


def _recursive(cls: type) -> _Reader:
    def read(value: Any) -> Any:
        found = _READERS.get(cls)
        if found is None or found is read:
            raise _Unsure
        return found(value)

    return read


def structure(data: Any, type_: Any) -> Any:
    """Build typed objects from decoded JSON.

    The JSON an answer decodes to is read directly for the shapes generated models use (exact scalars, optionals,
    lists, string-keyed dicts, enums, models): the same objects the converter builds, without importing cattrs on
    the first call or running its hooks on every call. Anything else, and every value that is not exactly of its
    field's type (the converter coerces those or raises its detailed error), goes to the cattrs converter.
    """
    if type_ is Any:
        return data
    reader = _reader(type_)
    if reader is not None:
        try:
            return reader(data)
        except _Unsure:
            pass
    return converter().structure(data, type_)


def unstructure(value: Any) -> Any:
    """Plain JSON-ready data from models (wire names, None fields dropped, extras merged back)."""
    return converter().unstructure(value)
