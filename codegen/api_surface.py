"""Snapshot the public Python surface of vluna_client, and classify the changes between two snapshots.

The snapshot is taken by importing the package and introspecting it (``inspect.signature``, ``attrs.fields``,
enum members), so it shows what a user really gets, whatever the generator does internally:

* ``clients``: every API area of ``ServiceClient`` / ``BearerClient`` and every public method of it, with each
  parameter's name, kind, annotation text, default and whether it is required, and the return annotation;
* ``models``: every generated model class (fields with type, default, required), enum (members) and type alias;
* ``public``: the hand-written names of ``vluna_client.__all__``: functions' signatures, classes' constructor,
  public methods, properties and attributes.

Commands::

    PYTHONPATH=DIR python -m codegen.api_surface dump --src DIR [--out FILE]   # snapshot DIR's vluna_client
    python -m codegen.api_surface diff BEFORE AFTER   # one line per change; exit 1 if there is any

Every change is classified ``breaking:`` (code written against BEFORE may fail with AFTER) or ``additive:``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

FORMAT = 1
# Dunder methods that are part of how a class is used (context managers, iteration), not plumbing.
PUBLIC_DUNDERS = ("__call__", "__enter__", "__exit__", "__iter__", "__getitem__", "__len__", "__contains__")
_MODELS_PKG = "vluna_client._generated.models"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dump = sub.add_parser("dump", help="snapshot the package found in --src")
    dump.add_argument(
        "--src", type=Path, required=True, help="the directory that holds vluna_client/ (also on PYTHONPATH)"
    )
    dump.add_argument("--out", type=Path, help="write here instead of stdout")
    diff = sub.add_parser("diff", help="classify the changes from BEFORE to AFTER; exit 1 if any")
    diff.add_argument("before", type=Path)
    diff.add_argument("after", type=Path)
    args = parser.parse_args(argv)

    if args.command == "dump":
        import vluna_client  # from PYTHONPATH; the check below makes sure it is the copy under --src

        where = Path(vluna_client.__file__).resolve()
        if args.src.resolve() not in where.parents:
            raise SystemExit(f"api_surface: imported {where}, not the package under {args.src}")
        text = dumps(snapshot())
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0

    before = json.loads(args.before.read_text(encoding="utf-8"))
    after = json.loads(args.after.read_text(encoding="utf-8"))
    changes = classify(before, after)
    for change in changes:
        print(change)
    if before != after and not changes:
        print(f"breaking: snapshot format changed ({before.get('format')} -> {after.get('format')})")
        return 1
    return 1 if changes else 0


# ------------------------------------------------------------------------------------------------ snapshot


def _annotation(value: Any) -> Optional[str]:
    """Annotation text: the source text under postponed annotations, a readable form otherwise."""
    if value is inspect.Parameter.empty or value is inspect.Signature.empty:
        return None
    if isinstance(value, str):
        return value
    return _type_text(value)


def _type_text(obj: Any) -> str:
    """Readable, version-independent text for a runtime type object (used for type aliases)."""
    if obj is type(None) or obj is None:
        return "None"
    origin = typing.get_origin(obj)
    if origin is typing.Union:
        return "Union[" + ", ".join(_type_text(a) for a in typing.get_args(obj)) + "]"
    if origin is not None:
        args = typing.get_args(obj)
        name = getattr(origin, "__name__", None) or str(origin).replace("typing.", "")
        return f"{name}[{', '.join(_type_text(a) for a in args)}]" if args else name
    if obj is Any:
        return "Any"
    if isinstance(obj, type):
        module = obj.__module__
        if module == "builtins":
            return obj.__qualname__
        if module.startswith(_MODELS_PKG + "."):
            return f"{module[len(_MODELS_PKG) + 1 :]}.{obj.__qualname__}"
        return f"{module}.{obj.__qualname__}"
    return str(obj).replace("typing.", "")


def _default(value: Any) -> Any:
    """A JSON-able, deterministic form of a default value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    text = repr(value)
    # Object reprs with an address change on every run.
    return f"<{type(value).__name__}>" if " at 0x" in text else text


def signature(func: Callable[..., Any]) -> dict[str, Any]:
    """Parameters (name, kind, annotation, default, required) and return annotation of a callable."""
    sig = inspect.signature(func)
    params = []
    for p in sig.parameters.values():
        required = p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        params.append(
            {
                "name": p.name,
                "kind": p.kind.name,
                "annotation": _annotation(p.annotation),
                "default": None if p.default is inspect.Parameter.empty else _default(p.default),
                "required": required,
            }
        )
    return {"params": params, "returns": _annotation(sig.return_annotation)}


