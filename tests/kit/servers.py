"""`relaydesk run` under test or load: its config file, the process (started, killed, paused,
measured, stopped), groups of instances on one database, and the agents they serve with."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.config import Config
from bot.store.sql_store import SqlStore
from handoff.console.accounts import Accounts
from tests.kit.processes import free_port, until

REPO = Path(__file__).resolve().parents[2]

_REPO_PATHS = (
    ("nlu", "data"),
    ("nlu", "models"),
    ("knowledge", "path"),
    ("knowledge", "calibration_negatives"),
    ("dialogue", "responses"),
    ("console", "canned_responses"),
)


def write_config(
    repo_config: Config,
    folder: Path,
    *,
    storage_url: str,
    kb_dir: Path,
    redis_url: str | None = None,
    for_faults: bool = True,
    **sections: dict[str, Any],
) -> Path:
    """config.yml for a `relaydesk run` under test or load: the repository's settings, every
    skill group open all day, no rate limits, the knowledge index prepared once in `kb_dir`, and
    `sections` merged over the top level. `for_faults`: the agent JSON API on without a login,
    and unfinished turns swept after 3 s (a load run keeps the shipped settings)."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = repo_config.model_dump(exclude={"base_dir"})
    raw["pipeline"] = repo_config.pipeline_spec()
    # The file lives in `folder`, so every path the repository's config gives is made absolute.
    for section, key in _REPO_PATHS:
        if raw[section][key]:
            raw[section][key] = str(repo_config.path(raw[section][key]))
    raw["storage"]["url"] = storage_url
    raw["knowledge"].update(index_path=str(kb_dir / "kb-index"), history_db=str(kb_dir / "kb.db"))
    raw["dialogue"]["orders_db"] = str(folder / "orders.db")
    for group in raw["handoff"]["skill_groups"].values():
        group["hours"] = "00:00-24:00"
    raw["server"].update(
        redis_url=redis_url, rate_limits={"ip_per_minute": 0, "customer_per_minute": 0}
    )
    # One key for the REST channel's sender tokens, so any instance accepts another's.
    rest = raw.setdefault("connectors", {}).setdefault("rest", {})
    rest.setdefault("sender_token_secret", "kit-sender-token-secret-not-for-production")
    if for_faults:
        raw["dialogue"]["recovery"] = {"interval_seconds": 1, "after_seconds": 3, "max_attempts": 3}
        raw["server"]["dev_agent_api"] = True
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


class Instance:
    """One `relaydesk run` process; its log goes to a file, shown when a run fails. `model`:
    the model folder (None: the newest in the config's nlu.models)."""

    def __init__(
        self, name: str, config: Path, model: Path | None, env: dict[str, str] | None = None
    ):
        self.name = name
        self.config = config
        self.model = model
        self.env = env
        self.port = free_port()
        self.log = config.parent / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 90) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(self.config),
                *(("--model", str(self.model)) if self.model is not None else ()),
                "--port",
                str(self.port),
                cwd=REPO,
                stdout=log,
                stderr=log,
                env={**os.environ, **(self.env or {})},
            )
        async with aiohttp.ClientSession() as session:

            async def ready() -> bool:
                assert self.proc is not None
                if self.proc.returncode is not None:
                    raise AssertionError(f"{self.name} exited at start-up:\n{self.log_tail()}")
                try:
                    async with session.get(f"{self.url}/ready") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await until(ready, timeout, f"{self.name} ready", every=0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, whatever it was doing is cut off."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    def pause(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)

    async def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                async with asyncio.timeout(15):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def cpu_s(self) -> float:
        """CPU seconds the process has used so far (all its threads)."""
        if self.proc is None:
            return 0.0
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return f"--- {self.name} log ---\n" + "\n".join(text.splitlines()[-lines:])


def instances(
    repo_config: Config,
    tmp: Path,
    model: Path | None,
    names: Iterable[str],
    *,
    storage_url: str,
    redis_url: str | None,
    kb_dir: Path,
    for_faults: bool = True,
    folder_sections: Callable[[Path], dict[str, dict[str, Any]]] | None = None,
) -> list[Instance]:
    """Instances sharing one database and one Redis, each with its own folder `tmp`/name.
    `folder_sections(folder)`: config sections of an instance's own (its files, say)."""
    out = []
    for name in names:
        folder = tmp / name
        sections = folder_sections(folder) if folder_sections is not None else {}
        config = write_config(
            repo_config,
            folder,
            storage_url=storage_url,
            redis_url=redis_url,
            kb_dir=kb_dir,
            for_faults=for_faults,
            **sections,
        )
        out.append(Instance(name, config, model))
    return out


def instance_pair(
    repo_config: Config, tmp: Path, model: Path, *, storage_url: str, redis_url: str, kb_dir: Path
) -> tuple[Instance, Instance]:
    """Two instances, "a" and "b", sharing one database and one Redis, each with its own folder."""
    a, b = instances(
        repo_config,
        tmp,
        model,
        ("a", "b"),
        storage_url=storage_url,
        redis_url=redis_url,
        kb_dir=kb_dir,
    )
    return a, b


async def start_all(servers: Sequence[Instance], timeout: float = 90) -> None:
    """Start the instances side by side; each until it answers /ready."""
    await asyncio.gather(*(s.start(timeout) for s in servers))


@contextlib.asynccontextmanager
async def logs_on_failure(*servers: Instance, lines: int = 60) -> AsyncIterator[None]:
    """Around a run: if it fails, print each server's log tail (shown with the failure);
    whatever happens, stop the servers, one after the other."""
    try:
        yield
    except BaseException:
        for server in servers:
            print(server.log_tail(lines))
        raise
    finally:
        for server in servers:
            await server.close()


async def close_all(servers: Sequence[Instance]) -> None:
    await asyncio.gather(*(s.close() for s in servers))


async def add_agents(
    storage_url: str, names: Iterable[str], *, password: str | None = None, **fields: Any
) -> list[str]:
    """Open the store at `storage_url` (which migrates a fresh database), add an agent for each
    name (display name in title case) with `fields`, and a console password if one is given."""
    added = list(names)
    store = await SqlStore.open(storage_url)
    try:
        for name in added:
            await store.agents.add(name, name.title(), **fields)
            if password is not None:
                await Accounts(store).set_password(name, password)
    finally:
        await store.close()
    return added
