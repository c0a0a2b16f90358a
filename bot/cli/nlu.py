"""The NLU commands: train a model, evaluate it on labelled data, parse one message, and
validate the training data."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bot.cli.common import read_config


def cmd_train(args: argparse.Namespace) -> int:
    from bot.nlu.pipeline import train_model

    config = read_config(args)
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

    config = read_config(args)
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

    config = read_config(args)
    text = validate_text(args.text, config.nlu.max_text_chars)
    pipeline = load_for_config(config, Path(args.model) if args.model else None)
    print(json.dumps(pipeline.parse(text).to_dict(), ensure_ascii=False, indent=2))
    return 0


def cmd_data_validate(args: argparse.Namespace) -> int:
    from bot.nlu import rasa_format

    config = read_config(args)
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
