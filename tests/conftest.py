"""Shared fixtures: the repository's real config and data, one model trained from them, and the
real app on a test client (`make_client`, `client`; agents and logins: tests/apps.py)."""

from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, config_from_dict, load_config
from bot.nlu.pipeline import NLUPipeline, train_model
from tests import index_cache
from tests.apps import AppFactory, Client, RawEdit, edit_config, start_app
from tests.bot.store.conftest import database

__all__ = ["database"]  # a fresh PostgreSQL database, for tests that run several instances

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"

# Under pytest-xdist (`make test` runs two workers) each test module stays on one worker, so its
# module fixtures are built once. These run one at a time, on one worker: the fault tests (each
# runs real servers hard and restarts its own PostgreSQL or Redis), the browser tests (Chromium),
# and every module that names the machine's shared Redis (tests.bot.test_coordination.REDIS:
# the app's event channel and rate-limit keys there are the same for every instance).
SERIAL_GROUPS = {"tests/faults/": "faults", "tests/e2e/": "browser"}
# The longest groups start first, so no worker ends alone.
FIRST = ("faults", "browser", "shared-redis")


@functools.cache
def _names_shared_redis(path: str) -> bool:
    file = REPO / path
    return file.suffix == ".py" and re.search(r"\bREDIS\b", file.read_text("utf-8")) is not None


def group_of(nodeid: str) -> str:
    """The group a test runs in under pytest-xdist: its module, or one of the serial groups."""
    path = nodeid.split("::", 1)[0]
    for prefix, group in SERIAL_GROUPS.items():
        if path.startswith(prefix):
            return group
    return "shared-redis" if _names_shared_redis(path) else path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's loadscope scheduling by `group_of` (its own loadgroup reads marks through a
    node id that pytest 9 no longer lets it change), in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False
    return ByGroup(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the order the scheduler hands groups out in

        def rank(item: pytest.Item) -> int:
            group = group_of(item.nodeid)
            return FIRST.index(group) if group in FIRST else len(FIRST)

        items.sort(key=rank)  # stable: the collection order within each rank


def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's temporary folder, one for all its pytest-xdist workers (each worker's own
    folder is inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def run_lock(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[None]:
    """One pytest-xdist worker at a time (a no-op without workers): the others wait."""
    with (run_folder(tmp_path_factory) / f"{name}.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def repo_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """config.yml as shipped, with models written to the run's temporary folder, and every
    skill group open round the clock: a test of a handoff must not depend on the hour it runs
    at (service hours have tests of their own, on a fixed clock)."""
    models = run_folder(tmp_path_factory) / "models"
    models.mkdir(exist_ok=True)
    raw = load_config(REPO / "config.yml").model_dump(exclude={"base_dir"})
    raw["pipeline"] = load_config(REPO / "config.yml").pipeline_spec()
    raw["nlu"]["models"] = str(models)
    for group in raw["handoff"]["skill_groups"].values():
        group["hours"] = "00:00-24:00"
    return config_from_dict(raw, base_dir=str(REPO))


@pytest.fixture(scope="session")
def trained(repo_config: Config, tmp_path_factory: pytest.TempPathFactory) -> NLUPipeline:
    """The shipped pipeline trained on the shipped nlu_data (once per test run: a second
    pytest-xdist worker waits for the first's model and loads it)."""
    with run_lock(tmp_path_factory, "train"):
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


@pytest.fixture(scope="session", autouse=True)
def _index_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The folder of the run's knowledge indexes (tests/index_cache.py), one for all the
    pytest-xdist workers of a run."""
    index_cache.ROOT = run_folder(tmp_path_factory) / "kb-cache"


@pytest.fixture(scope="module")
def kb_dir(
    tmp_path_factory: pytest.TempPathFactory, repo_config: Config, trained: NLUPipeline
) -> Path:
    """One knowledge index per test module, a copy of the run's index of the shipped articles:
    the module's servers open it (a test that changes the articles brings it up to date)."""
    kb = tmp_path_factory.mktemp("kb")
    embed = trained.component("SentenceEmbeddingFeaturizer")
    index_cache.seed(server_config(repo_config, kb, kb), embed.embedder if embed else None)
    return kb


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
    raw["media"]["dir"] = str(tmp / "media")
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