def _own(cls: type, prefix: str = "vluna_client") -> list[type]:
    """The classes of ``cls``'s MRO defined in this package (never builtins or third-party bases)."""
    return [c for c in cls.__mro__ if c.__module__.startswith(prefix)]


def _members(cls: type, skip: Callable[[type], bool] = lambda c: False) -> dict[str, Any]:
    """Public methods, properties and annotated attributes a class offers, nearest definition first."""
    out: dict[str, Any] = {}
    for owner in _own(cls):
        if skip(owner):
            continue
        for name, raw in vars(owner).items():
            if name in out or (name.startswith("_") and name not in PUBLIC_DUNDERS):
                continue
            if isinstance(raw, (staticmethod, classmethod)):
                out[name] = {"kind": "method", **signature(raw.__func__)}
            elif isinstance(raw, property) and raw.fget is not None:
                out[name] = {"kind": "property", "type": _annotation(inspect.signature(raw.fget).return_annotation)}
            elif hasattr(raw, "func") and type(raw).__name__ == "cached_property":
                out[name] = {"kind": "property", "type": _annotation(inspect.signature(raw.func).return_annotation)}
            elif inspect.isfunction(raw):
                out[name] = {"kind": "method", **signature(raw)}
        for name, ann in vars(owner).get("__annotations__", {}).items():
            if not name.startswith("_") and name not in out:
                out[name] = {"kind": "attribute", "type": _annotation(ann)}
    return out


def _fields(cls: type) -> dict[str, Any]:
    import attrs

    # The annotations as written: attrs field types may have been resolved in place once a model was used.
    written: dict[str, Any] = {}
    for owner in reversed(cls.__mro__):
        written.update(vars(owner).get("__annotations__", {}))
    out = {}
    for f in attrs.fields(cls):
        if f.default is attrs.NOTHING:
            default, required = None, True
        elif isinstance(f.default, attrs.Factory):  # type: ignore[arg-type]
            default, required = f"factory({getattr(f.default.factory, '__name__', '?')})", False
        else:
            default, required = _default(f.default), False
        out[f.name] = {"type": _annotation(written.get(f.name, f.type)), "default": default, "required": required}
    return out


class _Host:
    """Stands in for a client when an area accessor is called: areas only keep a reference to their host."""


def _areas(client_cls: type) -> dict[str, Any]:
    from vluna_client._area import AreaApi

    out: dict[str, Any] = {}
    for owner in _own(client_cls):
        for name, raw in vars(owner).items():
            if name.startswith("_") or name in out or type(raw).__name__ != "cached_property":
                continue
            area = raw.func(_Host())
            if not isinstance(area, AreaApi):
                continue
            methods = _members(type(area), skip=lambda c: c is AreaApi)
            out[name] = {n: {k: v for k, v in m.items() if k != "kind"} for n, m in methods.items()}
    return out


def _model_modules() -> list[Any]:
    pkg = importlib.import_module(_MODELS_PKG)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__))
    return [importlib.import_module(f"{_MODELS_PKG}.{n}") for n in names]


def _models() -> dict[str, Any]:
    import enum

    import attrs

    out: dict[str, Any] = {}
    for module in _model_modules():
        short = module.__name__.rsplit(".", 1)[1]
        for name, obj in sorted(vars(module).items()):
            if name.startswith("_") or inspect.ismodule(obj) or inspect.isfunction(obj):
                continue
            key = f"{short}.{name}"
            if isinstance(obj, type) and obj.__name__ == name and obj.__module__ == module.__name__:
                if issubclass(obj, enum.Enum):
                    out[key] = {"kind": "enum", "members": {m.name: m.value for m in obj.__members__.values()}}
                elif attrs.has(obj):
                    out[key] = {"kind": "class", "fields": _fields(obj)}
                continue
            if isinstance(obj, type) and obj.__name__ == name:
                continue  # a class imported from elsewhere (OpenEnum)
            if getattr(typing, name, None) is obj or type(obj).__name__ == "_Feature":
                continue  # typing names and `from __future__ import annotations`
            out[key] = {"kind": "alias", "type": _type_text(obj)}
    return out


