"""RasaServerNLU against a local server that answers Rasa's POST /model/parse and GET /status
the way Rasa 3.6 does (the answers below were copied from a real `rasa run --enable-api`). The
same component against the real Rasa is in test_rasa_interop.py, marked rasa."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.config import Config, config_from_dict
from bot.nlu.pipeline import NLUPipeline, load_for_config, train_model
from bot.nlu.rasa_server import RasaServerNLU
from bot.pipeline_config.params import RasaServerNLUParams
from tests.conftest import SMALL_NLU

TOKEN = "t0k3n-s3cret"

ORDER_ANSWER: dict[str, Any] = {
    "text": "订单202611180042怎么还没到，急死了",
    "intent": {"name": "order_status", "confidence": 0.9954591989517212},
    "entities": [
        {
            "entity": "order_id",
            "start": 2,
            "end": 14,
            "value": "202611180042",
            "extractor": "RegexEntityExtractor",
            "processors": ["EntitySynonymMapper"],
        }
    ],
    "text_tokens": [[0, 2], [2, 14], [14, 16], [16, 17], [17, 19], [19, 20], [20, 23]],
    "intent_ranking": [
        {"name": "order_status", "confidence": 0.9954591989517212},
        {"name": "question_returns", "confidence": 0.002293562749400735},
        {"name": "out_of_scope", "confidence": 0.0005761862848885357},
    ],
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # a client that gave up (the timeout tests) is not a server error


class RasaStandIn:
    """Answers like `rasa run --enable-api --auth-token TOKEN`; tests set what it answers."""

    def __init__(self) -> None:
        self.answer: dict[str, Any] = ORDER_ANSWER
        self.status = 200
        self.delay = 0.0
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _reply(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self, query: dict[str, list[str]]) -> bool:
                if query.get("token") == [TOKEN]:
                    return True
                self._reply(401, {"status": "failure", "reason": "NotAuthenticated", "code": 401})
                return False

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                stand_in.requests.append(("GET", url.path, query))
                if self._authorised(query):
                    self._reply(200, {"model_file": "nlu.tar.gz", "model_id": "abc"})

            def do_POST(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stand_in.requests.append(("POST", url.path, query))
                time.sleep(stand_in.delay)
                if not self._authorised(query):
                    return
                if stand_in.status != 200:
                    self._reply(stand_in.status, {"status": "failure"})
                    return
                self._reply(200, {**stand_in.answer, "text": json.loads(body)["text"]})

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rasa() -> Iterator[RasaStandIn]:
    stand_in = RasaStandIn()
    yield stand_in
    stand_in.stop()


def pipeline(url: str, token: str | None = TOKEN, **params: Any) -> NLUPipeline:
    """Language, Rasa, then relaydesk's fallback: nothing here needs training."""
    return NLUPipeline.build(
        [
            {"name": "LanguageDetector"},
            {"name": "RasaServerNLU", "url": url, "token": token, **params},
            {"name": "FallbackClassifier", "threshold": 0.3, "fallback_intent": "nlu_fallback"},
        ]
    )


def test_intent_ranking_and_entities_come_from_rasa_with_their_extractors(
    rasa: RasaStandIn,
) -> None:
    result = pipeline(rasa.url).parse("订单202611180042怎么还没到，急死了").to_dict()
    assert result["intent"] == {"name": "order_status", "confidence": 0.995459}
    assert [r["name"] for r in result["intent_ranking"]][:2] == ["order_status", "question_returns"]
    assert result["entities"] == [
        {
            "entity": "order_id",
            "value": "202611180042",
            "start": 2,
            "end": 14,
            "extractor": "RegexEntityExtractor",
        }
    ]
    assert result["language"] == "zh" and result["fallback"] is None
    method, path, query = rasa.requests[-1]
    assert (method, path, query) == ("POST", "/model/parse", {"token": [TOKEN]})


