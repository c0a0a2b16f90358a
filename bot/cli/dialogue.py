"""Talking to the whole bot from the terminal: `shell` (like `rasa shell`) and `test stories`
(conversation tests on a fresh database)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.cli.common import read_config


def cmd_test_stories(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from bot.config import config_from_dict
    from bot.dialogue.stories import load_stories, run_story
    from bot.nlu.pipeline import load_for_config
    from bot.server.context import open_context

    base = read_config(args)
    stories = load_stories(Path(args.file))
    nlu = load_for_config(base, Path(args.model) if args.model else None)

    async def run(url: str) -> int:
        raw = base.model_dump(exclude={"base_dir"})
        raw["pipeline"] = base.pipeline_spec()
        raw["storage"]["url"] = url
        config = config_from_dict(raw, base_dir=base.base_dir)
        runtime = await open_context(config, nlu)
        assert runtime.engine is not None and runtime.store is not None
        assert runtime.handoff is not None
        service = runtime.handoff
        failed = 0
        try:
            for story in stories:
                result = await run_story(story, runtime.engine, service)
                print(("PASS " if result.passed else "FAIL ") + result.name)
                for f in result.failures:
                    print(f"     {f}")
                failed += not result.passed
        finally:
            await runtime.store.close()
        print(f"{len(stories) - failed} passed, {failed} failed")
        return 1 if failed else 0

    if args.storage:
        return asyncio.run(run(args.storage))
    with tempfile.TemporaryDirectory() as tmp:  # a fresh database: stories start from nothing
        return asyncio.run(run(f"sqlite:///{tmp}/stories.db"))


def cmd_shell(args: argparse.Namespace) -> int:
    """Chat with the bot in the terminal, like `rasa shell`."""
    import asyncio
    import uuid

    from bot.nlu.pipeline import load_for_config
    from bot.server.context import open_context

    config = read_config(args)
    nlu = load_for_config(config, Path(args.model) if args.model else None)
    sender = args.sender or f"shell-{uuid.uuid4().hex[:8]}"

    async def run() -> int:
        runtime = await open_context(config, nlu)
        assert runtime.engine is not None and runtime.store is not None
        print("Type a message; /exit or Ctrl-D ends. " + "输入消息开始对话。", flush=True)
        loop = asyncio.get_running_loop()
        try:
            while True:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                if not line or line.strip() in ("/exit", "/quit"):
                    return 0
                text = line.strip()
                if not text:
                    continue
                if len(text) > config.nlu.max_text_chars:
                    print(f"(message over {config.nlu.max_text_chars} characters, not sent)")
                    continue
                result = await runtime.engine.handle("shell", sender, text)
                for reply in result.replies:
                    print(f"bot: {reply.fallback_text()}")
                state = f"[{result.intent}, {result.sentiment.label}, status {result.status}"
                if result.handoff:
                    state += f", handoff {result.handoff.reason} -> {result.handoff.skill_group}"
                print(state + f", failed turns {result.failed_turns}]", flush=True)
        finally:
            await runtime.store.close()

    return asyncio.run(run())
