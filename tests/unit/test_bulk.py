"""client.gate.ingest_many against a fake gate whose ingest answers (or raises) what each test scripts."""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from support.fake_gate import FakeGate, api_error, rows
from support.mock_deployment import BASE_URL, COMMIT_DATA, REALM, SLEEPS, err, make_client, ok
from vluna_client import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    OutcomeUnknownError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    idempotency_key,
)
from vluna_client._bulk import DEFAULT_NAMESPACE, IngestRow
from vluna_client._pacing import Pacer

# -- outcome mapping --------------------------------------------------------------------------------------------

OUTCOMES = [
    (api_error(InvalidRequestError, 422), "failed"),
    (api_error(InvalidRequestError, 400), "failed"),
    (api_error(PaymentRequiredError, 402), "failed"),
    (api_error(NotFoundError, 404), "failed"),
    (api_error(ServerError, 503), "failed"),
    (APIConnectionError("could not connect"), "failed"),
    (OutcomeUnknownError("lost", operation="gate.ingest", idempotency_key="k"), "unknown"),
    (ResponseDecodeError("unreadable", status=200, raw={}), "unknown"),
]


@pytest.mark.parametrize(("error", "status"), OUTCOMES, ids=[type(e).__name__ + str(s) for e, s in OUTCOMES])
def test_one_bad_row_gets_its_status_and_the_others_are_recorded(error: BaseException, status: str) -> None:
    gate = FakeGate(lambda n, key: error if n == 3 else None)
    outcomes = list(gate.ingest_many(rows(8), workers=2))
    assert [o.index for o in outcomes] == list(range(8))
    assert outcomes[3].status == status
    assert outcomes[3].error is error
    assert outcomes[3].result is None
    assert outcomes[3].amount_xusd is None
    sent_keys = {c["quantity_minor"]: c["idempotency_key"] for c in gate.calls}
    assert outcomes[3].idempotency_key == sent_keys[3]
    others = [o for o in outcomes if o.index != 3]
    assert all(o.status == "recorded" for o in others)
    assert [o.amount_xusd for o in others] == [str(o.index * 10) for o in others]
    assert len(gate.calls) == 8  # nothing stopped


def test_a_row_that_may_have_applied_is_unknown_even_when_the_error_class_says_otherwise() -> None:
    error = api_error(ServerError, 502)
    error.may_have_applied = True
    gate = FakeGate(lambda n, key: error if n == 0 else None)
    assert next(iter(gate.ingest_many(rows(1)))).status == "unknown"


@pytest.mark.parametrize(
    "fatal",
    [api_error(AuthenticationError, 401), api_error(PermissionDeniedError, 403), ConfigurationError("bad setup")],
    ids=["401", "403", "configuration"],
)
def test_errors_every_row_would_hit_stop_the_job(fatal: BaseException) -> None:
    consumed = []

    def source() -> Iterator[Dict[str, Any]]:
        for row in rows(1000):
            consumed.append(row["id"])
            yield row

    gate = FakeGate(lambda n, key: fatal if n >= 5 else None, delay=lambda n: 0.002)
    seen: List[Any] = []
    with pytest.raises(type(fatal)) as raised:
        seen.extend(gate.ingest_many(source(), workers=4))
    assert raised.value is fatal
    # Rows before the failure were recorded; the failing row and the ones already in flight were yielded first.
    assert [o.status for o in seen[:5]] == ["recorded"] * 5
    assert seen[5].status == "failed"
    assert seen[5].error is fatal
    assert [o.index for o in seen] == list(range(len(seen)))
    # Only a window's worth was ever read, every row read got an outcome, and no row was sent after the stop.
    assert len(consumed) == len(seen) < 20
    assert len(gate.calls) == len(seen)


def test_rows_waiting_to_be_resent_after_a_429_are_marked_not_sent_on_a_stop() -> None:
    limited = RateLimitError("slow down", status=429, meta={"retry_after": 5.0})
    state = {"limited": False}

    def behaviour(n: int, key: str) -> Optional[BaseException]:
        if n == 1 and not state["limited"]:
            state["limited"] = True
            return limited
        if n == 0:
            time.sleep(0.05)  # answers after row 1's 429, so row 1 is queued for a resend when the stop comes
            return api_error(AuthenticationError, 401)
        return None

    gate = FakeGate(behaviour)
    seen: List[Any] = []
    with pytest.raises(AuthenticationError):
        seen.extend(gate.ingest_many(rows(2), workers=2))
    assert [o.status for o in seen] == ["failed", "not_sent"]
    assert seen[1].idempotency_key is not None


