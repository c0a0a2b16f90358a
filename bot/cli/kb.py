"""The knowledge-base commands: index, search, evaluate, import an FAQ, and an article's
version history."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bot.cli.common import print_problems, read_config


def _kb(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from bot.knowledge.base import KnowledgeBase

    config = read_config(args)
    root = Path(args.kb) if getattr(args, "kb", None) else None
    return KnowledgeBase(config, root=root)


def cmd_kb_index(args: argparse.Namespace) -> int:
    kb = _kb(args)
    report = kb.reindex(full=args.full)
    print_problems(report.problems)
    print_problems(report.warnings, "warning")
    s = report.stats
    print(
        f"indexed {report.articles} published articles, {report.chunks} chunks "
        f"({report.dense_kind}); embedded {len(s.embedded_articles)}, reused "
        f"{s.reused_articles}, removed {len(s.removed_articles)} in {s.seconds:.2f} s"
    )
    t = report.tuning or {}
    if t:
        fitted = "fitted" if t.get("weights_fitted") else "defaults (too few phrasings to fit)"
        print(
            f"fusion weights {fitted}: {t.get('weights')}; recall@1 on the base's own "
            f"phrasings {t.get('loo_recall_at_1')}"
        )
        rule = {
            "fitted": "fitted on {searches} searches of the base's own phrasings",
            "negatives": "fallback rule: too few right and wrong answers to fit; the top score "
            "must beat that share of unanswerable searches ({searches} searches)",
            "rule": "fallback rule: nothing to fit; a fixed curve of the top score",
        }[str(t.get("decision"))].format(searches=t.get("searches"))
        print(f"answer decision: {rule}; threshold {t.get('answer_threshold')}")
    return 1 if report.problems and not report.articles else 0


def cmd_kb_search(args: argparse.Namespace) -> int:
    from bot.nlu.pipeline import validate_text

    kb = _kb(args)
    query = validate_text(args.query, kb.config.nlu.max_text_chars)
    result = kb.search(query, language=args.lang, intent=args.intent, k=args.k)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    verdict = (
        f"answer: {result.answer.article.id} v{result.answer.article.version}"
        if result.answer
        else "close call, offers: " + ", ".join(h.article.id for h in result.choices)
        if result.choices
        else "no answer above the threshold"
    )
    print(f"{verdict} (confidence {result.confidence:.2f})")
    for i, hit in enumerate(result.hits, 1):
        a = hit.article
        print(
            f"{i}. {a.id} v{a.version} [{a.language}] {a.title}  "
            f"(dense {hit.dense:.2f}, bm25 {hit.lexical:.1f})"
        )
    if result.answer:
        print()
        print(result.answer.article.body)
    return 0


def precision_arg(text: str) -> float:
    """`kb eval --suggest`'s precision: a number strictly between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1 (exclusive)")
    return value


def cmd_kb_eval(args: argparse.Namespace) -> int:
    from bot.knowledge.evaluate import evaluate, load_questions, write_report

    kb = _kb(args)
    kb.open()
    questions = load_questions(Path(args.questions))
    intent_of = None
    if args.with_nlu:
        from bot.nlu.pipeline import load_for_config

        nlu = load_for_config(kb.config)

        def intent_of(text: str) -> str:
            return nlu.parse(text).intent.name

    report = evaluate(kb, questions, intent_of=intent_of)
    path = write_report(report, Path(args.out))
    for key in ("overall", "zh", "en", "cross_language"):
        if key in report:
            r = report[key]
            print(
                f"{key:>14}: recall@1 {r['recall_at_1']}, recall@5 {r['recall_at_5']}, "
                f"MRR {r['mrr']} (n={r['n']})"
            )
    a = report["answering"]
    d = report["decision"]
    print(
        f"answer decision ({d['method']}, target precision {d['answer_precision_target']}, "
        f"threshold {d['threshold']:.4f}): answered {a['answered_rate']} of answerable, "
        f"precision when answering {a['answered_precision']}; offered choices to "
        f"{a['clarified_rate']} (a right one among them {a['clarified_right']}); declined "
        f"{a['declined_rate']} of {a['unanswerable']} unanswerable"
    )
    print("precision/coverage (answer at or above the confidence):")
    for point in report["curve"]:
        print(
            f"  confidence >= {point['confidence']:.4f}: answered {point['answered_rate']:.3f}"
            f", precision {point['precision']:.3f}"
        )
    if args.suggest is not None:
        from bot.knowledge.evaluate import suggest

        target = args.suggest or kb.config.knowledge.answer_precision
        point = suggest(report, target)
        if point is None:
            print(f"suggest: no confidence reaches precision {target} on these questions")
        else:
            print(
                f"suggest: for precision {target}, answer at confidence >= "
                f"{point['confidence']:.4f} (answers {point['answered_rate']:.3f} of these "
                f"questions at precision {point['precision']:.3f}); set knowledge.answer_"
                f"threshold: {point['confidence']:.4f} to pin it, or keep the fitted one"
            )
    print(f"report: {path}")
    return 0


def cmd_kb_import(args: argparse.Namespace) -> int:
    from bot.knowledge.faq_import import import_csv

    config = read_config(args)
    out = Path(args.out) if args.out else config.path(config.knowledge.path)
    report = import_csv(Path(args.file), out, status=args.status)
    print_problems(report.problems)
    print(f"imported {len(report.articles)} articles from {report.rows} rows into {out}")
    if report.articles and args.status == "published":
        print("run `relaydesk kb index` to serve them")
    return 1 if report.problems and not report.articles else 0


def cmd_kb_history(args: argparse.Namespace) -> int:
    kb = _kb(args)
    records = kb.versions(args.id)
    if not records:
        # Not yet recorded: show what the files hold.
        article = kb.article(args.id)
        print(
            f"{article.id}: version {article.version} ({article.status}, "
            f"{article.updated.isoformat()}), not yet indexed or published"
        )
        return 0
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.recorded_at))
        print(
            f"v{r.version}  updated {r.updated}  {r.status:<9}  hash {r.content_hash}  "
            f"recorded {when} UTC  {r.note}".rstrip()
        )
    return 0
