"""``vluna usage ingest`` with hostile files and paths: every row gets an outcome, no file it did not create is
touched, and the summary says exactly what was charged (next to the emulator's ledger)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from support.cli_runs import CLI, cli_env, read_jsonl, run_cli, usage_rows, write_csv, write_jsonl
from vluna_client.testing import Emulator

INGEST = "/mgt/v1/gate/ingest"
HEADER = "event_id,principal_id,user_id,feature_code,quantity_minor"


def csv_text(rows: List[Dict[str, Any]], extra: str = "") -> str:
    cols = HEADER.split(",")
    return "".join(",".join(str(r[c]) for c in cols) + extra + "\r\n" for r in rows)


def summary(done: subprocess.CompletedProcess[str]) -> Dict[str, Any]:
    assert done.stdout, done.stderr
    return json.loads(done.stdout)


def test_a_bom_csv_with_crlf_is_imported_whole(emu: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\r\n" + csv_text(usage_rows(30))).encode())
    done = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert summary(done)["recorded"] == 30
    assert len(emu.ledger.ingests()) == 30


def test_a_bad_byte_a_200_kb_cell_a_huge_number_and_nesting_cost_only_their_rows(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(12)
    lines = [(HEADER + ",comment\r\n").encode()]
    for n, row in enumerate(rows):
        comment = "c" * 200_000 if n == 3 else "plain"
        line = csv_text([row], extra="," + comment).encode()
        if n == 5:
            line = line.replace(b"llm.chat", b"llm.\xff\xfechat")  # not UTF-8
        if n == 7:
            line = line.replace(f",{row['quantity_minor']},".encode(), b"," + b"9" * 5000 + b",")
        lines.append(line)
    path = tmp_path / "usage.csv"
    path.write_bytes(b"".join(lines))
    done = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr  # rows refused for their data: fix them and run again
    s = summary(done)
    assert (s["rows"], s["recorded"], s["invalid"], s["unknown"], s["not_sent"]) == (12, 10, 2, 0, 0)
    errors = read_jsonl(tmp_path / "usage.csv.errors.jsonl")
    assert [(e["line"], e["status"]) for e in errors] == [(7, "invalid"), (9, "invalid")]
    assert "UTF-8" in errors[0]["reason"]
    assert errors[1]["field"] == "quantity_minor"
    assert "line 7: invalid" in done.stderr  # the first failures are shown on the terminal
    assert len(emu.ledger.ingests()) == 10

    nested = {**usage_rows(1, start=50)[0], "meters": "[" * 5000 + "]" * 5000}
    jsonl = write_jsonl(tmp_path / "deep.jsonl", [nested, usage_rows(1, start=51)[0]])
    deep = run_cli(emu, "usage", "ingest", str(jsonl), "--json", cwd=tmp_path)
    assert (deep.returncode, summary(deep)["invalid"], summary(deep)["recorded"]) == (1, 1, 1)


def test_a_duplicated_event_is_counted_once(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(6)
    path = write_csv(tmp_path / "usage.csv", [*rows, rows[2]])
    done = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    s = summary(done)
    assert (s["recorded"], s["duplicate"]) == (6, 1)
    ledger = emu.ledger.ingests()
    assert len(ledger) == 6
    assert s["recorded_priced_xusd"] == str(sum(r.amount_xusd for r in ledger))
    conflicting = write_csv(tmp_path / "other.csv", [*rows, {**rows[2], "quantity_minor": "999"}])
    again = run_cli(emu, "usage", "ingest", str(conflicting), "--json", cwd=tmp_path)
    assert (again.returncode, summary(again)["invalid"]) == (1, 1)
    assert len(emu.ledger.ingests()) == 6


def test_an_existing_error_file_is_refused_unless_forced(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", usage_rows(3))
    keep = tmp_path / "keep.txt"
    keep.write_text("precious\n")
    done = run_cli(emu, "usage", "ingest", str(path), "--errors", str(keep), cwd=tmp_path)
    assert done.returncode == 2
    assert "already exists" in done.stderr
    assert keep.read_text() == "precious\n"
    assert emu.ledger.requests == []
    forced = run_cli(emu, "usage", "ingest", str(path), "--errors", str(keep), "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert not keep.exists()  # replaced by this run's file, which a clean run removes


def test_the_input_file_is_never_the_error_file(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", usage_rows(3))
    before = path.read_bytes()
    for extra in ([], ["--force"]):
        done = run_cli(emu, "usage", "ingest", str(path), "--errors", str(path), *extra, cwd=tmp_path)
        assert done.returncode == 2
        assert "input file" in done.stderr
    link = tmp_path / "alias.jsonl"
    link.symlink_to(path)
    done = run_cli(emu, "usage", "ingest", str(path), "--errors", str(link), "--force", cwd=tmp_path)
    assert done.returncode == 2
    assert path.read_bytes() == before
    assert emu.ledger.requests == []


def test_links_are_never_followed(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", [*usage_rows(2), {**usage_rows(1)[0], "quantity_minor": "x"}])
    target = tmp_path / "target.txt"
    target.write_text("keep me\n")
    errors = tmp_path / "errs.jsonl"
    errors.symlink_to(target)
    done = run_cli(emu, "usage", "ingest", str(path), "--errors", str(errors), cwd=tmp_path)
    assert done.returncode == 2
    forced = run_cli(emu, "usage", "ingest", str(path), "--errors", str(errors), "--force", cwd=tmp_path)
    assert forced.returncode == 1, forced.stderr
    assert not errors.is_symlink()
    assert target.read_text() == "keep me\n"
    journal = tmp_path / "usage.csv.vluna-journal"
    journal.unlink()
    journal.symlink_to(target)
    linked = run_cli(emu, "usage", "ingest", str(path), "--errors", str(tmp_path / "e2.jsonl"), cwd=tmp_path)
    assert linked.returncode == 2
    assert target.read_text() == "keep me\n"


def test_a_missing_error_directory_stops_before_anything_is_sent(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", usage_rows(3))
    done = run_cli(emu, "usage", "ingest", str(path), "--errors", str(tmp_path / "nope" / "e.jsonl"), cwd=tmp_path)
    assert done.returncode == 2
    assert "does not exist" in done.stderr
    assert emu.ledger.requests == []


def test_a_rerun_replaces_its_own_error_file_and_a_clean_one_removes_it(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(4)
    path = write_csv(tmp_path / "usage.csv", [*rows[:3], {**rows[3], "quantity_minor": "1.5"}])
    errors = tmp_path / "usage.csv.errors.jsonl"
    assert run_cli(emu, "usage", "ingest", str(path), cwd=tmp_path).returncode == 1
    assert errors.exists()
    assert run_cli(emu, "usage", "ingest", str(path), cwd=tmp_path).returncode == 1  # no --force needed
    assert [e["line"] for e in read_jsonl(errors)] == [5]
    write_csv(path, rows)  # fixed
    fixed = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert (summary(fixed)["recorded"], summary(fixed)["replayed"]) == (1, 3)
    assert not errors.exists()


def test_unknown_outcomes_exit_3_and_a_rerun_settles_them(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", usage_rows(3))
    emu.faults.drop_response_after_processing(100, path=INGEST)  # recorded, but no answer ever comes back
    done = run_cli(emu, "usage", "ingest", str(path), "--json", "--timeout", "2", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert summary(done)["unknown"] == 3
    emu.faults.clear()
    again = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert again.returncode == 0
    # The earlier run sent them and never learned the outcome: charged once, by it or by this run.
    assert (summary(again)["recorded"], summary(again)["unattributed"]) == (0, 3)
    assert len(emu.ledger.ingests()) == 3


@pytest.mark.parametrize("value", ["inf", "1e10", "nan", "-1", "0", "x"])
def test_a_bad_timeout_is_a_usage_error(emu: Emulator, tmp_path: Path, value: str) -> None:
    done = run_cli(emu, "balance", "--principal-id", "o", "--user-id", "u", f"--timeout={value}", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--timeout" in done.stderr
    assert emu.ledger.requests == []


def test_help_documents_the_exit_statuses(tmp_path: Path) -> None:
    done = run_cli(None, "usage", "ingest", "--help", cwd=tmp_path, env=cli_env(None))
    assert done.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert f"  {code}" in done.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_signal_waits_for_the_rows_in_flight_and_counts_them(emu: Emulator, tmp_path: Path, signum: int) -> None:
    rows = usage_rows(3000, users=5)
    path = write_csv(tmp_path / "usage.csv", rows)
    emu.faults.delay_next(len(rows), seconds=0.01, path=INGEST)
    proc = subprocess.Popen(
        [*CLI, "usage", "ingest", str(path), "--json", "--workers", "8"],
        cwd=tmp_path,
        env=cli_env(emu),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(emu.ledger.ingests()) < 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    s = json.loads(out)
    charged = len(emu.ledger.ingests())
    assert charged < len(rows)
    assert s["interrupted"] is True
    assert (s["recorded"], s["unknown"]) == (charged, 0)  # every row in flight was waited for and counted
    assert s["recorded_priced_xusd"] == str(sum(r.amount_xusd for r in emu.ledger.ingests()))

    emu.faults.clear()
    rest = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert rest.returncode == 0
    assert (summary(rest)["recorded"], summary(rest)["replayed"]) == (len(rows) - charged, charged)
    assert len(emu.ledger.ingests()) == len(rows)


def test_two_runs_at_once_still_charge_each_row_once(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(400)
    path = write_csv(tmp_path / "usage.csv", rows)
    env = cli_env(emu)
    procs = [
        subprocess.Popen(
            [*CLI, "usage", "ingest", str(path), "--json", "--errors", str(tmp_path / f"e{n}.jsonl")],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(emu.ledger.ingests()) == len(rows)
    assert os.path.exists(tmp_path / "usage.csv.vluna-journal")


def test_a_usage_error_with_json_still_prints_a_json_object(tmp_path: Path) -> None:
    done = run_cli(None, "usage", "ingest", str(tmp_path / "missing.csv"), "--json", cwd=tmp_path, env=cli_env(None))
    assert done.returncode == 2
    assert json.loads(done.stdout)["ok"] is False
    assert "nothing was sent" in done.stderr


def test_stdin_runs_replace_their_own_default_error_file(emu: Emulator, tmp_path: Path) -> None:
    bad = json.dumps({**usage_rows(1)[0], "quantity_minor": "x"}) + "\n"
    for _ in range(2):
        done = subprocess.run(
            [*CLI, "usage", "ingest", "-"], input=bad, cwd=tmp_path, env=cli_env(emu), capture_output=True, text=True
        )
        assert done.returncode == 1, done.stderr
    assert len(read_jsonl(tmp_path / "vluna-stdin.errors.jsonl")) == 1
    (tmp_path / "vluna-stdin.errors.jsonl").write_text("my notes\n")  # not error records: never replaced
    done = subprocess.run(
        [*CLI, "usage", "ingest", "-"], input=bad, cwd=tmp_path, env=cli_env(emu), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert (tmp_path / "vluna-stdin.errors.jsonl").read_text() == "my notes\n"
