"""axe-core (axe-playwright-python) on the citizen chat, the 长辈版 page and the agent console:
no violation of impact serious or critical. The elder page is held to WCAG AAA contrast
(axe's color-contrast-enhanced, 7:1) as well."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ops.paths import ROOT
from ops.stack import Stack

pytestmark = pytest.mark.slow

WAIT_MS = 30_000
BLOCKING = {"serious", "critical"}
AGENT_USERNAME = "a11yagent3001"
AGENT_PASSWORD = "demo-a11y-agent-3001"
AGENT_NAME = "陈静"
AGENT_NO = "3001"

# axe's defaults (WCAG 2.x A/AA and best practices); the elder page adds the AAA contrast rule.
DEFAULT_OPTIONS: dict[str, Any] = {"resultTypes": ["violations"]}
ELDER_OPTIONS: dict[str, Any] = {
    "resultTypes": ["violations"],
    "rules": {"color-contrast-enhanced": {"enabled": True}},
}


def assert_no_serious_violations(page: Page, where: str, options: dict[str, Any]) -> None:
    results = Axe().run(page, options=options).response
    assert results.get("passes"), f"{where}: axe checked nothing"
    blocking = [v for v in results["violations"] if v.get("impact") in BLOCKING]
    lines = [
        f"- {v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:6])
        for v in blocking
    ]
    assert not blocking, f"{where}: {len(blocking)} serious/critical axe violations\n" + "\n".join(
        lines
    )


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def a11y_agent(stack: Stack) -> str:
    result = subprocess.run(
        [
            sys.executable, "-m", "channels.admin", "create-agent",
            "--username", AGENT_USERNAME, "--display-name", AGENT_NAME,
            "--employee-no", AGENT_NO, "--role", "agent", "--password-stdin",
        ],
        input=AGENT_PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "YISHI_DATABASE_URL": stack.config.database_url},
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"create-agent failed:\n{result.stdout}\n{result.stderr}"
    return AGENT_USERNAME


def test_citizen_chat_page(context: BrowserContext, stack: Stack) -> None:
    page = context.new_page()
    page.goto(f"{stack.config.gateway_url}/")
    expect(page.locator("#chat-input")).to_be_visible()
    assert_no_serious_violations(page, "/", DEFAULT_OPTIONS)

    page.fill("#chat-input", "办护照要多少钱")
    page.click("#chat-send")
    expect(page.locator(".msg.bot").last).to_contain_text("120元", timeout=WAIT_MS)
    assert_no_serious_violations(page, "/ with an answer", DEFAULT_OPTIONS)


def test_elder_page(context: BrowserContext, stack: Stack) -> None:
    page = context.new_page()
    page.goto(f"{stack.config.gateway_url}/elder")
    expect(page.locator("#menu-items .menu-item").first).to_be_visible()
    assert_no_serious_violations(page, "/elder", ELDER_OPTIONS)

    page.locator("#menu-items .menu-item", has_text="证件办理").click()
    assert_no_serious_violations(page, "/elder second level", ELDER_OPTIONS)

    page.locator("#menu-items .menu-item", has_text="身份证丢了怎么办").click()
    answer = page.locator("#messages .row-bot:not(.row-typing) .msg.bot").last
    expect(answer).to_contain_text("还想知道更多吗", timeout=WAIT_MS)
    assert_no_serious_violations(page, "/elder with an answer", ELDER_OPTIONS)


def test_agent_console(
    browser: Browser, context: BrowserContext, stack: Stack, a11y_agent: str
) -> None:
    agent_context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:
        page = agent_context.new_page()
        page.goto(f"{stack.config.gateway_url}/agent")
        expect(page.locator("#login-username")).to_be_visible()
        assert_no_serious_violations(page, "/agent login", DEFAULT_OPTIONS)

        page.fill("#login-username", a11y_agent)
        page.fill("#login-password", AGENT_PASSWORD)
        page.click("#login-submit")
        expect(page.locator("#me")).to_contain_text(AGENT_NAME)
        expect(page.locator("#ws-status")).to_have_attribute("data-state", "online")
        assert_no_serious_violations(page, "/agent workspace", DEFAULT_OPTIONS)

        # A conversation on screen: transcript with a trace, suggestions, quick replies.
        citizen = context.new_page()
        citizen.goto(f"{stack.config.gateway_url}/")
        citizen.fill("#chat-input", "办护照要多少钱")
        citizen.click("#chat-send")
        expect(citizen.locator(".msg.bot").last).to_contain_text("120元", timeout=WAIT_MS)
        citizen.fill("#chat-input", "转人工")
        citizen.click("#chat-send")
        sender = citizen.evaluate("() => localStorage.getItem('yishi.sender')")
        item = page.locator(f'#queue .queue-item[data-sender="{sender}"]')
        expect(item).to_be_visible(timeout=WAIT_MS)
        assert_no_serious_violations(page, "/agent with a queue", DEFAULT_OPTIONS)
        item.locator(".accept").click()
        expect(page.locator("#reply-input")).to_be_enabled(timeout=WAIT_MS)
        expect(page.locator("#suggestions .suggestion").first).to_be_visible(timeout=WAIT_MS)
        assert_no_serious_violations(page, "/agent serving a citizen", DEFAULT_OPTIONS)

        page.click("#close-open")
        expect(page.locator("#close-dialog")).to_be_visible()
        assert_no_serious_violations(page, "/agent close dialog", DEFAULT_OPTIONS)
        page.click("#close-cancel")
        page.click("#handback")
        expect(page.locator("#reply-input")).to_be_disabled()
    finally:
        agent_context.close()
