"""The direct structuring path builds exactly what the cattrs converter builds, for every generated model.

``_serde.structure`` reads well-typed JSON itself and hands everything else to the converter; these tests compare
it with the converter alone on valid answers, on values of the wrong JSON type and on missing fields.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import typing
from typing import Any, Union

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vluna_client._generated.models as generated
from vluna_client import _serde


def _models() -> list[type]:
    found = []
    for info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{info.name}")
        found += [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type) and attrs.has(obj) and obj.__module__ == module.__name__
        ]
    return found


MODELS = _models()
WRONG = st.one_of(st.integers(-3, 3), st.floats(allow_nan=False), st.booleans(), st.text(max_size=3), st.none())


def _json_for(type_: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly values of the field's JSON type, sometimes of another type."""
    return st.one_of(_valid(type_, depth), WRONG) if depth < 4 else WRONG


def _valid(type_: Any, depth: int) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(type_), typing.get_args(type_)
    if type_ is str:
        return st.text(max_size=5)
    if type_ is bool:
        return st.booleans()
    if type_ is int:
        return st.integers(-(10**6), 10**6)
    if type_ is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if origin is Union:
        return st.one_of(*[_json_for(a, depth + 1) for a in args])
    if origin is list:
        return st.lists(_json_for(args[0], depth + 1), max_size=2)
    if origin is dict:
        return st.dictionaries(st.text(max_size=3), _json_for(args[1], depth + 1), max_size=2)
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return st.one_of(st.sampled_from([m.value for m in type_]), st.text(max_size=4))
    if isinstance(type_, type) and attrs.has(type_):
        attrs.resolve_types(type_)
        properties = {f.metadata.get("wire", f.name): f.type for f in attrs.fields(type_) if f.init}
        return st.fixed_dictionaries(
            {}, optional={**{k: _json_for(t, depth + 1) for k, t in properties.items()}, "unlisted": WRONG}
        )
    return WRONG


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - the comparison is of what each path raises
        return ("raised", type(exc), str(exc))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__.rsplit('.', 1)[-1]}.{m.__name__}")
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_direct_path_matches_the_converter(model: type, data: st.DataObject) -> None:
    value = data.draw(_valid(model, 0))
    direct = _outcome(lambda: _serde.structure(value, model))
    converter = _outcome(lambda: _serde.converter().structure(value, model))
    assert direct == converter
    if direct[0] == "ok":
        assert attrs.asdict(direct[1], recurse=True) == attrs.asdict(converter[1], recurse=True)


def test_well_typed_answers_take_the_direct_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from vluna_client._generated.models.gate import CommitResponse

    monkeypatch.setattr(_serde, "converter", lambda: pytest.fail("the converter was asked"))
    line = {"line_id": "l", "meter_code": "m", "quantity_minor": "1", "amount_xusd": "2", "cost_rounding": "new"}
    answer = {"commit_id": "c", "amount_xusd": "2", "cost_xusd": "0", "lines": [line], "later": 1}
    commit = _serde.structure(answer, CommitResponse)
    assert commit.lines[0].cost_rounding == "new"
    assert not commit.lines[0].cost_rounding.is_known


def test_a_coerced_value_goes_to_the_converter() -> None:
    from vluna_client._generated.models.health import HealthStatus

    # The converter turns 5 into "5" for a str field; the direct path does not guess and leaves it to the converter.
    assert _serde.structure({"status": 5}, HealthStatus).status == "5"