def _public() -> dict[str, Any]:
    import attrs

    import vluna_client

    out: dict[str, Any] = {}
    for name in sorted(vluna_client.__all__):
        obj = getattr(vluna_client, name)
        if inspect.isclass(obj):
            entry: dict[str, Any] = {"kind": "class", "bases": [b.__name__ for b in obj.__bases__]}
            init_owner = next((c for c in _own(obj) if "__init__" in vars(c)), None)
            if init_owner is not None:
                entry["init"] = signature(obj)
            members = _members(obj, skip=lambda c: c.__module__.startswith("vluna_client._generated"))
            if attrs.has(obj):
                entry["fields"] = _fields(obj)
                members = {k: v for k, v in members.items() if k not in entry["fields"]}
            entry["members"] = members
            out[name] = entry
        elif typing.get_origin(obj) is typing.Literal:
            # A type alias of allowed values (LeaseState): its values are its surface.
            out[name] = {"kind": "type alias", "type": f"Literal[{', '.join(map(repr, typing.get_args(obj)))}]"}
        elif callable(obj):
            out[name] = {"kind": "function", **signature(obj)}
        else:
            out[name] = {"kind": "constant", "type": type(obj).__name__}
    return out


def snapshot() -> dict[str, Any]:
    """The surface of the vluna_client found on ``sys.path``."""
    import vluna_client

    return {
        "format": FORMAT,
        "clients": {name: _areas(getattr(vluna_client, name)) for name in ("BearerClient", "ServiceClient")},
        "models": _models(),
        "public": _public(),
    }


def dumps(surface: dict[str, Any]) -> str:
    """The committed text form: sorted keys, and one line per parameter, field or enum, so diffs read well."""
    return _dump(surface, "") + "\n"


def _dump(value: Any, indent: str) -> str:
    flat = json.dumps(value, sort_keys=True, ensure_ascii=False)
    leaf = isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values())
    if not isinstance(value, (dict, list)) or leaf or not value:
        return flat
    inner = indent + " "
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _dump(v, inner) for v in value) + "\n" + indent + "]"
    items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {_dump(value[k], inner)}" for k in sorted(value)]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


# ------------------------------------------------------------------------------------------------ classify


@dataclass(frozen=True)
class Change:
    """One difference between two snapshots."""

    breaking: bool
    where: str
    what: str

    def __str__(self) -> str:
        return f"{'breaking' if self.breaking else 'additive'}: {self.where}: {self.what}"


@dataclass(frozen=True)
class _Type:
    """A parsed annotation: a name with arguments, or a union of members (``Optional`` is a union with None)."""

    name: str
    args: tuple[_Type, ...] = ()

    @property
    def members(self) -> tuple[_Type, ...]:
        return self.args if self.name == "Union" else (self,)


