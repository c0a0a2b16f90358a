"""Processes of a run's own: free ports, polling with a deadline, commands, and a private
PostgreSQL and Redis (each on its own free port, so stopping them disturbs nobody else), always
stopped again however the run ends. Nothing here blocks the event loop: clients keep running
while a server is killed or a database restarted.

What the machine lacks raises `Unavailable`; a test turns it into a skip (or, under CI, a
failure), a bench into its error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")


class Unavailable(RuntimeError):
    """Something a run needs is not on this machine (PostgreSQL's server binaries, Redis)."""


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


async def run(*argv: str, check: bool = True) -> str:
    """Run a command to its end; its output (stdout and stderr). `check`: fail if it fails."""
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
            raise Unavailable(f"no PostgreSQL server binaries under {PG_ROOT}")
        self.bin = versions[-1].parent
        self.as_root = os.geteuid() == 0
        if self.as_root and (shutil.which("runuser") is None or not _user_exists("postgres")):
            raise Unavailable(
                "as root, initdb must run as the postgres user: no runuser or no user"
            )
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
            await run(
                *self._cmd(
                    "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"
                )
            )
        await run(*self._ctl("start"))

    async def stop(self) -> None:
        """A fast shutdown: sessions are cut off, as in a restart or a fail-over."""
        await run(*self._ctl("stop", "-m", "fast"))

    async def create_database(self, name: str) -> str:
        return await create_database(self.url(), name)

    async def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            await run(*self._ctl("stop", "-m", "immediate"), check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A Redis of the test's own, in memory only, restartable on the same port."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise Unavailable("no redis-server on PATH")
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


def _asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgres://", 1)


async def admin_execute(admin_url: str, sql: str) -> None:
    """Run one statement (CREATE or DROP DATABASE) on the server `admin_url` names."""
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_url(admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(admin_url: str, name: str) -> str:
    """A new, empty database `name` on the server of `admin_url`; its URL."""
    await admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(admin_url: str, name: str) -> None:
    """Drop `name`, cutting off any session still on it."""
    await admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
