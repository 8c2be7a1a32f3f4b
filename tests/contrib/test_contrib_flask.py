"""The Flask glue through the real Flask test client, against the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

flask = pytest.importorskip("flask")

from support.readme_examples import ORG, USER, load_module  # noqa: E402
from vluna_client import ConfigurationError, PaymentRequiredError, ServiceClient  # noqa: E402
from vluna_client.contrib.flask import Vluna  # noqa: E402
from vluna_client.testing import Emulator  # noqa: E402


def sign_in(client: Any, org: str = ORG, user: str = USER) -> None:
    with client.session_transaction() as session:
        session["org_id"], session["user_id"] = org, user


@pytest.fixture
def readme_app(vluna_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The README's Flask example, configured only through the environment."""
    monkeypatch.setenv("FLASK_SECRET_KEY", "test-only-session-key")
    module = load_module("Flask", 0, "vluna_readme_flask_app")
    module.app.testing = True
    yield module
    module.app.extensions["vluna"].reset()  # closes the client if one was built


def make_app(emu: Emulator, **vluna_options: Any) -> tuple[Any, Vluna]:
    app = flask.Flask("gated_test_app")
    app.testing = True
    app.secret_key = "test-only-session-key"
    app.config.update({"VLUNA_" + key: value for key, value in _config(emu).items()})
    vluna = Vluna(app, identity=lambda: (flask.session["org_id"], flask.session["user_id"]), **vluna_options)
    return app, vluna


def _config(emu: Emulator) -> dict[str, str]:
    return {
        "SERVICE_BASE_URL": emu.service_base_url,
        "REALM_ID": emu.realm_id,
        "SERVICE_KEY_ID": emu.key_id,
        "SERVICE_KEY_SECRET": emu.key_secret,
    }


def only_lease(emu: Emulator) -> Any:
    (lease,) = emu.ledger.leases()
    return lease


# -- the README example ----------------------------------------------------------------------------------------


def test_readme_example_commits_the_measured_usage(readme_app: Any, emu: Emulator) -> None:
    client = readme_app.app.test_client()
    sign_in(client)
    text = "a long document " * 20
    response = client.post("/summarize", json={"text": text})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"summary": text[:80]}
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.quantity_minor) == ("llm.summarize", len(text))
    assert (commit.principal_id, commit.user_id) == (ORG, USER)
    lease = only_lease(emu)
    assert (lease.state, lease.estimated_quantity_minor, lease.lease_id) == ("committed", 1000, commit.lease_id)
    assert emu.ledger.cancels() == []


def test_readme_example_answers_401_without_a_signed_in_payer(readme_app: Any, emu: Emulator) -> None:
    response = readme_app.app.test_client().post("/summarize", json={"text": "hello"})
    assert response.status_code == 401
    assert response.get_json() == {
        "ok": False,
        "code": "AUTH.UNAUTHORIZED",
        "message": "sign in to use this feature",
        "hints": [],
    }
    assert emu.ledger.leases() == []


def test_readme_example_answers_402_when_the_wallet_is_empty(readme_app: Any, emu: Emulator) -> None:
    emu.set_wallet_balance(ORG, 0)
    client = readme_app.app.test_client()
    sign_in(client)
    response = client.post("/summarize", json={"text": "hello"})
    assert response.status_code == 402
    assert response.get_json() == {
        "ok": False,
        "code": "SERVER.CONFIG",
        "message": "grant balance exhausted",
        "hints": [],
    }
    assert emu.ledger.leases() == []
    assert emu.ledger.commits() == []


def test_readme_example_shares_one_client_across_threads(readme_app: Any, emu: Emulator) -> None:
    seen: list[ServiceClient] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        with readme_app.app.app_context():
            seen.append(readme_app.vluna.client)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert all(client is seen[0] for client in seen)
    assert seen[0].base_url == emu.service_base_url


# -- lease outcomes --------------------------------------------------------------------------------------------


def test_a_view_that_raises_has_its_lease_cancelled(emu: Emulator) -> None:
    app, vluna = make_app(emu)

    @app.get("/boom")
    @vluna.gated("llm.chat")
    def boom() -> Any:
        assert flask.g.vluna_lease.state == "open"
        raise RuntimeError("the model fell over")

    client = app.test_client()
    sign_in(client)
    with pytest.raises(RuntimeError, match="the model fell over"):
        client.get("/boom")
    lease = only_lease(emu)
    assert lease.state == "cancelled"
    assert [c.lease_id for c in emu.ledger.cancels()] == [lease.lease_id]
    assert emu.ledger.commits() == []


