"""`ketaclinic ledger ...` on the demo clinic, run as a user would."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.cli.test_foundation_cli import _run


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("ledger-var")
    result = _run(["demo"], var_dir)
    assert result.returncode == 0, result.stderr
    return var_dir


def _signed_session(demo: Path) -> int:
    with sqlite3.connect(demo / "ketaclinic.db") as connection:
        return int(
            connection.execute("SELECT min(id) FROM infusion_sessions WHERE state = 'signed'").fetchone()[0]
        )


def test_verify_and_reconcile_work_on_the_demo(demo: Path) -> None:
    verified = _run(["ledger", "verify"], demo)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("ok: ") and verified.stdout.strip().endswith(" entries")
    sid = _signed_session(demo)
    reconciled = _run(["ledger", "reconcile", str(sid), "--json"], demo)
    assert reconciled.returncode == 0, reconciled.stderr
    body = json.loads(reconciled.stdout)
    assert body["prepared_mg"] > 0 and body["administered_mg"] > 0
    assert body["prepared_mg"] == pytest.approx(
        body["administered_mg"] + body["wasted_mg"] + body["discrepancy_mg"]
    )
    assert abs(body["discrepancy_mg"]) <= body["tolerance_mg"] and body["state"] == "reconciled"


def test_every_signed_demo_session_is_reconciled(demo: Path) -> None:
    with sqlite3.connect(demo / "ketaclinic.db") as connection:
        signed = {r[0] for r in connection.execute("SELECT id FROM infusion_sessions WHERE state = 'signed'")}
        reconciled = {
            r[0]
            for r in connection.execute(
                "SELECT session_id FROM ledger_preparations"
                " WHERE purpose = 'infusion' AND state = 'reconciled'"
            )
        }
    assert signed and signed <= reconciled


def test_a_count_with_a_second_counter(demo: Path) -> None:
    lines = json.loads(_run(["ledger", "balance", "--json"], demo).stdout)
    first = lines[0]
    line = f"{first['product_id']}:{first['lot']}:{first['balance_ml']}"
    args = [
        "ledger",
        "count",
        "--location",
        str(first["location_id"]),
        "--line",
        line,
        "--second-counter",
        "drsmith",
    ]
    refused = _run(args, demo, stdin="wrong\n")
    assert refused.returncode == 2 and "second_counter_password" in refused.stderr
    counted = _run([*args, "--json"], demo, stdin="physician-demo-pass\n")
    assert counted.returncode == 0, counted.stderr
    body = json.loads(counted.stdout[counted.stdout.index("{") :])
    mine = next(
        x for x in body["lines"] if (x["product_id"], x["lot"]) == (first["product_id"], first["lot"])
    )
    assert body["second_counter"] == "drsmith" and mine["difference_ml"] == 0
    # What was not counted at the location counts as missing, and the count stays open for review.
    assert body["differences"] == len(body["lines"]) - 1


def test_receive_balance_report_and_bad_input(demo: Path) -> None:
    products = json.loads(_run(["ledger", "products", "--json"], demo).stdout)
    ketamine = next(p for p in products if p["drug"] == "ketamine")
    assert all(p["ndc"].startswith("99999-") and "synthetic demo NDC" in p["label"] for p in products)
    args = [
        "ledger",
        "receive",
        "--product",
        str(ketamine["id"]),
        "--location",
        "1",
        "--lot",
        "K99",
        "--expiry",
        (date.today() + timedelta(days=90)).isoformat(),
        "--containers",
        "5",
        "--supplier",
        "Example Wholesale",
        "--address",
        "1 Way, Columbus OH",
        "--invoice",
        "INV-9",
    ]
    bad = _run([*args, "--registration", "AB1234564"], demo)
    assert (
        bad.returncode == 2
        and "supplier_registration" in bad.stderr
        and len(bad.stderr.strip().splitlines()) == 1
    )
    good = _run([*args, "--registration", "AB1234563"], demo)
    assert good.returncode == 0, good.stderr
    lines = json.loads(_run(["ledger", "balance", "--json"], demo).stdout)
    assert any(b["lot"] == "K99" and b["balance_ml"] == 50 for b in lines)
    today = date.today().isoformat()
    start = (date.today() - timedelta(days=60)).isoformat()
    report = json.loads(_run(["ledger", "report", "--from", start, "--to", today, "--json"], demo).stdout)
    assert {"receipt", "draw", "administration", "waste"} <= {r["kind"] for r in report["dispensing"]}
    as_csv = _run(["ledger", "report", "--from", start, "--to", today, "--csv"], demo)
    assert as_csv.returncode == 0 and "section,seq,occurred_at,drug" in as_csv.stdout
    backwards = _run(["ledger", "report", "--from", today, "--to", start], demo)
    assert backwards.returncode == 2 and "to" in backwards.stderr
    assert _run(["ledger", "reconcile", "999999"], demo).returncode == 2


def test_verify_names_the_first_broken_entry(demo: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo, copy)
    with sqlite3.connect(copy / "ketaclinic.db") as connection:
        connection.execute("DROP TRIGGER ledger_entries_no_update")
        connection.execute("UPDATE ledger_entries SET quantity_ul = quantity_ul + 1 WHERE seq = 3")
    broken = _run(["ledger", "verify"], copy)
    assert broken.returncode == 1 and "entry 3" in broken.stderr
