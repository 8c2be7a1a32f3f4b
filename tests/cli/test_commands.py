"""``vluna health|token issue|balance|limits|emulator``: human and JSON output, one-line errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.cli_runs import CLI, cli_env, run_cli
from vluna_client.testing import Emulator


def test_health(emu: Emulator, tmp_path: Path) -> None:
    human = run_cli(emu, "health", cwd=tmp_path)
    assert human.returncode == 0
    assert "healthy" in human.stdout
    assert json.loads(run_cli(emu, "health", "--json", cwd=tmp_path).stdout) == {
        "service": "vluna",
        "status": "healthy",
    }


def test_token_issue(emu: Emulator, tmp_path: Path) -> None:
    done = run_cli(emu, "token", "issue", "--principal-id", "org_1", "--user-id", "u1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] > 0
    ids = emu.billing_ids("org_1", "u1")
    assert token["billing_user_id"] == ids["billing_user_id"]
    # The token works against the bearer surface.
    with emu.bearer_client(token["access_token"]) as user:
        assert user.wallet.get_balance().data.billing_user_id == ids["billing_user_id"]
    human = run_cli(emu, "token", "issue", "--principal-id", "org_1", "--user-id", "u1", cwd=tmp_path)
    assert human.stdout.splitlines()[0].count(".") == 2  # the JWT alone on the first line, for $(...)


def test_balance(emu: Emulator, tmp_path: Path) -> None:
    emu.set_wallet_balance("org_1", 1_500_000)
    done = run_cli(emu, "balance", "--principal-id", "org_1", "--user-id", "u1", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["balances"]["xusd"] == "1500000"
    human = run_cli(emu, "balance", "--principal-id", "org_1", "--user-id", "u1", cwd=tmp_path)
    assert "1500000 xusd" in human.stdout


def test_limits(emu: Emulator, tmp_path: Path) -> None:
    emu.set_features(["llm.chat"])
    emu.set_quota("llm.chat", 1000)
    args = ["limits", "--principal-id", "org_1", "--user-id", "u1", "--feature-code", "llm.chat"]
    done = run_cli(emu, *args, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (limit,) = json.loads(done.stdout)
    assert limit["feature_code"] == "llm.chat"
    assert limit["quotas"][0]["limit_minor"] == "1000"
    assert "llm.chat  quota used 0 of 1000" in run_cli(emu, *args, cwd=tmp_path).stdout


def test_a_server_error_is_one_line_without_the_secret_and_exits_1(emu: Emulator, tmp_path: Path) -> None:
    env = cli_env(emu, VLUNA_SERVICE_KEY_SECRET="c2VjcmV0LXRoYXQtaXMtd3Jvbmctc2VjcmV0LXRoYXQ=")
    done = run_cli(emu, "balance", "--principal-id", "o", "--user-id", "u", cwd=tmp_path, env=env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("vluna: AuthenticationError: 401")
    assert env["VLUNA_SERVICE_KEY_SECRET"] not in done.stdout + done.stderr
    as_json = run_cli(emu, "balance", "--principal-id", "o", "--user-id", "u", "--json", cwd=tmp_path, env=env)
    assert json.loads(as_json.stdout)["error"]["status"] == 401


def test_missing_configuration_and_bad_usage_exit_2(emu: Emulator, tmp_path: Path) -> None:
    env = {k: v for k, v in cli_env(emu).items() if k != "VLUNA_REALM_ID"}
    done = run_cli(emu, "health", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "VLUNA_REALM_ID" in done.stderr
    assert run_cli(emu, "balance", "--user-id", "u", cwd=tmp_path).returncode == 2  # --principal-id missing
    assert run_cli(emu, "no-such-command", cwd=tmp_path).returncode == 2
    bad_id = run_cli(emu, "balance", "--principal-id", " o", "--user-id", "u", cwd=tmp_path)
    assert bad_id.returncode == 2
    assert "nothing was sent" in bad_id.stderr
    assert emu.ledger.requests_to("/mgt/v1/wallet/balance") == []


def test_emulator_serve_delegates_to_the_testing_package(tmp_path: Path) -> None:
    with subprocess.Popen(
        [*CLI, "emulator", "serve", "--realm-id", "realm_cli"],
        cwd=tmp_path,
        env=cli_env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            pairs = [proc.stdout.readline().strip().removeprefix("export ").split("=", 1) for _ in range(5)]
            exports = {name: value.strip("'") for name, value in pairs}
            assert exports["VLUNA_REALM_ID"] == "realm_cli"
            assert run_cli(None, "health", cwd=tmp_path, env=cli_env(None, **exports)).returncode == 0
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    assert proc.returncode == 0


def test_help_lists_every_command(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=False, env=cli_env(None))
    assert done.returncode == 0
    for command in ("health", "token", "balance", "limits", "usage", "emulator"):
        assert command in done.stdout
    ingest_help = subprocess.run(
        [sys.executable, "-m", "vluna_client.cli", "usage", "ingest", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=cli_env(None),
    )
    assert "principal_id, user_id, event_id" in ingest_help.stdout
