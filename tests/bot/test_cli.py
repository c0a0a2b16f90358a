"""The relaydesk command as a user runs it: a real subprocess, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.apps import run_cli
from tests.conftest import REPO, SMALL_NLU


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with the shipped config (fast classifier) and a small data set."""
    root = tmp_path_factory.mktemp("project")
    (root / "nlu_data").mkdir()
    (root / "nlu_data" / "nlu.yml").write_text(SMALL_NLU, encoding="utf-8")
    config = (REPO / "config.yml").read_text(encoding="utf-8")
    config = config.replace("    calibrate: true", "    calibrate: false")
    (root / "config.yml").write_text(config, encoding="utf-8")
    (root / "responses.yml").write_bytes((REPO / "responses.yml").read_bytes())
    return root


def test_train_then_train_again_is_a_no_op(project: Path) -> None:
    first = run_cli("train", cwd=project)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("trained ")
    second = run_cli("train", cwd=project)
    assert second.returncode == 0
    assert second.stdout.startswith("up to date:")
    forced = run_cli("train", "--force", cwd=project)
    assert forced.stdout.startswith("trained ")


def test_parse_prints_the_rasa_shaped_json(project: Path) -> None:
    run_cli("train", cwd=project)
    out = run_cli("parse", "订单202611180042到哪了", cwd=project)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["intent"]["name"] == "order_status"
    assert body["entities"][0]["value"] == "202611180042"


def test_test_nlu_writes_reports_shaped_like_scikit_learns(project: Path, tmp_path: Path) -> None:
    run_cli("train", cwd=project)
    labelled = tmp_path / "test.yml"
    labelled.write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hello there friend\n'
        "    - 你好呀\n- intent: order_status\n  examples: |\n"
        "    - where is order [202611180042](order_id)\n    - 快递到哪了\n"
        "- intent: request_human\n  examples: |\n    - human please\n",
        encoding="utf-8",
    )
    out_dir = tmp_path / "results"
    res = run_cli("test", "nlu", "--nlu", str(labelled), "--out", str(out_dir), cwd=project)
    assert res.returncode == 0, res.stderr
    report = json.loads((out_dir / "intent_report.json").read_text("utf-8"))
    assert {"accuracy", "macro avg", "weighted avg", "greet", "order_status"} <= set(report)
    assert set(report["greet"]) == {"precision", "recall", "f1-score", "support"}
    assert report["greet"]["support"] == 2
    assert 0.0 <= report["accuracy"] <= 1.0
    errors = json.loads((out_dir / "intent_errors.json").read_text("utf-8"))
    wrong = round((1 - report["accuracy"]) * 5)
    assert len(errors) == wrong
    png = (out_dir / "intent_confusion_matrix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    entities = json.loads((out_dir / "entity_report.json").read_text("utf-8"))
    assert entities["order_id"]["recall"] == 1.0


def test_train_accepts_another_rasa_file_and_output_folder(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.yml"
    other.write_text(
        'version: "3.1"\nnlu:\n- intent: yes\n  examples: |\n    - yes\n    - sure\n    - 是的\n'
        "- intent: no\n  examples: |\n    - no\n    - nope\n    - 不是\n",
        encoding="utf-8",
    )
    res = run_cli("train", "--nlu", str(other), "--out", str(tmp_path / "m"), cwd=project)
    assert res.returncode == 0, res.stderr
    assert list((tmp_path / "m").glob("nlu-*/metadata.json"))


def test_invalid_training_data_names_file_and_line(project: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text('version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    hi\n', "utf-8")
    res = run_cli("data", "validate", "--nlu", str(bad), cwd=project)
    assert res.returncode == 1
    assert f"{bad}:5:" in res.stderr
    assert "must start with '- '" in res.stderr


def test_bad_config_names_the_key(project: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text((project / "config.yml").read_text("utf-8").replace("port: 5005", "prt: 5005"))
    res = run_cli("train", "--config", str(cfg), cwd=project)
    assert res.returncode == 1
    assert "server.prt: unknown key" in res.stderr


def test_bad_channel_section_is_named_before_any_model_loads(project: Path, tmp_path: Path) -> None:
    # Channel sections are validated by each channel's own settings model; every command still
    # refuses a bad key at once, before training or loading anything.
    cfg = tmp_path / "config.yml"
    text = (project / "config.yml").read_text("utf-8")
    assert "\n  telegram:\n" in text
    cfg.write_text(text.replace("\n  telegram:\n", "\n  telegram:\n    bogus_key: 1\n", 1))
    res = run_cli("train", "--config", str(cfg), "--out", str(tmp_path / "m"), cwd=project)
    assert res.returncode == 1
    assert "connectors.telegram.bogus_key: unknown key" in res.stderr
    assert not (tmp_path / "m").exists()


def test_parse_refuses_text_over_the_limit(project: Path) -> None:
    res = run_cli("parse", "x" * 4001, cwd=project)
    assert res.returncode == 1
    assert "limit is 4000" in res.stderr


def test_validate_reports_counts_for_the_shipped_data() -> None:
    res = run_cli("data", "validate", cwd=REPO)
    assert res.returncode == 0, res.stderr
    assert "17 intents" in res.stdout


def test_run_serves_parse_over_http_and_stops_cleanly_on_sigterm(project: Path) -> None:
    import signal
    import socket
    import time
    import urllib.request

    run_cli("train", cwd=project)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--port", str(port)],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/model/parse",
            data=json.dumps({"text": "转人工"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert json.loads(r.read())["intent"]["name"] == "request_human"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert f"serving on http://127.0.0.1:{port}" in output


def test_agents_add_set_and_list(project: Path) -> None:
    res = run_cli("agents", "add", "amy", "--name", "Amy Li", "--skills", "billing", cwd=project)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("added amy")
    assert run_cli("agents", "set", "amy", "--status", "online", cwd=project).returncode == 0
    listing = run_cli("agents", "list", cwd=project).stdout
    assert "amy" in listing and "online" in listing and "billing" in listing
    dup = run_cli("agents", "add", "amy", cwd=project)
    assert dup.returncode == 1 and "exists already" in dup.stderr
    bad = run_cli("agents", "add", "bob", "--skills", "nope", cwd=project)
    assert bad.returncode == 1 and "unknown skill group(s) nope" in bad.stderr


def test_shell_chats_until_exit(project: Path) -> None:
    run_cli("train", cwd=project)
    res = subprocess.run(
        [sys.executable, "-m", "bot", "shell"],
        cwd=project,
        input="你好\nagent please\n/exit\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if line.startswith(("bot:", "["))]
    assert lines[0].startswith("bot: ")
    assert "[greet," in res.stdout
    assert "handoff explicit_request" in res.stdout