def test_a_view_that_returns_without_commit_has_its_lease_cancelled(emu: Emulator) -> None:
    app, vluna = make_app(emu)

    @app.get("/free")
    @vluna.gated("llm.chat", labels={"route": "free"})
    def free() -> Any:
        return {"lease": flask.g.vluna_lease.lease_id}

    client = app.test_client()
    sign_in(client)
    response = client.get("/free")
    assert response.status_code == 200
    lease = only_lease(emu)
    assert response.get_json() == {"lease": lease.lease_id}
    assert lease.state == "cancelled"
    assert emu.ledger.commits() == []


def test_a_refusal_raised_by_the_views_own_call_is_a_402_and_cancels_the_lease(emu: Emulator) -> None:
    emu.set_wallet_balance("org_broke", 0)
    app, vluna = make_app(emu)

    @app.get("/delegate")
    @vluna.gated("llm.chat")
    def delegate() -> Any:
        # a second paid step billed to another payer, whose wallet is empty
        with vluna.client.lease(feature_code="llm.tool", principal_id="org_broke", user_id=USER):
            raise AssertionError("unreachable: authorize refuses")

    client = app.test_client()
    sign_in(client)
    response = client.get("/delegate")
    assert response.status_code == 402
    assert response.get_json()["message"] == "grant balance exhausted"
    lease = only_lease(emu)
    assert (lease.principal_id, lease.state) == (ORG, "cancelled")


def test_the_402_handler_covers_views_that_are_not_gated_and_keeps_every_hint_field(emu: Emulator) -> None:
    app, _vluna = make_app(emu)

    @app.get("/plain")
    def plain() -> Any:
        # hints as a deployment sends them with a refusal (the emulator's 402s carry none)
        from vluna_client import Hint

        raise PaymentRequiredError(
            "budget exceeded",
            status=402,
            code="BUDGET.EXCEEDED",
            hints=[Hint("budget.remaining", {"budget_id": "b_1", "remaining_xusd": "0"}), Hint("funding.topup")],
        )

    response = app.test_client().get("/plain")
    assert response.status_code == 402
    assert response.get_json() == {
        "ok": False,
        "code": "BUDGET.EXCEEDED",
        "message": "budget exceeded",
        "hints": [{"type": "budget.remaining", "budget_id": "b_1", "remaining_xusd": "0"}, {"type": "funding.topup"}],
    }


