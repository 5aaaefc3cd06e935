"""The 长辈版 page (/elder) in a real browser on the real stack: type sizes, targets, contrast,
the always-visible help buttons, the category menu, read-aloud and press-and-hold voice.

Headless Chromium has neither voices nor a microphone: speechSynthesis.speak/cancel are
recorded by an init script, MediaRecorder/getUserMedia are faked, and /api/voice is answered
by Playwright's router (the real endpoint is another part of issue #7)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Dialog, Page, Route, ViewportSize, expect

from ops.paths import ROOT
from ops.stack import Stack

pytestmark = pytest.mark.slow

WAIT_MS = 30_000
MIN_FONT_PX = 20.0
MIN_LINE_HEIGHT = 1.5
MIN_CONTRAST = 7.0
MIN_TARGET_PX = 48.0

# Records what would be spoken; the real SpeechSynthesisUtterance is kept.
SPEECH_STUB = """
(() => {
  const log = { spoken: [], cancels: 0 };
  window.__speech = log;
  const synth = window.speechSynthesis;
  synth.speak = (u) => { log.spoken.push({ text: u.text, lang: u.lang, rate: u.rate }); };
  synth.cancel = () => { log.cancels += 1; };
})();
"""

# A microphone that records 4 KB of "audio"; window.__denyMic makes getUserMedia fail.
MEDIA_STUB = """
(() => {
  const calls = { started: 0, stopped: 0, options: null };
  window.__recorder = calls;
  class FakeRecorder {
    constructor(stream, options) {
      this.stream = stream;
      this.mimeType = (options && options.mimeType) || 'audio/webm';
      this.state = 'inactive';
      calls.options = options || null;
    }
    static isTypeSupported(type) { return type.startsWith('audio/webm'); }
    start() { this.state = 'recording'; calls.started += 1; }
    stop() {
      this.state = 'inactive';
      calls.stopped += 1;
      const data = new Blob([new Uint8Array(4096)], { type: 'audio/webm' });
      setTimeout(() => {
        if (this.ondataavailable) this.ondataavailable({ data });
        if (this.onstop) this.onstop();
      }, 10);
    }
  }
  window.MediaRecorder = FakeRecorder;
  const getUserMedia = async () => {
    if (window.__denyMic) throw new DOMException('denied', 'NotAllowedError');
    return { getTracks: () => [{ stop() {} }] };
  };
  if (navigator.mediaDevices) navigator.mediaDevices.getUserMedia = getUserMedia;
  else Object.defineProperty(navigator, 'mediaDevices', { value: { getUserMedia } });
})();
"""

# Every visible element with text of its own: its size, line height and contrast against the
# background it is painted on (ancestors' background colours blended, white page below).
TEXT_METRICS_JS = """
() => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c);
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const blend = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) bg = blend(layer, bg);
    return bg;
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = Array.from(el.childNodes)
      .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent).join('').trim();
    if (!own || !el.checkVisibility({ visibilityProperty: true })) continue;
    if (el.closest('.visually-hidden')) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) continue;
    const cs = getComputedStyle(el);
    const size = parseFloat(cs.fontSize);
    const bg = background(el);
    const fg = blend(parse(cs.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    out.push({
      text: own.slice(0, 30),
      cls: el.className || el.tagName,
      size,
      lineHeight: parseFloat(cs.lineHeight) / size,
      contrast: (hi + 0.05) / (lo + 0.05),
    });
  }
  return out;
}
"""

TARGETS_JS = """
() => Array.from(document.querySelectorAll('button, a[href], input, select, textarea, [role=button]'))
  .filter((el) => el.checkVisibility({ visibilityProperty: true }) && !el.closest('.visually-hidden'))
  .map((el) => {
    const box = el.getBoundingClientRect();
    return { name: (el.id || el.textContent.trim()).slice(0, 30), width: box.width, height: box.height };
  })
