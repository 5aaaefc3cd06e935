"""`python -m channels.admin …`: staff accounts for the agent console, and data maintenance.

    create-agent --username U --display-name 张敏 --employee-no 1001 [--role agent|admin]
                 [--password-stdin]      (otherwise a strong password is generated and shown)
    set-password --username U [--password-stdin]
    disable --username U | enable --username U
    list
    seed-demo    one agent and one admin for `make demo`; prints their credentials
    purge [--dry-run]            delete or anonymise what is past its retention (make purge)
    new-key                      put a new data key first in the key file (or print one)
    rotate-keys [--retire-old]   re-encrypt everything with the first key (then drop the others)

The database is the gateway's (YISHI_DATABASE_URL). Account changes, purges and key rotations
are written to the audit log (actor `cli:<OS user>`). See docs/privacy.md for the key steps.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from channels.agent_console.accounts import ROLES, AccountError, AccountStore
from channels.config import ROOT, Settings
from channels.core.store import make_engine
from channels.privacy.crypto import (
    DataCipher,
    DataKeyError,
    cipher_from_settings,
    generate_key,
    read_key_file,
    write_key_file,
)
from channels.privacy.retention import purge, retention_days
from channels.privacy.rotation import rotate_keys

console = Console()
DEMO_ACCOUNTS = (
    ("agent1001", "张敏", "1001", "agent"),
    ("admin9001", "李华", "9001", "admin"),
)


def _store(engine: Engine) -> AccountStore:
    return AccountStore(sessionmaker(engine, expire_on_commit=False))


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli"


def _password(from_stdin: bool) -> tuple[str, bool]:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(12), True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.admin", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-agent", help="create a staff account")
    create.add_argument("--username", required=True)
    create.add_argument("--display-name", required=True)
    create.add_argument("--employee-no", required=True)
    create.add_argument("--role", choices=ROLES, default="agent")
    create.add_argument("--password-stdin", action="store_true")
    setpw = commands.add_parser("set-password", help="set a new password (ends its sessions)")
    setpw.add_argument("--username", required=True)
    setpw.add_argument("--password-stdin", action="store_true")
    for name in ("disable", "enable"):
        commands.add_parser(name, help=f"{name} an account").add_argument(
            "--username", required=True
        )
    commands.add_parser("list", help="list staff accounts")
    seed = commands.add_parser("seed-demo", help="demo agent and admin (idempotent)")
    seed.add_argument("--credentials", type=Path, default=None,
                      help="where demo passwords are kept (default var/demo-credentials.json)")  # fmt: skip
    purge_cmd = commands.add_parser("purge", help="delete or anonymise data past its retention")
    purge_cmd.add_argument("--dry-run", action="store_true", help="count only, change nothing")
    commands.add_parser("new-key", help="a new data key, first in the key file (or printed)")
    rotate = commands.add_parser("rotate-keys", help="re-encrypt everything with the first key")
    rotate.add_argument("--retire-old", action="store_true",
                        help="then keep only the first key in the key file")  # fmt: skip
    args = parser.parse_args(argv)

    settings = Settings()
    if args.command == "new-key":
        return _new_key(settings)
    engine = make_engine(settings.database_url)
    store = _store(engine)
    actor = _actor()
    try:
        if args.command == "create-agent":
            password, generated = _password(args.password_stdin)
            staff = store.create(
                args.username, args.display_name, args.employee_no, args.role, password
            )
            store.audit(actor, "create_account", staff.username, detail={"role": staff.role})
            console.print(f"created {staff.role} {staff.username} ({staff.label})")
            if generated:
                console.print(f"password: [bold]{password}[/bold]  (shown once)")
        elif args.command == "set-password":
            password, generated = _password(args.password_stdin)
            store.set_password(args.username, password)
            store.audit(actor, "set_password", args.username)
            console.print(f"password of {args.username} changed; its sessions ended")
            if generated:
                console.print(f"password: [bold]{password}[/bold]  (shown once)")
        elif args.command in ("disable", "enable"):
            store.set_active(args.username, args.command == "enable")
            store.audit(actor, f"{args.command}_account", args.username)
            console.print(f"{args.username} {args.command}d")
        elif args.command == "list":
            table = Table("username", "name", "工号", "role", "active", "last login")
            for a in store.all():
                table.add_row(a["username"], a["display_name"], a["employee_no"], a["role"],
                              "yes" if a["active"] else "no", a["last_login_at"] or "-")  # fmt: skip
            console.print(table)
        elif args.command == "seed-demo":
            _seed_demo(store, args.credentials or ROOT / "var" / "demo-credentials.json")
        elif args.command == "purge":
            _purge(engine, store, settings, actor, args.dry_run)
        elif args.command == "rotate-keys":
            return _rotate_keys(engine, store, settings, actor, args.retire_old)
    except (AccountError, DataKeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
    return 0


def _purge(
    engine: Engine, store: AccountStore, settings: Settings, actor: str, dry_run: bool
) -> None:
    days = retention_days(settings)
    counts = purge(engine, settings, dry_run=dry_run)
    title = "would purge (dry run)" if dry_run else "purged"
    table = Table("data class", "kept (days)", "rows", "by table", title=title)
    for name, tables in counts.items():
        detail = ", ".join(f"{t} {n}" for t, n in tables.items())
        table.add_row(name, str(days[name]), str(sum(tables.values())), detail)
    console.print(table)
    if not dry_run:
        store.audit(actor, "purge", detail={"retention_days": days, "counts": counts})


def _new_key(settings: Settings) -> int:
    key = generate_key()
    if settings.data_keys.get_secret_value().strip():
        console.print(
            "YISHI_DATA_KEYS is set: put this key first in it, restart every gateway, then run "
            f"`python -m channels.admin rotate-keys`:\n{key}"
        )
        return 0
    path = settings.data_key_path
    keys = read_key_file(path) if path.is_file() else []
    write_key_file(path, [key, *keys])
    console.print(
        f"{path}: new key first ({len(keys) + 1} keys). Restart every gateway, then run "
        "`python -m channels.admin rotate-keys --retire-old`."
    )
    return 0


def _rotate_keys(
    engine: Engine, store: AccountStore, settings: Settings, actor: str, retire_old: bool
) -> int:
    cipher: DataCipher = cipher_from_settings(settings)
    counts = rotate_keys(sessionmaker(engine, expire_on_commit=False), cipher)
    table = Table("table", "re-encrypted", "newly encrypted", "unreadable", title="rotate-keys")
    for name, c in counts.items():
        table.add_row(name, str(c["rotated"]), str(c["encrypted"]), str(c["unreadable"]))
    console.print(table)
    detail: dict[str, Any] = {"keys": cipher.key_count, "counts": counts}
    unreadable = sum(c["unreadable"] for c in counts.values())
    retired = 0
    if retire_old and unreadable == 0 and cipher.key_count > 1:
        if settings.data_keys.get_secret_value().strip():
            console.print("Keys come from YISHI_DATA_KEYS: remove all but the first one there.")
        else:
            keys = read_key_file(settings.data_key_path)
            write_key_file(settings.data_key_path, keys[:1])
            retired = len(keys) - 1
            console.print(f"{settings.data_key_path}: {retired} old key(s) removed")
    detail["retired"] = retired
    store.audit(actor, "rotate_keys", detail=detail)
    if unreadable:
        console.print(
            f"[red]{unreadable} value(s) open with none of the configured keys; "
            "old keys kept.[/red]"
        )
        return 1
    return 0


def _seed_demo(store: AccountStore, path: Path) -> None:
    """Create the demo accounts once; keep their passwords in a private file to show again."""
    known: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    for username, name, number, role in DEMO_ACCOUNTS:
        if store.get(username) is None:
            known[username] = secrets.token_urlsafe(9)
            store.create(username, name, number, role, known[username])
        elif username not in known:
            known[username] = secrets.token_urlsafe(9)
            store.set_password(username, known[username])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, ensure_ascii=False, indent=1))
    os.chmod(path, 0o600)
    table = Table("坐席工作台 /agent", "用户名", "密码", "角色", title="演示账号 (demo accounts)")
    for username, name, number, role in DEMO_ACCOUNTS:
        table.add_row(f"{name}（工号{number}）", username, known[username], role)
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