def test_an_unknown_commit_outcome_is_not_turned_into_a_refusal(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES, APIConnectionError, OutcomeUnknownError

    app, vluna = make_app(emu)
    app.config["VLUNA_TIMEOUT"] = "5"
    emu.faults.drop_response_after_processing(3, path="/mgt/v1/gate/commits")

    @app.post("/charge")
    @vluna.gated("llm.chat")
    def charge() -> Any:
        flask.g.vluna_lease.commit(quantity_minor=7)
        return {"ok": True}

    client = app.test_client()
    sign_in(client)
    assert vluna.client.retry is not NO_RETRIES
    # (OutcomeUnknownError once the client reports lost write answers as such; APIConnectionError before that)
    with pytest.raises((OutcomeUnknownError, APIConnectionError)):
        client.post("/charge")
    # the commit was recorded, and the lease is left for a replay instead of being cancelled
    (commit,) = emu.ledger.commits()
    assert commit.quantity_minor == 7
    assert emu.ledger.cancels() == []


# -- configuration ---------------------------------------------------------------------------------------------


def test_app_config_wins_over_the_environment(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLUNA_SERVICE_BASE_URL", "http://127.0.0.1:9/mgt/v1")
    monkeypatch.setenv("VLUNA_REALM_ID", "realm_from_env")
    app, vluna = make_app(emu)
    app.config["VLUNA_TIMEOUT"] = 4
    with app.app_context():
        client = vluna.client
    assert (client.base_url, client.realm_id) == (emu.service_base_url, emu.realm_id)
    assert client.timeout.as_tuple() == (4.0, 4.0)


def test_the_environment_fills_what_app_config_lacks(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLUNA_SERVICE_KEY_SECRET", emu.key_secret)
    monkeypatch.setenv("VLUNA_REALM_ID", emu.realm_id)
    app = flask.Flask("partial")
    app.config["VLUNA_SERVICE_BASE_URL"] = emu.service_base_url
    app.config["VLUNA_SERVICE_KEY_ID"] = emu.key_id
    vluna = Vluna(app)
    with app.app_context():
        assert vluna.client.health().data.status == "healthy"
        assert vluna.client.realm_id == emu.realm_id


def test_missing_settings_are_all_named_and_the_secret_is_never_shown(emu: Emulator) -> None:
    app = flask.Flask("unconfigured")
    app.config["VLUNA_SERVICE_KEY_SECRET"] = emu.key_secret
    vluna = Vluna(app)
    with app.app_context(), pytest.raises(ConfigurationError) as caught:
        _ = vluna.client
    message = str(caught.value)
    for name in ("SERVICE_BASE_URL", "REALM_ID", "SERVICE_KEY_ID"):
        assert name in message
    assert "SERVICE_KEY_SECRET" not in message
    assert emu.key_secret not in message
    assert emu.key_secret[:12] not in message


def test_a_malformed_secret_fails_without_showing_it(emu: Emulator) -> None:
    app = flask.Flask("bad_secret")
    app.config.update({"VLUNA_" + key: value for key, value in _config(emu).items()})
    app.config["VLUNA_SERVICE_KEY_SECRET"] = "not base64 at all!"
    vluna = Vluna(app)
    with app.app_context(), pytest.raises(ConfigurationError) as caught:
        _ = vluna.client
    assert "base64" in str(caught.value)
    assert "not base64 at all!" not in str(caught.value)


def test_a_gated_view_without_identity_raises_a_clear_error(emu: Emulator) -> None:
    app = flask.Flask("no_identity")
    app.testing = True
    app.config.update({"VLUNA_" + key: value for key, value in _config(emu).items()})
    vluna = Vluna(app)

    @app.get("/paid")
    @vluna.gated("llm.chat")
    def paid() -> Any:
        raise AssertionError("unreachable")

    with pytest.raises(ConfigurationError, match=r"no identity is set: pass Vluna\(identity=fn\)"):
        app.test_client().get("/paid", headers={"X-Principal-Id": ORG, "X-User-Id": USER})
    assert emu.ledger.leases() == []


def test_an_identity_of_the_wrong_shape_is_a_programming_error(emu: Emulator) -> None:
    app, vluna = make_app(emu)
    vluna.identity = lambda: ORG  # type: ignore[assignment,return-value]

    @app.get("/paid")
    @vluna.gated("llm.chat")
    def paid() -> Any:
        raise AssertionError("unreachable")

    with pytest.raises(ConfigurationError, match=r"must return \(principal_id, user_id\)"):
        app.test_client().get("/paid")


def test_init_app_supports_the_application_factory_pattern(emu: Emulator) -> None:
    vluna = Vluna(identity=lambda: (ORG, USER))
    apps = []
    for name in ("first", "second"):
        app = flask.Flask(name)
        app.config.update({"VLUNA_" + key: value for key, value in _config(emu).items()})
        vluna.init_app(app)
        apps.append(app)
    with apps[0].app_context():
        first = vluna.client
    with apps[1].app_context():
        second = vluna.client
    assert first is not second  # one client per app, each from its own config
    with pytest.raises(RuntimeError, match="app context"):
        _ = vluna.client


@pytest.mark.parametrize("bad", ["inf", "1e10", float("inf"), 2**63, "0", "soon", -3])
def test_an_unusable_timeout_fails_at_init_app_not_on_a_request(emu: Emulator, bad: Any) -> None:
    app = flask.Flask("bad_timeout")
    app.config.update({"VLUNA_" + key: value for key, value in _config(emu).items()})
    app.config["VLUNA_TIMEOUT"] = bad
    with pytest.raises(ConfigurationError, match="VLUNA_TIMEOUT"):
        Vluna(app, identity=lambda: (ORG, USER))


def test_an_unusable_timeout_set_after_init_app_fails_when_the_client_is_built(emu: Emulator) -> None:
    app, vluna = make_app(emu)
    app.config["VLUNA_TIMEOUT"] = "inf"
    with app.app_context(), pytest.raises(ConfigurationError, match="TIMEOUT"):
        _ = vluna.client


# -- a client (or factory), retry and transport; 429; refusing an underfunded authorize ---------------------------


def _gated_app(vluna: Vluna, app: Any, **gated: Any) -> Any:
    @app.post("/work")
    @vluna.gated("llm.chat", estimated_quantity_minor=100, **gated)
    def work() -> Any:
        flask.g.vluna_lease.commit(quantity_minor=100)
        return {"done": True}

    return app.test_client()


def test_the_extension_uses_a_given_client_and_its_fast_retries(emu: Emulator) -> None:
    from vluna_client import OutcomeUnknownError, Retrier, RetryPolicy

    waits: list[float] = []
    client = emu.service_client(retry=Retrier(RetryPolicy(max_attempts=2), sleep=waits.append))  # type: ignore[arg-type]
    app = flask.Flask("given_client")
    app.testing = True  # the view's exception reaches the test
    vluna = Vluna(app, identity=lambda: (ORG, USER), client=client)
    assert vluna.client is client  # no app.config needed at all
    http = _gated_app(vluna, app)
    emu.faults.drop_response_after_processing(2, path="/mgt/v1/gate/commits")
    with pytest.raises(OutcomeUnknownError):
        http.post("/work")
    assert len(waits) == 1  # the app's own calls went through the given policy, without sleeping
    client.close()


def test_a_client_factory_is_called_once_per_app(emu: Emulator) -> None:
    built: list[ServiceClient] = []

    def factory() -> ServiceClient:
        built.append(emu.service_client())
        return built[-1]

    app = flask.Flask("factory_client")
    vluna = Vluna(app, identity=lambda: (ORG, USER), client=factory)
    http = _gated_app(vluna, app)
    assert http.post("/work").status_code == 200
    assert http.post("/work").status_code == 200
    assert len(built) == 1
    built[0].close()


def test_retry_and_transport_configure_the_client_built_from_the_config(emu: Emulator) -> None:
    from vluna_client import RequestsTransport, RetryPolicy

    transport = RequestsTransport()
    app, vluna = make_app(emu, retry=RetryPolicy(max_attempts=1), transport=transport)
    with app.app_context():
        assert vluna.client.retry.max_attempts == 1
        assert vluna.client.transport is transport
    with pytest.raises(ConfigurationError, match="retry/transport"):
        Vluna(identity=lambda: None, client=emu.service_client(), retry=RetryPolicy())
    with pytest.raises(ConfigurationError, match="ServiceClient or a callable"):
        Vluna(identity=lambda: None, client="not a client")  # type: ignore[arg-type]
    transport.close()


def test_a_rate_limit_answers_429_with_retry_after(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES

    client = emu.service_client(retry=NO_RETRIES)
    app = flask.Flask("rate_limited")
    vluna = Vluna(app, identity=lambda: (ORG, USER), client=client)
    emu.set_rate_limit("llm.fast", 1, window_seconds=3600)

    @app.post("/fast")
    @vluna.gated("llm.fast")
    def fast() -> Any:
        return {"ok": True}

    http = app.test_client()
    assert http.post("/fast").status_code == 200
    answer = http.post("/fast")
    assert answer.status_code == 429
    body = answer.get_json()
    assert body["code"] == "LIMIT.RATE_EXCEEDED"
    (hint,) = body["hints"]
    assert hint["type"] == "rate.limit"
    assert int(answer.headers["Retry-After"]) == hint["seconds"]
    client.close()


def test_an_underfunded_authorize_runs_the_view_unless_asked_to_refuse(emu: Emulator) -> None:
    client = emu.service_client()
    for org in ("org_lenient", "org_strict", "org_per_view"):
        emu.set_wallet_balance(org, 20)  # less than the estimate costs: authorize passes, with a shortfall hint

    app = flask.Flask("shortfall")
    vluna = Vluna(app, identity=lambda: ("org_lenient", USER), client=client)
    assert _gated_app(vluna, app).post("/work").status_code == 200  # as the server does: the work runs
    (commit,) = emu.ledger.commits()
    assert (commit.quantity_minor, commit.application_status) == (100, "applied")
    assert int(commit.applied_amount_xusd) > 20  # charged in full, beyond the balance: the debt is recorded

    strict = flask.Flask("shortfall_refused")
    refusing = Vluna(strict, identity=lambda: ("org_strict", USER), client=client, refuse_shortfall=True)
    answer = _gated_app(refusing, strict).post("/work")
    assert answer.status_code == 402
    body = answer.get_json()
    assert body["code"] == "FUNDING.SHORTFALL"
    assert "funding.xusd_shortfall" in [hint["type"] for hint in body["hints"]]
    assert len(emu.ledger.commits()) == 1  # nothing more was charged
    assert emu.ledger.leases()[-1].state == "cancelled"  # and the lease was given back
    assert emu.wallet_balance("org_strict") == 20

    per_view = flask.Flask("shortfall_per_view")
    lenient = Vluna(per_view, identity=lambda: ("org_per_view", USER), client=client, refuse_shortfall=True)
    assert _gated_app(lenient, per_view, refuse_shortfall=False).post("/work").status_code == 200
    client.close()


def test_a_permission_refusal_from_authorize_answers_403_and_the_view_never_runs(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES

    client = emu.service_client(retry=NO_RETRIES)
    app = flask.Flask("forbidden")
    app.testing = True  # an unanswered exception would reach the test instead of becoming a 500
    vluna = Vluna(app, identity=lambda: (ORG, USER), client=client)
    ran: list[bool] = []

    @app.post("/quota")
    @vluna.gated("llm.chat", estimated_quantity_minor=100)
    def quota() -> Any:
        ran.append(True)
        return {"ok": True}

    emu.faults.fail_next(1, 403, path="/mgt/v1/gate/authorize", code="QUOTA.EXCEEDED", message="monthly quota used")
    answer = app.test_client().post("/quota")
    assert answer.status_code == 403
    assert answer.get_json() == {"ok": False, "code": "QUOTA.EXCEEDED", "message": "monthly quota used", "hints": []}
    assert "Retry-After" not in answer.headers
    assert ran == []
    assert emu.ledger.leases() == []
    assert emu.key_secret not in answer.get_data(as_text=True)
    client.close()
