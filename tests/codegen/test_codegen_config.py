"""codegen/config.py: the mixins of an area are codegen's configuration, never a spec document's."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from support import codegen_tools

_spec = codegen_tools.load("spec")
_config = codegen_tools.load("config")
_ir = codegen_tools.load("ir")
MixinSpec, SpecError = _ir.MixinSpec, _spec.SpecError

DOC = {
    "openapi": "3.1.0",
    "paths": {
        "/mgt/v1/things": {
            "get": {
                "x-vluna-area": "things",
                "x-vluna-method": "list",
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def _specs(tmp_path: Path, **extra: object) -> Path:
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump({**DOC, **extra}), encoding="utf-8")
    return tmp_path


def test_a_configured_mixin_is_a_base_of_its_area_only(tmp_path: Path) -> None:
    mixin = MixinSpec("vluna_client._bulk", "GateBulkMixin")
    api = _spec.load_api(_specs(tmp_path), {("service", "things"): (mixin,)})
    assert [(area.module, area.mixins) for area in api.areas] == [("service_things", (mixin,))]
    assert _spec.load_api(tmp_path, {}).areas[0].mixins == ()


def test_a_mixin_for_an_area_with_no_operation_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"AREA_MIXINS names bearer\.things"):
        _spec.load_api(_specs(tmp_path), {("bearer", "things"): (MixinSpec("vluna_client._bulk", "X"),)})


def test_a_document_naming_mixins_is_refused(tmp_path: Path) -> None:
    specs = _specs(tmp_path, **{"x-vluna-area-mixins": {"things": "vluna_client._bulk:GateBulkMixin"}})
    with pytest.raises(SpecError, match=r"replaced by AREA_MIXINS in codegen/config\.py"):
        _spec.load_api(specs, {})


def test_every_configured_mixin_is_a_slotless_class_of_the_package() -> None:
    assert _config.AREA_MIXINS, "the gate area's bulk mixin is configured"
    for mixins in _config.AREA_MIXINS.values():
        for mixin in mixins:
            assert mixin.module.startswith("vluna_client.")
            cls = getattr(importlib.import_module(mixin.module), mixin.name)
            # A generated area class has __slots__; a base with a __dict__ would give every area instance one.
            assert cls.__dict__.get("__slots__") == ()


def test_the_service_gate_area_inherits_the_bulk_mixin() -> None:
    from vluna_client._bulk import GateBulkMixin
    from vluna_client._generated.endpoints.service_gate import ServiceGateApi

    assert ServiceGateApi.__mro__[1] is GateBulkMixin
