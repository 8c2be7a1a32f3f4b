"""A fake gate for ``ingest_many``: its ``ingest`` records each call and answers what each test scripts."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from vluna_client import Result
from vluna_client._bulk import GateBulkMixin
from vluna_client._generated.models.gate import CommitResponse

Behaviour = Callable[[int, str], Optional[BaseException]]


class FakeGate(GateBulkMixin):
    """Stands in for the generated class: ``ingest`` records each call and answers per ``behaviour(n, key)``."""

    def __init__(self, behaviour: Optional[Behaviour] = None, delay: Callable[[int], float] = lambda n: 0.0) -> None:
        self.behaviour = behaviour or (lambda n, key: None)
        self.delay = delay
        self.calls: List[Dict[str, Any]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def ingest(self, **kwargs: Any) -> Result[CommitResponse]:
        n = int(kwargs["quantity_minor"])
        with self.lock:
            self.calls.append(kwargs)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay(n))
            error = self.behaviour(n, kwargs["idempotency_key"])
            if error is not None:
                raise error
            return Result(data=CommitResponse(amount_xusd=str(n * 10)), idempotency_key=kwargs["idempotency_key"])
        finally:
            with self.lock:
                self.in_flight -= 1


def rows(count: int, *, user: str = "u1") -> Iterator[Dict[str, Any]]:
    for n in range(count):
        yield {"id": f"e{n}", "principal_id": "org", "user_id": user, "feature_code": "llm.chat", "quantity_minor": n}


def api_error(cls: type, status: int, **extra: Any) -> Any:
    return cls("refused", status=status, operation="gate.ingest", **extra)