"""

CANDIDATES = [
    {"service_id": "id_card_lost", "title": "居民身份证遗失补领", "payload": "身份证丢了怎么办"},
    {
        "service_id": "id_card_renew",
        "title": "居民身份证有效期满换领",
        "payload": "换身份证要带什么",
    },
    {"service_id": "id_card_first", "title": "居民身份证首次申领", "payload": "第一次办身份证"},
]


@pytest.fixture
def elder(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.add_init_script(SPEECH_STUB)
    context.add_init_script(MEDIA_STUB)
    opened = context.new_page()
    dialogs: list[str] = []

    def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", refuse)
    opened.goto(f"{stack.config.gateway_url}/elder")
    expect(opened.locator("#menu-items .menu-item").first).to_be_visible()
    yield opened
    context.close()
    assert not dialogs, f"the elder page must never pop up: {dialogs}"


def text_metrics(page: Page) -> list[dict[str, Any]]:
    metrics: list[dict[str, Any]] = page.evaluate(TEXT_METRICS_JS)
    assert metrics, "no visible text measured"
    return metrics


def assert_type_and_contrast(page: Page, where: str) -> None:
    metrics = text_metrics(page)
    small = [m for m in metrics if m["size"] < MIN_FONT_PX]
    assert not small, f"{where}: text under {MIN_FONT_PX} px: {small}"
    tight = [m for m in metrics if not m["lineHeight"] >= MIN_LINE_HEIGHT - 1e-3]
    assert not tight, f"{where}: line height under {MIN_LINE_HEIGHT}: {tight}"
    faint = [m for m in metrics if m["contrast"] < MIN_CONTRAST]
    assert not faint, f"{where}: contrast under {MIN_CONTRAST}:1: {faint}"


def assert_targets(page: Page, where: str) -> None:
    targets: list[dict[str, Any]] = page.evaluate(TARGETS_JS)
    assert targets
    small = [t for t in targets if t["width"] < MIN_TARGET_PX or t["height"] < MIN_TARGET_PX]
    assert not small, f"{where}: targets under {MIN_TARGET_PX}×{MIN_TARGET_PX} px: {small}"


def px(page: Page, selector: str, prop: str = "fontSize") -> float:
    value = page.locator(selector).first.evaluate(f"el => getComputedStyle(el).{prop}")
    return float(str(value).removesuffix("px"))


def bot_rows(page: Page) -> Any:
    return page.locator("#messages .row-bot:not(.row-typing)")


def ask_from_menu(page: Page, category: str, question: str) -> str:
    """Open a category, press a question; returns the answer's text."""
    before = bot_rows(page).count()
    page.locator("#menu-items .menu-item", has_text=category).click()
    expect(page.locator("#menu-title")).to_contain_text(category)
    page.locator("#menu-items .menu-item", has_text=question).click()
    expect(page.locator("#menu")).to_be_hidden()
    expect(page.locator("#messages .msg.user").last).to_have_text(question)
    expect(bot_rows(page)).to_have_count(before + 1, timeout=WAIT_MS)
    return bot_rows(page).last.locator(".msg.bot").inner_text()


def assert_elder_answer(text: str) -> None:
    points = [line for line in text.splitlines() if re.match(r"^\d+\.\s", line.strip())]
    assert 1 <= len(points) <= 3, f"expected 1–3 numbered points:\n{text}"
    assert "还想知道更多吗" in text, text


def spoken(page: Page) -> list[dict[str, Any]]:
    utterances: list[dict[str, Any]] = page.evaluate("() => window.__speech.spoken")
    return utterances


def hold_to_talk(page: Page, how: str = "pointer", ms: int = 700) -> None:
    talk = page.locator("#talk")
    if how == "pointer":
        talk.hover()
        page.mouse.down()
        expect(talk).to_have_text("松开 发送")
        page.wait_for_timeout(ms)
        page.mouse.up()
    else:
        talk.focus()
        page.keyboard.down(how)
        expect(talk).to_have_text("松开 发送")
        page.wait_for_timeout(ms)
        page.keyboard.up(how)


