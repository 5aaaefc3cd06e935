"""`python -m channels.wechat menu show|publish`: the Official Account's custom menu.

    menu show      print the JSON that WeChat gets (from channels/wechat/menu.yaml)
    menu publish   POST it to /cgi-bin/menu/create with the YISHI_WECHAT_* settings

The menu takes effect for followers within minutes (WeChat caches it on phones).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import httpx
from rich.console import Console

from channels.wechat.api import WechatApi, WechatApiError
from channels.wechat.config import WechatSettings
from channels.wechat.menu import MENU_FILE, load_menu

console = Console()


async def publish(settings: WechatSettings, menu: dict[str, object]) -> None:
    async with httpx.AsyncClient(timeout=settings.api_timeout_s, trust_env=False) as http:
        api = WechatApi(
            http,
            settings.api_base,
            settings.app_id,
            settings.app_secret.get_secret_value(),
            attempts=settings.push_attempts,
            backoff_s=settings.push_backoff_s,
        )
        await api.create_menu(menu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.wechat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    menu = commands.add_parser("menu", help="the custom menu")
    menu.add_argument("action", choices=["show", "publish"])
    menu.add_argument("--file", default=str(MENU_FILE))
    args = parser.parse_args(argv)

    body = load_menu(Path(args.file)).wechat()
    if args.action == "show":
        console.print_json(json.dumps(body, ensure_ascii=False))
        return 0
    settings = WechatSettings()
    try:
        asyncio.run(publish(settings, body))
    except WechatApiError as exc:
        console.print(f"[red]menu not published:[/red] {exc}")
        return 1
    console.print(f"menu published to {settings.app_id} ({len(body['button'])} top-level items)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
