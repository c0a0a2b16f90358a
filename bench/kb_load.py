"""How long opening a knowledge base takes: reading and checking every article file (front
matter and body), for a synthetic base of N articles with two questions each.

    .venv/bin/python bench/kb_load.py [--articles 10000]

The loader is imported before bench/_common.py puts this checkout first on the path, so
`PYTHONPATH=/other/checkout` measures that checkout's loader (how "before" figures are taken).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bot.knowledge.loader import load_base

GROUP = 500  # articles per category folder


def write_base(root: Path, n: int) -> None:
    for i in range(n):
        category = f"service/g{i // GROUP}"
        folder = root / "zh" / category
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"a{i}.md").write_text(
            f"---\nid: {category}/a{i}\ntitle: 问题 {i} 怎么处理\ncategory: {category}\n"
            "language: zh\nversion: 1\nupdated: 2026-12-06\nstatus: published\n"
            f"questions:\n  - 第 {i} 个问题\n  - question {i}\n---\n答案 {i}。\n",
            encoding="utf-8",
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--articles", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as t:
        root = Path(t)
        write_base(root, args.articles)
        started = time.perf_counter()
        loaded = load_base(root)
        seconds = time.perf_counter() - started
    assert len(loaded.articles) == args.articles and not loaded.problems, loaded.problems[:3]
    from _common import emit_json

    print(f"opened {args.articles} articles in {seconds:.2f} s")
    emit_json({"articles": args.articles, "open_s": round(seconds, 2)})


if __name__ == "__main__":
    sys.exit(main())