class FakeVoice:
    """Answers POST /api/voice with queued JSON bodies and keeps what the page sent."""

    def __init__(self, *bodies: tuple[int, dict[str, Any]]) -> None:
        self.bodies = list(bodies)
        self.requests: list[tuple[dict[str, str], bytes]] = []

    def __call__(self, route: Route) -> None:
        request = route.request
        self.requests.append((request.headers, request.post_data_buffer or b""))
        status, body = self.bodies.pop(0)
        route.fulfill(
            status=status,
            content_type="application/json",
            body=json.dumps(body, ensure_ascii=False),
        )


# ------------------------------------------------------------------------------------ tests


def test_elder_type_is_large_and_the_size_buttons_persist(elder: Page) -> None:
    expect(elder).to_have_title("一事通 · 长辈版")
    assert px(elder, "body") >= MIN_FONT_PX
    assert px(elder, "body", "lineHeight") / px(elder, "body") >= MIN_LINE_HEIGHT
    assert_type_and_contrast(elder, "menu")

    ask_from_menu(elder, "证件办理", "身份证丢了怎么办")
    message = "#messages .msg.bot"
    base = px(elder, message)
    assert base >= MIN_FONT_PX
    assert px(elder, message, "lineHeight") / base >= MIN_LINE_HEIGHT
    assert_type_and_contrast(elder, "answer")

    expect(elder.locator("#font-down")).to_be_disabled()  # already the smallest (20 px)
    elder.click("#font-up")
    elder.click("#font-up")
    assert px(elder, "body") == 24
    assert px(elder, message) > base
    elder.reload()
    expect(elder.locator("html")).to_have_attribute("data-font", "24")
    assert px(elder, "body") == 24
    assert_type_and_contrast(elder, "menu at 24 px")
    for _ in range(10):
        if elder.locator("#font-up").is_disabled():
            break
        elder.click("#font-up")
    assert px(elder, "body") == 32
    elder.click("#font-down")
    assert px(elder, "body") == 30


def test_standard_and_elder_pages_link_to_each_other(elder: Page, stack: Stack) -> None:
    elder.get_by_role("link", name="标准版").click()
    elder.wait_for_url(f"{stack.config.gateway_url}/")
    elder.get_by_role("link", name="长辈版").click()
    elder.wait_for_url(f"{stack.config.gateway_url}/elder")
    expect(elder.locator("#menu-items .menu-item").first).to_be_visible()


def test_elder_targets_are_at_least_48_px(elder: Page) -> None:
    assert_targets(elder, "menu")
    elder.locator("#menu-items .menu-item", has_text="社保医保").click()
    assert_targets(elder, "second level")
    elder.locator("#menu-items .menu-item", has_text="异地就医备案怎么办").click()
    expect(bot_rows(elder)).to_have_count(1, timeout=WAIT_MS)
    assert_targets(elder, "answer")
    elder.click("#menu-open")
    assert_targets(elder, "menu reopened")
    expect(elder.locator("#menu-close")).to_be_visible()


def test_elder_help_buttons_stay_visible_after_scrolling(elder: Page) -> None:
    for _ in range(6):
        elder.click("#font-up")
    ask_from_menu(elder, "公积金住房", "公积金租房提取怎么办")
    elder.click("#menu-open")
    ask_from_menu(elder, "交通出行", "交通违章怎么处理")
    human, call = elder.locator("#to-human"), elder.locator("#call-12345")
    assert call.get_attribute("href") == "tel:12345"
    # Upright the conversation scrolls under the header; on a short landscape screen the whole
    # page scrolls and the header sticks to the top.
    sizes: list[ViewportSize] = [{"width": 390, "height": 844}, {"width": 844, "height": 390}]
    for size in sizes:
        elder.set_viewport_size(size)
        scrolled = elder.evaluate(
            "() => { const c = document.getElementById('chat'); c.scrollTop = c.scrollHeight;"
            " window.scrollTo(0, document.documentElement.scrollHeight);"
            " return c.scrollTop + window.scrollY; }"
        )
        assert scrolled > 200, f"nothing to scroll at {size}"
        elder.wait_for_timeout(200)
        expect(human).to_be_in_viewport(ratio=1)
        expect(call).to_be_in_viewport(ratio=1)
        assert_targets(elder, f"scrolled at {size}")


