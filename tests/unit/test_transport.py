"""Connection handling: per-thread sessions, fresh sessions after fork, closing."""

from __future__ import annotations

import json
import os
import threading
import warnings

import pytest
import requests
from vluna_unit_support import URL, make_client, ok

from vluna_client import APIError, ConfigurationError


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_does_not_reuse_the_parents_connection(rsps) -> None:
    client = make_client()
    rsps.add("GET", URL["limits"], json=ok([]))
    client.gate.limits(principal_id="o", user_id="u")  # the parent really used its session
    parent_session = client._pool.session()  # held here so the child cannot recycle its address
    assert client._pool._sessions == [parent_session]

    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads around
        pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            sessions_after_fork = len(client._pool._sessions)
            child_session = client._pool.session()
            report = {
                "same_object": child_session is parent_session,
                "same_id": id(child_session) == id(parent_session),
                "sessions_after_fork": sessions_after_fork,
                "pool_pid_is_child": client._pool._pid == os.getpid(),
                "sessions_now": len(client._pool._sessions),
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
    assert report["same_object"] is False
    assert report["same_id"] is False
    assert report["sessions_after_fork"] == 0, "the child must forget the parent's sessions"
    assert report["pool_pid_is_child"] is True
    assert report["sessions_now"] == 1
    # the parent keeps its own
    assert client._pool.session() is parent_session
    client.close()


def test_pool_notices_a_pid_change_even_without_fork_hooks() -> None:
    client = make_client()
    first = client._pool.session()
    client._pool._pid = -1  # as if this object had crossed a fork unnoticed
    second = client._pool.session()
    assert second is not first
    assert client._pool._sessions == [second]
    client.close()


def test_each_thread_gets_its_own_session() -> None:
    client = make_client()
    main = client._pool.session()
    seen = {}

    def work(name: str) -> None:
        seen[name] = (client._pool.session(), client._pool.session())

    threads = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a1, a2 = seen["a"]
    b1, b2 = seen["b"]
    assert a1 is a2
    assert b1 is b2
    assert len({id(main), id(a1), id(b1)}) == 3
    assert len(client._pool._sessions) == 3
    client.close()


def test_sessions_carry_the_user_agent() -> None:
    client = make_client(user_agent="my-app/1.0")
    session = client._pool.session()
    assert session.headers["User-Agent"] == "my-app/1.0"
    client.close()


@pytest.mark.parametrize(("method", "url", "status"), [("GET", URL["limits"], 307), ("POST", URL["authorize"], 308)])
def test_a_redirect_is_reported_once_as_an_api_error(rsps, sleeps, method, url, status) -> None:
    """Redirects are not followed (a signed request must not travel elsewhere). The 3xx answer must surface as
    an APIError carrying its status after one request -- not as a "connection failure" that is retried."""
    client = make_client()
    rsps.add(method, url, status=status, headers={"Location": "https://elsewhere.test/steal"})
    rsps.add(method, "https://elsewhere.test/steal", json=ok([]))
    call = (
        (lambda: client.gate.limits(principal_id="o", user_id="u"))
        if method == "GET"
        else (lambda: client.gate.authorize(feature_code="llm.chat", principal_id="o", user_id="u"))
    )
    with pytest.raises(APIError) as info:
        call()
    assert info.value.status == status
    assert [c.request.url for c in rsps.calls] == [url], "exactly one request, never to the Location host"
    assert sleeps == []
    client.close()


def test_context_manager_closes_every_session(monkeypatch) -> None:
    closed = []
    original = requests.Session.close

    def spy(self) -> None:
        closed.append(self)
        original(self)

    monkeypatch.setattr(requests.Session, "close", spy)
    with make_client() as client:
        main = client._pool.session()
        other = []
        t = threading.Thread(target=lambda: other.append(client._pool.session()))
        t.start()
        t.join()
    assert set(map(id, closed)) == {id(main), id(other[0])}
    assert client._pool._sessions == []


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
    assert view._pool is client._pool
    assert view._pool.session() is client._pool.session()
    client.close()


def test_proxy_and_ca_settings_come_from_the_environment_once_per_origin(monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.test")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/custom.pem")
    client = make_client()
    pool = client._pool
    pool.session()
    first = pool.environment("https://vluna.test/mgt/v1/gate/limits?x=1")
    assert first["proxies"].get("https") == "http://proxy.internal:3128"
    assert first["verify"] == "/etc/ssl/custom.pem"
    assert pool.environment("https://bypass.test/mgt/v1/health")["proxies"] == {}
    # Read once: a later change of the environment does not cost (or change) anything for this origin.
    monkeypatch.setenv("HTTPS_PROXY", "http://other:1")
    assert pool.environment("https://vluna.test/mgt/v1/other") is first
    # netrc and the environment are not consulted by requests itself on each call.
    assert pool.session().trust_env is False
    client.close()
