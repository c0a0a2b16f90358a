"""Knowledge bases of every shape, imported from a FAQ spreadsheet as a new user would
(`relaydesk kb import`): one article, one phrasing per article, the same phrasing in two articles,
10,000 articles, Chinese only and English only. Each indexes, reports how its answer decision was
set, answers a paraphrase of one of its articles and does not answer an unrelated question; the
REST channel and the widget answer or decline on them without an error."""

from __future__ import annotations

import csv
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Config, config_from_dict
from bot.knowledge.base import IndexReport, KnowledgeBase
from bot.knowledge.faq_import import import_csv
from bot.knowledge.retriever import SearchResult
from bot.nlu.embedders import UseEmbedder
from bot.nlu.pipeline import NLUPipeline
from bot.server.app import create_app
from bot.server.context import CONTEXT
from tests.bot.knowledge.conftest import kb_config
from tests.conftest import server_config
from tests.connectors.web.test_widget_socket import connect, messages, turn

Row = tuple[str, str, str, str]  # question, answer, category, language
HEADER = ("question", "answer", "category", "language")
UNRELATED = {"en": "who won the 1998 football world cup", "zh": "1998年世界杯冠军是谁"}
METHODS = {"fitted", "negatives", "rule"}

# (category, answer, phrasings): the first phrasing becomes the title.
EN_FAQ: list[tuple[str, str, list[str]]] = [
    (
        "service/account",
        "Open Me > Settings > Account > Reset password and enter the code we text you.",
        ["How do I reset my password?", "I forgot my password", "Can't log in, password lost"],
    ),
    (
        "service/shipping",
        "Orders over 99 yuan ship free on the mainland; smaller orders pay 8 yuan postage.",
        ["Is shipping free?", "How much is delivery?", "What does postage cost?"],
    ),
    (
        "after-sales/returns",
        "Unused items can be returned within 7 days of delivery; open the order and tap Return.",
        ["Can I return an item?", "What is your return policy?", "How do I send something back?"],
    ),
    (
        "after-sales/refunds",
        "Refunds reach the original payment method 3-5 working days after we receive the return.",
        ["When will I get my refund?", "How long does a refund take?", "Refund not received yet"],
    ),
    (
        "service/orders",
        "Before an order ships you can change the delivery address under Orders > Edit address.",
        [
            "How do I change my delivery address?",
            "Wrong shipping address on my order",
            "Can I update where my parcel goes?",
        ],
    ),
    (
        "service/orders",
        "An order that has not shipped can be cancelled under Orders > Cancel order.",
        ["How do I cancel my order?", "I want to cancel an order", "Stop my order please"],
    ),
    (
        "service/payment",
        "We accept Alipay, WeChat Pay, UnionPay cards, Visa and Mastercard.",
        ["Which payment methods do you accept?", "Can I pay by credit card?", "Do you take Visa?"],
    ),
    (
        "service/payment",
        "Request an electronic invoice under Orders > Invoice within 30 days of delivery.",
        [
            "How do I get an invoice?",
            "I need a receipt for my purchase",
            "Can you issue a VAT invoice?",
        ],
    ),
    (
        "product/phone/warranty",
        "Phones carry a one-year warranty covering manufacturing faults; keep your order number.",
        [
            "How long is the warranty?",
            "Is my phone still under guarantee?",
            "What does the warranty cover?",
        ],
    ),
    (
        "product/phone/settings",
        "Turn Bluetooth on under Settings > Bluetooth, hold the headset's button and tap its name.",
        [
            "How do I pair Bluetooth headphones?",
            "My earbuds won't connect to the phone",
            "Bluetooth pairing fails",
        ],
    ),
    (
        "product/phone/battery",
        "Use the supplied 33 W charger; a full charge takes about an hour.",
        [
            "How long does the battery take to charge?",
            "Phone charges slowly",
            "Which charger should I use?",
        ],
    ),
    (
        "after-sales/repair",
        "Cracked screens are replaced at any service centre; book a slot in the app under Repairs.",
        [
            "My screen is cracked",
            "Where can I get the display repaired?",
            "Broken screen replacement",
        ],
    ),
    (
        "service/membership",
        "Every yuan spent earns one point; 100 points take 1 yuan off your next order.",
        [
            "How do membership points work?",
            "How do I use my points?",
            "What are reward points worth?",
        ],
    ),
    (
        "service/coupons",
        "Pick a coupon at checkout; one coupon per order, and it must not be expired.",
        ["How do I use a coupon?", "My discount code doesn't work", "Can I combine two vouchers?"],
    ),
    (
        "service/shipping",
        "We ship to Hong Kong, Macau, Taiwan and Singapore; overseas delivery takes 7-15 days.",
        ["Do you ship abroad?", "Can I order from overseas?", "International delivery options"],
    ),
    (
        "service/account",
        "Delete your account under Me > Settings > Privacy > Delete account; it cannot be undone.",
        ["How do I delete my account?", "Close my account permanently", "Remove all my data"],
    ),
]

