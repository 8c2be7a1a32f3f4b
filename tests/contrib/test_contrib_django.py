"""The Django glue through the real Django test client, against the emulator over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from typing import Any, Iterator

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402

from support.readme_examples import ORG, USER  # noqa: E402

if not settings.configured:
    from support.django_project import settings as project_settings

    settings.configure(**{name: value for name, value in vars(project_settings).items() if name.isupper()})
    django.setup()

from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import SystemCheckError  # noqa: E402
from django.test import Client, override_settings  # noqa: E402

from vluna_client.contrib.django import get_client  # noqa: E402
from vluna_client.contrib.django._checks import check_settings  # noqa: E402
from vluna_client.testing import Emulator  # noqa: E402

IDENTITY = "vluna_readme_django_views.current_payer"
SECRET_LOOKALIKE = "s3cr3t-Value-that-is-not-base64!!"


def credentials(emu: Emulator) -> dict[str, Any]:
    return {
        "SERVICE_BASE_URL": emu.service_base_url,
        "REALM_ID": emu.realm_id,
        "SERVICE_KEY_ID": emu.key_id,
        "SERVICE_KEY_SECRET": emu.key_secret,
    }


@pytest.fixture
def web(vluna_env: dict[str, str]) -> Iterator[Client]:
    """A Django test client; credentials from the VLUNA_* environment and IDENTITY from settings, as in the README."""
    # override_settings also resets the process-wide client on entry and exit (setting_changed).
    with override_settings(VLUNA={"IDENTITY": IDENTITY}):
        yield Client()


def sign_in(client: Client, org: str = ORG, user: str = USER) -> None:
    from django.contrib.sessions.backends.signed_cookies import SessionStore

    store = SessionStore()
    store["org_id"], store["user_id"] = org, user
    store.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key


def fresh_client(old: Client) -> Client:
    new = Client()
    new.cookies = old.cookies
    return new


def only_lease(emu: Emulator) -> Any:
    (lease,) = emu.ledger.leases()
    return lease


# -- the README example ----------------------------------------------------------------------------------------


def test_readme_settings_match_the_test_project() -> None:
    from support.readme_examples import python_blocks

    shown: dict[str, Any] = {}
    exec(python_blocks("Django")[0], shown)  # noqa: S102 - the README's own settings lines
    assert [app for app in shown["INSTALLED_APPS"] if app is not ...] == ["vluna_client.contrib.django"]
    assert set(shown["MIDDLEWARE"]) - {...} <= set(settings.MIDDLEWARE)
    assert set(shown["INSTALLED_APPS"]) - {...} <= set(settings.INSTALLED_APPS)
    assert set(shown["VLUNA"]) == {"IDENTITY"}


def test_readme_view_commits_the_measured_usage(web: Client, emu: Emulator) -> None:
    sign_in(web)
    text = "a long document " * 20
    response = web.post("/summarize", {"text": text}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {"summary": text[:80]}
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.quantity_minor, commit.principal_id, commit.user_id) == (
        "llm.summarize",
        len(text),
        ORG,
        USER,
    )
    lease = only_lease(emu)
    assert (lease.state, lease.estimated_quantity_minor, lease.lease_id) == ("committed", 1000, commit.lease_id)
    assert emu.ledger.cancels() == []


def test_readme_view_answers_401_without_a_signed_in_payer(web: Client, emu: Emulator) -> None:
    response = web.post("/summarize", {"text": "hi"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["code"] == "AUTH.UNAUTHORIZED"
    assert emu.ledger.leases() == []


def test_readme_view_answers_402_when_the_wallet_is_empty(web: Client, emu: Emulator) -> None:
    emu.set_wallet_balance(ORG, 0)
    sign_in(web)
    response = web.post("/summarize", {"text": "hi"}, content_type="application/json")
    assert response.status_code == 402
    assert response.json() == {"ok": False, "code": "SERVER.CONFIG", "message": "grant balance exhausted", "hints": []}
    assert emu.ledger.leases() == []
    assert emu.ledger.commits() == []


# -- lease outcomes --------------------------------------------------------------------------------------------


def test_a_view_that_raises_has_its_lease_cancelled(web: Client, emu: Emulator) -> None:
    sign_in(web)
    with pytest.raises(RuntimeError, match="the model fell over"):
        web.get("/boom")
    lease = only_lease(emu)
    assert lease.state == "cancelled"
    assert [c.lease_id for c in emu.ledger.cancels()] == [lease.lease_id]
    assert emu.ledger.commits() == []


def test_a_view_that_returns_without_commit_has_its_lease_cancelled(web: Client, emu: Emulator) -> None:
    sign_in(web)
    response = web.get("/free")
    assert response.status_code == 200
    lease = only_lease(emu)
    assert response.json() == {"lease": lease.lease_id}
    assert lease.state == "cancelled"
    assert emu.ledger.commits() == []


@pytest.mark.parametrize("middleware", [True, False], ids=["with-middleware", "without-middleware"])
def test_a_refusal_from_the_views_own_call_is_a_402_and_cancels_the_lease(
    web: Client, emu: Emulator, middleware: bool
) -> None:
    emu.set_wallet_balance("org_broke", 0)
    sign_in(web)
    stack = list(settings.MIDDLEWARE) if middleware else list(settings.MIDDLEWARE[:1])
    with override_settings(MIDDLEWARE=stack):
        web = fresh_client(web)  # a client loads the middleware once: the new stack needs a new client
        response = web.get("/delegate")
    assert response.status_code == 402
    assert response.json()["message"] == "grant balance exhausted"
    lease = only_lease(emu)
    assert (lease.principal_id, lease.state) == (ORG, "cancelled")


def test_the_middleware_answers_402_for_views_that_are_not_gated(web: Client) -> None:
    response = web.get("/plain")
    assert response.status_code == 402
    assert response.json() == {
        "ok": False,
        "code": "BUDGET.EXCEEDED",
        "message": "budget exceeded",
        "hints": [{"type": "budget.remaining", "budget_id": "b_1", "remaining_xusd": "0"}],
    }
    from vluna_client import PaymentRequiredError

    with override_settings(MIDDLEWARE=list(settings.MIDDLEWARE[:1])), pytest.raises(PaymentRequiredError):
        fresh_client(web).get("/plain")  # without the middleware the refusal reaches Django's own handling


def test_the_mixin_gates_every_request_of_a_class_based_view(web: Client, emu: Emulator) -> None:
    sign_in(web)
    response = web.post("/mixin", {"used": 42}, content_type="application/json")
    assert response.status_code == 200, response.content
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.quantity_minor) == ("llm.embed", 42)
    assert only_lease(emu).estimated_quantity_minor == 50
    assert web.get("/mixin").status_code == 405  # refused by View.dispatch inside the lease: cancelled
    assert [lease.state for lease in emu.ledger.leases()] == ["committed", "cancelled"]


def test_method_decorator_gates_only_the_decorated_method(web: Client, emu: Emulator) -> None:
    sign_in(web)
    assert web.get("/method").json() == {"gated": False}
    assert emu.ledger.leases() == []
    assert web.post("/method").json() == {"gated": True}
    (commit,) = emu.ledger.commits()
    assert (commit.feature_code, commit.quantity_minor) == ("llm.rerank", 3)


# -- configuration ---------------------------------------------------------------------------------------------


def test_settings_win_over_the_environment_and_override_settings_rebuilds_the_client(
    vluna_env: dict[str, str], emu: Emulator
) -> None:
    with override_settings(VLUNA={"IDENTITY": IDENTITY}):
        from_env = get_client()
        assert get_client() is from_env
        assert from_env.realm_id == emu.realm_id
    with override_settings(VLUNA={"IDENTITY": IDENTITY, "REALM_ID": "realm_other", "TIMEOUT": 3}):
        overridden = get_client()
    assert overridden is not from_env
    assert overridden.realm_id == "realm_other"
    assert overridden.base_url == emu.service_base_url
    assert overridden.timeout.as_tuple() == (3.0, 3.0)


def test_get_client_names_every_missing_setting(emu: Emulator) -> None:
    with override_settings(VLUNA={"SERVICE_KEY_SECRET": emu.key_secret}), pytest.raises(ImproperlyConfigured) as e:
        get_client()
    message = str(e.value)
    assert all(name in message for name in ("SERVICE_BASE_URL", "REALM_ID", "SERVICE_KEY_ID"))
    assert emu.key_secret not in message


def test_a_gated_view_without_identity_raises_a_clear_error(vluna_env: dict[str, str], emu: Emulator) -> None:
    web = Client()
    with override_settings(VLUNA={}), pytest.raises(ImproperlyConfigured, match=r'VLUNA\["IDENTITY"\] is not set'):
        web.post("/summarize", {"text": "hi"}, content_type="application/json", HTTP_X_PRINCIPAL_ID=ORG)
    assert emu.ledger.leases() == []


# -- system checks ---------------------------------------------------------------------------------------------


def _ids(vluna: Any) -> list[str]:
    with override_settings(VLUNA=vluna):
        messages = check_settings()
    text = " ".join(f"{m.msg} {m.hint}" for m in messages)
    assert SECRET_LOOKALIKE not in text
    return sorted(m.id for m in messages)


def test_checks_pass_for_a_complete_configuration(emu: Emulator) -> None:
    assert _ids({**credentials(emu), "IDENTITY": IDENTITY, "TIMEOUT": 5}) == []


def test_checks_pass_with_credentials_from_the_environment(vluna_env: dict[str, str]) -> None:
    assert _ids({"IDENTITY": IDENTITY}) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"SERVICE_KEY_ID": None, "REALM_ID": ""}, ["vluna.E001"]),
        ({"SERVICE_BASE_URL": "ftp://vluna.example/mgt/v1"}, ["vluna.E002"]),
        ({"SERVICE_BASE_URL": "https://vluna.example/mgt/v1?realm=x"}, ["vluna.E002"]),
        ({"SERVICE_BASE_URL": "https://vluna.example/api/v1"}, ["vluna.E003"]),
        ({"SERVICE_KEY_SECRET": SECRET_LOOKALIKE}, ["vluna.E004"]),
        ({"IDENTITY": None}, ["vluna.E005"]),
        ({"IDENTITY": "vluna_readme_django_views.no_such_function"}, ["vluna.E005"]),
        ({"IDENTITY": "no_such_module.current_payer"}, ["vluna.E005"]),
        ({"IDENTITY": 42}, ["vluna.E005"]),
        ({"TIMEOUT": "soon"}, ["vluna.E007"]),
        ({"TIMEOUT": 0}, ["vluna.E007"]),
        ({"TIMEOUT": "inf"}, ["vluna.E007"]),
        ({"TIMEOUT": float("inf")}, ["vluna.E007"]),
        ({"TIMEOUT": "1e10"}, ["vluna.E007"]),
        ({"TIMEOUT": 2**63}, ["vluna.E007"]),
        ({"TIMEOUT": (5, float("nan"))}, ["vluna.E007"]),
        ({"TIMEOUT": 601}, ["vluna.E007"]),
        ({"REALM_ID": " realm_with_spaces "}, ["vluna.E008"]),
        ({"SERVIC_KEY_ID": "typo"}, ["vluna.W001"]),
    ],
)
def test_each_check_reports_its_problem(emu: Emulator, change: dict[str, Any], expected: list[str]) -> None:
    vluna = {**credentials(emu), "IDENTITY": IDENTITY}
    for key, value in change.items():
        if value is None:
            vluna.pop(key, None)
        else:
            vluna[key] = value
    assert _ids(vluna) == expected


# Each value the checks once judged differently from the client (no ASCII or control-character rule on the URL,
# /mgt/v1 required where the client only refuses /api/v1, the key id held to the header rule instead of the
# signature's), with what the checks report now: exactly what ServiceClient(...) refuses.
DRIFTED = [
    ({"SERVICE_BASE_URL": "https://vl\u00fcna.example/mgt/v1"}, ["vluna.E002"]),
    ({"SERVICE_BASE_URL": "https://vluna.example/mgt/v1\n"}, ["vluna.E002"]),
    ({"SERVICE_BASE_URL": "https://vluna.example/mgt/v1\t"}, ["vluna.E002"]),
    ({"SERVICE_BASE_URL": "https://vluna.example/m gt/v1"}, ["vluna.E002"]),
    ({"SERVICE_BASE_URL": "https://vluna.example/billing-proxy"}, []),
    ({"SERVICE_BASE_URL": "https://vluna.example"}, []),
    ({"SERVICE_BASE_URL": "https://vluna.example/mgt/v1/"}, []),
    ({"SERVICE_KEY_ID": "pk-a,b"}, ["vluna.E008"]),
    ({"SERVICE_KEY_ID": "pk-\u00e9"}, ["vluna.E008"]),
    ({"SERVICE_KEY_ID": "pk a"}, ["vluna.E008"]),
    ({"SERVICE_KEY_SECRET": b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, ["vluna.E004"]),
    ({"SERVICE_KEY_SECRET": "===="}, ["vluna.E004"]),
]


@pytest.mark.parametrize(("change", "expected"), DRIFTED)
def test_the_checks_refuse_what_the_client_refuses(emu: Emulator, change: dict[str, Any], expected: list[str]) -> None:
    from vluna_client import ConfigurationError, ServiceClient

    vluna = {**credentials(emu), "IDENTITY": IDENTITY, **change}
    assert _ids(vluna) == expected
    arguments = {"base_url": "SERVICE_BASE_URL", "realm_id": "REALM_ID", "key_id": "SERVICE_KEY_ID"}
    given = {argument: vluna[name] for argument, name in arguments.items()}
    try:
        ServiceClient(**given, key_secret=vluna["SERVICE_KEY_SECRET"]).close()
    except ConfigurationError:
        refused = True
    else:
        refused = False
    assert refused == bool(expected)


def test_a_check_message_names_the_setting_and_the_rule() -> None:
    with override_settings(VLUNA={"SERVICE_BASE_URL": "https://vl\u00fcna.example/mgt/v1", "IDENTITY": IDENTITY}):
        (message,) = [m for m in check_settings() if m.id == "vluna.E002"]
    assert message.msg == "SERVICE_BASE_URL must be ASCII (write an international domain name in its xn-- form)"


def test_a_vluna_setting_that_is_not_a_dict_is_reported() -> None:
    assert _ids(["SERVICE_BASE_URL"]) == ["vluna.E006"]


def test_manage_py_check_fails_without_showing_the_secret(emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    vluna = {**credentials(emu), "SERVICE_KEY_SECRET": SECRET_LOOKALIKE, "SERVICE_BASE_URL": "https://x/api/v1"}
    out, err = io.StringIO(), io.StringIO()
    with override_settings(VLUNA=vluna), pytest.raises(SystemCheckError) as caught:
        call_command("check", stdout=out, stderr=err)
    shown = str(caught.value) + out.getvalue() + err.getvalue() + "".join(capsys.readouterr())
    assert "vluna.E003" in shown
    assert "vluna.E004" in shown
    assert SECRET_LOOKALIKE not in shown
    assert SECRET_LOOKALIKE[:10] not in shown
    with override_settings(VLUNA={**credentials(emu), "IDENTITY": IDENTITY}):
        call_command("check", stdout=io.StringIO())  # passes once fixed


# -- manage.py test, with the real runner: the emulator starts first, the checks do not block the run -------------


def _manage_py_test(extra_env: dict[str, str]) -> Any:
    import os
    import subprocess
    import sys
    from pathlib import Path

    import vluna_client

    project = Path(__file__).resolve().parents[1] / "support" / "django_manage_project"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLUNA_", "DJANGO_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(project), str(Path(vluna_client.__file__).resolve().parents[1])])
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "2"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_manage_py_test_runs_against_the_emulator_with_no_credentials_anywhere() -> None:
    done = _manage_py_test({})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Ran 2 tests" in output
    assert "vluna.E001" not in output


def test_without_the_runner_the_checks_stop_manage_py_test() -> None:
    done = _manage_py_test({"SHOP_DEFAULT_RUNNER": "1"})
    assert done.returncode != 0
    assert "vluna.E001" in done.stdout + done.stderr


# -- a client from the settings, 429 and refusing an underfunded authorize -----------------------------------------


def test_a_client_named_in_settings_is_used_and_needs_no_credentials(emu: Emulator) -> None:
    from vluna_client import ServiceClient

    client = emu.service_client()
    assert "vluna.E001" not in _ids({"CLIENT": client, "IDENTITY": IDENTITY})  # the client brings its credentials
    with override_settings(VLUNA={"CLIENT": client, "IDENTITY": IDENTITY}):
        assert get_client() is client
    client.gate.limits(principal_id=ORG, user_id=USER)  # leaving override_settings did not close the given client
    with override_settings(VLUNA={"CLIENT": lambda: client, "IDENTITY": IDENTITY}):
        assert get_client() is client
    with (
        override_settings(VLUNA={"CLIENT": "builtins.dict", "IDENTITY": IDENTITY}),
        pytest.raises(ImproperlyConfigured),
    ):
        get_client()
    assert isinstance(client, ServiceClient)
    client.close()


def test_retry_and_transport_settings_configure_the_built_client(emu: Emulator) -> None:
    from vluna_client import RequestsTransport, RetryPolicy

    transport = RequestsTransport()
    vluna = {**credentials(emu), "IDENTITY": IDENTITY, "RETRY": RetryPolicy(max_attempts=1), "TRANSPORT": transport}
    with override_settings(VLUNA=vluna):
        assert get_client().retry.max_attempts == 1
        assert get_client().transport is transport
    vluna["TRANSPORT"] = "vluna_client.RequestsTransport"  # a dotted path to a class builds one
    with override_settings(VLUNA=vluna):
        assert isinstance(get_client().transport, RequestsTransport)


def test_a_rate_limit_answers_429_with_retry_after(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES

    emu.set_rate_limit("llm.chat", 1, window_seconds=3600)
    client = emu.service_client(retry=NO_RETRIES)
    with override_settings(VLUNA={"CLIENT": client, "IDENTITY": IDENTITY}):
        web = Client()
        sign_in(web)
        assert web.post("/free").status_code == 200
        answer = web.post("/free")
    assert answer.status_code == 429
    (hint,) = answer.json()["hints"]
    assert int(answer["Retry-After"]) == hint["seconds"]
    client.close()


def test_refuse_shortfall_answers_402_with_the_hints_and_gives_the_lease_back(emu: Emulator) -> None:
    emu.set_wallet_balance(ORG, 1)  # authorize passes with a shortfall hint, as the server does
    vluna = {**credentials(emu), "IDENTITY": IDENTITY}
    with override_settings(VLUNA={**vluna, "REFUSE_SHORTFALL": True}):
        web = Client()
        sign_in(web)
        answer = web.post("/mixin", data={"used": 5}, content_type="application/json")
    assert answer.status_code == 402
    assert answer.json()["code"] == "FUNDING.SHORTFALL"
    assert "funding.xusd_shortfall" in [hint["type"] for hint in answer.json()["hints"]]
    (lease,) = emu.ledger.leases()
    assert lease.state == "cancelled"
    with override_settings(VLUNA=vluna):  # the default: the view runs
        web = Client()
        sign_in(web)
        assert web.post("/mixin", data={"used": 5}, content_type="application/json").status_code == 200


def test_a_permission_refusal_from_authorize_answers_403_and_the_view_never_runs(emu: Emulator) -> None:
    from vluna_client import NO_RETRIES

    client = emu.service_client(retry=NO_RETRIES)
    emu.faults.fail_next(1, 403, path="/mgt/v1/gate/authorize", code="QUOTA.EXCEEDED", message="monthly quota used")
    with override_settings(VLUNA={"CLIENT": client, "IDENTITY": IDENTITY}):
        web = Client()
        sign_in(web)
        answer = web.post("/free")
    assert answer.status_code == 403
    assert answer.json() == {"ok": False, "code": "QUOTA.EXCEEDED", "message": "monthly quota used", "hints": []}
    assert not answer.has_header("Retry-After")
    assert emu.ledger.leases() == []  # refused at authorize: the view never ran
    assert emu.key_secret not in answer.content.decode()
    client.close()
