"""The transport seam: one shared pool, fresh connections after fork, your own session or transport, closing."""

from __future__ import annotations

import json
import os
import threading
import warnings
from typing import Any, Dict, List

import pytest
import requests

from support.mock_deployment import (
    AUTHZ_DATA,
    BEARER_BASE_URL,
    BEARER_TOKEN,
    URL,
    fast_retrier,
    make_client,
    ok,
    verify_request,
    verify_signed,
)
from vluna_client import (
    APIError,
    BearerClient,
    ConfigurationError,
    OutcomeUnknownError,
    RawResponse,
    RequestsTransport,
    ServiceClient,
    Timeout,
    TransportError,
)


def pooled(client: ServiceClient) -> RequestsTransport:
    """The client's default transport, whose pool the tests look into."""
    transport = client.transport
    assert isinstance(transport, RequestsTransport)
    return transport


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_reuse_the_parents_connections(rsps) -> None:
    client = make_client()
    rsps.add("GET", URL["limits"], json=ok([]))
    client.gate.limits(principal_id="o", user_id="u")  # the parent really used its pool
    transport = pooled(client)
    parent_adapter = transport._adapter
    assert parent_adapter is not None

    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads around
        pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            forgotten = transport._adapter is None
            child_adapter = transport._pooled_adapter()
            report: Dict[str, Any] = {
                "forgotten": forgotten,
                "same_object": child_adapter is parent_adapter,
                "pid_is_child": transport._pid == os.getpid(),
            }
        except BaseException as exc:  # noqa: BLE001 - report, never raise out of the child
            report = {"error": repr(exc)}
            code = 1
        with os.fdopen(write_fd, "w") as out:
            out.write(json.dumps(report))
        os._exit(code)

    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        report = json.loads(inp.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert "error" not in report, report
    assert os.WEXITSTATUS(status) == 0
    assert report == {"forgotten": True, "same_object": False, "pid_is_child": True}
    # the parent keeps its own
    assert transport._pooled_adapter() is parent_adapter
    client.close()


def test_transport_notices_a_pid_change_even_without_fork_hooks() -> None:
    client = make_client()
    transport = pooled(client)
    first = transport._pooled_adapter()
    transport._pid = -1  # as if this object had crossed a fork unnoticed
    second = transport._pooled_adapter()
    assert second is not first
    client.close()


def test_threads_share_one_pool_and_thread_churn_leaks_nothing(rsps) -> None:
    """One adapter (urllib3 pools are thread-safe) serves every thread: 40 short-lived threads leave no session,
    jar or pool behind, and no cookie set for one caller can ride along on another's call."""
    client = make_client()
    rsps.add("GET", URL["limits"], json=ok([]), headers={"Set-Cookie": "lb=node-7; Path=/"})
    adapters = []

    def work() -> None:
        client.gate.limits(principal_id="o", user_id="u")
        adapters.append(pooled(client)._adapter)

    threads = [threading.Thread(target=work) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rsps.calls) == 40
    assert len({id(a) for a in adapters}) == 1
    assert all("Cookie" not in call.request.headers for call in rsps.calls)
    client.close()


def test_requests_carry_the_user_agent(rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    client = make_client(user_agent="my-app/1.0")
    client.gate.limits(principal_id="o", user_id="u")
    assert rsps.calls[0].request.headers["User-Agent"] == "my-app/1.0"
    client.close()


def test_default_user_agent_names_the_client(rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    client = make_client()
    client.gate.limits(principal_id="o", user_id="u")
    assert rsps.calls[0].request.headers["User-Agent"].startswith("vluna-client/")
    client.close()


@pytest.mark.parametrize(("method", "url", "status"), [("GET", URL["limits"], 307), ("POST", URL["authorize"], 308)])
def test_a_redirect_is_reported_once_as_an_api_error(rsps, sleeps, method, url, status) -> None:
    """Redirects are not followed (a signed request must not travel elsewhere). The 3xx answer must surface as
    an APIError carrying its status after one request -- not as a "connection failure" that is retried."""
    client = make_client()
    rsps.add(method, url, status=status, headers={"Location": "https://elsewhere.test/steal"})
    rsps.add(method, "https://elsewhere.test/steal", json=ok([]))

    def call() -> object:
        if method == "GET":
            return client.gate.limits(principal_id="o", user_id="u")
        return client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u")

    with pytest.raises(APIError) as info:
        call()
    assert info.value.status == status
    assert [c.request.url for c in rsps.calls] == [url], "exactly one request, never to the Location host"
    assert sleeps == []
    client.close()


def test_close_closes_the_pool(rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    with make_client() as client:
        client.gate.limits(principal_id="o", user_id="u")
        adapter = pooled(client)._adapter
    assert pooled(client)._adapter is None
    assert len(adapter.poolmanager.pools) == 0


def test_closed_client_refuses_calls(rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    with make_client() as client:
        pass
    with pytest.raises(ConfigurationError):
        client.gate.limits(principal_id="o", user_id="u")
    assert len(rsps.calls) == 0


def test_bound_view_shares_the_parents_connections() -> None:
    client = make_client()
    view = client.bind(principal_id="o")
    assert view.transport is client.transport
    client.close()


def test_a_bound_view_used_as_a_context_manager_leaves_the_parent_open(rsps) -> None:
    rsps.add("GET", URL["limits"], json=ok([]))
    client = make_client()
    with client.bind(principal_id="o", user_id="u") as view:
        view.gate.limits()
    view.close()  # closing a view explicitly is just as harmless
    # The process-wide client still serves the next request, over the same transport.
    client.gate.limits(principal_id="o", user_id="u")
    client.bind(principal_id="o").close()
    assert len(rsps.calls) == 2
    client.close()
    with pytest.raises(ConfigurationError, match="closed"):
        client.gate.limits(principal_id="o", user_id="u")


def test_proxy_and_ca_settings_come_from_the_environment_once_per_origin(monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    client = make_client()
    transport = pooled(client)
    first = transport.environment("https://vluna.test/mgt/v1/gate/limits?x=1")
    assert first["proxies"].get("https") == "http://proxy.internal:3128"
    assert first["verify"] == "/etc/ssl/custom.pem"
    assert transport.environment("https://bypass.test/mgt/v1/health")["proxies"] == {}
    # Read once: a later change of the environment does not cost (or change) anything for this origin.
    monkeypatch.setenv("HTTPS_PROXY", "http://other:1")
    assert transport.environment("https://vluna.test/mgt/v1/other") is first
    client.close()


# -- the seam: your own session or transport ---------------------------------------------------------------------


def test_a_user_session_is_used_with_its_own_settings_and_left_open(rsps) -> None:
    session = requests.Session()
    session.headers["X-Team"] = "billing"
    rsps.add("GET", URL["limits"], json=ok([]))
    client = make_client(session=session)
    client.gate.limits(principal_id="o", user_id="u")
    sent = rsps.calls[0].request
    assert sent.headers["X-Team"] == "billing"
    assert sent.headers["X-Realm-Id"] == "realm_demo"
    assert verify_request(sent)
    client.close()
    assert session.adapters, "the caller's session is theirs to close"
    session.close()


def test_a_custom_transport_gets_the_exact_signed_bytes() -> None:
    seen: List[Any] = []

    class Recorder:
        def send(self, method, url, headers, body, timeout):
            seen.append((method, url, dict(headers), body, timeout))
            return RawResponse(200, {"X-Request-Id": "r-1"}, json.dumps(ok(AUTHZ_DATA)).encode())

        def close(self):
            seen.append("closed")

    with make_client(transport=Recorder()) as client:
        result = client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u", timeout=(1, 2))
    method, url, headers, body, timeout = seen[0]
    assert (method, url) == ("POST", URL["authorize"])
    assert timeout == Timeout(connect=1, read=2)
    assert verify_signed(method, "/mgt/v1/gate/authorize", headers, body)
    assert json.loads(body) == {"feature_code": "llm.chat"}
    assert result.request_id == "r-1"
    assert result.data.lease_token == AUTHZ_DATA["lease_token"]
    assert seen[-1] == "closed"


@pytest.mark.parametrize(("unsent", "retried"), [(True, True), (False, False)])
def test_a_transport_error_says_whether_the_request_left(unsent, retried) -> None:
    """A transport that knows nothing left lets the client repeat even a write it cannot deduplicate."""
    attempts = []

    class Flaky:
        def send(self, method, url, headers, body, timeout):
            attempts.append(method)
            if len(attempts) == 1:
                raise TransportError("boom", unsent=unsent)
            return RawResponse(201, {}, json.dumps(ok({"saved": True})).encode())

        def close(self):
            pass

    bearer = BearerClient(
        base_url=BEARER_BASE_URL,
        realm_id="realm_demo",
        access_token=BEARER_TOKEN,
        transport=Flaky(),
        retry=fast_retrier(),
    )
    call = bearer.consent.record
    if retried:
        call(body={"consent_type": "tos"})
        assert len(attempts) == 2
    else:
        # consent.record is not deduplicated by the server: after a lost answer it must not be sent again
        with pytest.raises(OutcomeUnknownError):
            call(body={"consent_type": "tos"})
        assert len(attempts) == 1


def test_transport_and_session_are_exclusive() -> None:
    with pytest.raises(ConfigurationError, match="either"):
        make_client(session=requests.Session(), transport=object())


@pytest.mark.parametrize("bad", [object(), "requests"])
def test_a_transport_without_send_is_refused(bad) -> None:
    with pytest.raises(ConfigurationError):
        make_client(transport=bad)


def test_a_session_must_be_a_requests_session() -> None:
    with pytest.raises(ConfigurationError, match=r"requests\.Session"):
        make_client(session=object())


@pytest.mark.parametrize(
    "url",
    [
        "http://h.example/mgt/v1/gate/commits",
        "https://h.example:8443/api/v1/wallet?limit=5&cursor=a%2Fb",
        "http://h.example/p?",
        "http://h.example?x=/y",
        "http://h.example",
        "http://h.example//double/slash",
        "http://h.example/p#frag",
        "http://h.example/a b",
        "http://h.example/p\tq",
        "http://h.example/p?q=1?2",
    ],
)
def test_lean_adapter_request_url_is_requests_own(url: str) -> None:
    import requests
    from requests.adapters import HTTPAdapter

    from vluna_client._transport import _lean_adapter_class

    request = requests.Request("GET", url).prepare()
    request.url = url  # exactly as the transport hands it over (prepare() would re-quote it)
    assert _lean_adapter_class()().request_url(request, {}) == HTTPAdapter().request_url(request, {})
