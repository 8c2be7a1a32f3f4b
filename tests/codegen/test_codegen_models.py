"""Which component schemas become models: a schema only ever used as a whole request body gets none."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from support import codegen_tools

_spec = codegen_tools.load("spec")
_generate = codegen_tools.load("generate")
_ir = codegen_tools.load("ir")


def _operation(body: str, result: str) -> dict:
    return {
        "x-vluna-area": "things",
        "x-vluna-method": body.lower(),
        "x-vluna-retry": "unsent",
        "requestBody": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}},
        "responses": {
            "200": {
                "description": "ok",
                "content": {
                    "application/json": {
                        "schema": {"type": "object", "properties": {"data": {"$ref": f"#/components/schemas/{result}"}}}
                    }
                },
            }
        },
    }


def test_only_schemas_used_as_nothing_but_a_whole_request_body_are_unmodelled(tmp_path: Path) -> None:
    obj = {"type": "object"}
    doc = {
        "openapi": "3.1.0",
        "paths": {
            "/mgt/v1/things": {"post": _operation("CreateThing", "Thing")},
            # Batch is a body too, but its items are also a body: those keep their model (the keyword's type).
            "/mgt/v1/batch": {"post": _operation("Batch", "Thing")},
            "/mgt/v1/one": {"put": _operation("OneThing", "Thing")},
        },
        "components": {
            "schemas": {
                "CreateThing": {**obj, "properties": {"name": {"type": "string"}}},
                "OneThing": {**obj, "properties": {"name": {"type": "string"}}},
                "Batch": {
                    **obj,
                    "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/OneThing"}}},
                },
                "Thing": {**obj, "properties": {"id": {"type": "string"}}},
                "Unused": {**obj, "properties": {"id": {"type": "string"}}},
            }
        },
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    api = _spec.load_api(tmp_path, {})
    assert api.unmodelled == frozenset({("spec.yaml", "CreateThing"), ("spec.yaml", "Batch")})


MODULE = """from __future__ import annotations

from . import common


class Kind(OpenEnum):
    A = "a"


class Kind1(OpenEnum):
    B = "b"


# The body.
@define(kw_only=True)
class CreateThing:
    kind: Kind1
    item: Item
    code: common.Code


class Kind2(OpenEnum):
    C = "c"


@define(kw_only=True)
class Item:
    kind: Kind2


@define(kw_only=True)
class Thing:
    kind: Kind


@define(kw_only=True)
class Envelope:
    ok: bool
"""


def test_unmodelled_classes_go_with_the_inline_classes_only_they_use_and_the_rest_keeps_its_names(
    tmp_path: Path,
) -> None:
    (tmp_path / "spec.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "common.py").write_text("# A code.\nCode = str\n", encoding="utf-8")
    components: List[Tuple[str, str, Dict[str, Any]]] = [
        ("spec.yaml", name, {}) for name in ("CreateThing", "Item", "Thing", "Envelope")
    ]
    api = _ir.ApiSpec(areas=[], components=[*components, ("common.yaml", "Code", {})])
    api.unmodelled = frozenset({("spec.yaml", "CreateThing")})
    _generate.drop_unmodelled(tmp_path, api)
    text = (tmp_path / "spec.py").read_text(encoding="utf-8")
    # Kind1 was only CreateThing's; Kind2 keeps its number (Item stays), Envelope stays though nothing uses it.
    assert [line for line in text.splitlines() if line.startswith("class ")] == [
        "class Kind(OpenEnum):",
        "class Kind2(OpenEnum):",
        "class Item:",
        "class Thing:",
        "class Envelope:",
    ]
    assert "# The body." not in text
    assert "@define(kw_only=True)\n\n" not in text
    assert (tmp_path / "common.py").read_text(encoding="utf-8") == "# A code.\nCode = str\n"
