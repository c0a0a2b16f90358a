"""A test's own knowledge base: a copy of the repository's knowledge/ folder with a copy of the
module's seeded index and history beside it, so publishing from the console writes only into
the copy and no other test sees the new version (the module's shared index stays as seeded)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.conftest import REPO


def private_knowledge(tmp_path: Path, kb_dir: Path) -> tuple[Path, Any]:
    """(the copied knowledge folder, a config edit that points the app at the copies)."""
    root = tmp_path / "private-kb"
    knowledge = root / "knowledge"
    shutil.copytree(REPO / "knowledge", knowledge)
    shutil.copytree(kb_dir / "kb-index", root / "kb-index")
    for suffix in ("", "-wal", "-shm"):
        source = kb_dir / f"kb.db{suffix}"
        if source.exists():
            shutil.copyfile(source, root / f"kb.db{suffix}")

    def edit(raw: dict[str, Any]) -> None:
        raw["knowledge"].update(
            path=str(knowledge),
            index_path=str(root / "kb-index"),
            history_db=str(root / "kb.db"),
        )

    return knowledge, edit


def snapshot(root: Path) -> dict[Path, bytes]:
    """Every file under `root` with its bytes, to prove a test left the repository's alone."""
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
