"""relaydesk side by side with Rasa Open Source 3.6, on the same training files and test sets.

    .venv/bin/python bench/vs_rasa.py [--quick] [--datasets own,banking77,smp2019]
        [--rasa-epochs 100] [--banking77-classes 10] [--rasa-bilingual]

Builds .venv-rasa (`make rasa-env`) if it is missing. For each data set both sides train from the
same Rasa YAML files (written by bot.nlu.rasa_format.dump into a temporary folder), one after the
other on the same cores, each with its own CLI. Each trained model is then served by its own
server, one at a time, and driven over HTTP: `relaydesk run` (the whole product: store,
knowledge index, dialogue) against `rasa run --enable-api` (NLU only).

- own: nlu_data/, the stratified 20% held-out split bench/nlu.py uses, scored per language.
  relaydesk trains one bilingual model with config.yml's pipeline. Rasa trains one model per
  language with its default pipeline (rasa/engine/recipes/config_files/default_config.yml),
  with JiebaTokenizer in place of WhitespaceTokenizer for Chinese (the Rasa docs' recipe);
  --rasa-bilingual adds one Jieba model on both languages, served by one process as relaydesk is.
- banking77: BANKING77's own train/test split, on --banking77-classes intents drawn with the
  bench seed (77: all of them).
- smp2019: SMP2019-ECDT's 2,579 utterances, 29 domains as labels, stratified 80/20 with the
  bench seed (the split the baselines in /work/shared/datasets/README.md use).

Figures per data set and system: intent accuracy and macro-F1 (over the gold labels) with each
side's shipped fallback, where the fallback intent (Rasa's nlu_fallback, relaydesk's
out_of_scope) counts as out_of_scope; parse latency p50/p99 over HTTP with one client; messages
per second with --concurrency clients in a closed loop; wall time of the train command; cold
start (process start to the first 200 from /model/parse); peak RSS of the server and of the
training process (VmHWM / wait4's ru_maxrss). Ends with one JSON line of every figure.

Rasa's DIET training is most of the wall time: about half an hour for the default run on a quiet
2-core machine (66 min on a busy one). --banking77-classes 77 trains on all 10,003 BANKING77
utterances and takes hours; --quick is a smoke run of a few minutes whose accuracy means nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import (
    REPO,
    SEED,
    accuracy,
    ci95,
    emit_json,
    free_port,
    macro_f1,
    percentile,
    print_table,
    stratified_split,
    write_server_config,
)
from nlu import text_language  # the same language rule bench/nlu.py scores by

from bot.nlu import rasa_format
from bot.nlu.types import TrainingData, TrainingExample

DATASETS = Path("/work/shared/datasets")
RASA_BIN = REPO / ".venv-rasa" / "bin" / "rasa"
FALLBACK = "out_of_scope"  # what both sides' fallback counts as
RASA_FALLBACK = "nlu_fallback"

Test = list[tuple[str, str]]  # (text, gold intent)


@dataclass
class Job:
    """One model to train and serve, and the test sets (rows) it is scored on."""

    system: str  # relaydesk | rasa | rasa_bilingual
    name: str  # folder name
    train_dir: Path
    rows: dict[str, Test]
    rasa_language: str | None = None  # en | zh (the tokenizer); None for relaydesk
    figures: dict[str, Any] = field(default_factory=dict)


# -- data ----------------------------------------------------------------------------------


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, "utf-8")
    return folder


def _examples(pairs: list[tuple[str, str]]) -> list[TrainingExample]:
    return [TrainingExample(text=" ".join(t.split()), intent=i) for t, i in pairs]


def _cap(test: Test, n: int | None) -> Test:
    return test if n is None or len(test) <= n else random.Random(SEED).sample(test, n)


def _subsample(pairs: list[tuple[str, str]], n: int | None) -> list[tuple[str, str]]:
    """A stratified subset of about n items (quick runs)."""
    if n is None or len(pairs) <= n:
        return pairs
    return stratified_split(pairs, [p[1] for p in pairs], n / len(pairs))[1]


def own_jobs(tmp: Path, test_cap: int | None, bilingual: bool) -> list[Job]:
    data = rasa_format.load(REPO / "nlu_data")
    train_ex, test_ex = stratified_split(data.examples, [e.intent for e in data.examples], 0.2)
    files = {
        f"{lang}.yml": rasa_format.dump(
            data.with_examples([e for e in train_ex if text_language(e.text) == lang])
        )
        for lang in ("en", "zh")
    }
    # Regexes, lookup tables and synonyms: Rasa's RegexFeaturizer and relaydesk's tokenizer and
    # extractors read them, so both sides get the file.
    files["entities.yml"] = (REPO / "nlu_data/entities.yml").read_text("utf-8")
    tests = {
        f"own_{lang}": _cap(
            [(e.text, e.intent) for e in test_ex if text_language(e.text) == lang], test_cap
        )
        for lang in ("en", "zh")
    }
    both = _write(tmp / "own", files)
    jobs = [Job("relaydesk", "own-relaydesk", both, tests)]
    for lang in ("en", "zh"):
        folder = _write(tmp / f"own-{lang}", {k: files[k] for k in (f"{lang}.yml", "entities.yml")})
        jobs.append(
            Job("rasa", f"own-rasa-{lang}", folder, {f"own_{lang}": tests[f"own_{lang}"]}, lang)
        )
    if bilingual:
        jobs.append(Job("rasa_bilingual", "own-rasa-bilingual", both, tests, "zh"))
    return jobs


def banking77_jobs(
    tmp: Path, classes: int, train_cap: int | None, test_cap: int | None
) -> list[Job]:
    def read(split: str) -> list[tuple[str, str]]:
        with (DATASETS / "banking77" / f"{split}.csv").open(encoding="utf-8", newline="") as f:
            return [(r["text"], r["category"]) for r in csv.DictReader(f)]

    train, test = read("train"), read("test")
    labels = sorted({lab for _, lab in train})
    if classes < len(labels):
        chosen = set(random.Random(SEED).sample(labels, classes))
        train = [p for p in train if p[1] in chosen]
        test = [p for p in test if p[1] in chosen]
    train = _subsample(train, train_cap)
    folder = _write(
        tmp / "banking77", {"train.yml": rasa_format.dump(TrainingData(examples=_examples(train)))}
    )
    rows = {"banking77": _cap([(" ".join(t.split()), i) for t, i in test], test_cap)}
    return [
        Job("relaydesk", "banking77-relaydesk", folder, rows),
        Job("rasa", "banking77-rasa", folder, rows, "en"),
    ]


def smp2019_jobs(tmp: Path, train_cap: int | None, test_cap: int | None) -> list[Job]:
    raw = json.loads((DATASETS / "smp2019/SMP/source/2019train.json").read_text("utf-8"))
    pairs = [(" ".join(x["text"].split()), x["domain"]) for x in raw]
    train, test = stratified_split(pairs, [p[1] for p in pairs], 0.2)
    train = _subsample(train, train_cap)
    folder = _write(
        tmp / "smp2019", {"train.yml": rasa_format.dump(TrainingData(examples=_examples(train)))}
    )
    rows = {"smp2019": _cap(test, test_cap)}
    return [
        Job("relaydesk", "smp2019-relaydesk", folder, rows),
        Job("rasa", "smp2019-rasa", folder, rows, "zh"),
    ]


def rasa_config(language: str, epochs: int) -> str:
    """Rasa 3.6's default pipeline; Chinese swaps the tokenizer for Jieba, as Rasa's docs do.
    ResponseSelector stays although no data has retrieval intents: it then skips training."""
    tokenizer = "JiebaTokenizer" if language == "zh" else "WhitespaceTokenizer"
    return f"""recipe: default.v1
