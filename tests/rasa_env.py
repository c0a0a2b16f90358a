"""Rasa Open Source for the interoperability tests: where it is installed, a Rasa NLU model of
relaydesk's sample data (trained once per data, config and Rasa version, then cached), and a real
`rasa run --enable-api` server on a free port.

Rasa lives in its own environment, `.venv-rasa` (Python 3.10), which `make test-rasa` builds;
`RELAYDESK_RASA_BIN` points at its `rasa` executable. Without it the tests marked `rasa` skip.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / "var" / "rasa-cache"
RASA_VERSION = "3.6.21"
SKIP_REASON = "Rasa environment absent: run `make test-rasa`"

# A Rasa pipeline for the bilingual sample data. Rasa's WhitespaceTokenizer cannot segment
# Chinese, so jieba tokenizes (it passes English words through whole); character n-grams carry
# typos and mixed text in both languages. Regexes match without word boundaries, which never
# fire between a Han character and a digit ("订单202611180042到了吗"). DIET is kept small (no
# transformer layers, 30 epochs, intents only; entities come from Rasa's RegexEntityExtractor),
# so the model trains in about 40 s on two cores; this model is a stand-in for a team's own, not
# a tuned one.
RASA_CONFIG = """\
recipe: default.v1
assistant_id: relaydesk-interop-tests
language: zh
pipeline:
  - name: JiebaTokenizer
  - name: RegexFeaturizer
    use_word_boundaries: false
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: DIETClassifier
    epochs: 30
    number_of_transformer_layers: 0
    entity_recognition: false
    constrain_similarities: true
    random_seed: 42
  - name: RegexEntityExtractor
    use_word_boundaries: false
  - name: EntitySynonymMapper
  - name: FallbackClassifier
    threshold: 0.3
    ambiguity_threshold: 0.1
"""


def rasa_bin() -> Path | None:
    """The `rasa` executable: $RELAYDESK_RASA_BIN, else .venv-rasa's; None when absent."""
    given = os.environ.get("RELAYDESK_RASA_BIN")
    path = Path(given) if given else REPO / ".venv-rasa" / "bin" / "rasa"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def require_rasa() -> Path:
    """The `rasa` executable, or skip; a RELAYDESK_RASA_BIN that points nowhere is an error, so
    `make test-rasa` can never pass by skipping."""
    path = rasa_bin()
    if path is None and os.environ.get("RELAYDESK_RASA_BIN"):
        pytest.fail(f"RELAYDESK_RASA_BIN={os.environ['RELAYDESK_RASA_BIN']} is not an executable")
    if path is None:
        pytest.skip(SKIP_REASON)
    return path


def rasa_env() -> dict[str, str]:
    """The environment for Rasa's processes: no telemetry (nothing leaves the machine), quiet
    TensorFlow."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", PYTHONWARNINGS="ignore")
    return env


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])


def trained_model(rasa: Path, data: Path = REPO / "nlu_data", config: str = RASA_CONFIG) -> Path:
    """A Rasa NLU model of `data`, from var/rasa-cache/ when the data, the config and the Rasa
    version are unchanged; trained with `rasa train nlu` otherwise."""
    h = hashlib.sha256(f"rasa {RASA_VERSION}\n{config}".encode())
    files = sorted(data.rglob("*.yml")) if data.is_dir() else [data]
    for f in files:
        h.update(str(f.relative_to(data) if data.is_dir() else f.name).encode())
        h.update(f.read_bytes())
    model = CACHE / f"nlu-{h.hexdigest()[:16]}.tar.gz"
    if model.is_file():
        return model
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".train-") as tmp:
        config_file = Path(tmp) / "config.yml"
        config_file.write_text(config, encoding="utf-8")
        args = ["train", "nlu", "--nlu", str(data), "--config", str(config_file)]
        args += ["--out", tmp, "--fixed-model-name", "model"]
        done = subprocess.run(
            [str(rasa), *args],
            cwd=tmp,
            env=rasa_env(),
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        out = Path(tmp) / "model.tar.gz"
        if done.returncode != 0 or not out.is_file():
            pytest.fail(f"rasa train nlu failed ({done.returncode}):\n{_tail(done.stdout)}")
        os.replace(out, model)  # whole or not at all: a cut-short run leaves no half model
    return model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RasaServer:
    """`rasa run --enable-api` serving one model on 127.0.0.1, in its own process group so the
    tests can pause (SIGSTOP), resume and stop all of it."""

    def __init__(self, rasa: Path, model: Path, workdir: Path, token: str | None = None) -> None:
        self.rasa, self.model, self.workdir, self.token = rasa, model, workdir, token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "rasa-run.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> RasaServer:
        args = [str(self.rasa), "run", "--enable-api", "-m", str(self.model)]
        args += ["-i", "127.0.0.1", "-p", str(self.port)]
        if self.token:
            args += ["--auth-token", self.token]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                args,
                cwd=self.workdir,
                env=rasa_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        params = {"token": self.token} if self.token else {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"rasa run exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status = httpx.get(f"{self.url}/status", params=params, timeout=2.0)
                if status.status_code == 200 and status.json().get("model_file"):
                    # Rasa's first parse builds TensorFlow's graph and takes seconds; pay it
                    # here, as a deployment's own warm-up would, not in a test's timeout.
                    self.parse("warm up 预热", timeout=120.0)
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"rasa run did not serve its model within {timeout:g} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return _tail(self.log.read_text(encoding="utf-8", errors="replace"))

    def parse(self, text: str, timeout: float = 30.0) -> dict[str, object]:
        """Rasa's own answer, asked directly."""
        params = {"token": self.token} if self.token else {}
        url = f"{self.url}/model/parse"
        resp = httpx.post(url, params=params, json={"text": text}, timeout=timeout)
        resp.raise_for_status()
        answer: dict[str, object] = resp.json()
        return answer

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def pause(self) -> None:
        """Freeze the server: connections are accepted by the kernel, never answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self._signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=10)
