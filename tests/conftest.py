"""Shared fixtures: the repository's real config and data, one model trained from them, and the
real app on a test client (`make_client`, `client`; agents and logins: tests/apps.py)."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.config import Config, config_from_dict, load_config
from bot.nlu.pipeline import NLUPipeline, train_model
from tests.apps import AppFactory, Client, RawEdit, edit_config, start_app
from tests.bot.store.conftest import database

__all__ = ["database"]  # a fresh PostgreSQL database, for tests that run several instances

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def repo_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """config.yml as shipped, with models written to a temporary folder, and every skill group
    open round the clock: a test of a handoff must not depend on the hour it runs at (service
    hours have tests of their own, on a fixed clock)."""
    models = tmp_path_factory.mktemp("models")
    raw = load_config(REPO / "config.yml").model_dump(exclude={"base_dir"})
    raw["pipeline"] = load_config(REPO / "config.yml").pipeline_spec()
    raw["nlu"]["models"] = str(models)
    for group in raw["handoff"]["skill_groups"].values():
        group["hours"] = "00:00-24:00"
    return config_from_dict(raw, base_dir=str(REPO))


@pytest.fixture(scope="session")
def trained(repo_config: Config) -> NLUPipeline:
    """The shipped pipeline trained on the shipped nlu_data (once per test session)."""
    info, _ = train_model(repo_config)
    return NLUPipeline.load(info.path)


SMALL_NLU = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hi
    - hello
    - hey there
    - good morning
    - 你好
    - 您好
    - 早上好
    - 哈喽
- intent: order_status
  examples: |
    - where is my order [202611180042](order_id)
    - has my parcel shipped
    - track my order
    - when will my package arrive
    - 我的订单到哪了
    - 快递什么时候到
    - 订单[202611180099](order_id)发货了吗
    - 查一下物流
- intent: request_human
  examples: |
    - talk to a human
    - agent please
    - I want a real person
    - connect me to support staff
    - 转人工
    - 人工客服
    - 我要找真人
    - 帮我转接客服
- regex: order_id
  examples: |
    - 20\\d{10}
- regex: ticket_id
  examples: |
    - T-\\d{3,8}
- lookup: product
  examples: |
    - Kite X5
    - Kite X5 Pro
- synonym: Kite X5 Pro
  examples: |
    - x5 pro
"""


def small_config(tmp_path: Path, **classifier: object) -> Config:
    """A fast pipeline (no calibration folds) over SMALL_NLU, for tests of mechanics."""
    data = tmp_path / "nlu.yml"
    data.write_text(SMALL_NLU, encoding="utf-8")
    pipeline = load_config(REPO / "config.yml").pipeline_spec()
    for comp in pipeline:
        if comp["name"] == "LogisticRegressionClassifier":
            comp.update({"calibrate": False, **classifier})
    return config_from_dict(
        {"pipeline": pipeline, "nlu": {"data": str(data), "models": str(tmp_path / "models")}},
        base_dir=str(tmp_path),
    )


@pytest.fixture
def small(tmp_path: Path) -> Config:
    return small_config(tmp_path)


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One knowledge index per test module: built by its first server, reused by the rest."""
    return tmp_path_factory.mktemp("kb")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def server_config(
    repo_config: Config,
    tmp: Path,
    kb: Path,
    *,
    dev_agent_api: bool = False,
    always_open: bool = False,
) -> Config:
    """The repository's config with everything the server writes moved under `tmp` (the store,
    the orders sample) and `kb` (the knowledge index, shared by a test module)."""
    raw = repo_config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = repo_config.pipeline_spec()
    raw["storage"]["url"] = f"sqlite:///{tmp / 'relaydesk.db'}"
    raw["knowledge"].update(index_path=str(kb / "kb-index"), history_db=str(kb / "kb.db"))
    raw["dialogue"]["orders_db"] = str(tmp / "orders.db")
    raw["server"]["dev_agent_api"] = dev_agent_api
    # Tests send fast from one address; the rate-limit tests turn the limits on themselves.
    raw["server"]["rate_limits"] = {"ip_per_minute": 0, "customer_per_minute": 0}
    if always_open:  # service hours that hold whatever the hour the tests run at
        for group in raw["handoff"]["skill_groups"].values():
            group["hours"] = "00:00-24:00"
    return config_from_dict(raw, base_dir=repo_config.base_dir)


@pytest.fixture
def make_client(
    aiohttp_client: Callable[..., Awaitable[Client]],
    repo_config: Config,
    trained: NLUPipeline,
    tmp_path: Path,
    kb_dir: Path,
) -> AppFactory:
    """Starts the real app (create_app) on a test client: server_config's settings under this
    test's tmp_path (or its subfolder `folder`, for several instances in one test) and the
    module's knowledge index, `edit` applied to the config's plain data, and the session's
    trained model. Keywords: dialogue, dev_agent_api, always_open, edit, folder."""

    async def make(
        *,
        dialogue: bool = True,
        dev_agent_api: bool = False,
        always_open: bool = False,
        edit: RawEdit | None = None,
        folder: str | None = None,
    ) -> Client:
        tmp = tmp_path
        if folder is not None:
            tmp = tmp_path / folder
            tmp.mkdir()
        config = server_config(
            repo_config, tmp, kb_dir, dev_agent_api=dev_agent_api, always_open=always_open
        )
        if edit is not None:
            config = edit_config(config, edit)
        return await start_app(aiohttp_client, config, trained, dialogue=dialogue)

    return make


@pytest.fixture
async def client(make_client: AppFactory) -> Client:
    """The real app with the dialogue on, as `make_client()` starts it."""
    return await make_client()
