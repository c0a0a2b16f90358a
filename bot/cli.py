"""The `relaydesk` command: train, test, parse and serve, like the `rasa` command does."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import time
from pathlib import Path

from bot import __version__
from bot.errors import InputError, RelaydeskError

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


def cmd_test_stories(args: argparse.Namespace) -> int:
    import asyncio
    import tempfile

    from bot.config import config_from_dict
    from bot.dialogue.stories import load_stories, run_story
    from bot.nlu.pipeline import load_for_config
    from bot.server.context import open_context

    base = _config(args)
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
    started = time.perf_counter()
    config = _config(args)

    from aiohttp import web
    from threadpoolctl import threadpool_limits

    from bot.logs import use_log_format
    from bot.nlu.pipeline import load_for_config
    from bot.server.app import create_app

    use_log_format(config.server.log_format)  # on the handlers main() set up
    threadpool_limits(config.server.blas_threads, user_api="blas")
    _raise_open_files_limit()
    pipeline = load_for_config(config, Path(args.model) if args.model else None)
    app = create_app(config, pipeline, dialogue=True)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port

    async def _ready(_app: web.Application) -> None:
        # The models and the knowledge index are loaded for good: move them out of the
        # collector's sight, so its full passes stay short and turns don't stall behind them.
        gc.collect()
        gc.freeze()
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


def _raise_open_files_limit() -> None:
    """Every widget and console socket is an open file; a soft limit of 1,024 (a common default)
    would refuse customers long before memory or CPU run out. Raise it to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open-files limit from %d", soft)


