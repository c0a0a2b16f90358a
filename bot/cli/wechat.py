"""`relaydesk wechat menu`: push config.yml's WeChat menu (the work is in connectors/wechat/
admin.py; this only wires it to the command line)."""

from __future__ import annotations

import argparse
import asyncio
import json

from bot.cli.common import read_config


def cmd_wechat_menu(args: argparse.Namespace) -> int:
    from connectors.registry import channel_settings
    from connectors.wechat.admin import create_menu
    from connectors.wechat.settings import WechatSettings

    settings = channel_settings(read_config(args))["wechat"]
    assert isinstance(settings, WechatSettings)
    body = asyncio.run(create_menu(settings, dry_run=args.dry_run))
    print(json.dumps(body, ensure_ascii=False, indent=2))
    if not args.dry_run:
        print("relaydesk: the WeChat menu was created")
    return 0