@pytest.mark.parametrize(
    ("second", "reason"), [(0.25, "low_confidence"), (0.55, "ambiguous")], ids=["low", "close"]
)
def test_rasas_own_fallback_is_reported_with_its_reason(
    rasa: RasaStandIn, second: float, reason: str
) -> None:
    # Rasa's FallbackClassifier puts nlu_fallback first, at its threshold, before the real top.
    rasa.answer = {
        "intent": {"name": "nlu_fallback", "confidence": 0.3},
        "entities": [],
        "intent_ranking": [
            {"name": "nlu_fallback", "confidence": 0.3},
            {"name": "greet", "confidence": second},
            {"name": "goodbye", "confidence": second - 0.05},
        ],
    }
    result = pipeline(rasa.url).parse("hmm")
    assert (result.intent.name, result.fallback) == ("nlu_fallback", reason)


def test_the_teams_intent_and_entity_names_map_onto_relaydesks(rasa: RasaStandIn) -> None:
    rasa.answer = {
        "intent": {"name": "human_handoff", "confidence": 0.8},
        "entities": [{"entity": "order_number", "start": 6, "end": 18, "value": "202611180042",
                      "extractor": "DIETClassifier"}],
        "intent_ranking": [
            {"name": "human_handoff", "confidence": 0.8},
            {"name": "agent", "confidence": 0.15},  # also request_human: the higher one stays
            {"name": "greet", "confidence": 0.05},
        ],
    }  # fmt: skip
    maps = {"intent_map": {"human_handoff": "request_human", "agent": "request_human"}}
    maps |= {"entity_map": {"order_number": "order_id"}}
    result = pipeline(rasa.url, **maps).parse("order 202611180042, a person please")
    assert [(s.name, s.confidence) for s in result.intent_ranking] == [
        ("request_human", 0.8),
        ("greet", 0.05),
    ]
    assert [(e.entity, e.extractor) for e in result.entities] == [("order_id", "DIETClassifier")]


def test_a_duckling_value_that_is_not_text_is_carried_as_json(rasa: RasaStandIn) -> None:
    amount = {"value": 20, "unit": "USD"}
    rasa.answer = {
        "intent": {"name": "question_payment", "confidence": 0.9},
        "entities": [{"entity": "amount-of-money", "start": 0, "end": 3, "value": amount,
                      "extractor": "DucklingEntityExtractor"}],
    }  # fmt: skip
    entity = pipeline(rasa.url).parse("$20 refund?").entities[0]
    assert json.loads(entity.value) == amount and entity.extractor == "DucklingEntityExtractor"


# --- Rasa unavailable ----------------------------------------------------------------------------


