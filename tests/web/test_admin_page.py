"""The operations dashboard (/admin) in a browser, on the real stack: an admin logs in and sees
the numbers of a few chats, changes the dates and downloads a CSV; an agent is turned away."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from ops.paths import ROOT
from ops.stack import Stack

pytestmark = pytest.mark.slow

ADMIN = ("admin9101", "dash-admin-pass-9101", "王丽", "9101")
AGENT = ("agent9102", "dash-agent-pass-9102", "赵强", "9102")
# the first dashboard load groups unanswered questions with the embedding model, which the
# gateway loads on first use; the first chats load it in the action server
WAIT_MS = 120_000
VENDORED = ROOT / "channels" / "admin" / "static" / "vendor" / "chart.umd.js"


def create_account(stack: Stack, account: tuple[str, str, str, str], role: str) -> None:
    username, password, name, number = account
    result = subprocess.run(
        [
            sys.executable, "-m", "channels.admin", "create-agent",
            "--username", username, "--display-name", name,
            "--employee-no", number, "--role", role, "--password-stdin",
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "YISHI_DATABASE_URL": stack.config.database_url},
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"create-agent failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> None:
    create_account(stack, ADMIN, "admin")
    create_account(stack, AGENT, "agent")


@pytest.fixture(scope="module")
def chats(stack: Stack) -> int:
    """A few citizen messages through the chat API; returns how many were sent."""
    messages = [
        ("web:dash-1", "办护照要多少钱"),
        ("web:dash-1", "护照在哪里办"),
        ("web:dash-2", "你好"),
        ("web:dash-2", "狗狗疫苗在哪里打"),
    ]
    with httpx.Client(base_url=stack.config.gateway_url, timeout=120, trust_env=False) as client:
        for sender, text in messages:
            response = client.post("/api/chat", json={"sender": sender, "text": text})
            assert response.status_code == 200, response.text
    return len(messages)


@pytest.fixture
def page(browser: Browser, stack: Stack, accounts: None) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, locale="zh-CN", accept_downloads=True
    )
    opened = context.new_page()
    opened.goto(f"{stack.config.gateway_url}/admin")
    yield opened
    context.close()


def log_in(page: Page, account: tuple[str, str, str, str]) -> None:
    expect(page).to_have_title("一事通 · 运营看板")
    expect(page.locator("#login-view")).to_be_visible()
    page.fill("#login-username", account[0])
    page.fill("#login-password", account[1])
    page.click("#login-submit")


def kpi(page: Page, name: str) -> str:
    return page.locator(f'[data-kpi="{name}"]').inner_text().strip()


def test_admin_sees_numbers_filters_and_exports(
    page: Page, stack: Stack, chats: int, tmp_path: Path
) -> None:
    log_in(page, ADMIN)
    dashboard = page.locator("#dashboard")
    expect(dashboard).to_be_visible()
    expect(page.locator("#me")).to_contain_text(ADMIN[2])
    expect(dashboard).to_have_attribute(
        "data-loaded", re.compile(r"^\d{4}-\d{2}-\d{2}/"), timeout=WAIT_MS
    )
    start, end = page.input_value("#from"), page.input_value("#to")

    # the tiles show what the API counts, and at least this test's chats
    api = page.request.get(f"{stack.config.gateway_url}/api/admin/dashboard?from={start}&to={end}")
    assert api.ok, api.text()
    totals = api.json()["totals"]
    assert totals["messages"] >= chats
    expect(page.locator('[data-kpi="messages"]')).to_have_text(str(totals["messages"]))
    expect(page.locator('[data-kpi="conversations"]')).to_have_text(str(totals["conversations"]))
    assert kpi(page, "answer_rate").endswith("%")
    expect(page.locator("#t-questions_per_day tbody tr")).to_have_count(7)
    expect(page.locator("#t-top_services tbody")).to_contain_text("passport")
    # charts when Chart.js is vendored, a note and tables only when it is not
    if VENDORED.exists():
        expect(page.locator("#chart-note")).to_be_hidden()
        expect(page.locator('[data-chart="questions_per_day"] canvas')).to_have_count(1)
    else:
        expect(page.locator("#chart-note")).to_be_visible()
    page.screenshot(path=str(tmp_path / "admin.png"), full_page=True)

    # a period without any chats
    page.fill("#from", "2020-01-01")
    page.fill("#to", "2020-01-03")
    page.click("#apply")
    expect(dashboard).to_have_attribute("data-loaded", "2020-01-01/2020-01-03", timeout=WAIT_MS)
    expect(page.locator('[data-kpi="messages"]')).to_have_text("0")
    expect(page.locator("#t-questions_per_day tbody tr")).to_have_count(3)
    expect(page.locator("#period")).to_contain_text("2020-01-01 至 2020-01-03")

    # a start after the end is refused on the page
    page.fill("#from", "2020-01-05")
    page.click("#apply")
    expect(page.locator("#filter-error")).to_contain_text("开始日期不能晚于结束日期")

    # back to the last 7 days, and one section as CSV
    page.click('button.quick[data-days="7"]')
    expect(dashboard).to_have_attribute("data-loaded", f"{start}/{end}", timeout=WAIT_MS)
    expect(page.locator('[data-kpi="messages"]')).to_have_text(str(totals["messages"]))
    with page.expect_download() as download_info:
        page.click('a.csv[data-section="questions_per_day"]')
    download = download_info.value
    assert download.suggested_filename == f"yishi-questions_per_day-{start}-{end}.csv"
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert lines[0] == "日期,市民消息数,会话数,机器人回复轮次,知识库问答数,已回答,待澄清,未回答"
    assert len(lines) == 8
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == totals["messages"]


def test_agent_is_told_admin_rights_are_needed(page: Page) -> None:
    log_in(page, AGENT)
    view = page.locator("#forbidden-view")
    expect(view).to_be_visible()
    expect(view).to_contain_text("需要管理员权限")
    expect(page.locator("#dashboard")).to_be_hidden()
    # and can log out to try another account
    page.click("#forbidden-logout")
    expect(page.locator("#login-view")).to_be_visible()
