"""The knowledge-improvement loop in a browser, on a real stack (Rasa, action server, gateway)
that reads a temporary copy of knowledge/ and indexes/ (nothing in the checkout changes):

1. an admin edits a guide's fee on /admin/kb (a wrong value first: refused, file untouched),
   rebuilds the index from the page and watches the progress bar finish; the chat then
   answers with the new fee and cites the new guide version, with nothing restarted;
2. an agent turns their own reply into an FAQ draft from the agent console; the admin edits,
   approves and publishes it and rebuilds; POST /api/kb/search then finds it.

Timings (rebuild, rebuild end → new answer) are printed and written to the test's tmp dir.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import sessionmaker

from channels.agent_console.accounts import AccountStore
from channels.core.store import make_engine
from ops.paths import ROOT
from ops.stack import Stack, StackConfig
from retrieval.manifest import CURRENT_FILE

pytestmark = pytest.mark.slow

ADMIN = ("kbadmin9201", "kb-admin-pass-9201", "周洁", "9201")
AGENT = ("kbagent1201", "kb-agent-pass-1201", "孙磊", "1201")
WAIT_MS = 60_000
REBUILD_MS = 600_000  # a cold machine embeds the changed texts and loads the model
NEW_FEE = "150元"
NEW_FEE_TEXT = "普通护照（首次申请、换发、补发）每本150元（测试调整）；选择邮寄送证的，邮费另付。"
FAQ_QUESTION = "出入境接待大厅的停车场收费吗"
FAQ_ANSWER = "出入境接待大厅地下停车场办事群众前两小时免费，超过两小时每小时收费5元。"


@pytest.fixture(scope="module")
def kb_stack(tmp_path_factory: pytest.TempPathFactory, trained_model: Path) -> Iterator[Stack]:
    """The three processes on free ports, reading knowledge/ and indexes/ from a temp copy
    (with the embedding cache, so a rebuild embeds only what changed)."""
    base = tmp_path_factory.mktemp("kbstack")
    shutil.copytree(ROOT / "knowledge", base / "knowledge")
    indexes = ROOT / "indexes"
    current = (indexes / CURRENT_FILE).read_text().strip()
    shutil.copytree(indexes / current, base / "indexes" / current)
    shutil.copytree(indexes / ".cache", base / "indexes" / ".cache")
    shutil.copy2(indexes / CURRENT_FILE, base / "indexes" / CURRENT_FILE)
    config = StackConfig.on_free_ports(
        var_dir=base / "var",
        log_dir=base / "logs",
        rasa_token="test-token",
        model=trained_model,
        extra_env={
            "YISHI_HANDOFF_HOURS": "00:00-24:00",
            "YISHI_RATE_LIMIT_ENABLED": "false",
            "YISHI_RETRIEVAL_KNOWLEDGE_DIR": str(base / "knowledge"),
            "YISHI_RETRIEVAL_INDEX_ROOT": str(base / "indexes"),
            "YISHI_RETRIEVAL_CACHE_DIR": str(base / "indexes" / ".cache"),
        },
    )
    running = Stack(config)
    running.start_all()
    store = AccountStore(sessionmaker(make_engine(config.database_url)))
    for username, password, name, number in (ADMIN, AGENT):
        store.create(username, name, number, "admin" if username == ADMIN[0] else "agent",
                     password)  # fmt: skip
    try:
        yield running
    finally:
        running.stop_all()


@pytest.fixture
def api(kb_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kb_stack.config.gateway_url, timeout=180, trust_env=False) as client:
        yield client


@pytest.fixture
def admin_page(browser: Browser, kb_stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{kb_stack.config.gateway_url}/admin/kb")
    expect(page).to_have_title("一事通 · 知识库维护")
    page.fill("#login-username", ADMIN[0])
    page.fill("#login-password", ADMIN[1])
    page.click("#login-submit")
    expect(page.locator("#kb")).to_be_visible()
    expect(page.locator("#me")).to_contain_text(ADMIN[2])
    yield page
    context.close()


def assert_accessible(page: Page, where: str) -> None:
    """axe-core: no serious or critical violation (as tests/web/test_accessibility.py)."""
    results = Axe().run(page, options={"resultTypes": ["violations"]}).response
    blocking = [v for v in results["violations"] if v.get("impact") in ("serious", "critical")]
    assert not blocking, f"{where}: " + "; ".join(
        f"{v['id']}: {v['help']} ({' '.join(map(str, v['nodes'][0]['target']))})" for v in blocking
    )


def knowledge_dir(stack: Stack) -> Path:
    return Path(stack.config.extra_env["YISHI_RETRIEVAL_KNOWLEDGE_DIR"])


def ask(api: httpx.Client, text: str) -> str:
    """One question from a new citizen (no earlier turn to follow up on); the replies' text."""
    response = api.post("/api/chat", json={"sender": f"web:kb{uuid.uuid4().hex[:10]}",
                                           "text": text})  # fmt: skip
    assert response.status_code == 200, response.text
    return "\n".join(r["text"] for r in response.json()["replies"])


