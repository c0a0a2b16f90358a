"""Real processes for the fault tests: `relaydesk run` instances, a private PostgreSQL and a
private Redis (each on its own free port, so stopping them disturbs no other test), and every
process stopped again however a test ends.

Nothing here blocks the event loop: the clients of a test keep running while a server is
killed or a database restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.config import Config

REPO = Path(__file__).resolve().parents[2]
PG_ROOT = Path("/usr/lib/postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, every: float = 0.1
) -> None:
    """Poll `check` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(every)


def at_least(count: Callable[[], int], n: int) -> Callable[[], Awaitable[bool]]:
    """For `until`: whether `count()` has reached `n`."""

    async def reached() -> bool:
        return count() >= n

    return reached


async def _run(*argv: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{text}")
    return text


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, so it can be stopped and restarted while the
    machine's shared one keeps serving everybody else. initdb refuses to run as root, so as
    root the cluster belongs to the `postgres` user."""

    def __init__(self) -> None:
        versions = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
        if not versions:
            pytest.skip(f"no PostgreSQL server binaries under {PG_ROOT}")
        self.bin = versions[-1].parent
        self.as_root = os.geteuid() == 0
        if self.as_root and (shutil.which("runuser") is None or not _user_exists("postgres")):
            pytest.skip("as root, initdb must run as the postgres user: no runuser or no user")
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
        self.dir = Path(tempfile.mkdtemp(prefix="relaydesk-pg-"))
        self.data = self.dir / "data"

    def _cmd(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bin / tool), *args]
        return ["runuser", "-u", "postgres", "--", *argv] if self.as_root else argv

    def _ctl(self, *args: str) -> list[str]:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.dir / "server.log")
        return self._cmd("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", *args)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    async def start(self) -> None:
        if not self.data.exists():
            if self.as_root:
                shutil.chown(self.dir, "postgres")
            await _run(
                *self._cmd(
                    "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
                )
            )
        await _run(*self._ctl("start"))

    async def stop(self) -> None:
        """A fast shutdown: sessions are cut off, as in a restart or a fail-over."""
        await _run(*self._ctl("stop", "-m", "fast"))

    async def create_database(self, name: str) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.url().replace("postgresql://", "postgres://", 1))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            await _run(*self._ctl("stop", "-m", "immediate"), check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A Redis of the test's own, in memory only, restartable on the same port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("no redis-server on PATH")
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        assert self.binary is not None
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def answers() -> bool:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            return True

        await until(answers, 10, "redis-server listening")

    async def stop(self) -> None:
        """Gone at once, as a crashed or restarted Redis: everything it held is lost."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None

    async def close(self) -> None:
        await self.stop()


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
    **sections: dict[str, Any],
) -> Path:
    """config.yml for a `relaydesk run` under test: the repository's settings, every skill group
    open all day, no rate limits, the agent JSON API on, the knowledge index prepared once in
    `kb_dir`, unfinished turns swept after 3 s, and `sections` merged over the top level."""
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
    raw["dialogue"]["recovery"] = {"interval_seconds": 1, "after_seconds": 3, "max_attempts": 3}
    for group in raw["handoff"]["skill_groups"].values():
        group["hours"] = "00:00-24:00"
    raw["server"].update(
        dev_agent_api=True,
        redis_url=redis_url,
        rate_limits={"ip_per_minute": 0, "customer_per_minute": 0},
    )
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    return path


class Instance:
    """One `relaydesk run` process; its log goes to a file, shown when a test fails."""

    def __init__(self, name: str, config: Path, model: Path, env: dict[str, str] | None = None):
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
                "--model",
                str(self.model),
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

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return f"--- {self.name} log ---\n" + "\n".join(text.splitlines()[-lines:])


def instance_pair(
    repo_config: Config, tmp: Path, model: Path, *, storage_url: str, redis_url: str, kb_dir: Path
) -> tuple[Instance, Instance]:
    """Two instances, "a" and "b", sharing one database and one Redis, each with its own folder."""
    a, b = (
        Instance(
            name,
            write_config(
                repo_config, tmp / name, storage_url=storage_url, redis_url=redis_url, kb_dir=kb_dir
            ),
            model,
        )
        for name in ("a", "b")
    )
    return a, b
