"""`python -m channels.admin …`: staff accounts for the agent console.

    create-agent --username U --display-name 张敏 --employee-no 1001 [--role agent|admin]
                 [--password-stdin]      (otherwise a strong password is generated and shown)
    set-password --username U [--password-stdin]
    disable --username U | enable --username U
    list
    seed-demo    one agent and one admin for `make demo`; prints their credentials

The database is the gateway's (YISHI_DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import sessionmaker

from channels.agent_console.accounts import ROLES, AccountError, AccountStore
from channels.config import ROOT, Settings
from channels.core.store import make_engine

console = Console()
DEMO_ACCOUNTS = (
    ("agent1001", "张敏", "1001", "agent"),
    ("admin9001", "李华", "9001", "admin"),
)


def _store(settings: Settings) -> AccountStore:
    engine = make_engine(settings.database_url)
    return AccountStore(sessionmaker(engine, expire_on_commit=False))


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
    args = parser.parse_args(argv)

    settings = Settings()
    store = _store(settings)
    try:
        if args.command == "create-agent":
            password, generated = _password(args.password_stdin)
            staff = store.create(
                args.username, args.display_name, args.employee_no, args.role, password
            )
            console.print(f"created {staff.role} {staff.username} ({staff.label})")
            if generated:
                console.print(f"password: [bold]{password}[/bold]  (shown once)")
        elif args.command == "set-password":
            password, generated = _password(args.password_stdin)
            store.set_password(args.username, password)
            console.print(f"password of {args.username} changed; its sessions ended")
            if generated:
                console.print(f"password: [bold]{password}[/bold]  (shown once)")
        elif args.command in ("disable", "enable"):
            store.set_active(args.username, args.command == "enable")
            console.print(f"{args.username} {args.command}d")
        elif args.command == "list":
            table = Table("username", "name", "工号", "role", "active", "last login")
            for a in store.all():
                table.add_row(a["username"], a["display_name"], a["employee_no"], a["role"],
                              "yes" if a["active"] else "no", a["last_login_at"] or "-")  # fmt: skip
            console.print(table)
        elif args.command == "seed-demo":
            _seed_demo(store, args.credentials or ROOT / "var" / "demo-credentials.json")
    except AccountError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 2
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
