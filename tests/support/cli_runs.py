"""Running the ``vluna`` CLI in tests: it runs as a subprocess against an emulator that lives in the test process.

The emulator's ledger therefore outlives the CLI: a test can kill the CLI at any moment and still see exactly what
the server recorded.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from vluna_client.testing import Emulator

CLI = [sys.executable, "-m", "vluna_client.cli"]


def cli_env(emu: Optional[Emulator], **extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VLUNA_")}
    env.update({"NO_PROXY": "*", "PYTHONUNBUFFERED": "1"})
    if emu is not None:
        env.update(emu.env())
    env.update(extra)
    return env


def run_cli(
    emu: Optional[Emulator], *args: str, cwd: Path, env: Optional[Dict[str, str]] = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=env if env is not None else cli_env(emu),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def usage_rows(count: int, *, users: int = 3, start: int = 0, principal: str = "org_1") -> List[Dict[str, Any]]:
    return [
        {
            "event_id": f"evt-{n}",
            "principal_id": principal,
            "user_id": f"user_{n % users}",
            "feature_code": "llm.chat",
            "quantity_minor": str(10 + n % 7),
        }
        for n in range(start, start + count)
    ]


def write_csv(path: Path, rows: Sequence[Dict[str, Any]], columns: Optional[Sequence[str]] = None) -> Path:
    columns = list(columns or ["event_id", "principal_id", "user_id", "feature_code", "quantity_minor"])
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, lines: Sequence[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
