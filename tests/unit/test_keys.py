import uuid

import pytest

from vluna_client import InputValidationError, idempotency_key


def test_same_inputs_give_the_same_key_across_calls():
    assert idempotency_key("usage-import", "day.csv", 7) == idempotency_key("usage-import", "day.csv", 7)


def test_key_is_a_uuid5_and_a_valid_header_value():
    key = idempotency_key("celery:charge", "task-1")
    assert uuid.UUID(key).version == 5
    assert all(0x21 <= ord(c) <= 0x7E for c in key)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("ns", "a", "b c"), ("ns", "a b", "c")),
        (("ns", 1), ("ns", "1")),
        (("ns-a", "x"), ("ns-b", "x")),
        (("ns", "x", "y"), ("ns", "y", "x")),
    ],
)
def test_distinct_inputs_do_not_collide(a, b):
    assert idempotency_key(*a) != idempotency_key(*b)


def test_realm_is_folded_in():
    assert idempotency_key("ns", "x", realm_id="r1") != idempotency_key("ns", "x", realm_id="r2")
    assert idempotency_key("ns", "x", realm_id="r1") != idempotency_key("ns", "x")


def test_known_answer_is_stable_across_versions():
    # A re-run months later, after an upgrade, must send the very same keys.
    assert idempotency_key("usage-import", "f.csv", 1) == "131b7299-b569-5760-ad03-0bb5ae9e9606"


@pytest.mark.parametrize("bad", [None, 1.5, True, b"x", ("t",)])
def test_bad_parts_are_refused(bad):
    with pytest.raises(InputValidationError, match="part 1"):
        idempotency_key("ns", "ok", bad)


@pytest.mark.parametrize("ns", ["", "  ", None, 3])
def test_namespace_is_required(ns):
    with pytest.raises(InputValidationError, match="namespace"):
        idempotency_key(ns, "x")
