"""`relaydesk customers` and `relaydesk orders` as a shop runs them: a real subprocess, the
shipped sample files, a SQLite database in a project folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apps import run_cli
from tests.conftest import REPO

SAMPLES = REPO / "samples"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The shipped config.yml with its database in this folder."""
    (tmp_path / "config.yml").write_text((REPO / "config.yml").read_text("utf-8"), encoding="utf-8")
    return tmp_path


def test_the_samples_import_and_every_customer_gets_segments(project: Path) -> None:
    customers = run_cli("customers", "import", str(SAMPLES / "customers.csv"), cwd=project)
    assert customers.returncode == 0, customers.stderr
    assert "20 lines, 20 valid, 0 with errors" in customers.stdout
    assert "20 customers created, 0 updated" in customers.stdout
    orders = run_cli("orders", "import", str(SAMPLES / "orders.csv"), cwd=project)
    assert orders.returncode == 0, orders.stderr
    assert "33 orders stored" in orders.stdout
    # The counts move with the calendar (tests/bot/store pins them on a fixed date); these do not.
    assert "value:none                       2" in orders.stdout  # C1013 and C1020 never bought
    assert "lifecycle:" in orders.stdout and "value bands: high from" in orders.stdout
    shown = run_cli("customers", "show", "C1001", cwd=project)
    assert shown.returncode == 0, shown.stderr
    wang = json.loads(shown.stdout)
    assert (wang["name"], wang["region"], wang["identities"]) == (
        "王芳",
        "上海",
        ["rest:sample-wang"],
    )
    assert [o["order_id"] for o in wang["orders"]][:2] == ["202611200317", "202611180042"]
    assert wang["lifecycle"] in ("active", "steady", "dormant", "churned")
    segments = run_cli("customers", "segments", "--json", cwd=project)
    summary = json.loads(segments.stdout)
    assert (
        summary["customers"] == 20
        and sum(n for k, n in summary["counts"].items() if k.startswith("lifecycle:")) == 20
    )
    again = run_cli("customers", "import", str(SAMPLES / "customers.csv"), cwd=project)
    assert "0 customers created, 20 updated" in again.stdout


def test_a_bad_file_stores_nothing_and_names_each_line(project: Path, tmp_path: Path) -> None:
    assert (
        run_cli("customers", "import", str(SAMPLES / "customers.csv"), cwd=project).returncode == 0
    )
    bad = tmp_path / "orders.csv"
    bad.write_text(
        "order_id,customer_id,ordered_at,amount,status\n"
        "1,C1001,2026-01-01,12.345,paid\n"
        "2,C9999,2026-01-01,10,paid\n"
        "3,C1001,2026-01-01,10,lost\n"
        "4,C1001,2026-01-01,10,paid\n",
        encoding="utf-8",
    )
    checked = run_cli("orders", "import", str(bad), cwd=project)
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [
        f"{bad}: line 2, amount: '12.345': at most two decimals",
        f"{bad}: line 3, customer_id: no customer 'C9999'; import customers first",
        f"{bad}: line 4, status: 'lost'; allowed: paid, shipped, delivered, cancelled, refunded",
    ]
    assert "nothing stored" in checked.stdout
    dry = run_cli("orders", "import", str(bad), "--dry-run", "--skip-invalid", cwd=project)
    assert dry.returncode == 0 and "orders stored" not in dry.stdout
    kept = run_cli("orders", "import", str(bad), "--skip-invalid", cwd=project)
    assert kept.returncode == 0 and "1 orders stored" in kept.stdout
    shown = json.loads(run_cli("customers", "show", "C1001", cwd=project).stdout)
    assert "4" in [o["order_id"] for o in shown["orders"]]

    header = tmp_path / "h.csv"
    header.write_text("customer_id,colour\nC1,red\n", encoding="utf-8")
    wrong = run_cli("customers", "import", str(header), cwd=project)
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        "relaydesk: error: line 1: unknown column(s) colour; allowed: customer_id, name, email, "
        "phone, region, language, customer_since, tags, identities"
    )
    big = tmp_path / "big.csv"
    big.write_bytes(b"customer_id\n" + b"C1\n" * 1000)
    limited = project / "limited.yml"
    limited.write_text(
        (project / "config.yml").read_text("utf-8") + "\ncustomers:\n  import_max_bytes: 2048\n",
        encoding="utf-8",
    )
    too_big = run_cli("customers", "import", str(big), "--config", str(limited), cwd=project)
    assert too_big.returncode == 1
    assert "3,012 bytes; the limit is 2,048 (customers.import_max_bytes)" in too_big.stderr
    missing = run_cli("customers", "show", "C4242", cwd=project)
    assert missing.returncode == 1 and "no customer 'C4242'" in missing.stderr
