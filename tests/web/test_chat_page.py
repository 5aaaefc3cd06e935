"""The web chat in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from ops.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    opened = context.new_page()
    opened.goto(f"{stack.config.gateway_url}/")
    yield opened
    context.close()


def test_web_chat_answers_a_greeting_and_its_buttons(page: Page, tmp_path: Path) -> None:
    expect(page).to_have_title("一事通 · 示例市政务服务助手")
    page.fill("#chat-input", "你好")
    page.click("#chat-send")
    greeting = page.locator(".msg.bot").last
    expect(greeting).to_contain_text("您好")
    expect(page.locator(".msg.user").last).to_have_text("你好")

    page.locator("button.reply-button", has_text="转人工客服").last.click()
    expect(page.locator(".msg.user").last).to_have_text("转人工客服")
    expect(page.locator(".msg.bot").last).to_contain_text("12345")
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)


def test_web_chat_marks_emergencies(page: Page) -> None:
    page.fill("#chat-input", "着火了")
    page.keyboard.press("Enter")
    alert = page.locator('.msg.bot[data-emergency="true"]').last
    expect(alert).to_contain_text("119")


def test_web_chat_does_not_send_blank_input(page: Page) -> None:
    page.fill("#chat-input", "   ")
    page.click("#chat-send")
    page.wait_for_timeout(300)
    assert page.locator(".msg.user").count() == 0


def test_web_chat_answer_links_to_the_guide(page: Page) -> None:
    page.fill("#chat-input", "办护照要多少钱")
    page.click("#chat-send")
    expect(page.locator(".msg.bot").last).to_contain_text("120元")
    link = page.locator("a.source").last
    expect(link).to_contain_text("普通护照申领")
    assert link.get_attribute("href") == "/guides/passport#fee"
    with page.context.expect_page() as opened:
        link.click()
    guide = opened.value
    guide.wait_for_load_state()
    expect(guide.locator("h1")).to_have_text("普通护照申领")
    expect(guide.locator("#fee")).to_contain_text("120元")