def test_elder_menu_answers_briefly_and_reads_aloud(elder: Page) -> None:
    text = ask_from_menu(elder, "证件办理", "身份证丢了怎么办")
    assert_elder_answer(text)
    more = bot_rows(elder).last.get_by_role("button", name="想知道更多")
    expect(more).to_be_visible()

    utterances = spoken(elder)
    assert utterances, "the answer was not read aloud"
    assert all(u["lang"] == "zh-CN" for u in utterances), utterances
    assert all(0.8 <= u["rate"] <= 1.0 for u in utterances), utterances
    heard = "".join(u["text"] for u in utterances)
    assert "还想知道更多吗" in heard
    assert "依据" not in heard and "来源" not in heard and "http" not in heard, heard

    cancels = elder.evaluate("() => window.__speech.cancels")
    elder.click("#speak-stop")
    assert elder.evaluate("() => window.__speech.cancels") > cancels

    toggle = elder.locator("#speak-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_have_text("朗读：关")
    heard_before = len(spoken(elder))
    more.click()
    expect(bot_rows(elder)).to_have_count(2, timeout=WAIT_MS)
    expect(bot_rows(elder).last).not_to_contain_text("还想知道更多吗")  # the full answer
    assert len(spoken(elder)) == heard_before, "spoken although 朗读 is off"

    elder.reload()
    expect(elder.locator("#speak-toggle")).to_have_attribute("aria-pressed", "false")
    elder.click("#speak-toggle")
    expect(elder.locator("#speak-toggle")).to_have_attribute("aria-pressed", "true")


def test_elder_voice_candidates_then_answer(elder: Page) -> None:
    chat = {
        "sender": "elder:x",
        "state": "bot",
        "replies": [{"text": "1. 普通护照收费120元\n还想知道更多吗？", "buttons": []}],
        "trace": {"intent": None, "kb": None, "form": None, "handoff": False, "emergency": False},
    }
    fake = FakeVoice(
        (200, {"transcript": "身份证", "candidates": CANDIDATES, "chat": None}),
        (200, {"transcript": "办护照要多少钱", "candidates": [], "chat": chat}),
    )
    elder.route("**/api/voice", fake)

    hold_to_talk(elder)
    candidates = bot_rows(elder).last
    expect(candidates.locator(".msg.bot")).to_have_text("您是想问下面哪一项？")
    expect(elder.locator("#messages .msg.user").last).to_have_text("身份证")
    buttons = candidates.locator(".reply-button")
    expect(buttons).to_have_count(3)
    for i in range(3):
        box = buttons.nth(i).bounding_box()
        assert box and box["width"] >= MIN_TARGET_PX and box["height"] >= MIN_TARGET_PX, box
    assert any("您是想问下面哪一项" in u["text"] for u in spoken(elder))

    headers, body = fake.requests[0]
    sender = elder.evaluate("() => localStorage.getItem('yishi.elder.sender')")
    assert isinstance(sender, str) and sender.startswith("elder:"), sender
    assert headers.get("x-yishi-citizen-token"), headers
    assert headers.get("content-type", "").startswith("multipart/form-data"), headers
    assert b'name="audio"; filename="voice.webm"' in body
    assert b'name="mode"\r\n\r\nelder' in body
    assert f'name="sender"\r\n\r\n{sender}'.encode() in body
    options = elder.evaluate("() => window.__recorder.options")
    assert options["mimeType"] == "audio/webm;codecs=opus", options

    buttons.first.click()
    expect(elder.locator("#messages .msg.user").last).to_have_text("居民身份证遗失补领")
    expect(bot_rows(elder)).to_have_count(2, timeout=WAIT_MS)
    assert_elder_answer(bot_rows(elder).last.locator(".msg.bot").inner_text())

    # Space held on the focused button records too; an answer in `chat` is shown at once.
    hold_to_talk(elder, how="Space")
    expect(elder.locator("#messages .msg.user").last).to_have_text("办护照要多少钱")
    expect(bot_rows(elder).last).to_contain_text("120元")
    assert len(fake.requests) == 2


def test_elder_voice_problems_are_told_calmly(elder: Page) -> None:
    fake = FakeVoice((404, {"error": "not_found", "detail": "Not Found"}))
    elder.route("**/api/voice", fake)
    hold_to_talk(elder, how="Enter")
    calm = elder.locator("#messages .msg.calm").last
    expect(calm).to_have_text("没听清，请再说一次，或者点下面的按钮")
    expect(elder.locator("#talk")).to_have_text("按住 说话")

    hold_to_talk(elder, ms=50)  # let go at once
    expect(elder.locator("#messages .msg.calm")).to_have_count(2)
    assert len(fake.requests) == 1

    elder.evaluate("() => { window.__denyMic = true; }")
    elder.locator("#talk").hover()
    elder.mouse.down()
    elder.mouse.up()
    expect(elder.locator("#messages .msg.calm")).to_have_count(3)
    expect(elder.locator("#messages .msg.calm").last).to_have_text(
        "没听清，请再说一次，或者点下面的按钮"
    )
    expect(elder.locator("#to-human")).to_be_visible()


# ------------------------------------------------------------------ a person takes over

AGENT_USERNAME = "elderagent2002"
AGENT_PASSWORD = "demo-elder-agent-2002"
AGENT_NAME = "王芳"
AGENT_NO = "2002"
AGENT_REPLY = "您好，我是王芳。身份证补领可以到任一派出所户籍窗口办理。"


@pytest.fixture(scope="module")
def elder_agent(stack: Stack) -> str:
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


@pytest.fixture
def agent(browser: Browser, stack: Stack, elder_agent: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    opened = context.new_page()
    opened.goto(f"{stack.config.gateway_url}/agent")
    opened.fill("#login-username", elder_agent)
    opened.fill("#login-password", AGENT_PASSWORD)
    opened.click("#login-submit")
    expect(opened.locator("#ws-status")).to_have_attribute("data-state", "online")
    yield opened
    context.close()


def test_elder_hands_over_to_a_person(elder: Page, agent: Page) -> None:
    elder.click("#to-human")
    bar = elder.locator("#state-bar")
    expect(bar).to_have_attribute("data-state", "queued", timeout=WAIT_MS)
    expect(bar).to_contain_text("正在为您转接人工客服")
    expect(elder.locator("#state-cancel")).to_be_visible()
    assert_targets(elder, "queued")
    sender = elder.evaluate("() => localStorage.getItem('yishi.elder.sender')")
    assert isinstance(sender, str) and sender.startswith("elder:"), sender

    agent.locator(f'#queue .queue-item[data-sender="{sender}"] .accept').click(timeout=WAIT_MS)
    expect(agent.locator("#reply-input")).to_be_enabled(timeout=WAIT_MS)
    agent.fill("#reply-input", AGENT_REPLY)
    agent.press("#reply-input", "Control+Enter")

    answer = elder.locator(".row-agent", has_text=AGENT_REPLY)
    expect(answer).to_be_visible(timeout=WAIT_MS)
    expect(answer.locator(".agent-name")).to_contain_text(AGENT_NAME)
    expect(answer.locator(".agent-name")).to_contain_text(AGENT_NO)
    expect(bar).to_have_attribute("data-state", "agent", timeout=WAIT_MS)
    expect(bar).to_contain_text(f"人工客服 {AGENT_NAME}")
    assert any("身份证补领" in u["text"] for u in spoken(elder))
    assert_type_and_contrast(elder, "served by an agent")

    agent.click("#handback")
    expect(bar).to_be_hidden(timeout=WAIT_MS)
