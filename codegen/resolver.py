"""Reading ``openapi/*.yaml``: the documents, relative ``$ref`` pointers across them, and names."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT / "openapi"


class SpecError(Exception):
    """The spec asks for something the generator will not guess about."""


class Resolver:
    """Follows relative ``$ref`` pointers across the spec files."""

    def __init__(self, spec_dir: Path = SPEC_DIR) -> None:
        self.spec_dir = spec_dir
        self.cache: dict[str, dict[str, Any]] = {}

    def doc(self, name: str) -> dict[str, Any]:
        if name not in self.cache:
            with open(self.spec_dir / name, encoding="utf-8") as fh:
                self.cache[name] = yaml.safe_load(fh)
        return self.cache[name]

    def ref(self, pointer: str, current: str) -> Ref:
        target, _, frag = pointer.partition("#")
        file = target or current
        node: Any = self.doc(file)
        parts = tuple(unescape(p) for p in frag.split("/") if p)
        for part in parts:
            if not isinstance(node, dict) or part not in node:
                raise SpecError(f"{current}: $ref {pointer!r} points at nothing")
            node = node[part]
        return Ref(file=file, name=parts[-1] if parts else file, schema=node, pointer=parts)

    def deref(self, node: dict[str, Any], current: str) -> tuple[dict[str, Any], str]:
        """Follow ``$ref`` chains to the concrete node, returning it and the file it lives in."""
        while "$ref" in node:
            r = self.ref(node["$ref"], current)
            node, current = r.schema, r.file
        return node, current


def model_module(spec_file: str) -> str:
    """The Python module datamodel-code-generator writes for a spec file (``billing-mgt.yaml`` → ``billing_mgt``)."""
    return re.sub(r"[^0-9a-zA-Z_]", "_", spec_file.rsplit(".", 1)[0])


def snake(name: str) -> str:
    """A safe Python identifier for a wire name."""
    out = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    out = re.sub(r"[^0-9a-zA-Z_]", "_", out).lower().strip("_")
    if keyword.iskeyword(out) or out in {"type", "id", "filter", "format", "input"}:
        out += "_"
    return out


def types_of(schema: dict[str, Any]) -> list[str]:
    """The JSON types a schema names (``type`` may be a string or a list)."""
    t = schema.get("type")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


def unescape(segment: str) -> str:
    """One JSON-pointer segment: ``~1`` is ``/`` and ``~0`` is ``~`` (in that order, RFC 6901)."""
    return segment.replace("~1", "/").replace("~0", "~")


@dataclass
class Ref:
    """A resolved ``$ref``: the file and schema name it points at, and the schema itself."""

    file: str
    name: str
    schema: dict[str, Any]
    pointer: tuple[str, ...] = ()

    @property
    def is_component_schema(self) -> bool:
        """Whether it names an entry of ``components/schemas`` (which becomes a model and a schema constant)."""
        return len(self.pointer) == 3 and self.pointer[:2] == ("components", "schemas")