# -- keys -------------------------------------------------------------------------------------------------------


def test_default_keys_are_derived_from_the_row_id_principal_and_user() -> None:
    gate = FakeGate()
    first = [o.idempotency_key for o in gate.ingest_many(rows(5))]
    again = [o.idempotency_key for o in FakeGate().ingest_many(rows(5))]
    other_user = [o.idempotency_key for o in FakeGate().ingest_many(rows(5, user="u2"))]
    assert first == again
    assert first[0] == idempotency_key(DEFAULT_NAMESPACE, "org", "u1", "e0")
    assert not set(first) & set(other_user)
    assert [c["idempotency_key"] for c in sorted(gate.calls, key=lambda c: c["quantity_minor"])] == first


def test_a_rate_limited_row_is_sent_again_with_the_same_key() -> None:
    limited = RateLimitError("slow down", status=429, meta={"retry_after": 0.0})
    answered: Dict[int, int] = {}

    def behaviour(n: int, key: str) -> Optional[BaseException]:
        answered[n] = answered.get(n, 0) + 1
        return limited if n == 2 and answered[n] <= 2 else None

    gate = FakeGate(behaviour)
    outcomes = list(gate.ingest_many(rows(4), workers=2))
    assert [o.status for o in outcomes] == ["recorded"] * 4
    keys = [c["idempotency_key"] for c in gate.calls if c["quantity_minor"] == 2]
    assert len(keys) == 3
    assert len(set(keys)) == 1


def test_a_custom_key_function_and_row_objects() -> None:
    gate = FakeGate()
    objects = [
        IngestRow(principal_id="o", user_id="u", feature_code="f", quantity_minor=n, ref=f"r{n}") for n in (1, 2)
    ]
    outcomes = list(gate.ingest_many(objects, key=lambda row: f"mine-{row.ref}"))
    assert [(o.ref, o.idempotency_key) for o in outcomes] == [("r1", "mine-r1"), ("r2", "mine-r2")]


def test_rows_that_cannot_be_sent_are_invalid_without_a_call() -> None:
    gate = FakeGate()
    bad: List[Any] = [
        {"principal_id": "o", "user_id": "u", "feature_code": "f", "quantity_minor": 1},  # no id
        {"id": "x", "principal_id": "o", "user_id": "u", "quantity_minor": 2},  # no feature
        {"id": "y", "principal_id": "o", "user_id": "u", "feature_code": "f", "quantity": 3},  # typo'd field
        "not a row",
    ]
    outcomes = list(gate.ingest_many(bad))
    assert [o.status for o in outcomes] == ["invalid"] * 4
    assert [type(o.error).__name__ for o in outcomes] == ["InputValidationError"] * 4
    assert "quantity" in str(outcomes[2].error)
    assert gate.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workers": 0},
        {"workers": True},
        {"max_workers": 0},
        {"namespace": " "},
        {"max_rate": 0},
        {"max_rate": float("inf")},
        {"max_rate": "10"},
    ],
)
def test_bad_settings_are_refused_before_anything_is_read(kwargs: Dict[str, Any]) -> None:
    from vluna_client import InputValidationError

    with pytest.raises(InputValidationError):
        FakeGate().ingest_many(rows(1), **kwargs)


# -- order, concurrency and memory -------------------------------------------------------------------------------


def test_ordered_outcomes_follow_the_input_even_when_rows_finish_out_of_order() -> None:
    rng = random.Random(7)
    delays = {n: rng.uniform(0, 0.01) for n in range(60)}
    outcomes = list(FakeGate(delay=delays.__getitem__).ingest_many(rows(60), workers=8))
    assert [o.index for o in outcomes] == list(range(60))


def test_unordered_outcomes_come_as_rows_finish() -> None:
    gate = FakeGate(delay=lambda n: 0.2 if n == 0 else 0.0)
    outcomes = list(gate.ingest_many(rows(20), workers=4, ordered=False))
    assert sorted(o.index for o in outcomes) == list(range(20))
    assert outcomes[-1].index == 0  # the slow first row does not hold the others back


def test_a_fixed_worker_count_is_the_concurrency() -> None:
    gate = FakeGate(delay=lambda n: 0.01)
    list(gate.ingest_many(rows(40), workers=3))
    assert gate.max_in_flight == 3


