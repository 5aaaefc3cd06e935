"""`python -m channels.admin`: account changes made from the command line are audited."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from channels.admin.__main__ import main as admin
from channels.agent_console.accounts import AccountStore
from channels.core.store import make_engine


def test_account_commands_leave_audit_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    monkeypatch.setenv("YISHI_DATABASE_URL", url)
    password = "cli-audit-password"
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{password}\n{password}2\n"))
    base = ["--username", "a2001"]
    assert admin(["create-agent", *base, "--display-name", "张敏", "--employee-no", "2001",
                  "--password-stdin"]) == 0  # fmt: skip
    assert admin(["set-password", *base, "--password-stdin"]) == 0
    assert admin(["disable", *base]) == 0
    assert admin(["enable", *base]) == 0

    log = AccountStore(sessionmaker(make_engine(url))).audit_log()
    assert [e["action"] for e in reversed(log)] == [
        "create_account",
        "set_password",
        "disable_account",
        "enable_account",
    ]
    assert all(e["actor"].startswith("cli") and e["target"] == "a2001" for e in log)
    assert password not in str(log)
