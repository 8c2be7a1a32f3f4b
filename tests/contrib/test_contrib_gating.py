"""The gating both frameworks share (contrib/_gating.py), through a host of no framework, against the emulator."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

from support.readme_examples import ORG, USER
from vluna_client import NO_RETRIES, PaymentRequiredError, ServiceClient
from vluna_client.contrib._gating import Gate, run_gated, run_streamed
from vluna_client.contrib._glue import ANSWERED, Identity
from vluna_client.testing import Emulator


class Host:
    """Answers are ``(status, body, headers)`` tuples; the attached lease is kept for the test."""

    def __init__(
        self, client: ServiceClient, who: Optional[Identity], answered: tuple[type[BaseException], ...] = ANSWERED
    ) -> None:
        self._client, self._who, self.answered = client, who, answered
        self.lease: Any = None

    def identity(self) -> Optional[Identity]:
        return self._who

    def client(self) -> ServiceClient:
        return self._client

    def attach(self, lease: Any) -> None:
        self.lease = lease

    def answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> Any:
        return status, body, headers


@pytest.fixture
def client(emu: Emulator) -> Any:
    with emu.service_client(retry=NO_RETRIES) as c:
        yield c


def committing(host: Host, quantity: int) -> Callable[[], str]:
    def view() -> str:
        host.lease.commit(quantity_minor=quantity)
        return "done"

    return view


def test_nobody_signed_in_answers_401_without_a_lease(client: ServiceClient, emu: Emulator) -> None:
    host = Host(client, None)
    status, body, _ = run_gated(Gate("llm.chat"), host, lambda: pytest.fail("the view ran"))
    assert (status, body["code"]) == (401, "AUTH.UNAUTHORIZED")
    assert emu.ledger.leases() == []


def test_the_view_runs_inside_the_lease_it_commits(client: ServiceClient, emu: Emulator) -> None:
    host = Host(client, (ORG, USER))
    assert run_gated(Gate("llm.chat", 10), host, committing(host, 7)) == "done"
    (commit,) = emu.ledger.commits()
    assert commit.quantity_minor == 7


def test_an_estimate_callable_is_asked_when_the_lease_is_built(client: ServiceClient, emu: Emulator) -> None:
    asked: list[bool] = []
    host = Host(client, (ORG, USER))

    def estimate() -> int:
        asked.append(True)
        return 10

    run_streamed(Gate("llm.chat", estimate), host, lambda: ["chunk"], lambda lease, result: lease.close())
    assert asked == [True]
    assert emu.ledger.leases()[-1].state == "cancelled"  # closed without a commit: given back


def test_a_refusal_is_answered_or_left_to_the_framework(client: ServiceClient, emu: Emulator) -> None:
    emu.set_wallet_balance(ORG, 0)
    status, body, _ = run_gated(Gate("llm.chat", 10), Host(client, (ORG, USER)), lambda: pytest.fail("ran"))
    assert (status, body["ok"]) == (402, False)
    with pytest.raises(PaymentRequiredError):  # a host that answers nothing itself (Flask: its error handlers do)
        run_gated(Gate("llm.chat", 10), Host(client, (ORG, USER), answered=()), lambda: pytest.fail("ran"))
    with pytest.raises(PaymentRequiredError):
        run_streamed(Gate("llm.chat", 10), Host(client, (ORG, USER), answered=()), list, lambda *_: None)


def test_a_shortfall_is_refused_only_when_the_gate_says_so(client: ServiceClient, emu: Emulator) -> None:
    emu.set_wallet_balance(ORG, 20)  # less than the estimate costs: authorize passes with a shortfall hint
    host = Host(client, (ORG, USER))
    status, body, _ = run_gated(Gate("llm.chat", 100, refuse_shortfall=True), host, lambda: pytest.fail("ran"))
    assert (status, body["code"]) == (402, "FUNDING.SHORTFALL")
    assert emu.ledger.leases()[-1].state == "cancelled"
    assert run_gated(Gate("llm.chat", 100), host, committing(host, 100)) == "done"


def test_a_streamed_view_that_raises_closes_its_lease_with_the_error(client: ServiceClient, emu: Emulator) -> None:
    def view() -> Any:
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError, match="render failed"):
        run_streamed(Gate("llm.chat", 10), Host(client, (ORG, USER)), view, lambda *_: pytest.fail("responded"))
    assert emu.ledger.leases()[-1].state == "cancelled"
