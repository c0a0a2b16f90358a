"""`relaydesk kb ...` as a user runs it, on a copy of part of the shipped base."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bot.knowledge.conftest import SAMPLE
from tests.conftest import REPO


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kbproject")
    for rel in SAMPLE:
        target = root / "knowledge" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / "knowledge" / rel).read_bytes())
    config = (REPO / "config.yml").read_text("utf-8")
    config = config.replace(
        "knowledge:\n  path: knowledge",
        f"knowledge:\n  path: knowledge\n  calibration_negatives: {REPO / 'nlu_data'}",
    )
    (root / "config.yml").write_text(config, "utf-8")
    return root


def kb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "kb", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


def test_index_then_search_as_json(project: Path) -> None:
    res = kb("index", cwd=project)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("indexed 11 published articles")
    res = kb("search", "满多少包邮", "--json", cwd=project)
    assert res.returncode == 0, res.stderr
    body = json.loads(res.stdout)
    assert body["answer"]["id"] == "service/shipping/free-shipping"
    assert body["answer"]["version"] == 1
    assert len(body["hits"]) == 3
    assert (project / "var" / "kb-index" / "manifest.json").is_file()


def test_search_refuses_empty_text(project: Path) -> None:
    res = kb("search", "   ", cwd=project)
    assert res.returncode == 1
    assert "'text' is empty" in res.stderr


def test_eval_writes_recall_and_mrr(project: Path, tmp_path: Path) -> None:
    questions = tmp_path / "q.yml"
    questions.write_text(
        'version: "1"\nquestions:\n'
        '- {question: "买多少钱能免运费", article: service/shipping/free-shipping, language: zh}\n'
        '- {question: "is delivery free if I spend 100 yuan", article: '
        "service/shipping/free-shipping.en, language: en}\n"
        '- {question: "忘记登录密码了咋办", article: service/account/reset-password, '
        "language: zh}\n"
        '- {question: "do you sell refrigerators", article: null, language: en}\n',
        "utf-8",
    )
    res = kb("eval", "--questions", str(questions), "--out", str(tmp_path / "out"), cwd=project)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "out" / "kb_report.json").read_text("utf-8"))
    assert report["overall"]["n"] == 3
    assert set(report["overall"]) == {"n", "recall_at_1", "recall_at_5", "mrr"}
    assert report["zh"]["n"] == 2 and report["en"]["n"] == 1
    assert report["overall"]["recall_at_5"] == 1.0
    assert report["answering"]["unanswerable"] == 1
    assert 0.0 <= report["answering"]["best_answered_at_target"] <= 1.0


def test_import_an_faq_then_evaluate_it(project: Path, tmp_path: Path) -> None:
    faq = tmp_path / "faq.csv"
    faq.write_text(
        "question,answer,category,language\n"
        "How do I top up my gift card?,Gift cards are topped up in Me > Wallet > Gift cards.,"
        "service/wallet,en\n"
        "Can I add money to a gift card?,Gift cards are topped up in Me > Wallet > Gift cards.,"
        "service/wallet,en\n"
        "Do you offer student discounts?,Students get 5% off with a verified student ID.,"
        "service/payment/discounts,en\n"
        "礼品卡怎么充值,在「我的 > 钱包 > 礼品卡」里充值。,service/wallet,zh\n",
        "utf-8",
    )
    other = tmp_path / "imported"
    res = kb("import", str(faq), "--out", str(other), cwd=project)
    assert res.returncode == 0, res.stderr
    assert "imported 3 articles from 4 rows" in res.stdout
    res = kb("index", "--kb", str(other), cwd=project)
    assert res.returncode == 0, res.stderr
    questions = tmp_path / "q.csv"
    questions.write_text(
        "question,article\nhow can I put money on my gift card,"
        "service/wallet/how-do-i-top-up-my-gift-card\n",
        "utf-8",
    )
    res = kb(
        "eval",
        "--kb",
        str(other),
        "--questions",
        str(questions),
        "--out",
        str(tmp_path / "r"),
        cwd=project,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r" / "kb_report.json").read_text("utf-8"))
    assert report["overall"]["recall_at_1"] == 1.0


def test_import_reports_bad_rows_with_their_line(project: Path, tmp_path: Path) -> None:
    faq = tmp_path / "bad.csv"
    faq.write_text("question,answer,category\nq,a,service/x\n", "utf-8")
    res = kb("import", str(faq), "--out", str(tmp_path / "x"), cwd=project)
    assert res.returncode == 1
    assert f"{faq}:1: missing column(s) language" in res.stderr


def test_history_lists_versions(project: Path) -> None:
    kb("index", cwd=project)
    res = kb("history", "service/shipping/free-shipping", cwd=project)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("v1  updated 2026-11-01  published")
    res = kb("history", "no/such/article", cwd=project)
    assert res.returncode == 1
    assert "no article 'no/such/article'" in res.stderr