def test_a_finished_request_frees_its_place_at_once() -> None:
    # Each row holds its worker until the next row has started: that only works if the next row is sent while
    # this one is still in flight, i.e. two really run at once all along (not just the first pair). Sending late
    # shows up as a wait of 0.5 s (the loop's poll) per row, beyond the 0.4 s each row gives the next.
    started = [threading.Event() for _ in range(9)]
    waited_in_vain = []

    def behaviour(n: int, key: str) -> Optional[BaseException]:
        started[n].set()
        if n + 1 < len(started) and not started[n + 1].wait(timeout=0.4):
            waited_in_vain.append(n)
        return None

    gate = FakeGate(behaviour)
    assert [o.status for o in gate.ingest_many(rows(len(started)), workers=2)] == ["recorded"] * len(started)
    assert waited_in_vain == []


def test_the_input_is_read_only_a_bounded_window_ahead_of_the_results() -> None:
    read = [0]

    def source() -> Iterator[Dict[str, Any]]:
        for row in rows(5000):
            read[0] += 1
            yield row

    ahead = 0
    gate = FakeGate(delay=lambda n: 0.0005)
    for yielded, _ in enumerate(gate.ingest_many(source(), workers=4, max_workers=8), start=1):
        ahead = max(ahead, read[0] - yielded)
    assert read[0] == 5000
    assert ahead <= 64  # the window: max(64, 4 * max_workers), never the whole input


def test_stopping_early_sends_nothing_more() -> None:
    gate = FakeGate(delay=lambda n: 0.001)
    outcomes = gate.ingest_many(rows(10_000), workers=2)
    first = [next(outcomes) for _ in range(3)]
    outcomes.close()  # type: ignore[attr-defined]  # a generator, documented as an iterator
    assert [o.index for o in first] == [0, 1, 2]
    assert len(gate.calls) < 100


def test_progress_reports_counters() -> None:
    seen: List[Any] = []
    gate = FakeGate(lambda n, key: api_error(InvalidRequestError, 422) if n == 1 else None)
    list(gate.ingest_many(rows(5), workers=1, on_progress=seen.append))
    last = seen[-1]
    assert (last.done, last.recorded, last.failed, last.unknown, last.in_flight) == (5, 4, 1, 0, 0)
    assert last.priced_xusd == (0 + 2 + 3 + 4) * 10
    assert last.rows_per_second > 0


# -- the pacer ---------------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_windows(pacer: Pacer, clock: Clock, rate_at: Callable[[int], float], windows: int) -> List[int]:
    """Feed the pacer one window at a time at the throughput ``rate_at(limit)``; return the limits it chose."""
    limits = []
    for _ in range(windows):
        rate = rate_at(pacer.limit)
        seconds = max(0.25, 2 * pacer.limit / rate)
        clock.now += seconds
        pacer.completed(round(rate * seconds))
        limits.append(pacer.limit)
    return limits


def test_the_adaptive_pacer_grows_while_throughput_rises_and_settles_at_the_knee() -> None:
    clock = Clock()
    pacer = Pacer(max_workers=32, clock=clock)
    limits = run_windows(pacer, clock, lambda limit: 100.0 * min(limit, 12), 60)  # saturates at 12 workers
    assert max(limits) <= 18  # one probe past the knee, undone
    assert 12 <= limits[-1] <= 18


def test_the_adaptive_pacer_goes_to_the_maximum_when_every_worker_helps() -> None:
    clock = Clock()
    pacer = Pacer(max_workers=32, clock=clock)
    assert run_windows(pacer, clock, lambda limit: 50.0 * limit, 40)[-1] == 32


def test_a_429_halves_the_limit_and_pauses_dispatch() -> None:
    clock = Clock()
    pacer = Pacer(max_workers=32, start=16, clock=clock)
    pacer.rate_limited_for(2.0)
    assert pacer.limit == 8
    assert not pacer.ready()
    assert pacer.pause_left() == 2.0
    clock.now += 2.0
    assert pacer.ready()
    pacer.rate_limited_for(None)
    assert pacer.limit == 4
    assert pacer.pause_left() == 1.0


def test_a_fixed_pacer_never_moves() -> None:
    clock = Clock()
    pacer = Pacer(workers=6, clock=clock)
    assert set(run_windows(pacer, clock, lambda limit: 10.0 * limit, 10)) == {6}
    pacer.rate_limited_for(0.5)
    assert pacer.limit == 6
    assert not pacer.ready()


def test_after_a_429_sends_are_spaced_under_the_rate_that_drew_it() -> None:
    clock = Clock()
    pacer = Pacer(max_workers=32, clock=clock)
    assert pacer.rate_cap is None  # no cap until the server says so
    for _ in range(100):  # 100 completions over the last second
        clock.now += 0.01
        pacer.completed()
    pacer.rate_limited_for(1.0)
    assert pacer.rate_cap == pytest.approx(90.0, rel=0.02)  # 0.9 x the ~100/s that was completing
    assert not pacer.ready()
    clock.now += 1.0  # the pause is over: one send, then the next waits one interval of the cap
    assert pacer.ready()
    pacer.sent()
    assert not pacer.ready()
    cap = pacer.rate_cap
    assert cap is not None
    assert pacer.pause_left() == pytest.approx(1 / cap)
    clock.now += 1 / cap
    assert pacer.ready()


