"""Client construction: from_env, argument checks, repr, context manager."""

from __future__ import annotations

import pytest

from support.mock_deployment import (
    BASE_URL,
    BEARER_BASE_URL,
    BEARER_TOKEN,
    KEY_ID,
    REALM,
    SECRET_B64,
    URL,
    make_client,
    ok,
    verify_request,
)
from vluna_client import BearerClient, ConfigurationError, RetryPolicy, ServiceClient, Timeout

SERVICE_ENV = {
    "VLUNA_SERVICE_BASE_URL": BASE_URL,
    "VLUNA_REALM_ID": REALM,
    "VLUNA_SERVICE_KEY_ID": KEY_ID,
    "VLUNA_SERVICE_KEY_SECRET": SECRET_B64,
}
BEARER_ENV = {
    "VLUNA_BEARER_BASE_URL": BEARER_BASE_URL,
    "VLUNA_REALM_ID": REALM,
    "VLUNA_ACCESS_TOKEN": BEARER_TOKEN,
}
ALL_VARS = sorted(set(SERVICE_ENV) | set(BEARER_ENV))


@pytest.fixture
def env(monkeypatch):
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)

    def set_vars(values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_vars


def test_service_from_env_reads_its_variables(env, rsps) -> None:
    env(SERVICE_ENV)
    client = ServiceClient.from_env()
    assert client.base_url == BASE_URL
    assert client.realm_id == REALM
    assert KEY_ID in repr(client)
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    client.features.list()
    verify_request(rsps.calls[0].request)  # the env secret is the one used to sign
    client.close()


def test_bearer_from_env_reads_its_variables(env, rsps) -> None:
    env(BEARER_ENV)
    client = BearerClient.from_env()
    assert client.base_url == BEARER_BASE_URL
    assert client.realm_id == REALM
    rsps.add("GET", f"{BEARER_BASE_URL}/catalog/products", json=ok([], meta={"next_cursor": None}))
    client.catalog.list_products()
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {BEARER_TOKEN}"
    client.close()


@pytest.mark.parametrize("missing", sorted(SERVICE_ENV))
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_service_from_env_names_the_missing_variable(env, monkeypatch, missing, how) -> None:
    env(SERVICE_ENV)
    if how == "unset":
        monkeypatch.delenv(missing)
    else:
        monkeypatch.setenv(missing, "")
    with pytest.raises(ConfigurationError) as info:
        ServiceClient.from_env()
    message = str(info.value)
    assert missing in message
    for name, value in SERVICE_ENV.items():
        if name != "VLUNA_REALM_ID":  # realm id is short and not secret; everything else must not be echoed
            assert value not in message


@pytest.mark.parametrize("missing", sorted(BEARER_ENV))
def test_bearer_from_env_names_the_missing_variable(env, monkeypatch, missing) -> None:
    env(BEARER_ENV)
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigurationError) as info:
        BearerClient.from_env()
    assert missing in str(info.value)
    assert BEARER_TOKEN not in str(info.value)


def test_from_env_keywords_override_the_environment(env) -> None:
    env(SERVICE_ENV)
    client = ServiceClient.from_env(base_url="https://other.test/mgt/v1", realm_id="realm_other")
    assert client.base_url == "https://other.test/mgt/v1"
    assert client.realm_id == "realm_other"
    client.close()


def test_from_env_keywords_fill_in_missing_variables(env) -> None:
    client = ServiceClient.from_env(base_url=BASE_URL, realm_id=REALM, key_id=KEY_ID, key_secret=SECRET_B64)
    assert client.base_url == BASE_URL
    client.close()


def test_from_env_bad_secret_names_the_problem_not_the_value(env, monkeypatch) -> None:
    env(SERVICE_ENV)
    bad = "this is not base64 but a leaked password"
    monkeypatch.setenv("VLUNA_SERVICE_KEY_SECRET", bad)
    with pytest.raises(ConfigurationError) as info:
        ServiceClient.from_env()
    assert bad not in str(info.value)
    assert "leaked password" not in str(info.value)
    assert "secret" in str(info.value).lower()


def test_from_env_passes_timeout_and_retry(env) -> None:
    env(SERVICE_ENV)
    policy = RetryPolicy(max_attempts=7)
    client = ServiceClient.from_env(timeout=(1, 2), retry=policy)
    assert client.timeout == Timeout(connect=1, read=2)
    assert client.retry is policy
    client.close()


# -- constructor checks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", ["not base64!!", "AAEC AwQF*", "", "====", "QUJD#", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"]
)
def test_bad_base64_secret_is_a_configuration_error(secret) -> None:
    with pytest.raises(ConfigurationError):
        make_client(key_secret=secret)


def test_non_string_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        make_client(key_secret=b"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")


@pytest.mark.parametrize("key_id", ["", "pk-a,b", "pk a", "pk-a\r\nX: 1", "pk-\x00", "pk-\x7f", "pk-\u00e9", 42])
def test_bad_key_id_is_a_configuration_error(key_id) -> None:
    with pytest.raises(ConfigurationError):
        make_client(key_id=key_id)