def test_rasa_down_gives_the_fallback_intent_and_one_warning(
    rasa: RasaStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    url = rasa.url
    rasa.stop()
    nlu = pipeline(url, retry_after_seconds=0)
    with caplog.at_level(logging.DEBUG, logger="bot.nlu.rasa_server"):
        first = nlu.parse("where is my order")
        second = nlu.parse("hello?")
    for result in (first, second):
        assert (result.intent.name, result.intent.confidence) == ("nlu_fallback", 0.0)
        assert result.fallback == "rasa_unavailable"
        assert result.language == "en"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"Rasa server {url} unavailable (ConnectError: " in warnings[0]
    assert "Connection refused" in warnings[0]
    assert nlu.probe_services()["RasaServerNLU"].startswith(f"{url}: ConnectError")


def test_a_hung_rasa_costs_one_timeout_then_answers_at_once_until_retry(
    rasa: RasaStandIn,
) -> None:
    rasa.delay = 1.0
    nlu = pipeline(rasa.url, timeout_seconds=0.2, retry_after_seconds=30)
    started = time.perf_counter()
    assert nlu.parse("hello").fallback == "rasa_unavailable"
    assert 0.2 <= time.perf_counter() - started < 0.9
    asked = len(rasa.requests)
    started = time.perf_counter()
    for _ in range(20):
        assert nlu.parse("hello again").fallback == "rasa_unavailable"
    assert time.perf_counter() - started < 0.5  # not asked: the retry window is open
    assert len(rasa.requests) == asked


def test_after_the_retry_window_rasa_is_asked_again_and_recovery_is_logged(
    rasa: RasaStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    rasa.status = 500
    nlu = pipeline(rasa.url, retry_after_seconds=0.2)
    with caplog.at_level(logging.INFO, logger="bot.nlu.rasa_server"):
        assert nlu.parse("hi").fallback == "rasa_unavailable"
        rasa.status = 200
        assert nlu.parse("hi").fallback == "rasa_unavailable"  # inside the window: not asked
        time.sleep(0.25)
        assert nlu.parse("订单202611180042到哪了").intent.name == "order_status"
    assert "unavailable (HTTP 500 from /model/parse)" in caplog.text
    assert f"Rasa server {rasa.url} answers again after" in caplog.text


def test_a_wrong_token_is_reported_and_never_logged(
    rasa: RasaStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    nlu = pipeline(rasa.url, token="wrong-token-value")
    with caplog.at_level(logging.DEBUG):
        assert nlu.parse("hi").fallback == "rasa_unavailable"
        problem = nlu.probe_services()["RasaServerNLU"]
    assert "HTTP 401: the server refused the token (Rasa's --auth-token)" in caplog.text
    assert "refused the token" in problem
    assert "wrong-token-value" not in caplog.text + problem


@pytest.mark.parametrize(
    "answer",
    [{"intent": "greet"}, {"entities": []}, {"intent": {"name": "x"}, "entities": [{"start": 1}]}],
)
def test_an_answer_not_shaped_like_rasas_counts_as_unavailable(
    rasa: RasaStandIn, answer: dict[str, Any]
) -> None:
    rasa.answer = answer
    result = pipeline(rasa.url).parse("hi")
    assert result.fallback == "rasa_unavailable" and result.entities == ()


def test_the_token_stays_out_of_the_model_spec() -> None:
    params = RasaServerNLUParams(url="http://rasa:5005/", token=TOKEN)
    assert params.url == "http://rasa:5005"
    assert "token" not in params.model_dump() and TOKEN not in repr(params)


def test_the_token_is_among_the_secrets_the_log_redacts() -> None:
    pipeline = [{"name": "RasaServerNLU", "url": "http://rasa:5005", "token": "${RASA_TOKEN}"}]
    config = config_from_dict({"pipeline": pipeline}, env={"RASA_TOKEN": TOKEN})
    assert TOKEN in config.secrets()


def test_an_url_that_is_not_http_is_refused_naming_the_key() -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match=r"pipeline\[0\] \(RasaServerNLU\)\.url: .*http://"):
        config_from_dict({"pipeline": [{"name": "RasaServerNLU", "url": "rasa:5005"}]}, env={})


# --- training and serving -------------------------------------------------------------------------


def rasa_config(tmp_path: Path, url: str, token: str = "${RASA_TOKEN}") -> Config:
    data = tmp_path / "nlu.yml"
    data.write_text(SMALL_NLU, encoding="utf-8")
    raw = {
        "pipeline": [
            {"name": "LanguageDetector"},
            {"name": "SpacyTokenizer"},
            {"name": "RasaServerNLU", "url": url, "token": token},
            {"name": "FallbackClassifier", "fallback_intent": "nlu_fallback"},
            {"name": "SentimentAnalyzer"},
        ],
        "nlu": {"data": str(data), "models": str(tmp_path / "models")},
    }
    return config_from_dict(raw, base_dir=str(tmp_path), env={"RASA_TOKEN": TOKEN})


@pytest.mark.slow
def test_training_needs_no_rasa_and_serving_takes_the_configs_server_and_token(
    rasa: RasaStandIn, tmp_path: Path
) -> None:
    down = RasaStandIn()
    down.stop()
    info, trained = train_model(rasa_config(tmp_path, down.url))
    assert trained and info.metadata["intents"] == ["greet", "order_status", "request_human"]
    assert TOKEN not in "".join(p.read_text("utf-8") for p in info.path.rglob("*.json"))
    # The same model served against another server: url and token come from the config.
    nlu = load_for_config(rasa_config(tmp_path, rasa.url), model=info.path)
    result = nlu.parse("订单202611180042怎么还没到，急死了")
    assert result.intent.name == "order_status" and result.sentiment.label == "negative"
    assert all(q == {"token": [TOKEN]} for _, _, q in rasa.requests)
    remote = nlu.component("RasaServerNLU")
    assert isinstance(remote, RasaServerNLU) and remote.params.url == rasa.url