ZH_FAQ: list[tuple[str, str, list[str]]] = [
    (
        "service/account",
        "打开 我的 > 设置 > 账号 > 重置密码，输入短信验证码即可。",
        ["怎么重置密码", "密码忘了怎么办", "登录不上，密码丢了"],
    ),
    (
        "service/shipping",
        "订单满 99 元包邮，不满 99 元收取 8 元运费。",
        ["包邮吗", "运费多少钱", "邮费怎么算"],
    ),
    (
        "after-sales/returns",
        "签收后 7 天内未使用的商品可以退货，在订单里点“申请退货”。",
        ["可以退货吗", "退货政策是什么", "东西不想要了怎么退"],
    ),
    (
        "after-sales/refunds",
        "我们收到退货后 3-5 个工作日内原路退款。",
        ["退款多久到账", "什么时候能收到退款", "退款还没到"],
    ),
    (
        "service/orders",
        "订单发货前可以在 订单 > 修改地址 中更改收货地址。",
        ["怎么修改收货地址", "地址填错了", "能改一下寄送地址吗"],
    ),
    (
        "service/orders",
        "未发货的订单可以在 订单 > 取消订单 中取消。",
        ["怎么取消订单", "我不想要这个订单了", "订单能取消吗"],
    ),
    (
        "service/payment",
        "支持支付宝、微信支付、银联卡、Visa 和万事达卡。",
        ["支持哪些付款方式", "可以用信用卡付款吗", "能用微信支付吗"],
    ),
    (
        "service/payment",
        "签收后 30 天内可以在 订单 > 发票 中申请电子发票。",
        ["怎么开发票", "我需要发票", "能开增值税发票吗"],
    ),
    (
        "product/phone/warranty",
        "手机保修一年，覆盖非人为的质量问题，请保留订单号。",
        ["保修多久", "手机还在保修期吗", "保修包括哪些问题"],
    ),
    (
        "product/phone/settings",
        "在 设置 > 蓝牙 中打开蓝牙，长按耳机按键后点击耳机名称配对。",
        ["蓝牙耳机怎么配对", "耳机连不上手机", "蓝牙配对失败"],
    ),
    (
        "product/phone/battery",
        "请使用原装 33W 充电器，充满约需一小时。",
        ["充电要多久", "手机充电很慢", "用什么充电器"],
    ),
    (
        "after-sales/repair",
        "屏幕碎了可以到任意服务中心更换，在 App 的 维修 中预约。",
        ["手机屏幕摔碎了", "哪里可以修屏幕", "换屏多少钱"],
    ),
    (
        "service/membership",
        "每消费 1 元得 1 积分，100 积分可抵 1 元。",
        ["会员积分怎么用", "积分有什么用", "积分怎么抵扣"],
    ),
    (
        "service/coupons",
        "结算时选择优惠券；每单限用一张，且需在有效期内。",
        ["优惠券怎么用", "优惠码用不了", "两张优惠券能一起用吗"],
    ),
    (
        "service/shipping",
        "我们配送到港澳台和新加坡，海外配送需 7-15 天。",
        ["能寄到国外吗", "海外可以下单吗", "国际运费多少"],
    ),
    (
        "service/account",
        "在 我的 > 设置 > 隐私 > 注销账号 中注销，注销后无法恢复。",
        ["怎么注销账号", "永久删除我的账户", "删除我的所有数据"],
    ),
]


def faq_rows(faq: list[tuple[str, str, list[str]]], language: str, phrasings: int = 3) -> list[Row]:
    return [(q, answer, cat, language) for cat, answer, qs in faq for q in qs[:phrasings]]


def widget_rows(n: int) -> list[Row]:
    """n distinct synthetic articles, one phrasing each, for models 10000 and up."""
    return [
        (
            f"How do I configure widget model {m}?",
            f"Widget model {m}: hold the dial for {m % 7 + 2} seconds, then enter code {m}.",
            f"product/widget/series-{m % 20}",
            "en",
        )
        for m in range(10_000, 10_000 + n)
    ]


def import_faq(tmp_path: Path, rows: list[Row]) -> Path:
    """Write the rows as a CSV and import it the way `relaydesk kb import` does."""
    path = tmp_path / "faq.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    root = tmp_path / "knowledge"
    report = import_csv(path, root)
    assert report.problems == []
    return root


@dataclass(frozen=True)
class Shape:
    rows: list[Row]
    paraphrase: str  # asks about the article whose title is `expected`
    expected: str
    language: str