def _kb(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from bot.knowledge.base import KnowledgeBase

    config = _config(args)
    root = Path(args.kb) if getattr(args, "kb", None) else None
    return KnowledgeBase(config, root=root)


def _print_problems(problems: list, label: str = "error") -> None:  # type: ignore[type-arg]
    for p in problems:
        print(f"{label}: {p}", file=sys.stderr)


def cmd_kb_index(args: argparse.Namespace) -> int:
    kb = _kb(args)
    report = kb.reindex(full=args.full)
    _print_problems(report.problems)
    _print_problems(report.warnings, "warning")
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


def _precision(text: str) -> float:
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

    config = _config(args)
    out = Path(args.out) if args.out else config.path(config.knowledge.path)
    report = import_csv(Path(args.file), out, status=args.status)
    _print_problems(report.problems)
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


AGENT_ROLES = ("agent", "supervisor", "admin")
AGENT_STATUSES = ("online", "away", "offline")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _read_password(args: argparse.Namespace) -> str:
    """From stdin with --password-stdin (scripts), else asked twice at the terminal."""
    if getattr(args, "password_stdin", False) or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise InputError("the passwords differ")
    return first


def cmd_agents(args: argparse.Namespace) -> int:
    import asyncio

    from bot.store.sql_store import SqlStore

    config = _config(args)

    async def run() -> int:
        store = await SqlStore.open(config.storage.url, base_dir=config.base_dir)
        try:
            groups = set(config.handoff.skill_groups)
            skills = _csv(args.skills) if getattr(args, "skills", None) else None
            if skills and set(skills) - groups:
                raise InputError(
                    f"unknown skill group(s) {', '.join(sorted(set(skills) - groups))}"
                    f"; configured: {', '.join(sorted(groups))}"
                )
            languages = _csv(args.languages) if getattr(args, "languages", None) else None
            if languages and set(languages) - {"zh", "en"}:
                raise InputError("languages: zh and/or en")
            if args.action == "passwd":
                from handoff.console.accounts import Accounts

                await Accounts(store).set_password(args.username, _read_password(args))
                print(f"password set for {args.username}; their other sessions are logged out")
                return 0
            if args.action == "add":
                a = await store.agents.add(
                    args.username,
                    args.name or args.username,
                    role=args.role,
                    skills=skills or [],
                    languages=languages or ["zh", "en"],
                    max_concurrent=args.max,
                )
                print(
                    f"added {a.username} ({a.role}; skills {', '.join(a.skills) or '-'}; "
                    f"languages {', '.join(a.languages)}; up to {a.max_concurrent} chats)"
                )
                if args.password_stdin:
                    from handoff.console.accounts import Accounts

                    await Accounts(store).set_password(a.username, _read_password(args))
                    print("password set; they can log in at /console")
            elif args.action == "set":
                fields: dict[str, object] = {}
                if args.status:
                    fields["status"] = args.status
                if skills is not None:
                    fields["skills"] = skills
                if languages is not None:
                    fields["languages"] = languages
                if args.max is not None:
                    fields["max_concurrent"] = args.max
                if args.role:
                    fields["role"] = args.role
                if not fields:
                    raise InputError(
                        "nothing to set: give --status, --skills, --languages, --max or --role"
                    )
                a = await store.agents.update(args.username, **fields)
                print(
                    f"updated {a.username}: {a.status}, skills {', '.join(a.skills) or '-'}, "
                    f"up to {a.max_concurrent} chats"
                )
            else:
                agents = await store.agents.all()
                if not agents:
                    print("no agents yet; add one with `relaydesk agents add NAME --skills ...`")
                for a in agents:
                    print(
                        f"{a.username:<16} {a.role:<10} {a.status:<8} "
                        f"{','.join(a.skills) or '-':<30} {','.join(a.languages):<6} "
                        f"max {a.max_concurrent}"
                    )
            return 0
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_report(args: argparse.Namespace) -> int:
    import asyncio

    from bot.analytics.inputs import analyser_of, categories_of, embedder_of
    from bot.analytics.metrics import Settings
    from bot.analytics.report import write_report
    from bot.analytics.summary import Period, summarize
    from bot.store.sql_store import SqlStore

    started = time.perf_counter()
    config = _config(args)
    period = Period.month(args.month)
    nlu = None
    if not args.no_model:
        from bot.nlu.pipeline import load_for_config

        nlu = load_for_config(config, None)

    async def run() -> dict[str, object]:
        store = await SqlStore.open(args.db or config.storage.url, base_dir=config.base_dir)
        try:
            return await summarize(
                store.db,
                period,
                settings=Settings(sla_seconds=config.console.first_response_sla_seconds),
                categories=categories_of(Path(config.path(config.knowledge.path))),
                embed=embedder_of(nlu),
                analyse=analyser_of(nlu),
            )
        finally:
            await store.close()

    summary = asyncio.run(run())
    out = Path(args.out)
    written = write_report(summary, out, f"relaydesk service report {args.month}")
    totals = summary["totals"]
    assert isinstance(totals, dict)
    print(
        f"{args.month}: {totals['conversations']} conversations, containment "
        f"{totals['containment_rate']}, CSAT {totals['csat_rate']}; wrote {len(written)} files "
        f"to {out} in {time.perf_counter() - started:.1f} s"
    )
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    """Chat with the bot in the terminal, like `rasa shell`."""
    import asyncio
    import uuid

    from bot.nlu.pipeline import load_for_config
    from bot.server.context import open_context

    config = _config(args)
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

    p = with_config(test_sub.add_parser("stories", help="run conversation tests"))
    p.add_argument("file", help="YAML stories (see tests/stories/conversations.yml)")
    p.add_argument("--model", help="model folder (default: from config)")
    p.add_argument("--storage", help="database URL (default: a fresh temporary SQLite file)")
    p.set_defaults(func=cmd_test_stories)

    p = with_config(sub.add_parser("parse", help="parse one message and print the JSON"))
    p.add_argument("text")
    p.add_argument("--model", help="model folder (default: from config)")
    p.set_defaults(func=cmd_parse)

    data = sub.add_parser("data", help="training-data tools")
    data_sub = data.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = with_config(data_sub.add_parser("validate", help="check Rasa NLU files"))
    p.add_argument("--nlu", help="file or folder (default: nlu.data in config)")
    p.set_defaults(func=cmd_data_validate)

    kb = sub.add_parser("kb", help="knowledge base: index, search, evaluate, import, history")
    kb_sub = kb.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = with_config(kb_sub.add_parser("index", help="(re)index changed articles"))
    p.add_argument("--kb", help="another knowledge folder (default: knowledge.path)")
    p.add_argument("--full", action="store_true", help="re-embed every article")
    p.set_defaults(func=cmd_kb_index)
    p = with_config(kb_sub.add_parser("search", help="search the knowledge base"))
    p.add_argument("query")
    p.add_argument("--kb", help="another knowledge folder")
    p.add_argument("--lang", choices=["zh", "en"], help="the customer's language")
    p.add_argument("--intent", help="the message's intent (boosts its categories)")
    p.add_argument("--k", type=int, default=None, help="how many hits")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_kb_search)
    p = with_config(kb_sub.add_parser("eval", help="recall@1/5 and MRR on labelled questions"))
    p.add_argument("--questions", required=True, help="YAML or CSV of question, article")
    p.add_argument(
        "--suggest",
        nargs="?",
        type=_precision,
        const=0.0,
        default=None,
        metavar="PRECISION",
        help="print the operating point for a precision (default: knowledge.answer_precision)",
    )
    p.add_argument("--out", required=True, help="folder for kb_report.json")
    p.add_argument("--kb", help="another knowledge folder")
    p.add_argument(
        "--with-nlu",
        action="store_true",
        help="pass each question's NLU intent, as the dialogue does",
    )
    p.set_defaults(func=cmd_kb_eval)
    p = with_config(kb_sub.add_parser("import", help="import an FAQ from CSV"))
    p.add_argument("file", help="CSV with question, answer, category, language columns")
    p.add_argument("--out", help="knowledge folder to write into (default: knowledge.path)")
    p.add_argument("--status", choices=["draft", "review", "published"], default="published")
    p.set_defaults(func=cmd_kb_import)
    p = with_config(kb_sub.add_parser("history", help="the versions of an article"))
    p.add_argument("id")
    p.add_argument("--kb", help="another knowledge folder")
    p.set_defaults(func=cmd_kb_history)

    agents = sub.add_parser("agents", help="human agents: add, list, set, passwd")
    agents_sub = agents.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = with_config(agents_sub.add_parser("add", help="add an agent"))
    p.add_argument("username")
    p.add_argument("--name", help="display name (default: the username)")
    p.add_argument("--role", choices=AGENT_ROLES, default="agent")
    p.add_argument("--skills", help="skill groups, comma-separated")
    p.add_argument("--languages", help="zh,en (default: both)")
    p.add_argument("--max", type=int, default=3, help="maximum concurrent chats")
    p.add_argument(
        "--password-stdin", action="store_true", help="read a console password from stdin"
    )
    p.set_defaults(func=cmd_agents)
    p = with_config(agents_sub.add_parser("passwd", help="set an agent's console password"))
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    p.set_defaults(func=cmd_agents)
    p = with_config(agents_sub.add_parser("list", help="list agents"))
    p.set_defaults(func=cmd_agents)
    p = with_config(agents_sub.add_parser("set", help="change an agent"))
    p.add_argument("username")
    p.add_argument("--status", choices=AGENT_STATUSES)
    p.add_argument("--role", choices=AGENT_ROLES)
    p.add_argument("--skills")
    p.add_argument("--languages")
    p.add_argument("--max", type=int)
    p.set_defaults(func=cmd_agents)

    p = with_config(sub.add_parser("shell", help="chat with the bot in the terminal"))
    p.add_argument("--model", help="model folder (default: from config)")
    p.add_argument("--sender", help="the customer id to chat as (default: a new one)")
    p.set_defaults(func=cmd_shell)

    p = with_config(sub.add_parser("report", help="the monthly service report (HTML, PNG, CSV)"))
    p.add_argument("--month", required=True, help="YYYY-MM, e.g. 2026-11")
    p.add_argument("--out", required=True, help="folder to write report.html, charts and CSVs")
    p.add_argument("--db", help="database URL (default: storage.url from config)")
    p.add_argument(
        "--no-model",
        action="store_true",
        help="skip the NLU model: gaps grouped by characters, no comment sentiment",
    )
    p.set_defaults(func=cmd_report)

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
    # httpx logs every request at INFO: for Telegram that is a line per Bot API call.
    for noisy in ("jieba", "faiss.loader", "alembic.runtime", "matplotlib", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except RelaydeskError as exc:
        print(f"relaydesk: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
