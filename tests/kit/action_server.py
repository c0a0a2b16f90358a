"""A real Rasa action server for tests: `python -m rasa_sdk --actions actions` from the Rasa
SDK's own environment (`make rasa-sdk-env` builds .venv-rasa-sdk), serving the unchanged
rasa_sdk actions file in tests/bot/dialogue/action_server/. Without the environment the test
skips, naming the make target; under CI=true it fails (tests/prereqs.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from tests.kit.processes import free_port
from tests.prereqs import missing

REPO = Path(__file__).resolve().parents[2]
ACTIONS_DIR = REPO / "tests" / "bot" / "dialogue" / "action_server"
SDK_PYTHON = Path(
    os.environ.get("RELAYDESK_RASA_SDK_PYTHON", str(REPO / ".venv-rasa-sdk" / "bin" / "python"))
)


def sdk_python() -> Path:
    if not SDK_PYTHON.exists():
        missing(f"the Rasa SDK environment ({SDK_PYTHON}): run `make rasa-sdk-env`")
    return SDK_PYTHON


@contextmanager
def running_action_server() -> Iterator[str]:
    """The action server on a free port, up and healthy; its /webhook URL. Stopped after."""
    python = sdk_python()
    port = free_port()
    log = (ACTIONS_DIR.parent / f".action-server-{port}.log").open("w+b")
    proc = subprocess.Popen(
        [str(python), "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=ACTIONS_DIR,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ACTIONS_DIR)},
    )
    try:
        try:
            asyncio.run(_wait_healthy(port, proc))
        except RuntimeError:
            log.seek(0)
            raise RuntimeError(log.read().decode(errors="replace")[-3000:]) from None
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)


async def _wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(f"the action server exited with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the action server did not come up within 60 s")
