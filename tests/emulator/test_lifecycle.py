"""Lifecycle, configuration, the CLI, and the independence of the testing package."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from vluna_client.testing import Emulator

SRC = Path(__file__).resolve().parents[2] / "src"


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("vluna-emulator")]


def test_start_stop_leaves_no_threads() -> None:
    emu = Emulator()
    assert not emu.running
    emu.start().start()  # starting twice is harmless
    assert emu.url.startswith("http://127.0.0.1:")
    assert emu.port > 0
    with urllib.request.urlopen(emu.url + "/health", timeout=5) as reply:  # noqa: S310 - loopback test server
        assert reply.status == 200
    emu.stop()
    emu.stop()
    assert not emu.running
    assert emulator_threads() == []


def test_stop_closes_idle_keep_alive_connections() -> None:
    import requests

    session = requests.Session()
    try:
        with Emulator() as emu:
            assert session.get(emu.url + "/health", timeout=5).status_code == 200
            assert emulator_threads()  # the idle keep-alive connection holds a thread
        assert emulator_threads() == []
    finally:
        session.close()


def test_credentials_and_env() -> None:
    emu = Emulator()
    assert emu.key_id.startswith("pk-")
    assert len(emu.key_id) == 19
    assert emu.key_id[3:].isalnum()
    assert len(base64.b64decode(emu.key_secret, validate=True)) == 32
    with emu:
        env = emu.env()
    assert env == {
        "VLUNA_SERVICE_BASE_URL": emu.url + "/mgt/v1",
        "VLUNA_BEARER_BASE_URL": emu.url + "/api/v1",
        "VLUNA_REALM_ID": emu.realm_id,
        "VLUNA_SERVICE_KEY_ID": emu.key_id,
        "VLUNA_SERVICE_KEY_SECRET": emu.key_secret,
    }
    with pytest.raises(ValueError, match="base64"):
        Emulator(key_secret="not base64!")


def test_the_testing_package_stands_alone() -> None:
    # Load vluna_client.testing without executing vluna_client/__init__.py: it must need neither the rest of
    # the client nor requests, and it must serve.
    script = f"""
import sys, types, urllib.request
package = types.ModuleType("vluna_client")
package.__path__ = [{str(SRC / "vluna_client")!r}]
sys.modules["vluna_client"] = package
from vluna_client.testing import Emulator
with Emulator() as emu:
    with urllib.request.urlopen(emu.url + "/health", timeout=5) as reply:
        assert reply.status == 200
loaded = sorted(name for name in sys.modules if name.startswith("vluna_client."))
assert all(name.startswith("vluna_client.testing") for name in loaded), loaded
assert "requests" not in sys.modules
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_cli_serve_prints_exports_and_stops_on_sigterm() -> None:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    process = subprocess.Popen(
        [sys.executable, "-m", "vluna_client.testing", "serve", "--port", "0", "--realm-id", "realm_cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(5)]
        exports = dict(line[len("export ") :].split("=", 1) for line in lines)
        assert exports["VLUNA_REALM_ID"] == "realm_cli"
        base = exports["VLUNA_SERVICE_BASE_URL"]
        assert base.startswith("http://127.0.0.1:")
        assert base.endswith("/mgt/v1")
        with urllib.request.urlopen(base[: -len("/mgt/v1")] + "/health", timeout=5) as reply:  # noqa: S310
            assert reply.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_cli_run_wraps_a_command() -> None:
    child = (
        "import os, sys, urllib.request\n"
        "base = os.environ['VLUNA_SERVICE_BASE_URL']\n"
        "with urllib.request.urlopen(base[: -len('/mgt/v1')] + '/health', timeout=5) as reply:\n"
        "    assert reply.status == 200\n"
        "assert os.environ['VLUNA_SERVICE_KEY_ID'].startswith('pk-')\n"
        "sys.exit(7)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "vluna_client.testing", "run", "--", sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(SRC)),
        check=False,
    )
    assert result.returncode == 7, result.stderr
