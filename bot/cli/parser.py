"""The `relaydesk` parser, every command and flag in one place, and the entry point that turns
errors into one line on stderr and an exit code."""

from __future__ import annotations

import argparse
import logging
import sys

from bot import __version__
from bot.cli.agents import AGENT_ROLES, AGENT_STATUSES, cmd_agents
from bot.cli.customers import add_commands as add_customer_commands
from bot.cli.dialogue import cmd_shell, cmd_test_stories
from bot.cli.kb import (
    cmd_kb_eval,
    cmd_kb_history,
    cmd_kb_import,
    cmd_kb_index,
    cmd_kb_search,
    precision_arg,
)
from bot.cli.nlu import cmd_data_validate, cmd_parse, cmd_test_nlu, cmd_train
from bot.cli.report import cmd_report
from bot.cli.serve import cmd_run
from bot.cli.webhooks import add_commands as add_webhook_commands
from bot.cli.wechat import cmd_wechat_menu
from bot.errors import RelaydeskError


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
        type=precision_arg,
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

    agents = sub.add_parser("agents", help="human agents: add, list, set, passwd, disable, enable")
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
    for action, text in (("disable", "no login, no chats"), ("enable", "undo disable")):
        p = with_config(agents_sub.add_parser(action, help=f"{action} an agent ({text})"))
        p.add_argument("username")
        p.set_defaults(func=cmd_agents)

    add_customer_commands(sub, with_config)  # customers import|segments|show, orders import

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

    wechat = sub.add_parser("wechat", help="WeChat Official Account: create the menu")
    wechat_sub = wechat.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = with_config(wechat_sub.add_parser("menu", help="create connectors.wechat.menu"))
    p.add_argument("--dry-run", action="store_true", help="print the menu/create body only")
    p.set_defaults(func=cmd_wechat_menu)

    add_webhook_commands(sub, with_config)

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
