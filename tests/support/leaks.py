"""What secret material looks like in text, and the log capture the leak tests search (unit and integration)."""

from __future__ import annotations

import base64
import logging
from typing import Iterable

import pytest

from support.mock_deployment import BEARER_TOKEN, SECRET_B64, SECRET_BYTES

SECRET_FORMS = [
    SECRET_B64,
    SECRET_B64[:16],  # any recognisable fragment
    SECRET_B64.rstrip("="),
    SECRET_BYTES.hex(),
    repr(SECRET_BYTES)[2:30],
    base64.urlsafe_b64encode(SECRET_BYTES).decode(),
]
TOKEN_FORMS = [BEARER_TOKEN, BEARER_TOKEN.split(".")[2], "secret-bearer-signature"]


def assert_absent(text: str, forms: Iterable[str]) -> None:
    for form in forms:
        assert form not in text, f"secret material {form!r} leaked"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # root
    for name in ("vluna_client", "urllib3", "urllib3.connectionpool", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr(record.__dict__))
    return "\n".join(parts)