def rebuild_from_page(page: Page, api_status: Any) -> tuple[float, dict[str, Any]]:
    """Click 开始重建索引 and wait for the bar to say done; seconds and the last result."""
    page.click("#tab-rebuild")
    expect(page.locator("#rebuild-pending")).to_have_text("有尚未生效的修改")
    started = time.monotonic()
    page.click("#rebuild-start")
    bar = page.locator("#rebuild-bar")
    expect(bar).to_have_attribute("data-state", "running", timeout=WAIT_MS)
    expect(bar).to_have_attribute("data-state", "done", timeout=REBUILD_MS)
    elapsed = time.monotonic() - started
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#rebuild-status")).to_contain_text("重建完成")
    expect(page.locator("#rebuild-pending")).to_have_text("与索引一致")
    last = api_status()["last"]
    assert last["ok"] is True, last
    return elapsed, last


def status_of(page: Page, stack: Stack) -> Any:
    def read() -> Any:
        response = page.request.get(f"{stack.config.gateway_url}/api/admin/kb/rebuild")
        assert response.ok, response.text()
        return response.json()

    return read


def test_fee_edit_rebuild_and_the_chat_cites_the_new_version(
    admin_page: Page, api: httpx.Client, kb_stack: Stack, tmp_path: Path
) -> None:
    page = admin_page
    before = ask(api, "办护照要多少钱")
    assert "120元" in before and "版本2026.1" in before, before

    # the tabs work from the keyboard (arrow keys, Home, End)
    page.focus("#tab-search")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-edit")).to_be_focused()
    expect(page.locator("#tab-edit")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-edit")).to_be_visible()
    page.keyboard.press("End")
    expect(page.locator("#tab-rebuild")).to_be_focused()
    expect(page.locator("#panel-rebuild")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.locator("#panel-search")).to_be_visible()

    # hit testing shows what the bot sees
    page.fill("#search-query", "办护照要多少钱")
    page.click("#search-submit")
    expect(page.locator("#search-band")).to_have_text("直接回答", timeout=WAIT_MS * 2)
    expect(page.locator("#t-hits tbody tr").first).to_contain_text("passport#fee")
    expect(page.locator("#t-hits tbody tr").first).to_contain_text("2026.1")
    old_version = page.locator("#search-version").inner_text()
    assert_accessible(page, "命中测试")

    # the editor: a wrong amount is refused and named, the file is untouched
    page.click("#tab-edit")
    page.select_option("#edit-target", "passport")
    expect(page.locator("#edit-form")).to_have_attribute("data-doc", "guide:passport")
    expect(page.locator("#edit-section")).to_have_value("fee")
    expect(page.locator("#edit-version")).to_have_value("2026.2")
    guide = knowledge_dir(kb_stack) / "guides" / "passport.yaml"
    untouched = hashlib.sha256(guide.read_bytes()).hexdigest()
    page.fill("#f-fee-amount", "150")
    page.click("#edit-save")
    expect(page.locator("#edit-error")).to_contain_text("fee.amount")
    expect(page.locator("#f-fee-amount")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-fee-amount")).to_be_focused()
    assert hashlib.sha256(guide.read_bytes()).hexdigest() == untouched
    assert_accessible(page, "编辑指南（校验错误）")

    page.fill("#f-fee-amount", NEW_FEE)
    page.fill("#f-fee-text", NEW_FEE_TEXT)
    page.fill("#edit-note", "测试：护照收费调整")
    page.click("#edit-save")
    expect(page.locator("#edit-saved")).to_contain_text("版本 2026.2", timeout=WAIT_MS)
    expect(page.locator("#t-history tbody tr").first).to_contain_text("fee.amount")
    expect(page.locator("#t-history tbody tr").first).to_contain_text("2026.1 → 2026.2")
    expect(page.locator("#kb-state")).to_contain_text("尚未生效")
    effective = page.input_value("#edit-date")
    # until the rebuild the running index keeps answering, unchanged
    assert "120元" in ask(api, "办护照要多少钱")

    rebuild_s, last = rebuild_from_page(page, status_of(page, kb_stack))

    # no restart: the action server swaps the new index in by itself (checked every 2 s)
    deadline = time.time() + 60
    answer = ""
    while time.time() < deadline:
        answer = ask(api, "办护照要多少钱")
        if NEW_FEE in answer:
            break
        time.sleep(0.25)
    to_answer_s = time.time() - float(last["finished_at"])
    assert NEW_FEE in answer, answer
    assert f"版本2026.2（{effective}起施行）" in answer, answer
    assert "120元" not in answer

    # the web chat shows it too, and hit testing reports the new index and guide version
    chat = page.context.new_page()
    chat.goto(f"{kb_stack.config.gateway_url}/")
    chat.fill("#chat-input", "办护照要多少钱")
    chat.click("#chat-send")
    expect(chat.locator(".msg.bot").last).to_contain_text(NEW_FEE, timeout=WAIT_MS)
    expect(chat.locator(".msg.bot").last).to_contain_text("2026.2")
    chat.close()
    page.click("#tab-search")
    page.click("#search-submit")
    expect(page.locator("#search-version")).to_have_text(last["kb_version"], timeout=WAIT_MS)
    assert last["kb_version"] != old_version
    expect(page.locator("#t-hits tbody tr").first).to_contain_text("2026.2")
    page.screenshot(path=str(tmp_path / "kb-search.png"), full_page=True)

    report = (
        f"rebuild after a one-field edit: {rebuild_s:.1f} s in the page "
        f"({last['seconds']} s in the runner, build {last['build_seconds']} s, "
        f"{last['embedded']} texts embedded); rebuild end → new answer in chat: {to_answer_s:.1f} s"
    )
    sys.stderr.write(f"\n{report}\n")
    (tmp_path / "timings.txt").write_text(report + "\n")


def test_agent_reply_becomes_a_searchable_faq(
    browser: Browser, admin_page: Page, api: httpx.Client, kb_stack: Stack, tmp_path: Path
) -> None:
    url = kb_stack.config.gateway_url
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    agent = context.new_page()
    agent.goto(f"{url}/agent")
    agent.fill("#login-username", AGENT[0])
    agent.fill("#login-password", AGENT[1])
    agent.click("#login-submit")
    expect(agent.locator("#ws-status")).to_have_attribute("data-state", "online", timeout=WAIT_MS)

    session = api.post("/api/chat/session").json()
    citizen = {"X-Yishi-Citizen-Token": session["token"]}
    for text in (FAQ_QUESTION, "转人工"):
        said = api.post("/api/chat", json={"sender": session["sender"], "text": text},
                        headers=citizen)  # fmt: skip
        assert said.status_code == 200, said.text
    item = agent.locator(f'#queue .queue-item[data-sender="{session["sender"]}"]')
    expect(item).to_be_visible(timeout=WAIT_MS)
    item.locator(".accept").click()
    expect(agent.locator("#reply-input")).to_be_enabled(timeout=WAIT_MS)
    agent.fill("#reply-input", FAQ_ANSWER)
    agent.click("#reply-send")
    own = agent.locator("#transcript .msg-own", has_text=FAQ_ANSWER)
    expect(own).to_be_visible(timeout=WAIT_MS)

    # 转为FAQ草稿: the citizen's question before the reply is filled in
    own.get_by_role("button", name="把这条回复转为FAQ草稿").click()
    dialog = agent.locator("#faq-dialog")
    expect(dialog).to_be_visible()
    expect(agent.locator("#faq-question")).to_have_value(FAQ_QUESTION)
    expect(agent.locator("#faq-answer")).to_have_value(FAQ_ANSWER)
    agent.click("#faq-submit")
    expect(dialog).to_be_hidden()
    expect(agent.locator("#toast")).to_contain_text("已转为FAQ草稿")
    expect(own.locator(".msg-faq")).to_be_disabled()
    context.close()

    # the admin reviews: adds a phrasing, approves, publishes, rebuilds
    page = admin_page
    page.click("#tab-drafts")
    draft = page.locator("#drafts-list .draft-item", has_text=FAQ_QUESTION)
    expect(draft).to_be_visible(timeout=WAIT_MS)
    draft.click()
    expect(page.locator("#draft-question")).to_have_value(FAQ_QUESTION)
    expect(page.locator("#draft-service")).to_be_visible()
    page.fill("#draft-phrasings", "出入境大厅停车要钱吗")
    expect(page.locator("#draft-publish")).to_be_disabled()
    page.click("#draft-approve")
    expect(page.locator("#draft-saved")).to_contain_text("已审核通过")
    expect(page.locator("#draft-publish")).to_be_enabled()
    expect(page.locator("#drafts-state")).to_have_value("approved")
    expect(page.locator("#draft-publish")).to_be_focused()
    assert_accessible(page, "FAQ草稿审核")
    page.click("#draft-publish")
    expect(page.locator("#draft-saved")).to_contain_text("已发布为常见问题")
    published = page.locator("#draft-saved").inner_text()
    faq_id = published.split("常见问题 ", 1)[1].split("。", 1)[0]
    faq_file = knowledge_dir(kb_stack) / "faq" / "from-agents.yaml"
    assert FAQ_QUESTION in faq_file.read_text(encoding="utf-8")

    rebuild_s, last = rebuild_from_page(page, status_of(page, kb_stack))
    assert_accessible(page, "重建索引")

    deadline = time.time() + 60
    ranks: list[str] = []
    while time.time() < deadline:
        found = api.post("/api/kb/search", json={"query": "出入境大厅停车收费吗", "top_k": 5})
        assert found.status_code == 200, found.text
        body = found.json()
        ranks = [hit["doc_id"] for hit in body["hits"]]
        if body["kb_version"] == last["kb_version"] and faq_id in ranks:
            break
        time.sleep(0.5)
    assert faq_id in ranks, ranks
    hit = body["hits"][ranks.index(faq_id)]
    assert hit["guide_version"] == "1" and hit["effective_date"]
    report = f"FAQ draft published and rebuilt in {rebuild_s:.1f} s; {faq_id} is hit #{ranks.index(faq_id) + 1}"
    sys.stderr.write(f"\n{report}\n")
    (tmp_path / "timings.txt").write_text(report + "\n")
