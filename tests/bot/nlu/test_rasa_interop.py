"""Interoperability with a real Rasa Open Source 3.6.21 (issue 9).

Rasa's starter project trains relaydesk unchanged; and a relaydesk pipeline whose intents and
entities come from a real `rasa run --enable-api`, trained on relaydesk's sample data, parses,
answers and hands over through the real app, and degrades as documented when Rasa hangs or
stops. Rasa runs from .venv-rasa (`make test-rasa` builds it); without it these tests skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Config, config_from_dict
from bot.nlu.pipeline import NLUPipeline, load_for_config, train_model
from bot.server.app import create_app
from tests.apps import run_cli
from tests.conftest import REPO, server_config
from tests.rasa_env import SKIP_REASON, RasaServer, rasa_bin, rasa_env, require_rasa, trained_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.rasa,
    pytest.mark.skipif(
        rasa_bin() is None and not os.environ.get("RELAYDESK_RASA_BIN"), reason=SKIP_REASON
    ),
]

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
TOKEN = "interop-token-0123"
ORDER = "订单202611180042怎么还没到，急死了"


def delegating(url: str, token: str = "${RASA_TOKEN}", **rasa: Any) -> list[dict[str, Any]]:
    """relaydesk's steps around the Rasa server: language first; tokens and the sentence
    embedding for sentiment and the knowledge base; Rasa's intents and entities; relaydesk's
    fallback (Rasa's name for it); sentiment last. The timeout is generous, for a machine busy
    with other tests; the test of a hung server sets its own."""
    rasa.setdefault("timeout_seconds", 10.0)
    return [
        {"name": "LanguageDetector"},
        {"name": "SpacyTokenizer"},
        {"name": "SentenceEmbeddingFeaturizer"},
        {"name": "RasaServerNLU", "url": url, "token": token, **rasa},
        {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1,
         "fallback_intent": "nlu_fallback"},
        {"name": "SentimentAnalyzer"},
    ]  # fmt: skip


def with_pipeline(config: Config, pipeline: list[dict[str, Any]], models: Path) -> Config:
    raw = config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = pipeline
    raw["nlu"]["models"] = str(models)
    return config_from_dict(raw, base_dir=config.base_dir, env={"RASA_TOKEN": TOKEN})


# --- fixtures: one Rasa model (cached across runs), one Rasa server, one relaydesk model -------


@pytest.fixture(scope="module")
def rasa() -> Path:
    return require_rasa()


@pytest.fixture(scope="module")
def rasa_model(rasa: Path) -> Path:
    return trained_model(rasa)


@pytest.fixture(scope="module")
def rasa_server(
    rasa: Path, rasa_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RasaServer]:
    server = RasaServer(rasa, rasa_model, tmp_path_factory.mktemp("rasa-run"), token=TOKEN)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def relaydesk_model(
    rasa: Path, repo_config: Config, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """relaydesk's side of the delegating pipeline, trained on the sample data (the Rasa server
    is not needed for it, and is not asked)."""
    models = tmp_path_factory.mktemp("models")
    config = with_pipeline(repo_config, delegating("http://127.0.0.1:9"), models)
    info, _ = train_model(config)
    return info.path


# --- a Rasa project trains relaydesk --------------------------------------------------------------


@pytest.fixture(scope="module")
def rasa_init_project(rasa: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files `rasa init` writes, from Rasa's own scaffold. (`rasa init` itself would also
    spend 95 s training a Rasa model these tests have no use for.)"""
    project = tmp_path_factory.mktemp("rasa-init")
    script = "import sys; from rasa.cli.scaffold import create_initial_project as c; c(sys.argv[1])"
    done = subprocess.run(
        [str(rasa.parent / "python"), "-c", script, str(project)],
        env=rasa_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert {"config.yml", "domain.yml", "data"} <= {p.name for p in project.iterdir()}
    return project


def relaydesk(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, timeout=600)


@pytest.mark.parametrize("pipeline", ["as generated", "suggested pipeline uncommented"])
def test_rasa_init_project_trains_relaydesk_unchanged(
    rasa_init_project: Path, tmp_path: Path, pipeline: str
) -> None:
    config = rasa_init_project / "config.yml"
    if pipeline != "as generated":
        text = config.read_text(encoding="utf-8")
        config = tmp_path / "config.yml"
        config.write_text(
            "\n".join(ln[2:] if ln.startswith("#   ") else ln for ln in text.splitlines()),
            encoding="utf-8",
        )
    models = tmp_path / "models"
    args = ("--config", str(config))
    trained = relaydesk("train", *args, "--nlu", str(rasa_init_project / "data"), "--out",
                        str(models), cwd=tmp_path)  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert trained.stdout.startswith("trained "), trained.stdout
    assert "7 intents" in trained.stdout  # greet, goodbye, affirm, deny, mood_*, bot_challenge
    if pipeline != "as generated":
        assert "ResponseSelector skipped" in trained.stderr
        assert "DIETClassifier -> LogisticRegressionClassifier" in trained.stderr
    for text, intent in [("hello there", "greet"), ("are you a bot?", "bot_challenge")]:
        parsed = relaydesk("parse", text, *args, "--model", str(models), cwd=tmp_path)
        assert parsed.returncode == 0, parsed.stderr[-3000:]
        assert json.loads(parsed.stdout)["intent"]["name"] == intent


# --- relaydesk asking a real Rasa server ----------------------------------------------------------


@pytest.fixture(scope="module")
def nlu(rasa_server: RasaServer, relaydesk_model: Path, repo_config: Config) -> NLUPipeline:
    config = with_pipeline(repo_config, delegating(rasa_server.url), relaydesk_model.parent)
    return load_for_config(config, model=relaydesk_model)


def test_intent_and_entities_come_from_rasa_and_sentiment_from_relaydesk(
    nlu: NLUPipeline, rasa_server: RasaServer
) -> None:
    ours = nlu.parse(ORDER).to_dict()
    theirs: Any = rasa_server.parse(ORDER)
    assert ours["intent"]["name"] == theirs["intent"]["name"] == "order_status"
    assert ours["intent"]["confidence"] == round(theirs["intent"]["confidence"], 6)
    assert [r["name"] for r in ours["intent_ranking"]] == [
        r["name"] for r in theirs["intent_ranking"]
    ]
    assert ours["entities"] == [
        {"entity": "order_id", "value": "202611180042", "start": 2, "end": 14,
         "extractor": "RegexEntityExtractor"},
    ]  # fmt: skip
    assert ours["language"] == "zh" and ours["fallback"] is None
    assert ours["sentiment"]["label"] == "negative" and ours["sentiment"]["emotion"] == "urgent"
    english = nlu.parse("I want to talk to a real person").to_dict()
    assert english["intent"]["name"] == "request_human" and english["language"] == "en"


async def test_the_apps_parse_and_rest_turns_go_through_rasa(
    aiohttp_client: ClientFactory,
    nlu: NLUPipeline,
    rasa_server: RasaServer,
    repo_config: Config,
    tmp_path: Path,
    kb_dir: Path,
) -> None:
    config = with_pipeline(
        server_config(repo_config, tmp_path, kb_dir, always_open=True),
        delegating(rasa_server.url),
        tmp_path / "models",
    )
    client = await aiohttp_client(create_app(config, nlu, dialogue=True))
    parsed = await (await client.post("/model/parse", json={"text": ORDER})).json()
    assert parsed["intent"]["name"] == "order_status"
    assert parsed["entities"][0]["extractor"] == "RegexEntityExtractor"
    assert parsed["sentiment"]["label"] == "negative"

    ask = {"sender": "interop-1", "message": "how much is shipping, is it free?"}
    answer = await (await client.post("/webhooks/rest/webhook", json=ask)).json()
    custom = answer[-1]["custom"]
    assert custom["intent"] == rasa_server.parse(ask["message"])["intent"]["name"]  # type: ignore[index]
    assert custom["kb_article"]["id"].startswith("service/shipping/free-shipping")

    human = {"sender": "interop-2", "message": "转人工"}
    handed = await (await client.post("/webhooks/rest/webhook", json=human)).json()
    assert handed[-1]["custom"]["intent"] == "request_human"
    assert handed[-1]["custom"]["status"] in {"queued", "assigned"}
    assert handed[-1]["custom"]["handoff"]["reason"] == "explicit_request"

    ready = await client.get("/ready")
    assert (ready.status, (await ready.json())["status"]) == (200, "ready")


def test_a_wrong_token_is_refused_and_said_so(
    rasa_server: RasaServer, relaydesk_model: Path, repo_config: Config
) -> None:
    pipeline = delegating(rasa_server.url, token="not-the-token")
    config = with_pipeline(repo_config, pipeline, relaydesk_model.parent)
    nlu = load_for_config(config, model=relaydesk_model)
    result = nlu.parse("hello")
    assert (result.intent.name, result.fallback) == ("nlu_fallback", "rasa_unavailable")
    problem = nlu.probe_services()["RasaServerNLU"]
    assert "HTTP 401: the server refused the token" in problem


async def test_a_hung_then_stopped_rasa_degrades_the_bot_and_it_recovers(
    aiohttp_client: ClientFactory,
    rasa: Path,
    rasa_model: Path,
    relaydesk_model: Path,
    repo_config: Config,
    tmp_path: Path,
    kb_dir: Path,
) -> None:
    server = RasaServer(rasa, rasa_model, tmp_path, token=TOKEN).start()
    try:
        pipeline = delegating(server.url, timeout_seconds=1.0, retry_after_seconds=1.0)
        config = with_pipeline(
            server_config(repo_config, tmp_path, kb_dir, always_open=True),
            pipeline,
            relaydesk_model.parent,
        )
        nlu = load_for_config(config, model=relaydesk_model)
        client = await aiohttp_client(create_app(config, nlu, dialogue=True))

        async def parse(text: str) -> dict[str, Any]:
            body: dict[str, Any] = await (
                await client.post("/model/parse", json={"text": text})
            ).json()
            return body

        async def ready() -> tuple[int, dict[str, Any]]:
            resp = await client.get("/ready")
            return resp.status, await resp.json()

        assert (await parse(ORDER))["intent"]["name"] == "order_status"

        server.pause()  # hung: connections open, nothing answers
        started = time.monotonic()
        hung = await parse(ORDER)
        assert time.monotonic() - started < 5.0
        assert (hung["intent"]["name"], hung["fallback"]) == ("nlu_fallback", "rasa_unavailable")
        assert hung["sentiment"]["label"] == "negative"  # relaydesk's own steps still run
        status, body = await ready()
        assert status == 200 and body["status"] == "degraded"
        assert "no answer in time" in body["degraded"]["RasaServerNLU"]
        # The bot still answers what its knowledge base can answer.
        ask = {"sender": "hung-1", "message": "how much is shipping, is it free?"}
        answered = await (await client.post("/webhooks/rest/webhook", json=ask)).json()
        assert answered[-1]["custom"]["intent"] == "nlu_fallback"
        assert answered[-1]["custom"]["kb_article"]["id"].startswith("service/shipping/")

        server.resume()
        await asyncio.sleep(1.2)  # past retry_after_seconds
        assert (await parse(ORDER))["intent"]["name"] == "order_status"
        status, body = await ready()
        assert (status, body["status"]) == (200, "ready")

        server.stop()
        down = await parse(ORDER)
        assert (down["intent"]["name"], down["fallback"]) == ("nlu_fallback", "rasa_unavailable")
        status, body = await ready()
        assert status == 200 and "Connection refused" in body["degraded"]["RasaServerNLU"]
    finally:
        server.stop()


def test_the_cached_rasa_model_is_reused(rasa: Path, rasa_model: Path) -> None:
    started = time.perf_counter()
    assert trained_model(rasa) == rasa_model
    assert time.perf_counter() - started < 5.0
    assert rasa_model.parent == REPO / "var" / "rasa-cache"
