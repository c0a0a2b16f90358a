"""Starting and stopping the messaging-app connectors with the server."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config
from bot.server.runtime import Runtime


async def start_connectors(config: Config, runtime: Runtime) -> None:
    media = Path(config.path(config.knowledge.path)) / "media"
    if config.connectors.telegram.enabled:
        from connectors.telegram.connector import TelegramConnector

        runtime.telegram = TelegramConnector(config.connectors.telegram, runtime, media)
        await runtime.telegram.start()
    if config.connectors.wechat.enabled:
        from connectors.wechat.connector import WechatConnector

        runtime.wechat = WechatConnector(config.connectors.wechat, runtime)
        await runtime.wechat.start()


async def stop_connectors(runtime: Runtime) -> None:
    if runtime.telegram is not None:
        await runtime.telegram.stop()
        runtime.telegram = None
    if runtime.wechat is not None:
        await runtime.wechat.stop()
        runtime.wechat = None
