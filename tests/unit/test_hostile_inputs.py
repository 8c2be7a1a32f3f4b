"""Hostile values through every public parameter of every operation: a well-formed request, or a typed refusal.

Each generated method is called with valid values for what it requires, then one parameter (required or optional,
bindings included) is replaced by a hostile value. The transport records what would go on the wire and stops there.
The call must either send a well-formed request (ASCII URL and headers without control characters, a body of at
most 1 MiB that is strict JSON, nested at most 64 levels, with every number exact for a JavaScript reader) or
raise InputValidationError before sending; a hostile ``timeout`` may raise ConfigurationError instead. Nothing
else: no ValueError, RecursionError, UnicodeEncodeError, OverflowError.

Two runs: a property-based one (hypothesis draws the operation, the parameter and the value) and a fixed corpus of
the values the issue reproduced, run through every parameter of every operation, with the counts printed.
``VLUNA_HOSTILE_EXAMPLES=10000`` runs more hypothesis examples than the default 1,500.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import sys
from collections import Counter
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.mock_deployment import BASE_URL, BEARER_BASE_URL, BEARER_TOKEN, KEY_ID, REALM, SECRET_B64
from support.operation_calls import Examples, operation_of, rows, spec_of
from vluna_client import (
    NO_RETRIES,
    BearerClient,
    ConfigurationError,
    InputValidationError,
    RawResponse,
    ServiceClient,
)

MAX_BODY = 1024 * 1024
MAX_DEPTH = 64 + 1  # the body object itself, then 64 levels inside it
SAFE = 2**53 - 1


class Sent(Exception):
    """Raised by the recording transport: the request was complete and would have left."""


class Recorder:
    """A transport that keeps the last request and stops the call there."""

    def __init__(self) -> None:
        self.last: Any = None

    def send(self, method: str, url: str, headers: Any, body: bytes, timeout: Any) -> RawResponse:
        self.last = (method, url, dict(headers), body)
        raise Sent

    def close(self) -> None:
        pass


RECORDER = Recorder()
CLIENTS = {
    "service": ServiceClient(
        base_url=BASE_URL, realm_id=REALM, key_id=KEY_ID, key_secret=SECRET_B64, retry=NO_RETRIES, transport=RECORDER
    ),
    "bearer": BearerClient(
        base_url=BEARER_BASE_URL, realm_id=REALM, access_token=BEARER_TOKEN, retry=NO_RETRIES, transport=RECORDER
    ),
}
BINDINGS = {"principal_id": "org_1", "user_id": "user_1", "billing_account_id": "ba_1", "billing_user_id": "bu_1"}


def _method(row: Any) -> Any:
    return getattr(getattr(CLIENTS[row[0]], row[1]), row[2])


def valid_kwargs(row: Any) -> Dict[str, Any]:
    """Valid values for everything the method requires (path, body, query, bindings)."""
    method, op, spec = _method(row), operation_of(row), spec_of(row)
    params = inspect.signature(method).parameters
    examples = Examples({})

    def keyword(wire: str) -> str:
        return wire if wire in params else wire + "_"

    kwargs: Dict[str, Any] = {}
    for wire in op.path_params:
        kwargs[keyword(wire)] = examples.value(spec["path_params"].get(wire, {}), wire)
    body = spec["body"] or {}
    while isinstance(body, dict) and "$ref" in body:
        from support.operation_calls import SCHEMAS

        body = SCHEMAS[body["$ref"]]
    properties = body.get("properties", {}) if isinstance(body, dict) else {}
    for field in body.get("required", []) if isinstance(body, dict) else []:
        kwargs[keyword(field)] = examples.value(properties.get(field, {}), field)
    if "body" in params and spec["body"] is not None and not properties:
        kwargs["body"] = {}
    for name, value in BINDINGS.items():
        if name in params:
            kwargs[name] = value
    for name, param in params.items():
        if param.default is inspect.Parameter.empty and param.kind == param.KEYWORD_ONLY and name not in kwargs:
            kwargs[name] = examples.value(spec["query"].get(name, {}), name)
    return kwargs


ROWS = [row for row in rows() if row[0] in CLIENTS]
TARGETS: List[Tuple[Any, str]] = [
    (row, name) for row in ROWS for name in inspect.signature(_method(row)).parameters if name != "self"
]


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _numbers(value: Any) -> List[Any]:
    found, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            found.append(item)
    return found


def assert_well_formed(request: Any) -> None:
    method, url, headers, body = request
    assert method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    assert url.isascii(), url[:200]
    assert url.isprintable(), url[:200]
    assert " " not in url, url[:200]
    for name, value in headers.items():
        assert name.isascii(), name
        assert name.isprintable(), name
        # visible ASCII, spaces inside, or latin-1 text (obs-text); never a control character
        assert all(0x20 <= ord(c) <= 0x7E or 0xA0 <= ord(c) <= 0xFF for c in value), name
        assert value == value.strip(), name
    assert len(body) <= MAX_BODY
    if body:

        def no_constants(text: str) -> Any:
            raise AssertionError(f"non-finite number {text} in the body")

        document = json.loads(body.decode("utf-8"), parse_constant=no_constants)
        assert _depth(document) <= MAX_DEPTH
        for number in _numbers(document):
            assert abs(number) <= SAFE if isinstance(number, int) else math.isfinite(number)


def outcome(row: Any, name: str, value: Any) -> str:
    """Call with ``name=value``; 'sent' or 'refused', or fail the test on anything else."""
    kwargs = valid_kwargs(row)
    kwargs[name] = value
    RECORDER.last = None
    try:
        _method(row)(**kwargs)
    except Sent:
        assert_well_formed(RECORDER.last)
        return "sent"
    except InputValidationError as exc:
        message = str(exc)
        assert RECORDER.last is None  # refused before anything was sent
        assert len(message) < 2000  # a huge value is not echoed back whole
        return "refused"
    except ConfigurationError:
        assert name == "timeout", f"ConfigurationError for {name}"
        assert RECORDER.last is None
        return "refused"
    raise AssertionError(f"{row[1]}.{row[2]}({name}=...) returned without sending")


def nested(depth: int, leaf: Any = 1, *, as_list: bool = False) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value] if as_list else {"k": value}
    return value


class Opaque:
    """Not JSON in any way."""


CORPUS: List[Tuple[str, Any]] = [
    ("int with 5,000 digits", 10**5000),
    ("negative int with 5,000 digits", -(10**5000)),
    ("digit string of 5,000 characters", "9" * 5000),
    ("negative digit string of 5,000 characters", "-" + "9" * 5000),
    ("2**63", 2**63),
    ("2**53", 2**53),
    ("-(2**53)", -(2**53)),
    ("2**53 as a string", str(2**53)),
    ("2**64 as a string", str(2**64)),
    ("inf", float("inf")),
    ("-inf", float("-inf")),
    ("nan", float("nan")),
    ("1e308 * 10", 1e308 * 10),
    ("lone high surrogate", "\ud800"),
    ("lone low surrogate inside text", "a\udfffb"),
    ("CR LF header injection", "x\r\nX-Evil: 1"),
    ("NUL", "a\x00b"),
    ("DEL", "a\x7fb"),
    ("dot-dot", ".."),
    ("empty string", ""),
    ("2 MB string", "x" * 2_000_000),
    ("dict nested 3,000 deep", nested(3000)),
    ("dict nested 5,000 deep", nested(5000)),
    ("list nested 5,000 deep", nested(5000, as_list=True)),
    ("dict nested 65 deep", nested(65)),
    ("surrogate as a dict key", {"\ud800": "v"}),
    ("surrogate deep in a dict", {"a": {"b": ["\udc00"]}}),
    ("huge int in a dict", {"n": 10**5000}),
    ("inf in a dict", {"n": float("inf")}),
    ("int key", {1: "v"}),
    ("bytes", b"\x00\xff"),
    ("set", {1, 2}),
    ("object", Opaque()),
    ("tuple nesting", ((((1,),),),)),
    ("bool", True),
    ("negative", -1),
]


def test_the_fixed_corpus_through_every_parameter_of_every_operation(capsys: pytest.CaptureFixture[str]) -> None:
    counts: Counter[str] = Counter()
    by_value: Dict[str, Counter[str]] = {}
    for label, value in CORPUS:
        tally = by_value.setdefault(label, Counter())
        for row, name in TARGETS:
            result = outcome(row, name, value)
            counts[result] += 1
            tally[result] += 1
    total = sum(counts.values())
    with capsys.disabled():
        print(
            f"\nhostile corpus: {len(CORPUS)} values x {len(TARGETS)} parameters of {len(ROWS)} operations = "
            f"{total} calls: {counts['refused']} refused (InputValidationError/ConfigurationError), "
            f"{counts['sent']} sent well-formed, 0 untyped",
            file=sys.stderr,
        )
    assert total == len(CORPUS) * len(TARGETS)
    # The values that can never be valid anywhere are refused everywhere.
    for label in ("int with 5,000 digits", "lone high surrogate", "dict nested 5,000 deep", "inf", "object"):
        assert by_value[label]["sent"] == 0, (label, by_value[label])


def hostile_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(),
        st.integers(min_value=2**53 - 3, max_value=2**70),
        st.integers(max_value=-(2**53) + 3, min_value=-(2**70)),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(st.characters(codec=None, exclude_categories=()), max_size=30),  # surrogates and control chars
        st.text(alphabet="0123456789-", min_size=1, max_size=40),
        st.sampled_from(["9" * 4400, "\ud800", "..", "", "x\r\ny"]),
        st.booleans(),
        st.none(),
        st.binary(max_size=8),
    )


def hostile_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        hostile_scalars(),
        st.recursive(
            hostile_scalars(),
            lambda inner: st.one_of(
                st.lists(inner, max_size=4),
                st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4),
            ),
            max_leaves=12,
        ),
        st.builds(nested, st.integers(min_value=60, max_value=2000), hostile_scalars()),
        st.builds(lambda d, leaf: nested(d, leaf, as_list=True), st.integers(min_value=60, max_value=2000), st.none()),
    )


EXAMPLES = int(os.environ.get("VLUNA_HOSTILE_EXAMPLES", "1500"))


@settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(target=st.sampled_from(TARGETS), value=hostile_values())
def test_any_hostile_value_in_any_parameter_gives_a_well_formed_request_or_a_typed_refusal(
    target: Tuple[Any, str], value: Any
) -> None:
    row, name = target
    outcome(row, name, value)