def test_the_rate_cap_climbs_back_then_creeps_near_the_last_429() -> None:
    clock = Clock()
    pacer = Pacer(max_workers=32, clock=clock)
    for _ in range(100):
        clock.now += 0.01
        pacer.completed()
    pacer.rate_limited_for(0.0)
    pacer.rate_limited_for(0.0)  # a second 429 at once: the cap drops again
    low = pacer.rate_cap
    assert low is not None
    assert low < 90.0
    caps: List[float] = []
    for _ in range(40):
        clock.now += 0.5
        pacer.completed(2 * pacer.limit)
        assert pacer.rate_cap is not None
        caps.append(pacer.rate_cap)
    assert caps == sorted(caps), "windows without a 429 only ever raise the cap"
    assert caps[-1] > 90.0  # back past 0.9 x the rate that drew the first 429
    late = [b / a for a, b in zip(caps[-6:], caps[-5:])]
    assert all(step < 1.02 for step in late), "near that rate it creeps"


def test_a_fixed_pacer_gets_no_rate_cap() -> None:
    clock = Clock()
    pacer = Pacer(workers=4, clock=clock)
    for _ in range(50):
        clock.now += 0.01
        pacer.completed()
    pacer.rate_limited_for(0.5)
    assert pacer.rate_cap is None


def test_max_rate_spaces_sends_from_the_first_row_and_a_429_only_lowers_it() -> None:
    clock = Clock()
    pacer = Pacer(max_workers=32, max_rate=20.0, clock=clock)
    assert pacer.rate_cap == 20.0
    pacer.sent()
    assert not pacer.ready()
    assert pacer.pause_left() == pytest.approx(0.05)
    for _ in range(30):  # completing at 30/s: a 429 sets the cap under what was completing, below max_rate
        clock.now += 1 / 30
        pacer.completed()
    pacer.rate_limited_for(0.0)
    lowered = pacer.rate_cap
    assert lowered is not None
    assert lowered < 20.0
    for _ in range(60):  # many windows without a 429: it climbs back, never past max_rate
        clock.now += 0.5
        pacer.completed(2 * pacer.limit)
    assert pacer.rate_cap == 20.0


def test_a_fixed_pacer_keeps_its_max_rate() -> None:
    clock = Clock()
    pacer = Pacer(workers=4, max_rate=8.0, clock=clock)
    pacer.sent()
    assert pacer.pause_left() == pytest.approx(0.125)
    pacer.rate_limited_for(0.5)
    assert pacer.rate_cap == 8.0


def test_ingest_many_with_max_rate_never_exceeds_it() -> None:
    gate = FakeGate()
    started = time.monotonic()
    outcomes = list(gate.ingest_many(rows(12), max_rate=40.0))
    elapsed = time.monotonic() - started
    assert [o.status for o in outcomes] == ["recorded"] * 12
    assert elapsed >= 11 / 40.0 * 0.95  # twelve sends are eleven intervals of 1/40 s apart


# -- through a real client (HTTP mocked) ------------------------------------------------------------------------


def test_through_a_client_a_429_reaches_the_pacer_at_once_and_keys_carry_the_clients_realm(rsps: Any) -> None:
    """The job sends through ``client.with_retry(...)``: the client does not sit out the 429, the job resends."""
    client = make_client()
    url = f"{BASE_URL}/gate/ingest"
    rsps.add("POST", url, json=err(429, "LIMIT.RATE_EXCEEDED"), status=429, headers={"Retry-After": "0"})
    rsps.add("POST", url, json=ok(COMMIT_DATA))
    seen: List[Any] = []
    outcomes = list(client.gate.ingest_many(rows(1), on_progress=seen.append))
    assert [o.status for o in outcomes] == ["recorded"]
    assert seen[-1].rate_limited == 1  # the pacer saw the 429: the client did not retry it inside the worker
    assert SLEEPS == []
    keys = [call.request.headers["Idempotency-Key"] for call in rsps.calls]
    assert keys == [idempotency_key(DEFAULT_NAMESPACE, "org", "u1", "e0", realm_id=REALM)] * 2
    assert 429 in client.retry.retry_statuses  # the client itself still waits out a 429
