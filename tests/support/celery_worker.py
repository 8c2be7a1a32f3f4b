"""A real Celery worker in a child process, for tests: filesystem broker, file result backend, JSON only.

Both the test process and the worker read the same ``celeryconfig`` module (written into a temporary folder), so
every task message and every result crosses a process boundary as JSON, the way Celery's defaults send it. The
worker's Vluna client is configured from the ``VLUNA_*`` variables passed to it (an emulator on 127.0.0.1).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import vluna_client

ROOT = Path(__file__).resolve().parents[2]

_CONFIG = """\
broker_url = "filesystem://"
broker_transport_options = {{
    "data_folder_in": {queue!r},
    "data_folder_out": {queue!r},
    "processed_folder": {processed!r},
    "store_processed": False,
    "polling_interval": 0.05,
}}
result_backend = "file://{results}"
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
worker_hijack_root_logger = False
"""


def write_config(folder: Path) -> str:
    """Write ``celeryconfig.py`` (and its queue and result folders) into ``folder``; return the module name."""
    dirs = {name: folder / name for name in ("queue", "processed", "results")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    text = _CONFIG.format(**{name: str(path) for name, path in dirs.items()})
    (folder / "celeryconfig.py").write_text(text, encoding="utf-8")
    return "celeryconfig"


def search_path(folder: Path, *extra: Path) -> list[str]:
    """What the worker (and the test process) import from: the config, the task modules and this vluna_client."""
    package_root = Path(vluna_client.__file__).resolve().parents[1]
    return [str(folder), *(str(p) for p in extra), str(package_root), str(ROOT / "tests")]


class Worker:
    """``celery -A <app> worker --pool=solo`` in a child process; stopped (and reaped) by :meth:`stop`."""

    def __init__(self, app_module: str, folder: Path, paths: list[str], env: Mapping[str, str]) -> None:
        self.log = folder / "worker.log"
        child_env = {k: v for k, v in os.environ.items() if not k.startswith(("VLUNA_", "CELERY_"))}
        child_env.update(env)
        child_env["CELERY_CONFIG_MODULE"] = "celeryconfig"
        child_env["PYTHONPATH"] = os.pathsep.join(paths)
        self._log_file = self.log.open("wb")
        self.process: Optional[subprocess.Popen[bytes]] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app_module,
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            cwd=str(folder),
            env=child_env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        """What the worker printed so far (for a failing test's message)."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Stop the worker (a warm shutdown first) and wait for it."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        self._log_file.close()


def wait_until_serving(ping: object, worker: Worker, timeout: float = 60.0) -> None:
    """Block until the worker answers ``ping`` (a task returning ``"pong"``), or fail with its output."""
    deadline = time.monotonic() + timeout
    result = ping.delay()  # type: ignore[attr-defined]
    while time.monotonic() < deadline:
        if worker.process is not None and worker.process.poll() is not None:
            raise RuntimeError(f"the Celery worker exited early:\n{worker.output()}")
        if result.ready():
            if result.get() == "pong":
                return
            raise RuntimeError(f"unexpected ping answer: {result.get()!r}")
        time.sleep(0.05)
    raise RuntimeError(f"the Celery worker did not start in {timeout} s:\n{worker.output()}")