def _split(text: str, sep: str = ",") -> list[str]:
    """Split at top-level separators (outside brackets)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def parse_type(text: str) -> _Type:
    """Parse annotation text such as ``Optional[Union[int, str]]`` or ``str | None`` into a normal form."""
    text = text.strip().replace("typing.", "")
    pipes = _split(text, "|")
    if len(pipes) > 1:
        return _union([parse_type(p) for p in pipes])
    m = re.fullmatch(r"([\w.]+)\[(.*)\]", text, flags=re.S)
    if not m:
        return _Type("None" if text in ("None", "NoneType") else text)
    name, inner = m.group(1), m.group(2)
    args = [parse_type(a) for a in _split(inner)]
    if name == "Optional":
        return _union([*args, _Type("None")])
    if name == "Union":
        return _union(args)
    return _Type(name, tuple(args))


def _union(items: list[_Type]) -> _Type:
    members: list[_Type] = []
    for item in items:
        for m in item.members:
            if m not in members:
                members.append(m)
    if len(members) == 1:
        return members[0]
    return _Type("Union", tuple(sorted(members, key=repr)))


def _covers(wide: _Type, narrow: _Type) -> bool:
    """Whether every value of ``narrow`` is also a value of ``wide`` (argument by argument)."""
    if wide.name == "Any":
        return True
    if narrow.name == "Union":
        return all(_covers(wide, m) for m in narrow.members)
    if wide.name == "Union":
        return any(_covers(m, narrow) for m in wide.members)
    return (
        wide.name == narrow.name
        and len(wide.args) == len(narrow.args)
        and all(_covers(w, n) for w, n in zip(wide.args, narrow.args))
    )


def _type_change(where: str, what: str, before: Optional[str], after: Optional[str], *, is_input: bool) -> list[Change]:
    """Inputs may widen (callers' values still fit); outputs may narrow (callers' handling still fits)."""
    if before == after:
        return []
    text = f"{what} type {before} -> {after}"
    if before is None or after is None:
        return [Change(True, where, f"{text} (changed)")]
    old, new = parse_type(before), parse_type(after)
    if old == new:
        return []
    if _covers(new, old):
        return [Change(not is_input, where, f"{text} (widened)")]
    if _covers(old, new):
        return [Change(is_input, where, f"{text} (narrowed)")]
    return [Change(True, where, f"{text} (changed)")]


def _pair_renames(
    removed: list[str], added: list[str], before: dict[str, Any], after: dict[str, Any], shape: Callable[[Any], Any]
) -> list[tuple[str, str]]:
    """Removed and added names with the same shape, paired when the match is unambiguous: a rename."""
    pairs = []
    for old in removed:
        candidates = [new for new in added if shape(after[new]) == shape(before[old])]
        rivals = [o for o in removed if shape(before[o]) == shape(before[old])]
        if len(candidates) == 1 and len(rivals) == 1:
            pairs.append((old, candidates[0]))
    return pairs


def _compare_named(
    where: str,
    noun: str,
    before: dict[str, Any],
    after: dict[str, Any],
    shape: Callable[[Any], Any],
    compare: Callable[[str, str, Any, Any], list[Change]],
) -> list[Change]:
    """Removed (breaking), renamed (breaking), added (breaking if required) and changed entries of a mapping."""
    changes: list[Change] = []
    removed = [n for n in before if n not in after]
    added = [n for n in after if n not in before]
    for old, new in _pair_renames(removed, added, before, after, shape):
        changes.append(Change(True, where, f"{noun} {old} renamed to {new}"))
        removed.remove(old)
        added.remove(new)
    changes += [Change(True, where, f"{noun} {n} removed") for n in removed]
    for n in added:
        required = bool(after[n].get("required")) if isinstance(after[n], dict) else False
        changes.append(Change(required, where, f"new {'required' if required else 'optional'} {noun} {n}"))
    for n in before:
        if n in after:
            changes += compare(where, n, before[n], after[n])
    return changes


def _compare_value(where: str, noun: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Required-ness, default and type of a parameter or field (an input)."""
    changes = []
    if not old["required"] and new["required"]:
        changes.append(Change(True, where, f"{noun} {name} is now required"))
    elif old["required"] and not new["required"]:
        changes.append(Change(False, where, f"{noun} {name} is now optional"))
    elif not new["required"] and old.get("default") != new.get("default"):
        changes.append(Change(True, where, f"{noun} {name} default {old.get('default')} -> {new.get('default')}"))
    key = "annotation" if "annotation" in old else "type"
    changes += _type_change(where, f"{noun} {name}", old.get(key), new.get(key), is_input=True)
    return changes


_KIND_ORDER = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD", "VAR_POSITIONAL", "KEYWORD_ONLY", "VAR_KEYWORD")


