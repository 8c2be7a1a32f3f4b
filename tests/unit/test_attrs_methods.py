"""The shared repr, equality and hash behave as attrs' own generated ones would, for every attrs class here.

Each class is compared with a twin that attrs builds with its own methods (same name, same fields, same per-field
repr and eq settings, frozen or not alike), both filled with the same values, hostile strings included.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vluna_client
import vluna_client._generated.models as models_package
from vluna_client._attrs_methods import fields_eq, fields_hash, fields_repr
from vluna_client._result import Hint, Result
from vluna_client._retry import Retrier, RetryPolicy
from vluna_client._timeout import Timeout


def _attrs_classes(package: Any) -> list[type]:
    """The attrs classes the (non-package) modules of ``package`` define."""
    found: list[type] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        own = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]
        found += [cls for cls in own if attrs.has(cls)]
    return found


CORE = _attrs_classes(vluna_client)
CLASSES = CORE + _attrs_classes(models_package)


def _frozen(cls: type) -> bool:
    return cls.__hash__ is not None


@functools.cache  # one twin per class, so that two twins of a class compare as the same class
def _twin(cls: type) -> type:
    """The same fields with attrs' own compiled repr, eq and hash."""
    fields = {f.name: attrs.field(default=None, repr=f.repr, eq=f.eq) for f in attrs.fields(cls)}
    twin: type = attrs.make_class(cls.__name__, fields, repr=True, eq=True, frozen=_frozen(cls), slots=False)
    return twin


def _filled(cls: Any, values: list[Any]) -> Any:
    # Set the fields directly: the point is the repr of any content, not what a validator lets in.
    obj = cls.__new__(cls)
    for f, value in zip(attrs.fields(cls), values * (len(attrs.fields(cls)) // max(len(values), 1) + 1)):
        object.__setattr__(obj, f.name, value)
    return obj


def test_the_classes_were_found() -> None:
    assert {"Hint", "Result", "Page", "RetryPolicy", "Retrier", "Timeout", "PendingWrite", "LeaseTerms"} <= {
        cls.__name__ for cls in CORE
    }
    assert len(CLASSES) > 100  # every generated model too


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_attrs_class_shares_the_methods(cls: type) -> None:
    # A class left to attrs' methods would still behave the same, but would compile its own at import again.
    assert cls.__repr__ is fields_repr
    assert cls.__eq__ is fields_eq
    assert cls.__hash__ in (fields_hash, None)


def test_the_frozen_classes_hash_and_the_mutable_ones_do_not() -> None:
    for cls in CLASSES:
        frozen = cls.__setattr__ is not object.__setattr__  # attrs gives a frozen class a refusing __setattr__
        assert cls.__hash__ is (fields_hash if frozen else None), cls
    with pytest.raises(TypeError, match="unhashable"):
        hash(Retrier(RetryPolicy()))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_repr_matches_attrs_own(cls: type) -> None:
    values: list[Any] = ["a'b\"c\n", 7, None, ["x", {"k": 1.5}], ("t",), "tok-SECRET"]
    assert repr(_filled(cls, values)) == repr(_filled(_twin(cls), values))


SCALARS = st.one_of(st.text(), st.integers(), st.none(), st.floats(allow_nan=False), st.booleans())


@given(st.lists(SCALARS, min_size=1, max_size=8))
def test_the_repr_matches_attrs_own_for_any_values(values: list[Any]) -> None:
    for cls in CORE:
        assert repr(_filled(cls, values)) == repr(_filled(_twin(cls), values))


@given(st.lists(SCALARS, min_size=1, max_size=8), st.lists(SCALARS, min_size=1, max_size=8))
def test_equality_and_hash_agree_with_attrs_own(left: list[Any], right: list[Any]) -> None:
    for cls in CORE:
        ours, twins = (_filled(cls, left), _filled(cls, right)), (_filled(_twin(cls), left), _filled(_twin(cls), right))
        assert (ours[0] == ours[1]) == (twins[0] == twins[1])
        assert (ours[0] != ours[1]) == (twins[0] != twins[1])
        assert ours[0] == _filled(cls, left)  # equal to itself rebuilt
        if cls.__hash__ is not None:
            assert hash(ours[0]) == hash(_filled(cls, left))
            if ours[0] == ours[1]:
                assert hash(ours[0]) == hash(ours[1])


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_equality_is_by_class_and_compared_fields(cls: type) -> None:
    values: list[Any] = ["v", 1, None]
    assert _filled(cls, values) == _filled(cls, values)
    assert _filled(cls, values) != _filled(_twin(cls), values)  # another class, same fields: never equal
    assert (_filled(cls, values) == object()) is False
    compared = [f for f in attrs.fields(cls) if f.eq]
    if compared:
        changed = _filled(cls, values)
        object.__setattr__(changed, compared[0].name, "something else")
        assert changed != _filled(cls, values)


def test_a_field_left_out_of_equality_stays_out() -> None:
    # Result's raw answer is not compared (two results with the same data are equal).
    assert Result(data=1, raw={"a": 1}) == Result(data=1, raw={"b": 2})
    assert hash(Timeout(1, 2)) == hash(Timeout(1.0, 2.0))


def test_unset_fields_and_hidden_fields() -> None:
    result = Result(data={"a": 1}, raw={"secret": "never shown"})
    assert "never shown" not in repr(result)
    assert repr(result) == (
        "Result(data={'a': 1}, hints=(), meta={}, status_code=200, operation='', idempotency_key=None, request_id=None)"
    )
    empty = Timeout.__new__(Timeout)
    assert repr(empty) == "Timeout(connect=NOTHING, read=NOTHING)"


def test_an_object_that_holds_itself_prints_dots() -> None:
    hint = Hint("loop", {})
    hint.fields["self"] = hint  # type: ignore[index]
    assert repr(hint) == "Hint(type='loop', fields={'self': ...})"
    # and the guard is released afterwards: a second call shows the same
    assert repr(hint) == "Hint(type='loop', fields={'self': ...})"


def test_credentials_stay_hidden_in_model_reprs() -> None:
    from vluna_client.models import PlatformTokenIssueResponse

    fields: dict[str, Any] = {f.name: None for f in attrs.fields(PlatformTokenIssueResponse)}
    fields["access_token"] = "tok-SECRET-xyz"
    shown = repr(PlatformTokenIssueResponse(**fields))
    assert "tok-SECRET-xyz" not in shown
