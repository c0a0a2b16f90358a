"""The grievance probability (bot/nlu/grievance.py): held-out lines, persistence, its data."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

from bot.dialogue.policy import PolicySettings
from bot.errors import TrainingDataError
from bot.nlu import rasa_format
from bot.nlu.grievance import GrievanceModel, load_grievances
from bot.nlu.pipeline import NLUPipeline

REPO = Path(__file__).resolve().parents[3]
S = PolicySettings()


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


# Written for this test: in neither the grievance file nor the conversation benchmark.
@pytest.mark.parametrize(
    "text",
    [
        "我的退款卡在审核中快三个星期了，一直没人给个说法",
        "售后说寄回来再说，寄回去两周了也没个消息",
        "客服让我等回电，等了一整天都没人打来",
        "it's been nine days and nobody has told me where my refund is",
        "i've explained this to three different agents and still nothing is fixed",
        "you billed me for a subscription i cancelled in march",
    ],
)
def test_a_customer_let_down_by_the_service_scores_as_a_grievance(
    trained: NLUPipeline, text: str
) -> None:
    assert _key(text) not in {_key(t) for t, _ in load_grievances()}
    assert trained.parse(text).sentiment.grievance >= S.grievance, text


@pytest.mark.parametrize(
    "text",
    [
        "充电的时候屏幕有点闪，要怎么设置",
        "退货的时候需要附上购物小票吗",
        "收到货五天了，还能换个颜色吗",
        "the left speaker sounds a bit tinny, is there an equaliser",
        "what's your returns window for headphones",
        "it came on monday, how do i register the warranty",
        "👍",
        "202611180042",
    ],
)
def test_questions_and_calm_fault_reports_are_not_grievances(
    trained: NLUPipeline, text: str
) -> None:
    assert _key(text) not in {_key(t) for t, _ in load_grievances()}
    assert trained.parse(text).sentiment.grievance < S.grievance_insisting, text


def test_the_probability_survives_saving_and_a_model_without_one_scores_zero(
    trained: NLUPipeline, tmp_path: Path
) -> None:
    sentiment = trained.component("SentimentAnalyzer")
    sentiment.grievance.persist(tmp_path)
    loaded = GrievanceModel.load(tmp_path)
    message = trained._messages(["退款等了两周还没到"])[0]
    assert loaded.score(message) == pytest.approx(sentiment.grievance.score(message), abs=1e-6)
    assert GrievanceModel.load(tmp_path / "older-model").score(message) == 0.0


def test_the_grievance_file_has_both_classes_in_both_languages_and_no_copied_lines() -> None:
    raw = yaml.safe_load(
        (REPO / "bot" / "nlu" / "resources" / "grievance_train.yml").read_text("utf-8")
    )
    kinds = {(e["language"], e["grievance"]) for e in raw["examples"]}
    assert kinds == {("zh", True), ("zh", False), ("en", True), ("en", False)}
    taken = {_key(e.text) for e in rasa_format.load(REPO / "nlu_data").examples}
    bench = yaml.safe_load((REPO / "bench" / "data" / "conversations.yml").read_text("utf-8"))
    said: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "say" and isinstance(v, str):
                    said.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(bench)
    taken |= {_key(t) for t in said}
    assert not [t for t, _ in load_grievances() if _key(t) in taken]


def test_a_grievance_line_without_a_yes_or_no_is_rejected(tmp_path: Path) -> None:
    bad = tmp_path / "g.yml"
    bad.write_text('version: "1"\nexamples:\n- {text: "hi", grievance: maybe}\n', "utf-8")
    with pytest.raises(TrainingDataError):
        load_grievances(bad)
