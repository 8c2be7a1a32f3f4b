"""Every generated operation stays within the Literal types the core declares for its retry rule, surface, page
shape and parameter locations (the values come from the specs, so a new one must be added to the type too)."""

from __future__ import annotations

import importlib
import typing

from vluna_client._generated.operations import OPERATIONS
from vluna_client._operation import Location, Pagination, RetryRule, Surface


def test_generated_operations_use_only_the_declared_values():
    ops = [getattr(importlib.import_module(module), constant) for _, _, _, module, constant, _, _ in OPERATIONS]
    assert len(ops) > 50
    assert {op.retry for op in ops} == set(typing.get_args(RetryRule))
    assert {op.surface for op in ops} <= set(typing.get_args(Surface))
    assert {op.pagination for op in ops} - {None} == set(typing.get_args(Pagination))
    assert {p.location for op in ops for p in op.params} <= set(typing.get_args(Location))
