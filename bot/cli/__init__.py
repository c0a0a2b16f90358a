"""The `relaydesk` command: train, test, parse and serve, like the `rasa` command does.

One module per command group, all wired into one parser (bot/cli/parser.py):

    nlu.py       train, test nlu, parse, data validate
    dialogue.py  shell, test stories: talking to the whole bot
    serve.py     run: the HTTP API
    kb.py        kb index, search, eval, import, history
    agents.py    agents add, list, set, passwd
    report.py    report: the monthly service report
    wechat.py    wechat menu: create the Official Account's menu (connectors/wechat/admin.py)

The CLI is the composition root (like bot/server): it may import anything. Commands import
what they use inside their function, so `relaydesk --help` starts fast.
"""

from bot.cli.parser import build_parser, main

__all__ = ["build_parser", "main"]