SHAPES = {
    "one-article-en": Shape(
        faq_rows(EN_FAQ[:1], "en", 1),
        "I can't remember my password, how do I change it?",
        "How do I reset my password?",
        "en",
    ),
    "one-article-zh": Shape(
        faq_rows(ZH_FAQ[:1], "zh", 1), "我忘记密码了，怎么改", "怎么重置密码", "zh"
    ),
    "one-phrasing-per-article": Shape(
        faq_rows(EN_FAQ, "en", 1),
        "my wireless earphones will not connect to my phone",
        "How do I pair Bluetooth headphones?",
        "en",
    ),
    "english-only": Shape(
        faq_rows(EN_FAQ, "en"),
        "how many days until my money comes back after returning",
        "When will I get my refund?",
        "en",
    ),
    "chinese-only": Shape(faq_rows(ZH_FAQ, "zh"), "我的钱什么时候退回来", "退款多久到账", "zh"),
}


def build(
    tmp_path: Path, rows: list[Row], use: UseEmbedder, **knowledge: object
) -> tuple[KnowledgeBase, IndexReport]:
    root = import_faq(tmp_path, rows)
    kb = KnowledgeBase(kb_config(tmp_path, root, **knowledge), embedder=use)
    report = kb.reindex(full=True)
    assert report.problems == []
    assert report.tuning is not None and report.tuning["decision"] in METHODS
    return kb, report


def assert_sane(result: SearchResult) -> None:
    assert 0.0 <= result.confidence <= 1.0
    assert result.decision in ("answer", "clarify", "decline")
    if result.answer is not None:
        assert result.hits and result.answer.article.id == result.hits[0].article.id


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_shape_indexes_answers_its_own_question_and_not_an_unrelated_one(
    tmp_path: Path, use: UseEmbedder, name: str
) -> None:
    shape = SHAPES[name]
    kb, report = build(tmp_path, shape.rows, use)
    assert report.articles == len({(r[1], r[2], r[3]) for r in shape.rows})

    asked = kb.search(shape.paraphrase)
    assert_sane(asked)
    assert asked.hits[0].article.title == shape.expected, asked.to_dict()
    assert asked.hits[0].article.language == shape.language

    unrelated = kb.search(UNRELATED[shape.language])
    assert_sane(unrelated)
    assert unrelated.answer is None, unrelated.to_dict()


RESET_WEB = "On the website, click Sign in > Forgot password and follow the link we email you."
RESET_WEB_ZH = "在网页版点击 登录 > 忘记密码，按邮件里的链接操作。"
DUPLICATES = {
    # Two articles and nothing else, sharing their only phrasing.
    "two-articles-only": (
        [
            ("How do I reset my password?", EN_FAQ[0][1], "service/account", "en"),
            ("How do I reset my password?", RESET_WEB, "service/account/web", "en"),
        ],
        "How do I reset my password?",
    ),
    "within-an-english-base": (
        [*faq_rows(EN_FAQ, "en"), ("I forgot my password", RESET_WEB, "service/account/web", "en")],
        "I forgot my password",
    ),
    "within-a-chinese-base": (
        [*faq_rows(ZH_FAQ, "zh"), ("密码忘了怎么办", RESET_WEB_ZH, "service/account/web", "zh")],
        "密码忘了怎么办",
    ),
}


@pytest.mark.parametrize("name", list(DUPLICATES))
def test_a_phrasing_in_two_articles_finds_both(tmp_path: Path, use: UseEmbedder, name: str) -> None:
    rows, phrasing = DUPLICATES[name]
    kb, _ = build(tmp_path, rows, use)
    sharing = {a.id for a in kb.index.articles.values() if phrasing in (a.title, *a.questions)}
    assert len(sharing) == 2

    result = kb.search(phrasing)
    assert_sane(result)
    assert sharing <= {h.article.id for h in result.hits}, result.to_dict()
    assert kb.search(UNRELATED[rows[0][3]]).answer is None


@pytest.mark.parametrize("name", ["one-article-zh", "english-only"])
def test_a_saved_index_reloads_with_the_same_decision(
    tmp_path: Path, use: UseEmbedder, name: str
) -> None:
    shape = SHAPES[name]
    kb, report = build(tmp_path, shape.rows, use)
    before = kb.search(shape.paraphrase)

    again = KnowledgeBase(kb_config(tmp_path, tmp_path / "knowledge"), embedder=use)
    assert again.open() is None  # the saved index matched the files: nothing rebuilt
    saved, fitted = again.index.tuning, report.tuning
    assert saved is not None and fitted is not None
    assert saved["decision"]["method"] == fitted["decision"]
    after = again.search(shape.paraphrase)
    assert after.decision == before.decision
    assert after.confidence == pytest.approx(before.confidence, abs=1e-6)
    assert [h.article.id for h in after.hits] == [h.article.id for h in before.hits]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, use: UseEmbedder) -> KnowledgeBase:
    """10,000 articles, imported and indexed once for this module. The multilingual view only:
    what is tested is the size, and English's own model would add minutes of embedding."""
    kb, report = build(
        tmp_path_factory.mktemp("big"),
        widget_rows(10_000),
        use,
        language_embedders={},
        exact_max_chunks=5_000,
    )
    assert report.articles == 10_000
    assert report.dense_kind == "ivf"  # 20,000 chunks: above exact_max_chunks, approximate
    return kb