@pytest.mark.parametrize(
    "base_url",
    [
        "",
        "   ",
        "vluna.test/mgt/v1",
        "ftp://vluna.test/mgt/v1",
        "https:///mgt/v1",
        "https://vluna.test/mgt/v1?x=1",
        "https://vluna.test/mgt/v1#f",
        "https://vluna.test/mgt/v1\r\n",
        "https://vluna.test/mgt/v1\n",
        "https://vlu\r\nna.test/mgt/v1",
        "https://vluna.test/mgt/\tv1",
        "https://vluna.test/mgt/v1\x00",
        "https://vluna.test/mgt/v1\x7f",
        "https://vluna.test/m gt/v1",
    ],
)
def test_bad_base_url_is_a_configuration_error(base_url) -> None:
    with pytest.raises(ConfigurationError):
        make_client(base_url=base_url)


@pytest.mark.parametrize("realm_id", ["realm\n1", "realm\r\nX-Evil: 1", "", "   ", "realm\x00", "realm\x7f", "r\ud800"])
def test_bad_realm_id_is_a_configuration_error(realm_id) -> None:
    """The realm is set once, on the client: refusing it is a configuration problem, like a bad base URL."""
    with pytest.raises(ConfigurationError):
        make_client(realm_id=realm_id)


def test_retry_must_be_a_policy() -> None:
    with pytest.raises(ConfigurationError):
        ServiceClient(base_url=BASE_URL, realm_id=REALM, key_id=KEY_ID, key_secret=SECRET_B64, retry=3)  # type: ignore[arg-type]


def test_trailing_slash_in_base_url_is_tolerated(rsps) -> None:
    client = make_client(base_url=BASE_URL + "/")
    assert client.base_url == BASE_URL
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    client.features.list()
    assert rsps.calls[0].request.path_url == "/mgt/v1/features"
    client.close()


def test_repr_shows_configuration_but_no_secret() -> None:
    client = make_client()
    text = repr(client)
    assert text.startswith("ServiceClient(")
    assert BASE_URL in text
    assert REALM in text
    assert KEY_ID in text
    assert SECRET_B64 not in text
    assert SECRET_B64[:12] not in text
    assert str(client) == text
    bearer = BearerClient(base_url=BEARER_BASE_URL, realm_id=REALM, access_token=BEARER_TOKEN)
    assert BEARER_TOKEN not in repr(bearer)
    assert BEARER_TOKEN[:20] not in repr(bearer)
    client.close()
    bearer.close()


def test_context_manager_returns_the_client_and_closes_it(rsps) -> None:
    rsps.add("GET", URL["features"], json=ok({"items": [], "next_cursor": None}))
    with make_client() as client:
        assert isinstance(client, ServiceClient)
        client.features.list()
        adapter = client.transport._adapter  # type: ignore[attr-defined]  # the default transport's pool
        assert adapter is not None
    assert len(adapter.poolmanager.pools) == 0  # close() cleared the connection pools
    with pytest.raises(ConfigurationError, match="closed"):
        client.features.list()
    assert len(rsps.calls) == 1


def test_context_manager_closes_on_exception() -> None:
    client = make_client()

    def use() -> None:
        with client:
            raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        use()
    with pytest.raises(ConfigurationError, match="closed"):
        client.features.list()


def test_from_env_names_every_missing_variable_at_once(monkeypatch) -> None:
    for name in ("VLUNA_SERVICE_BASE_URL", "VLUNA_REALM_ID", "VLUNA_SERVICE_KEY_ID", "VLUNA_SERVICE_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VLUNA_REALM_ID", REALM)
    with pytest.raises(ConfigurationError) as info:
        ServiceClient.from_env()
    message = str(info.value)
    for name in ("VLUNA_SERVICE_BASE_URL", "VLUNA_SERVICE_KEY_ID", "VLUNA_SERVICE_KEY_SECRET"):
        assert name in message
    assert "VLUNA_REALM_ID" not in message


@pytest.mark.parametrize(
    ("cls", "url", "hint"),
    [
        (ServiceClient, "https://vluna.test/api/v1", "BearerClient"),
        (BearerClient, "https://vluna.test/mgt/v1", "ServiceClient"),
    ],
)
def test_a_client_given_the_other_surface_is_refused(cls, url, hint) -> None:
    credentials = {"key_id": KEY_ID, "key_secret": SECRET_B64} if cls is ServiceClient else {"access_token": "t"}
    with pytest.raises(ConfigurationError, match=hint):
        cls(base_url=url, realm_id=REALM, **credentials)


def test_a_non_ascii_base_url_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="xn--"):
        make_client(base_url="https://vlüna.test/mgt/v1")


@pytest.mark.parametrize("user_agent", ["app/1\r\nX-Evil: 1", "app/1\n", "app\x00", "app\x7f", "", " app", "app\ud800"])
def test_a_user_agent_with_control_characters_is_a_configuration_error(user_agent) -> None:
    with pytest.raises(ConfigurationError, match="user_agent"):
        make_client(user_agent=user_agent)