def compare_signature(where: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Parameters (inputs) and the return annotation (an output) of one callable."""
    before = {p["name"]: p for p in old["params"]}
    after = {p["name"]: p for p in new["params"]}

    def compare(where: str, name: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
        changes = []
        if a["kind"] != b["kind"]:
            widened = a["kind"] == "KEYWORD_ONLY" and b["kind"] == "POSITIONAL_OR_KEYWORD"
            text = f"parameter {name} kind {a['kind'].lower()} -> {b['kind'].lower()}"
            changes.append(Change(not widened, where, text))
        return changes + _compare_value(where, "parameter", name, a, b)

    changes = _compare_named(
        where, "parameter", before, after, lambda p: (p["kind"], p["annotation"], p["default"], p["required"]), compare
    )
    positional = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")
    old_pos = [p["name"] for p in old["params"] if p["kind"] in positional and p["name"] in after]
    new_pos = [p["name"] for p in new["params"] if p["kind"] in positional and p["name"] in before]
    if old_pos != new_pos and sorted(old_pos) == sorted(new_pos):
        changes.append(Change(True, where, f"positional order {', '.join(old_pos)} -> {', '.join(new_pos)}"))
    changes += _type_change(where, "return", old.get("returns"), new.get("returns"), is_input=False)
    return changes


def _compare_members(where: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Methods, properties and attributes of a class or an API area."""

    def compare(where: str, name: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
        at = f"{where}.{name}"
        if a.get("kind") != b.get("kind"):
            return [Change(True, at, f"{a.get('kind')} became a {b.get('kind')}")]
        if "params" in a:
            return compare_signature(at, a, b)
        return _type_change(at, a.get("kind", "member"), a.get("type"), b.get("type"), is_input=False)

    changes = []
    for n in [n for n in before if n not in after]:
        changes.append(Change(True, f"{where}.{n}", f"{before[n].get('kind', 'method')} removed"))
    for n in [n for n in after if n not in before]:
        changes.append(Change(False, f"{where}.{n}", f"new {after[n].get('kind', 'method')}"))
    for n in before:
        if n in after:
            changes += compare(where, n, before[n], after[n])
    return changes


def _compare_fields(where: str, before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    return _compare_named(
        where,
        "field",
        before,
        after,
        lambda f: (f["type"], f["default"], f["required"]),
        lambda w, n, a, b: _compare_value(w, "field", n, a, b),
    )


def _compare_model(where: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    if a["kind"] != b["kind"]:
        return [Change(True, where, f"{a['kind']} became a {b['kind']}")]
    if a["kind"] == "class":
        return _compare_fields(where, a["fields"], b["fields"])
    if a["kind"] == "enum":
        old, new = a["members"], b["members"]
        changes = [Change(True, where, f"enum member {m} removed") for m in old if m not in new]
        changes += [Change(False, where, f"new enum member {m}") for m in new if m not in old]
        changes += [
            Change(True, where, f"enum member {m} value {old[m]!r} -> {new[m]!r}")
            for m in old
            if m in new and old[m] != new[m]
        ]
        return changes
    return _type_change(where, "alias", a["type"], b["type"], is_input=True)


def _compare_public(name: str, a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    where = f"vluna_client.{name}"
    if a["kind"] != b["kind"]:
        return [Change(True, where, f"{a['kind']} became a {b['kind']}")]
    if a["kind"] == "function":
        return compare_signature(where, a, b)
    if a["kind"] == "constant":
        return [] if a["type"] == b["type"] else [Change(True, where, f"constant type {a['type']} -> {b['type']}")]
    if a["kind"] == "type alias":
        # Either way breaks someone: fewer values refuse callers' input, more surprise code that checks each one.
        return [] if a["type"] == b["type"] else [Change(True, where, f"type alias {a['type']} -> {b['type']}")]
    changes = []
    removed_bases = [x for x in a.get("bases", []) if x not in b.get("bases", [])]
    changes += [Change(True, where, f"no longer derives from {x}") for x in removed_bases]
    if "init" in a or "init" in b:
        if "init" in a and "init" in b:
            changes += compare_signature(f"{where}()", a["init"], b["init"])
        else:
            changes.append(Change(True, f"{where}()", "constructor signature changed"))
    changes += _compare_fields(where, a.get("fields", {}), b.get("fields", {}))
    changes += _compare_members(where, a.get("members", {}), b.get("members", {}))
    return changes


def classify(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    """Every change from ``before`` to ``after``, breaking ones first, each group sorted by place."""
    changes: list[Change] = []
    for client in sorted(set(before.get("clients", {})) | set(after.get("clients", {}))):
        old, new = before.get("clients", {}).get(client, {}), after.get("clients", {}).get(client, {})
        for area in sorted(set(old) | set(new)):
            where = f"{client}.{area}"
            if area not in new:
                changes.append(Change(True, where, "area removed"))
            elif area not in old:
                changes.append(Change(False, where, "new area"))
            else:
                changes += _compare_members(where, old[area], new[area])
    old_models, new_models = before.get("models", {}), after.get("models", {})
    for key in sorted(set(old_models) | set(new_models)):
        where = f"models.{key}"
        if key not in new_models:
            changes.append(Change(True, where, f"{old_models[key]['kind']} removed"))
        elif key not in old_models:
            changes.append(Change(False, where, f"new {new_models[key]['kind']}"))
        else:
            changes += _compare_model(where, old_models[key], new_models[key])
    old_public, new_public = before.get("public", {}), after.get("public", {})
    for name in sorted(set(old_public) | set(new_public)):
        if name not in new_public:
            changes.append(Change(True, f"vluna_client.{name}", "removed from __all__"))
        elif name not in old_public:
            changes.append(Change(False, f"vluna_client.{name}", "new public name"))
        else:
            changes += _compare_public(name, old_public[name], new_public[name])
    return sorted(changes, key=lambda c: (not c.breaking, c.where, c.what))


# --------------------------------------------------------------------------------------------------- main


if __name__ == "__main__":
    raise SystemExit(main())
