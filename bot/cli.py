"""The `relaydesk` command: train, test, parse and serve, like the `rasa` command does."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from bot import __version__
from bot.errors import RelaydeskError

log = logging.getLogger("relaydesk")


def _config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from bot.config import load_config

    return load_config(args.config)


def cmd_train(args: argparse.Namespace) -> int:
    from bot.nlu.pipeline import train_model

    config = _config(args)
    started = time.perf_counter()
    info, trained = train_model(
        config,
        nlu_path=Path(args.nlu) if args.nlu else None,
        out_dir=Path(args.out) if args.out else None,
        force=args.force,
    )
    if trained:
        print(
            f"trained {info.path} in {time.perf_counter() - started:.1f} s "
            f"({info.metadata.get('examples')} examples, "
            f"{len(info.metadata.get('intents', []))} intents)"
        )
        for w in info.metadata.get("warnings", []):
            print(f"warning: {w}", file=sys.stderr)
    else:
        print(f"up to date: {info.path} (data and config unchanged; --force retrains)")
    return 0


def cmd_test_nlu(args: argparse.Namespace) -> int:
    from bot.nlu import rasa_format
    from bot.nlu.evaluate import evaluate, write_reports
    from bot.nlu.pipeline import load_for_config

    config = _config(args)
    data = rasa_format.load(args.nlu)
    pipeline = load_for_config(config, Path(args.model) if args.model else None)
    evaluation = evaluate(pipeline, data)
    paths = write_reports(evaluation, Path(args.out))
    report = evaluation.intent_report()
    print(
        f"{len(data.examples)} examples, accuracy {report['accuracy']:.4f}, "
        f"macro F1 {report['macro avg']['f1-score']:.4f}"
    )
    for lang, figures in evaluation.by_language().items():
        print(f"  {lang}: accuracy {figures['accuracy']:.4f} on {figures['support']}")
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def cmd_parse(args: argparse.Namespace) -> int:
    from bot.nlu.pipeline import load_for_config, validate_text

    config = _config(args)
    text = validate_text(args.text, config.nlu.max_text_chars)
    pipeline = load_for_config(config, Path(args.model) if args.model else None)
    print(json.dumps(pipeline.parse(text).to_dict(), ensure_ascii=False, indent=2))
    return 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    from bot.nlu import rasa_format

    config = _config(args)
    data = rasa_format.load(Path(args.nlu) if args.nlu else config.path(config.nlu.data))
    for w in data.warnings:
        print(f"warning: {w}", file=sys.stderr)
    counts: dict[str, int] = {}
    for ex in data.examples:
        counts[ex.intent] = counts.get(ex.intent, 0) + 1
    print(
        f"valid: {len(data.examples)} examples, {len(counts)} intents, "
        f"{len(data.regexes)} regexes, {len(data.lookups)} lookup tables, "
        f"{len(data.synonyms)} synonyms in {len(data.files)} files"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.nlu.pipeline import load_for_config
    from bot.server.app import create_app

    started = time.perf_counter()
    config = _config(args)
    pipeline = load_for_config(config, Path(args.model) if args.model else None)
    app = create_app(config, pipeline)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port

    async def _ready(_app: web.Application) -> None:
        log.info(
            "serving on http://%s:%d (ready in %.2f s, model %s)",
            host,
            port,
            time.perf_counter() - started,
            pipeline.metadata.get("model_path"),
        )

    app.on_startup.append(_ready)
    web.run_app(app, host=host, port=port, print=None, access_log=None)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relaydesk", description="Bilingual customer-service bot with human handoff."
    )
    parser.add_argument("--version", action="version", version=f"relaydesk {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default="config.yml", help="config file (default: config.yml)")
        return p

    p = with_config(sub.add_parser("train", help="train the NLU model (skipped if unchanged)"))
    p.add_argument("--nlu", help="Rasa NLU file or folder (default: nlu.data in config)")
    p.add_argument("--out", help="models folder (default: nlu.models in config)")
    p.add_argument("--force", action="store_true", help="train even if nothing changed")
    p.set_defaults(func=cmd_train)

    test = sub.add_parser("test", help="evaluate a trained model")
    test_sub = test.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = with_config(test_sub.add_parser("nlu", help="intent and entity reports on labelled data"))
    p.add_argument("--nlu", required=True, help="labelled Rasa NLU file or folder")
    p.add_argument("--model", help="model folder, or models folder (default: from config)")
    p.add_argument("--out", required=True, help="folder for the reports")
    p.set_defaults(func=cmd_test_nlu)

    p = with_config(sub.add_parser("parse", help="parse one message and print the JSON"))
    p.add_argument("text")
    p.add_argument("--model", help="model folder (default: from config)")
    p.set_defaults(func=cmd_parse)

    data = sub.add_parser("data", help="training-data tools")
    data_sub = data.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = with_config(data_sub.add_parser("validate", help="check Rasa NLU files"))
    p.add_argument("--nlu", help="file or folder (default: nlu.data in config)")
    p.set_defaults(func=cmd_data_validate)

    p = with_config(sub.add_parser("run", help="serve the HTTP API"))
    p.add_argument("--model", help="model folder (default: from config)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("jieba").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except RelaydeskError as exc:
        print(f"relaydesk: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
