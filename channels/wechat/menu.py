"""The custom menu (menu.yaml): WeChat's limits checked on load, the JSON to publish, and what
a click (a CLICK event with the item's key) does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

MENU_FILE = Path(__file__).resolve().parent / "menu.yaml"


def _bytes(text: str) -> int:
    return len(text.encode("utf-8"))


class MenuItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    key: str | None = Field(None, pattern=r"^[A-Za-z0-9_\-]{1,128}$")
    sub: list[MenuItem] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _click_or_submenu(self) -> MenuItem:
        if (self.key is None) == (not self.sub):
            raise ValueError(f"menu item {self.name!r} needs either a key or sub items")
        if any(item.sub for item in self.sub):
            raise ValueError(f"menu item {self.name!r}: sub items cannot have sub items")
        if _bytes(self.name) > 60 or any(_bytes(item.name) > 60 for item in self.sub):
            raise ValueError(f"menu item {self.name!r}: a sub item name is longer than 60 bytes")
        return self

    def wechat(self) -> dict[str, Any]:
        if self.sub:
            return {"name": self.name, "sub_button": [item.wechat() for item in self.sub]}
        return {"type": "click", "name": self.name, "key": self.key}


class MenuAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None  # sent to the bot as if the citizen had typed it
    reply: str | None = None  # answered at once
    buttons: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> MenuAction:
        if (self.say is None) == (self.reply is None):
            raise ValueError("a menu action has exactly one of `say` and `reply`")
        if self.buttons and self.reply is None:
            raise ValueError("buttons belong to a `reply`")
        return self


class Menu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    menu: list[MenuItem] = Field(min_length=1, max_length=3)
    actions: dict[str, MenuAction]
    welcome: str = Field(min_length=1)

    @model_validator(mode="after")
    def _limits_and_keys(self) -> Menu:
        for item in self.menu:
            if _bytes(item.name) > 16:
                raise ValueError(f"top-level menu item {item.name!r} is longer than 16 bytes")
        keys = [i.key for i in self.menu if i.key] + [
            s.key for i in self.menu for s in i.sub if s.key
        ]
        if len(keys) != len(set(keys)):
            raise ValueError("menu keys must be unique")
        missing = sorted(set(keys) - set(self.actions))
        if missing:
            raise ValueError(f"menu keys without an action: {', '.join(missing)}")
        return self

    def wechat(self) -> dict[str, Any]:
        """The body of POST /cgi-bin/menu/create."""
        return {"button": [item.wechat() for item in self.menu]}


def load_menu(path: Path = MENU_FILE) -> Menu:
    return Menu.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