@pytest.mark.slow
def test_ten_thousand_articles_answer_an_exact_title_with_its_article(
    big: KnowledgeBase,
) -> None:
    exact = big.search("How do I configure widget model 14821?")
    assert_sane(exact)
    assert exact.answer is not None, exact.to_dict()
    assert exact.answer.article.title == "How do I configure widget model 14821?"
    assert "14821" in exact.answer.article.body

    paraphrase = big.search("how to set up widget model 10777")
    assert_sane(paraphrase)
    assert paraphrase.hits[0].article.title == "How do I configure widget model 10777?"


@pytest.mark.slow
@pytest.mark.parametrize("question", [UNRELATED["en"], "How do I reset my password?"])
def test_ten_thousand_articles_do_not_answer_an_unrelated_question(
    big: KnowledgeBase, question: str
) -> None:
    result = big.search(question)
    assert_sane(result)
    assert result.answer is None, result.to_dict()


# -- the REST channel and the widget on the real app -----------------------------------------
Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]
ON_THE_APP = ["one-phrasing-per-article", "chinese-only"]


def app_config(repo_config: Config, tmp: Path, root: Path) -> Config:
    """server_config with the knowledge base at `root` and its index under `tmp`."""
    base = server_config(repo_config, tmp, tmp)
    raw = base.model_dump(exclude={"base_dir"})
    raw["pipeline"] = base.pipeline_spec()
    raw["knowledge"]["path"] = str(root)
    return config_from_dict(raw, base_dir=base.base_dir)


@pytest.fixture
def app_for(
    aiohttp_client: ClientFactory, repo_config: Config, trained: NLUPipeline, tmp_path: Path
) -> Callable[[str], Awaitable[Client]]:
    async def make(name: str) -> Client:
        root = import_faq(tmp_path, SHAPES[name].rows)
        config = app_config(repo_config, tmp_path, root)
        return await aiohttp_client(create_app(config, trained, dialogue=True))

    return make


def expected_id(client: Client, name: str) -> str:
    kb: KnowledgeBase | None = client.app[CONTEXT].kb
    assert kb is not None and kb.root.name == "knowledge"
    (article,) = [a for a in kb.index.articles.values() if a.title == SHAPES[name].expected]
    return article.id


@pytest.mark.parametrize("name", ON_THE_APP)
async def test_the_rest_channel_answers_or_declines_on_the_base(
    app_for: Callable[[str], Awaitable[Client]], name: str
) -> None:
    client = await app_for(name)
    shape = SHAPES[name]
    for n, question in enumerate([shape.paraphrase, UNRELATED[shape.language]]):
        resp = await client.post(
            "/webhooks/rest/webhook", json={"sender": f"shape-{n}", "message": question}
        )
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body and all(m["text"] for m in body), body
        cited = [m["custom"]["kb_article"] for m in body if m["custom"].get("kb_article")]
        if question == shape.paraphrase:
            assert all(c["id"] == expected_id(client, name) for c in cited), body
        else:
            assert cited == [], body
    # /ready says how this base decides, fitted or a fallback, as the served index does.
    ready = await (await client.get("/ready")).json()
    kb: KnowledgeBase | None = client.app[CONTEXT].kb
    assert kb is not None
    assert ready["knowledge"]["decision"] == kb.retriever.decision.method
    assert ready["knowledge"]["fallback"] == (kb.retriever.decision.method != "fitted")


@pytest.mark.parametrize("name", ON_THE_APP)
async def test_the_widget_answers_or_declines_on_the_base(
    app_for: Callable[[str], Awaitable[Client]], name: str
) -> None:
    client = await app_for(name)
    shape = SHAPES[name]
    ws, _ = await connect(client, language=shape.language)
    for question in (shape.paraphrase, UNRELATED[shape.language]):
        frames = await turn(ws, question)
        assert not [f for f in frames if f["type"] == "error"], frames
        replies = [m for m in messages(frames) if m["sender"] == "bot"]
        assert replies and all(m["text"] for m in replies), frames
    await ws.close()