assistant_id: vs-rasa-{language}
language: {language}
pipeline:
  - name: {tokenizer}
  - name: RegexFeaturizer
  - name: LexicalSyntacticFeaturizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 4
  - name: DIETClassifier
    epochs: {epochs}
    constrain_similarities: true
  - name: EntitySynonymMapper
  - name: ResponseSelector
    epochs: {epochs}
    constrain_similarities: true
  - name: FallbackClassifier
    threshold: 0.3
    ambiguity_threshold: 0.1
"""


# -- processes -----------------------------------------------------------------------------


def _env(system: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TOKENIZERS_PARALLELISM"] = "false"
    if system != "relaydesk":
        env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2")
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End a child we started, and its process group (it was started in its own session)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text("utf-8", "replace").splitlines()[-lines:])


def run_measured(cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run a command to the end: (wall seconds, peak RSS MB of it and its waited-for children)."""
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _stop(proc)
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{_tail(log)}")
    return seconds, usage.ru_maxrss / 1024


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            child = int(stat.parent.name)
            out += [child, *_children(child)]
    return out


def tree_peak_rss_mb(pid: int) -> float:
    """VmHWM of a process plus that of its descendants alive now (an upper bound of the peak)."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM:"))
    return total / 1024


@contextmanager
def serving(
    cmd: list[str], cwd: Path, log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            _stop(proc)


# -- HTTP ----------------------------------------------------------------------------------


async def _parse(session: Any, url: str, text: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    async with session.post(f"{url}/model/parse", json={"text": text}) as r:
        body = await r.json(content_type=None)
        if r.status != 200:
            raise RuntimeError(f"/model/parse {r.status}: {body}")
    return body, (time.perf_counter() - started) * 1000


def _labels(body: dict[str, Any]) -> tuple[str, str]:
    """(prediction with the fallback as out_of_scope, the classifier's best intent ignoring it)."""
    name = body["intent"]["name"]
    fired = name == RASA_FALLBACK or body.get("fallback") is not None
    ranking = body.get("intent_ranking") or []
    raw = ranking[1]["name"] if fired and len(ranking) > 1 else name
    return (FALLBACK if name == RASA_FALLBACK else name), raw


async def drive(
    proc: subprocess.Popen[bytes], url: str, started: float, job: Job, args: argparse.Namespace
) -> None:
    """Cold start, then each row: accuracy and latency with one client, throughput with many."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        while True:
            try:
                await _parse(session, url, "hello 你好")
                break
            except (TimeoutError, aiohttp.ClientError, RuntimeError, ValueError):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{job.name}: the server exited before it answered"
                    ) from None
                if time.perf_counter() - started > 600:
                    raise RuntimeError(f"{job.name}: no answer within 600 s") from None
                await asyncio.sleep(0.05)
        job.figures["cold_start_s"] = time.perf_counter() - started
        for row, test in job.rows.items():
            texts = [t for t, _ in test]
            for t in texts[:20]:  # warm-up: lazy imports, caches, TF graph tracing
                await _parse(session, url, t)
            gold, pred, raw, lat = [], [], [], []
            for text, intent in test:
                body, ms = await _parse(session, url, text)
                p, r = _labels(body)
                gold.append(intent)
                pred.append(p)
                raw.append(r)
                lat.append(ms)
            rng = random.Random(SEED)
            while len(lat) < args.latency_samples:
                lat.append((await _parse(session, url, rng.choice(texts)))[1])
            queue = [rng.choice(texts) for _ in range(args.requests)]

            async def client(queue: list[str]) -> None:
                while queue:
                    await _parse(session, url, queue.pop())

            t0 = time.perf_counter()
            await asyncio.gather(*(client(queue) for _ in range(args.concurrency)))
            rate = args.requests / (time.perf_counter() - t0)
            labels = sorted(set(gold))
            acc = accuracy(gold, pred) or 0.0
            job.figures[row] = {
                "n_test": len(gold),
                "accuracy": acc,
                "accuracy_ci95": ci95(acc, len(gold)),
                "macro_f1": macro_f1(gold, pred, labels),
                "accuracy_no_fallback": accuracy(gold, raw),
                "p50_ms": percentile(lat, 50),
                "p99_ms": percentile(lat, 99),
                "msgs_per_s": rate,
            }
        job.figures["serve_peak_rss_mb"] = tree_peak_rss_mb(proc.pid)


# -- one job -------------------------------------------------------------------------------


def run_job(job: Job, tmp: Path, server_config: Path, args: argparse.Namespace) -> None:
    work = tmp / "work" / job.name
    (work / "models").mkdir(parents=True)
    env = _env(job.system)
    if job.system == "relaydesk":
        train = [sys.executable, "-m", "bot", "train", "--config", str(REPO / "config.yml")]
        train += ["--nlu", str(job.train_dir), "--out", str(work / "models"), "--force"]
        cwd = REPO
    else:
        assert job.rasa_language is not None
        cfg = work / "config.yml"
        cfg.write_text(rasa_config(job.rasa_language, args.rasa_epochs), "utf-8")
        train = [str(RASA_BIN), "train", "nlu", "--nlu", str(job.train_dir), "--config", str(cfg)]
        train += ["--out", str(work / "models"), "--fixed-model-name", "nlu"]
        cwd = work  # Rasa's training cache (.rasa/) lands here, fresh for every job
    print(f"{job.name}: training ...", flush=True)
    job.figures["train_s"], job.figures["train_peak_rss_mb"] = run_measured(
        train, cwd, work / "train.log", env
    )
    port = free_port()
    if job.system == "relaydesk":
        model = next((work / "models").glob("nlu-*"))
        cfg_text = server_config.read_text("utf-8").replace("@STORE@", str(work / "store.db"))
        (work / "server.yml").write_text(cfg_text, "utf-8")
        serve = [sys.executable, "-m", "bot", "run", "--config", str(work / "server.yml")]
        serve += ["--model", str(model), "--host", "127.0.0.1", "--port", str(port)]
    else:
        serve = [str(RASA_BIN), "run", "--enable-api", "-m", str(work / "models/nlu.tar.gz")]
        serve += ["-i", "127.0.0.1", "-p", str(port)]
    print(f"{job.name}: trained in {job.figures['train_s']:.1f} s; serving ...", flush=True)
    started = time.perf_counter()
    with serving(serve, cwd, work / "server.log", env) as proc:
        try:
            asyncio.run(drive(proc, f"http://127.0.0.1:{port}", started, job, args))
        except Exception:
            print(_tail(work / "server.log"), file=sys.stderr)
            raise


def prepare_relaydesk_server(tmp: Path) -> Path:
    """A server config with the store and knowledge index under tmp; the index is brought up to
    date here, untimed, so no server start pays for embedding articles."""
    folder = tmp / "relaydesk-server"
    folder.mkdir()
    cfg = write_server_config(folder, "sqlite:///@STORE@")
    import yaml

    raw = yaml.safe_load(cfg.read_text("utf-8"))
    raw["knowledge"]["index_path"] = str(folder / "kb-index")
    if (REPO / "var/kb-index").is_dir():
        shutil.copytree(REPO / "var/kb-index", folder / "kb-index")
    cfg.write_text(yaml.safe_dump(raw, allow_unicode=True), "utf-8")
    subprocess.run(
        [sys.executable, "-m", "bot", "kb", "index", "--config", str(cfg)],
        cwd=REPO,
        env=_env("relaydesk"),
        check=True,
        capture_output=True,
    )
    return cfg


# -- report --------------------------------------------------------------------------------

COLUMNS = [  # key, header, higher is better, digits
    ("accuracy", "accuracy", True, 3),
    ("macro_f1", "macro-F1", True, 3),
    ("p50_ms", "p50 ms", False, 1),
    ("p99_ms", "p99 ms", False, 1),
    ("msgs_per_s", "msgs/s", True, 0),
    ("train_s", "train s", False, 1),
    ("cold_start_s", "cold start s", False, 1),
    ("serve_peak_rss_mb", "server RSS MB", False, 0),
    ("train_peak_rss_mb", "train RSS MB", False, 0),
]
PER_JOB = ("train_s", "cold_start_s", "serve_peak_rss_mb", "train_peak_rss_mb", "n_train")


def _rasa_version() -> str:
    found = sorted(REPO.glob(".venv-rasa/lib/python3*/site-packages/rasa-*.dist-info"))
    return found[0].name.removeprefix("rasa-").removesuffix(".dist-info") if found else "?"


def report(jobs: list[Job], args: argparse.Namespace, wall_s: float) -> None:
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for job in jobs:
        for row in job.rows:
            merged = {**job.figures[row], **{k: job.figures[k] for k in PER_JOB}}
            merged["shared"] = len(job.rows) > 1
            results[(row, job.system)] = merged
    rows = list(dict.fromkeys(row for row, _ in results))
    systems = list(dict.fromkeys(system for _, system in results))
    results = {(r, s): results[(r, s)] for r in rows for s in systems if (r, s) in results}
    table = []
    for (row, system), r in results.items():
        cells: list[Any] = [row, system]
        for key, _, _, digits in COLUMNS:
            cells.append(f"{r[key]:.{digits}f}" + ("*" if r["shared"] and key in PER_JOB else ""))
        table.append(cells)
    headers = ["data", "system", *(h for _, h, _, _ in COLUMNS)]
    print()
    print_table(headers, table)
    print("\n* one model serves both languages: the same train, start and RSS figures")
    print("\nas Markdown:\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for cells in table:
        print("| " + " | ".join(str(c) for c in cells) + " |")

    print("\nwhere relaydesk is not ahead:")
    behind = 0
    for (row, system), theirs in results.items():
        mine = results.get((row, "relaydesk"))
        if system == "relaydesk" or mine is None:
            continue
        for key, header, higher, _ in COLUMNS:
            a, b = mine[key], theirs[key]
            if (a > b) if higher else (a < b):
                continue
            behind += 1
            ratio = f", x{a / b:.2f}" if b and not higher else ""
            print(f"  {row} vs {system}: {header} {a:.3f} against {b:.3f} ({a - b:+.3f}{ratio})")
    if not behind:
        print("  nowhere")

    figures: dict[str, Any] = {
        "rasa_version": _rasa_version(),
        "rasa_epochs": args.rasa_epochs,
        "datasets": args.datasets,
        "banking77_classes": args.banking77_classes,
        "concurrency": args.concurrency,
        "quick": args.quick,
        "load_avg_1m_start": args.load_start,
        "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "wall_s": round(wall_s, 1),
    }
    # Serving both languages of nlu_data/: relaydesk's one process against Rasa's two.
    per_lang = [j for j in jobs if j.system == "rasa" and j.name.startswith("own-")]
    mine = next((j for j in jobs if j.name == "own-relaydesk"), None)
    if mine and len(per_lang) == 2:
        for key in ("train_s", "serve_peak_rss_mb", "train_peak_rss_mb"):
            figures[f"own_relaydesk_both_{key}"] = round(mine.figures[key], 2)
            figures[f"own_rasa_both_{key}"] = round(sum(j.figures[key] for j in per_lang), 2)
        print(
            f"\nserving both languages of nlu_data/: relaydesk one process, trained in "
            f"{mine.figures['train_s']:.1f} s, {mine.figures['serve_peak_rss_mb']:.0f} MB; "
            f"Rasa two processes, trained in {figures['own_rasa_both_train_s']:.1f} s, "
            f"{figures['own_rasa_both_serve_peak_rss_mb']:.0f} MB together"
        )
    print("\naccuracy, 95% half-width, and without the fallback (the classifier's best intent):")
    for (row, system), r in results.items():
        print(
            f"  {row:<10} {system:<15} {r['accuracy']:.3f} ±{r['accuracy_ci95']:.3f}  "
            f"{r['accuracy_no_fallback']:.3f}  (test {r['n_test']}, train {r['n_train']})"
        )
    print(
        f"\nRasa {figures['rasa_version']}, DIET epochs {args.rasa_epochs}; load average "
        f"{args.load_start} at the start, {figures['load_avg_1m_end']} at the end; "
        f"wall time {wall_s / 60:.1f} min"
    )
    for (row, system), r in results.items():
        for key, value in r.items():
            if key != "shared" and value is not None:
                rounded = round(value, 4) if isinstance(value, float) else value
                figures[f"{row}_{system}_{key}"] = rounded
    print()
    emit_json(figures)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 5 epochs, small subsets")
    ap.add_argument("--datasets", default="own,banking77,smp2019")
    ap.add_argument("--rasa-epochs", type=int, default=None, help="DIET epochs (Rasa's: 100)")
    ap.add_argument("--banking77-classes", type=int, default=None, help="intents drawn (77: all)")
    ap.add_argument("--rasa-bilingual", action="store_true", help="also one Jieba model on both")
    ap.add_argument("--concurrency", type=int, default=8, help="clients for msgs/s")
    ap.add_argument("--requests", type=int, default=None, help="requests for msgs/s")
    ap.add_argument("--latency-samples", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    args.rasa_epochs = args.rasa_epochs or (5 if args.quick else 100)
    args.banking77_classes = args.banking77_classes or (5 if args.quick else 10)
    args.requests = args.requests or (100 if args.quick else 1000)
    args.latency_samples = args.latency_samples or (100 if args.quick else 1000)
    train_cap, test_cap = (400, 60) if args.quick else (None, None)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally blocks run

    started = time.perf_counter()
    args.load_start = round(os.getloadavg()[0], 2)  # other work on the machine skews timings
    if not RASA_BIN.exists():
        subprocess.run(["make", "rasa-env"], cwd=REPO, check=True)
    tmp = Path(tempfile.mkdtemp(prefix="vs-rasa-"))
    try:
        jobs: list[Job] = []
        for name in args.datasets.split(","):
            if name == "own":
                jobs += own_jobs(tmp, test_cap, args.rasa_bilingual)
            elif name == "banking77":
                jobs += banking77_jobs(tmp, args.banking77_classes, train_cap, test_cap)
            elif name == "smp2019":
                jobs += smp2019_jobs(tmp, train_cap, test_cap)
            else:
                ap.error(f"unknown data set {name!r}; known: own, banking77, smp2019")
        for job in jobs:
            sizes = {r: len(t) for r, t in job.rows.items()}
            job.figures["n_train"] = len(rasa_format.load(job.train_dir).examples)
            print(f"{job.name}: {job.figures['n_train']} training examples; test {sizes}")
        server_config = prepare_relaydesk_server(tmp)
        for job in jobs:
            run_job(job, tmp, server_config, args)
        report(jobs, args, time.perf_counter() - started)
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
