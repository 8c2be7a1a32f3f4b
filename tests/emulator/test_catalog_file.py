"""Seeding the emulator from a catalog file, prices on the command line, and its ledger read from another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
import requests

from vluna_client.testing import Emulator

CATALOG: Dict[str, Any] = {
    "feature_families": [{"feature_family_code": "llm", "name": "LLM"}],
    "features": [
        {
            "feature_code": "llm.chat",
            "feature_family_code": "llm",
            "name": "Chat",
            "meters": [{"meter_code": "tokens.in", "unit": "tokens"}, {"meter_code": "tokens.out", "unit": "tokens"}],
        }
    ],
    "plans": [
        {"plan_code": "starter", "name": "Starter", "kind": "base", "entitlements": [{"feature_code": "llm.chat"}]}
    ],
    "policy_bundles": [{"bundle_key": "default", "name": "Default"}],
    "gate_policies": [
        {
            "bundle_key": "default",
            "name": "Chat quota",
            "feature_code": "llm.chat",
            "kind": "quota",
            "subject_scope": "user",
            "unit": "tokens",
            "window_sec": 3600,
            "limit_minor": "100",
        }
    ],
    "prices": {"tokens.in": 3, "tokens.out": 5},
    "wallets": {"org_demo": 1000},
}
YAML = """
feature_families:
  - {feature_family_code: llm, name: LLM}
features:
  - feature_code: llm.chat
    feature_family_code: llm
    name: Chat
    meters:
      - {meter_code: tokens.in, unit: tokens}
prices:
  tokens.in: {unit_price_xusd: 4, unit_quantity_minor: 1000, rounding: ceil}
"""
PYTHONPATH = os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"), os.environ.get("PYTHONPATH", "")])


def _meter_prices(emu: Emulator) -> Dict[str, Optional[str]]:
    with emu.service_client() as client:
        meters = client.bind(principal_id="org_demo", user_id="u1").gate.meters(expand=["pricing"]).data
    return {m.meter_code: m.pricing.unit_price_xusd for m in meters if m.pricing is not None}


def test_a_catalog_mapping_seeds_the_api_and_the_gate() -> None:
    with Emulator(catalog=CATALOG) as emu, emu.service_client() as client:
        features = list(client.features.list(feature_family_code="llm").auto_paging_iter())
        assert [f.feature_code for f in features] == ["llm.chat"]
        plan = next(client.plans.list(plan_code="starter").auto_paging_iter())
        assert [e.feature_code for e in client.plans.list_entitlements(plan_id=plan.plan_id).auto_paging_iter()] == [
            "llm.chat"
        ]
        assert [p.bundle_key for p in client.gate_policies.list().auto_paging_iter()] == ["default"]
        assert _meter_prices(emu) == {"tokens.in": "3", "tokens.out": "5"}
        assert emu.wallet_balance("org_demo") == 1000


def test_json_and_yaml_files(tmp_path: Path) -> None:
    as_json = tmp_path / "catalog.json"
    as_json.write_text(json.dumps(CATALOG), encoding="utf-8")
    as_yaml = tmp_path / "catalog.yaml"
    as_yaml.write_text(YAML, encoding="utf-8")
    with Emulator(catalog=as_json) as emu:
        assert _meter_prices(emu)["tokens.out"] == "5"
    with Emulator() as emu:
        assert emu.load_catalog(str(as_yaml)) == {
            "feature_families": 1, "features": 1, "meters": 0, "plans": 0, "policy_bundles": 0, "gate_policies": 0,
            "rating_policies": 0, "prices": 1, "wallets": 0, "quotas": 0,
        }  # fmt: skip
        assert _meter_prices(emu) == {"tokens.in": "4"}
        with emu.service_client() as client:
            meters = client.bind(principal_id="o", user_id="u").gate.meters(expand=["pricing"]).data
        pricing = next(m.pricing for m in meters if m.meter_code == "tokens.in")
        assert pricing is not None
        assert (pricing.unit_quantity_minor, pricing.rounding) == ("1000", "ceil")


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ({"featurez": []}, "unknown catalog section"),
        ({"features": {"feature_code": "x"}}, "catalog features: a list"),
        ({"features": [{"feature_code": "x", "feature_family_code": "nope", "name": "X"}]}, r"catalog features\[0\]"),
        ({"prices": {"m": "ten"}}, "catalog prices.m: an integer"),
        ({"prices": {"m": {"unit_price_xusd": 1, "rounding": "sideways"}}}, "catalog prices.m: "),
        ({"prices": {"m": {"unit_price": 1}}}, r"catalog prices.m: unknown price field\(s\) \['unit_price'\]"),
    ],
)
def test_a_bad_catalog_names_what_is_wrong(catalog: Dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Emulator(catalog=catalog)


def test_the_ledger_route_needs_the_service_key() -> None:
    with Emulator() as emu:
        unsigned = requests.get(emu.ledger_url, headers={"X-Realm-Id": emu.realm_id}, timeout=5)
        assert unsigned.status_code == 401
        assert ("GET", "/_emulator/ledger") not in emu.routes()
        emu.faults.fail_next(1, status=503)  # any path: the admin route must not take it
        from vluna_client.testing._ledger_client import read_ledger

        assert read_ledger(emu.env())["requests"] == []  # the reads are not recorded either
        assert requests.get(emu.url + "/health", timeout=5).status_code == 503  # still scheduled


def _cli(*args: str, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vluna_client.testing", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_run_takes_a_catalog_and_prices_and_the_child_reads_the_ledger(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(CATALOG), encoding="utf-8")
    script = (
        "import json, subprocess, sys, vluna_client\n"
        "c = vluna_client.ServiceClient.from_env()\n"
        "g = c.bind(principal_id='org_demo', user_id='u1')\n"
        "print(json.dumps({m.meter_code: m.pricing.unit_price_xusd for m in g.gate.meters(expand=['pricing']).data"
        " if m.pricing}))\n"
        "g.gate.ingest(feature_code='llm.chat', quantity_minor=2)\n"
        "out = subprocess.run([sys.executable, '-m', 'vluna_client.testing', 'ledger', '--json'],"
        " capture_output=True, text=True, check=True).stdout\n"
        "print(json.dumps([c['kind'] for c in json.loads(out)['commits']]))\n"
    )
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    done = _cli(
        "run", "--catalog", str(catalog), "--price", "tokens.out=7", "--", sys.executable, "-c", script, env=env
    )
    assert done.returncode == 0, done.stderr
    prices, kinds = done.stdout.strip().splitlines()
    assert json.loads(prices) == {"tokens.in": "3", "tokens.out": "7"}
    assert json.loads(kinds) == ["ingest"]
    assert "Traceback" not in done.stderr


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=PYTHONPATH)
    bad = tmp_path / "bad.json"
    bad.write_text('{"features": [{"feature_code": "x", "feature_family_code": "nope", "name": "X"}]}', "utf-8")
    done = _cli("run", "--catalog", str(bad), "--", sys.executable, "-c", "pass", env=env)
    assert done.returncode != 0
    assert "catalog features[0]: 422 VALIDATION.INVALID_INPUT: feature_family_code not found" in done.stderr
    assert "Traceback" not in done.stderr
    remote = _cli("serve", "--host", "0.0.0.0", env=env)  # noqa: S104 - refused
    assert remote.returncode != 0
    assert "--allow-remote" in remote.stderr
    no_env = {k: v for k, v in env.items() if not k.startswith("VLUNA_")}
    missing = _cli("ledger", env=no_env)
    assert missing.returncode == 1
    assert "VLUNA_SERVICE_BASE_URL" in missing.stderr
