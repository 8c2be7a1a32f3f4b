"""``vluna usage ingest`` end to end against the emulator: counts, errors, dry run, crashes and re-runs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from support.cli_runs import CLI, cli_env, read_jsonl, run_cli, usage_rows, write_csv, write_jsonl
from vluna_client import idempotency_key
from vluna_client.testing import Emulator

INGEST = "/mgt/v1/gate/ingest"


def expected_key(emu: Emulator, row: dict) -> str:
    return idempotency_key("vluna:usage", row["principal_id"], row["user_id"], row["event_id"], realm_id=emu.realm_id)


def test_a_file_of_200_rows_is_recorded_once_each(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(200)
    path = write_csv(tmp_path / "usage.csv", rows)
    done = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    ingests = emu.ledger.ingests()
    assert len(ingests) == 200
    assert sorted(r.idempotency_key for r in ingests) == sorted(expected_key(emu, row) for row in rows)
    assert {(r.user_id, r.quantity_minor) for r in ingests} == {(r["user_id"], int(r["quantity_minor"])) for r in rows}
    assert summary["recorded"] == 200
    assert (summary["failed"], summary["unknown"], summary["not_sent"], summary["replayed"]) == (0, 0, 0, 0)
    assert summary["priced_xusd"] == str(sum(r.amount_xusd for r in ingests))
    assert summary["errors_file"] is None
    assert not (tmp_path / "usage.csv.errors.jsonl").exists()


def test_jsonl_with_meters_labels_and_occurred_at(emu: Emulator, tmp_path: Path) -> None:
    line = {
        "event_id": 7,
        "principal_id": "org_1",
        "user_id": "u",
        "feature_code": "llm.chat",
        "quantity_minor": 30,
        "meters": [{"meter_code": "llm.chat", "quantity_minor": "30"}],
        "labels": {"job": "nightly"},
        "occurred_at": "2026-11-01T10:00:00Z",
    }
    path = write_jsonl(tmp_path / "usage.jsonl", [line])
    done = run_cli(emu, "usage", "ingest", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (record,) = emu.ledger.ingests()
    assert record.labels == (("job", "nightly"),)
    assert record.quantity_minor == 30
    # an integer event id gives the same key as the string a CSV would carry
    assert record.idempotency_key == expected_key(emu, {**line, "event_id": "7"})


def test_bad_rows_are_reported_with_their_line_and_nothing_is_sent_for_them(emu: Emulator, tmp_path: Path) -> None:
    good = usage_rows(5)
    lines = [
        good[0],
        {**good[1], "quantity_minor": "1.5"},  # line 2: not an integer
        good[2],
        "{this is not json",  # line 4
        {k: v for k, v in good[3].items() if k != "user_id"},  # line 5: missing column
        {**good[4], "feature_code": "bad code!"},  # line 6: refused by the client's validation
        {**good[4], "event_id": "evt-x", "labels": "{oops"},  # line 7: malformed JSON in a cell
        {**good[4], "event_id": "evt-y", "meters": "[1, 2]"},  # line 8: meters are not objects
    ]
    path = write_jsonl(tmp_path / "usage.jsonl", lines)
    done = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert (summary["recorded"], summary["invalid"], summary["failed"]) == (2, 6, 0)
    errors = {e["line"]: e for e in read_jsonl(tmp_path / "usage.jsonl.errors.jsonl")}
    assert sorted(errors) == [2, 4, 5, 6, 7, 8]
    assert "quantity_minor" in errors[2]["reason"]
    assert "JSON" in errors[4]["reason"]
    assert "user_id is missing" in errors[5]["reason"]
    assert "feature_code" in errors[6]["reason"]
    assert "labels" in errors[7]["reason"]
    assert "meters" in errors[8]["reason"]
    assert errors[2]["event_id"] == "evt-1"
    # Only the two good rows ever reached the server.
    assert len(emu.ledger.requests_to(INGEST)) == 2
    assert summary["errors_file"] == str(tmp_path / "usage.jsonl.errors.jsonl")


def test_rows_the_server_refuses_go_to_the_error_file_and_the_rest_go_on(emu: Emulator, tmp_path: Path) -> None:
    emu.set_features(["llm.chat"])  # anything else is now unknown to the server (422)
    rows = usage_rows(6)
    rows[2]["feature_code"] = "no.such.feature"
    path = write_csv(tmp_path / "usage.csv", rows)
    errors = tmp_path / "out" / "errs.jsonl"
    errors.parent.mkdir()
    done = run_cli(emu, "usage", "ingest", str(path), "--errors", str(errors), cwd=tmp_path)
    assert done.returncode == 1
    (failed,) = read_jsonl(errors)
    assert failed["line"] == 4  # header is line 1
    assert failed["status"] == "failed"
    assert failed["error"]["status"] == 422
    assert len(emu.ledger.ingests()) == 5
    assert "refused       1" in done.stdout


def test_a_missing_csv_column_stops_before_anything_is_sent(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", usage_rows(3), columns=["event_id", "principal_id", "user_id"])
    done = run_cli(emu, "usage", "ingest", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert "feature_code, quantity_minor" in done.stderr
    assert emu.ledger.requests == []


def test_dry_run_checks_every_row_and_sends_nothing(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(50)
    rows[10]["quantity_minor"] = "-3"
    path = write_csv(tmp_path / "usage.csv", rows)
    done = run_cli(emu, "usage", "ingest", str(path), "--dry-run", "--json", cwd=tmp_path)
    assert done.returncode == 1
    summary = json.loads(done.stdout)
    assert summary["dry_run"] is True
    assert (summary["rows"], summary["invalid"]) == (50, 1)
    assert [e["line"] for e in read_jsonl(tmp_path / "usage.csv.errors.jsonl")] == [12]
    assert emu.ledger.requests == []
    assert emu.ledger.ingests() == []
    # Offline: it needs no credentials at all.
    clean = write_csv(tmp_path / "clean.csv", usage_rows(5))
    offline = run_cli(None, "usage", "ingest", str(clean), "--dry-run", cwd=tmp_path, env=cli_env(None))
    assert offline.returncode == 0, offline.stderr
    assert "5 valid, 0 invalid, 0 duplicate; nothing was sent" in offline.stdout


def test_rerunning_a_finished_file_charges_nothing(emu: Emulator, tmp_path: Path) -> None:
    emu.set_wallet_balance("org_1", 10_000_000)
    path = write_csv(tmp_path / "usage.csv", usage_rows(120))
    first = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    balance = emu.wallet_balance("org_1")
    assert balance is not None
    assert balance < 10_000_000
    ledger = emu.ledger.ingests()

    again = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    # The journal knows every row was recorded before: the server's answers were replays.
    assert (summary["recorded"], summary["replayed"]) == (0, 120)
    assert summary["replayed_priced_xusd"] == json.loads(first.stdout)["priced_xusd"]

    # Without the journal the keys alone keep it exactly once; the rows are then not claimed as new charges.
    blind = run_cli(emu, "usage", "ingest", str(path), "--no-journal", "--json", cwd=tmp_path)
    assert blind.returncode == 0, blind.stderr
    assert (json.loads(blind.stdout)["recorded"], json.loads(blind.stdout)["unattributed"]) == (0, 120)
    assert emu.ledger.ingests() == ledger
    assert emu.wallet_balance("org_1") == balance


def test_the_same_event_id_for_different_users_does_not_collide(emu: Emulator, tmp_path: Path) -> None:
    row = usage_rows(1)[0]
    first = write_csv(tmp_path / "a.csv", [row])
    second = write_csv(tmp_path / "b.csv", [{**row, "user_id": "someone_else"}])
    assert run_cli(emu, "usage", "ingest", str(first), cwd=tmp_path).returncode == 0
    assert run_cli(emu, "usage", "ingest", str(second), cwd=tmp_path).returncode == 0
    assert sorted(r.user_id for r in emu.ledger.ingests()) == ["someone_else", row["user_id"]]


def test_stdin_input(emu: Emulator, tmp_path: Path) -> None:
    text = "".join(json.dumps(r) + "\n" for r in usage_rows(4))
    done = subprocess.run(
        [*CLI, "usage", "ingest", "-"], input=text, cwd=tmp_path, env=cli_env(emu), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert len(emu.ledger.ingests()) == 4


def test_wrong_credentials_stop_the_job_early(emu: Emulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", usage_rows(2000))
    env = cli_env(emu, VLUNA_SERVICE_KEY_SECRET="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
    done = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 2  # a configuration problem: re-running as it is would not help
    summary = json.loads(done.stdout)
    assert summary["stopped"]["status"] == 401
    assert len(emu.ledger.requests_to(INGEST)) < 200  # stopped after the first window, not after 2000 refusals
    assert emu.ledger.ingests() == []
    assert "AuthenticationError" in done.stderr
    assert env["VLUNA_SERVICE_KEY_SECRET"] not in done.stdout + done.stderr


def test_a_kill_at_any_moment_then_a_rerun_records_every_row_exactly_once(emu: Emulator, tmp_path: Path) -> None:
    rows = usage_rows(2000, users=7)
    path = write_csv(tmp_path / "usage.csv", rows)
    emu.faults.delay_next(len(rows), seconds=0.004, path=INGEST)  # slow enough that the kill lands mid-run
    proc = subprocess.Popen(
        [*CLI, "usage", "ingest", str(path), "--workers", "4"],
        cwd=tmp_path,
        env=cli_env(emu),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(emu.ledger.ingests()) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    recorded_before = len(emu.ledger.ingests())
    assert 300 <= recorded_before < len(rows), "the kill should land mid-run"

    emu.faults.clear()
    again = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    counts = Counter(r.idempotency_key for r in emu.ledger.ingests())
    assert set(counts) == {expected_key(emu, row) for row in rows}
    assert set(counts.values()) == {1}
    summary = json.loads(again.stdout)
    assert summary["recorded"] + summary["replayed"] + summary["unattributed"] == len(rows)
    # Exact up to the rows in flight at the kill (at most --workers): those are reported as unattributed.
    assert summary["replayed"] <= recorded_before <= summary["replayed"] + summary["unattributed"]
    assert summary["recorded"] <= len(rows) - recorded_before
    assert summary["unattributed"] <= 4

    total = sum(r.amount_xusd for r in emu.ledger.ingests())
    final = run_cli(emu, "usage", "ingest", str(path), "--json", cwd=tmp_path)
    assert final.returncode == 0
    assert json.loads(final.stdout)["replayed"] == len(rows)
    assert len(emu.ledger.ingests()) == len(rows)
    assert sum(r.amount_xusd for r in emu.ledger.ingests()) == total
