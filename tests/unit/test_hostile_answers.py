"""Answers a server (or a proxy) should never send: too deep, too large, compressed into a bomb, corrupt.

Reads get a typed error; writes get OutcomeUnknownError with the key, because the server may have applied them.
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from support.mock_deployment import COMMIT_DATA, URL, make_client, ok
from vluna_client import (
    NO_RETRIES,
    APIConnectionError,
    OutcomeUnknownError,
    RequestsTransport,
    ResponseDecodeError,
    TransportError,
)
from vluna_client._transport import _decompress


def deep(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


def commit(client):
    return client.gate.commit(
        lease_token="lt", feature_code="llm.chat", quantity_minor=1, principal_id="o", user_id="u", idempotency_key="k1"
    )


@pytest.mark.parametrize("levels", [80, 3000, 100_000])
def test_an_answer_nested_too_deep_after_a_write_is_an_unknown_outcome(rsps, levels) -> None:
    rsps.add("POST", URL["commit"], body='{"ok":true,"code":"OK","data":' + deep(levels) + "}")
    with pytest.raises(OutcomeUnknownError) as info:
        commit(make_client(retry=NO_RETRIES))
    assert info.value.idempotency_key == "k1"
    assert isinstance(info.value.last_error, ResponseDecodeError)
    assert "deeper than 64" in str(info.value.last_error)


def test_an_answer_nested_too_deep_for_a_read_is_a_decode_error(rsps) -> None:
    rsps.add("GET", URL["limits"], body='{"ok":true,"data":' + deep(5000) + "}")
    with pytest.raises(ResponseDecodeError, match="deeper than 64"):
        make_client(retry=NO_RETRIES).gate.limits(principal_id="o", user_id="u")


def test_an_answer_at_the_nesting_limit_is_read(rsps) -> None:
    rsps.add("POST", URL["commit"], json=ok({**COMMIT_DATA, "extra": json.loads(deep(60))}))
    assert commit(make_client(retry=NO_RETRIES)).data.commit_id == COMMIT_DATA["commit_id"]


def test_a_gzip_answer_is_inflated(rsps) -> None:
    body = gzip.compress(json.dumps(ok(COMMIT_DATA)).encode())
    rsps.add("POST", URL["commit"], body=body, headers={"Content-Encoding": "gzip"})
    assert commit(make_client(retry=NO_RETRIES)).data.commit_id == COMMIT_DATA["commit_id"]


def test_a_gzip_bomb_is_refused_without_inflating_it(rsps) -> None:
    bomb = gzip.compress(b'{"ok":true,"data":"' + b" " * (40 * 1024 * 1024) + b'"}', compresslevel=9)
    assert len(bomb) < 100_000  # 40 MB inflated from a few dozen KB
    rsps.add("POST", URL["commit"], body=bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(OutcomeUnknownError) as info:
        commit(make_client(retry=NO_RETRIES))
    assert isinstance(info.value.last_error, APIConnectionError)
    assert "larger than 16777216 bytes" in str(info.value.last_error)


def test_an_answer_over_the_cap_is_refused_by_its_length(rsps) -> None:
    transport = RequestsTransport(max_answer_bytes=4096)
    rsps.add("GET", URL["limits"], body=b" " * 5000)
    with pytest.raises(APIConnectionError, match="larger than 4096"):
        make_client(retry=NO_RETRIES, transport=transport).gate.limits(principal_id="o", user_id="u")


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(b"x" * 5000)),
        ("deflate", zlib.compress(b"x" * 5000)),
        ("deflate", zlib.compress(b"x" * 5000)[2:-4]),  # raw deflate, as some servers send it
        ("gzip", gzip.compress(b"x" * 2000) + gzip.compress(b"x" * 3000)),  # two members
    ],
)
def test_decompression_is_bounded_for_every_encoding(encoding, packed) -> None:
    assert _decompress(packed, encoding, 5000) == b"x" * 5000
    with pytest.raises(TransportError, match="larger than 4999"):
        _decompress(packed, encoding, 4999)


def test_a_corrupt_compressed_answer_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match="corrupt"):
        _decompress(b"not gzip at all", "gzip", 1 << 20)
    assert _decompress(b"plain", "br", 1 << 20) == b"plain"  # not asked for: read as it came


@pytest.mark.parametrize("bad", [0, 1023, -1, True, 2.5, "big"])
def test_the_answer_cap_must_be_a_sane_integer(bad) -> None:
    from vluna_client import ConfigurationError

    with pytest.raises(ConfigurationError):
        RequestsTransport(max_answer_bytes=bad)


def test_a_custom_transport_that_breaks_mid_write_gives_an_unknown_outcome() -> None:
    class Broken:
        def send(self, method, url, headers, body, timeout):
            raise OverflowError("timeout value is too large")

        def close(self) -> None:
            pass

    with pytest.raises(OutcomeUnknownError) as info:
        commit(make_client(retry=NO_RETRIES, transport=Broken()))
    assert info.value.idempotency_key == "k1"
    assert isinstance(info.value.last_error, APIConnectionError)


def test_a_request_body_over_the_server_limit_is_refused_before_sending(rsps) -> None:
    from vluna_client import InputValidationError

    with pytest.raises(InputValidationError, match="1048576") as info:
        make_client().gate.ingest(
            feature_code="llm.chat", quantity_minor=1, principal_id="o", user_id="u", metadata={"blob": "x" * 1_100_000}
        )
    assert info.value.field == "body"
    assert len(rsps.calls) == 0
