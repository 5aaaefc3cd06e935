"""The knowledge loop's admin API on a temporary copy of knowledge/ and a real SQLite database:
guide and FAQ edits (validated, atomic, versioned, recorded), FAQ drafts from agents' replies
through review to the FAQ file, rebuilds in a child process (a stand-in build), and who may
do what."""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from channels.agent_console import accounts as accounts_module
from channels.agent_console import routes as agent_routes
from channels.agent_console.accounts import AccountStore
from channels.config import Settings
from channels.core.store import TranscriptStore, make_engine
from channels.errors import install_error_handlers
from channels.kb import admin as kb_admin
from channels.kb.store import DraftError, check_transition
from retrieval.config import RetrievalSettings
from retrieval.knowledge import load_knowledge

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "kb-admin-test-pass"
SENDER = "web:kbtest1"


@pytest.fixture
def kb_dirs(tmp_path: Path) -> RetrievalSettings:
    shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")
    (tmp_path / "indexes").mkdir()
    return RetrievalSettings(
        knowledge_dir=tmp_path / "knowledge",
        index_root=tmp_path / "indexes",
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture
def app(
    tmp_path: Path, kb_dirs: RetrievalSettings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FastAPI]:
    monkeypatch.setenv("FAKE_BUILD_STEP_S", "0.15")
    # cheap password hashes: these tests are about the knowledge loop, not Argon2's cost
    monkeypatch.setattr(accounts_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024))
    engine = make_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    sessions = sessionmaker(engine, expire_on_commit=False)
    accounts = AccountStore(sessions)
    for username, name, number, role in (
        ("kb-admin", "李华", "9001", "admin"),
        ("kb-agent", "张敏", "1001", "agent"),
        ("kb-agent2", "王强", "1002", "agent"),
    ):
        accounts.create(username, name, number, role, PASSWORD)
    transcript = TranscriptStore(engine)
    application = FastAPI()
    application.state.settings = Settings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}")
    application.state.accounts = accounts
    application.state.handoff = SimpleNamespace(transcript=transcript)
    application.state.kb_admin = kb_admin.KnowledgeAdmin.create(
        sessions, kb_dirs, accounts, command=[sys.executable, "-m", "tests.fixtures.fake_build"]
    )
    install_error_handlers(application)
    application.include_router(agent_routes.router)
    application.include_router(kb_admin.router)
    yield application
    application.state.kb_admin.runner.stop()
    engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/agent/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.cookies.clear()  # each request says who it is; none is anonymous by accident
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    return bearer(client, "kb-admin")


@pytest.fixture
def agent(client: TestClient) -> dict[str, str]:
    return bearer(client, "kb-agent")


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fee_edit(**overrides: Any) -> dict[str, Any]:
    body = {
        "changes": [
            {"path": "fee.amount", "value": "100元"},
            {"path": "fee.text", "value": "普通护照每本100元（测试调整）。"},
        ],
        "version": "2026.2",
        "effective_date": "2026-12-01",
        "note": "测试：收费调整",
    }
    return {**body, **overrides}


# ---------------------------------------------------------------------- who may do what


def test_anonymous_gets_401_and_agents_get_403(client: TestClient, agent: dict[str, str]) -> None:
    for method, path in (
        ("GET", "/api/admin/kb/guides"),
        ("GET", "/api/admin/kb/guides/passport"),
        ("PATCH", "/api/admin/kb/guides/passport"),
        ("GET", "/api/admin/kb/drafts"),
        ("POST", "/api/admin/kb/drafts/1/transition"),
        ("POST", "/api/admin/kb/rebuild"),
        ("GET", "/api/admin/kb/rebuild"),
        ("GET", "/api/agent/faq-drafts"),
        ("POST", "/api/agent/faq-drafts"),
    ):
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"] == "not_authenticated"
    for method, path, body in (
        ("GET", "/api/admin/kb/guides/passport", None),
        ("PATCH", "/api/admin/kb/guides/passport", fee_edit()),
        ("PATCH", "/api/admin/kb/faq/x", fee_edit()),
        ("POST", "/api/admin/kb/drafts/1/transition", {"to": "approved"}),
        ("POST", "/api/admin/kb/rebuild", None),
    ):
        response = client.request(method, path, json=body, headers=agent)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"] == "forbidden"


def test_the_page_is_served(client: TestClient) -> None:
    response = client.get("/admin/kb")
    assert response.status_code == 200
    assert "知识库维护" in response.text
    assert response.headers["cache-control"] == "no-cache"


# ---------------------------------------------------------------------- guide edits


def test_a_bad_value_names_the_field_and_leaves_the_file_alone(
    client: TestClient, admin: dict[str, str], kb_dirs: RetrievalSettings
) -> None:
    guide = kb_dirs.knowledge_dir / "guides" / "passport.yaml"
    before = sha(guide)
    cases = [
        (fee_edit(changes=[{"path": "fee.amount", "value": "100"}]), "fee.amount", "元"),
        (fee_edit(version="2026.1"), "version", "高于当前版本"),
        (fee_edit(version="v2"), "version", "版本号格式"),
        (fee_edit(effective_date="2026-13-01"), "effective_date", "YYYY-MM-DD"),
        (fee_edit(changes=[{"path": "process", "value": ["只有一步"]}]), "process", "至少需要2项"),
        (fee_edit(changes=[{"path": "online.scope", "value": "随便"}]), "online.scope", "只能是"),
        (fee_edit(changes=[{"path": "fee.price", "value": "1元"}]), "fee.price", "不是这里允许"),
        (fee_edit(changes=[{"path": "location.halls", "value": ["no_such_hall"]}]),
         "location.halls.0", "办理大厅"),
        (fee_edit(changes=[{"path": "materials", "value_yaml": "- name: 照片\n"}]),
         "materials.0.issuer", "不能缺少"),
        (fee_edit(changes=[{"path": "materials", "value_yaml": "- name: [\n"}]), "materials", "YAML"),
        (fee_edit(changes=[{"path": "service_id", "value": "visa"}]), "service_id", "不能在这里修改"),
        (fee_edit(changes=[{"path": "name", "value": "护照"}]), "name", "services.csv"),
        (fee_edit(changes=[{"path": "fee.amount", "value": "120元"}]), None, "没有变化"),
    ]  # fmt: skip
    for body, field, words in cases:
        response = client.patch("/api/admin/kb/guides/passport", json=body, headers=admin)
        assert response.status_code == 422, (body, response.text)
        error = response.json()
        assert error["field"] == field, error
        assert words in error["detail"], error
        if field:
            assert f"字段 {field}" in error["detail"] or field in ("version", "effective_date")
        assert sha(guide) == before, f"{field}: the file changed"
    assert not list(kb_dirs.knowledge_dir.glob(".*.tmp"))
    assert client.get("/api/admin/kb/history", headers=admin).json()["items"] == []


def test_an_edit_is_validated_written_atomically_and_recorded(
    client: TestClient, admin: dict[str, str], kb_dirs: RetrievalSettings
) -> None:
    guide = kb_dirs.knowledge_dir / "guides" / "passport.yaml"
    original = guide.read_text(encoding="utf-8")
    loaded = client.get("/api/admin/kb/guides/passport", headers=admin).json()
    assert loaded["version"] == "2026.1"
    assert loaded["data"]["fee"]["amount"] == "120元"
    fee_section = next(s for s in loaded["sections"] if s["key"] == "fee")
    assert {f["path"]: f["kind"] for f in fee_section["fields"]} == {
        "fee.free": "bool", "fee.amount": "text", "fee.text": "text", "fee.basis": "text",
    }  # fmt: skip

    response = client.patch(
        "/api/admin/kb/guides/passport",
        json=fee_edit(base_sha=loaded["sha"]),
        headers=admin,
    )
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["version_before"] == "2026.1" and saved["version"] == "2026.2"
    assert saved["before"] == {"fee.amount": "120元", "fee.text": loaded["data"]["fee"]["text"]}
    assert saved["after"]["fee.amount"] == "100元"
    assert saved["pending_rebuild"] is True

    # only the changed lines differ; the whole knowledge base still validates
    text = guide.read_text(encoding="utf-8")
    changed = [
        (a, b) for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b
    ]
    assert changed == [
        ('version: "2026.1"', 'version: "2026.2"'),
        ("effective_date: 2026-01-01", "effective_date: 2026-12-01"),
        ("  amount: 120元", "  amount: 100元"),
        (next(line for line in original.splitlines() if line.startswith("  text: ")),
         "  text: 普通护照每本100元（测试调整）。"),
    ]  # fmt: skip
    kb = load_knowledge(kb_dirs.knowledge_dir)
    assert kb.guides["passport"].version == "2026.2"
    assert kb.guides["passport"].fee.amount == "100元"

    # an edit made on the copy loaded before this one is refused
    stale = client.patch(
        "/api/admin/kb/guides/passport",
        json=fee_edit(version="2026.3", base_sha=loaded["sha"],
                      changes=[{"path": "fee.amount", "value": "90元"}]),
        headers=admin,
    )  # fmt: skip
    assert stale.status_code == 409 and stale.json()["error"] == "stale_copy"

    # a whole section, as a single path
    fee = dict(kb.guides["passport"].fee.model_dump())
    fee["basis"] = "示例市物价局《护照收费标准》（2026年）"
    section = client.patch(
        "/api/admin/kb/guides/passport",
        json={"path": "fee", "value": fee, "version": "2026.3", "effective_date": "2026-12-05"},
        headers=admin,
    )
    assert section.status_code == 200, section.text
    assert load_knowledge(kb_dirs.knowledge_dir).guides["passport"].fee.basis.startswith("示例市")

    history = client.get("/api/admin/kb/guides/passport", headers=admin).json()["history"]
    assert [h["version"] for h in history] == ["2026.3", "2026.2"]
    assert history[1]["actor"] == "kb-admin"
    assert history[1]["before"]["fee.amount"] == "120元"
    assert history[1]["note"] == "测试：收费调整"
    audit = client.app.state.accounts.audit_log(action="kb_edit_guide")  # type: ignore[attr-defined]
    assert [a["target"] for a in audit] == ["guide:passport", "guide:passport"]
    assert audit[1]["detail"]["paths"] == ["fee.amount", "fee.text"]


def test_unknown_guides_and_paths(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/api/admin/kb/guides/nope", headers=admin).status_code == 404
    assert client.get("/api/admin/kb/guides/..%2Fservices", headers=admin).status_code == 404
    bad = client.patch(
        "/api/admin/kb/guides/passport",
        json=fee_edit(changes=[{"path": "fee..amount", "value": "1元"}]),
        headers=admin,
    )
    assert bad.status_code == 422 and bad.json()["error"] == "bad_path"
    listing = client.get("/api/admin/kb/guides", headers=admin).json()["items"]
    assert len(listing) == 40
    assert {"service_id": "passport", "version": "2026.1"}.items() <= next(
        g for g in listing if g["service_id"] == "passport"
    ).items()


# ---------------------------------------------------------------------- FAQ drafts


def seed_conversation(app: FastAPI) -> dict[str, int]:
    transcript: TranscriptStore = app.state.handoff.transcript
    ids: dict[str, int] = {}
    transcript.record_inbound(SENDER, "护照可以加急办理吗？我下周要出国", "standard")
    transcript.record_replies(
        SENDER, ["您想了解的是下面哪一项？"], "standard",
        {"kb": {"service_id": "passport", "band": "clarify"}},
    )  # fmt: skip
    transcript.record_inbound(SENDER, "转人工", "standard")
    ids["own"] = transcript.push(
        SENDER, "可以申请加急：凭出国紧急事由证明到出入境窗口申请，一般5个工作日内出证。",
        author="agent", agent="kb-agent",
    )["id"]  # fmt: skip
    ids["other"] = transcript.push(SENDER, "补充一下：加急不另收费。", author="agent",
                                   agent="kb-agent2")["id"]  # fmt: skip
    ids["citizen"] = transcript.record_inbound(SENDER, "谢谢", "standard")
    return ids


def test_a_reply_becomes_a_reviewed_published_faq(
    client: TestClient,
    app: FastAPI,
    admin: dict[str, str],
    agent: dict[str, str],
    kb_dirs: RetrievalSettings,
) -> None:
    ids = seed_conversation(app)
    promote = "/api/agent/faq-drafts"
    other = client.post(promote, json={"sender": SENDER, "message_id": ids["other"]}, headers=agent)
    assert other.status_code == 403 and other.json()["error"] == "not_your_reply"
    citizen = client.post(promote, json={"sender": SENDER, "message_id": ids["citizen"]},
                          headers=agent)  # fmt: skip
    assert citizen.status_code == 422
    missing = client.post(promote, json={"sender": SENDER, "message_id": 99999}, headers=agent)
    assert missing.status_code == 404

    created = client.post(promote, json={"sender": SENDER, "message_id": ids["own"]}, headers=agent)
    assert created.status_code == 201, created.text
    draft = created.json()
    # the citizen's question before the reply (not 转人工), the reply, the service last answered
    assert draft["question"] == "护照可以加急办理吗？我下周要出国"
    assert draft["answer"].startswith("可以申请加急")
    assert draft["service_id"] == "passport"
    assert draft["state"] == "draft" and draft["created_by"] == "kb-agent"
    again = client.post(promote, json={"sender": SENDER, "message_id": ids["own"]}, headers=agent)
    assert again.status_code == 409 and again.json()["error"] == "already_drafted"
    mine = client.get(promote, headers=agent).json()["items"]
    assert [d["id"] for d in mine] == [draft["id"]]

    base = f"/api/admin/kb/drafts/{draft['id']}"
    assert [d["id"] for d in client.get("/api/admin/kb/drafts?state=draft",
                                        headers=admin).json()["items"]] == [draft["id"]]  # fmt: skip
    early = client.post(f"{base}/transition", json={"to": "published"}, headers=admin)
    assert early.status_code == 409 and early.json()["error"] == "not_approved"
    no_reason = client.post(f"{base}/transition", json={"to": "rejected"}, headers=admin)
    assert no_reason.status_code == 422
    short = client.patch(base, json={"answer": "可以"}, headers=admin)
    assert short.status_code == 422 and short.json()["field"] == "answer"

    edited = client.patch(
        base, json={"question": "护照可以加急办理吗", "phrasings": ["护照加急怎么办", " "]},
        headers=admin,
    )  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["phrasings"] == ["护照加急怎么办"]
    approved = client.post(f"{base}/transition", json={"to": "approved", "note": "内容准确"},
                           headers=admin).json()  # fmt: skip
    assert approved["state"] == "approved" and approved["reviewed_by"] == "kb-admin"
    # editing an approved draft sends it back for approval
    back = client.patch(base, json={"department": "示例市公安局出入境管理支队"}, headers=admin)
    assert back.json()["state"] == "draft"
    client.post(f"{base}/transition", json={"to": "approved"}, headers=admin)

    published = client.post(f"{base}/transition", json={"to": "published"}, headers=admin)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["state"] == "published" and body["faq_id"] == f"agent-{draft['id']}"
    assert body["pending_rebuild"] is True
    assert [h["action"] for h in body["history"]] == [
        "create", "edit", "approved", "edit", "approved", "published",
    ]  # fmt: skip

    faq = yaml.safe_load((kb_dirs.knowledge_dir / "faq" / "from-agents.yaml").read_text())
    (entry,) = faq["entries"]
    assert entry["id"] == body["faq_id"]
    assert entry["question"] == "护照可以加急办理吗"
    assert entry["phrasings"] == ["护照加急怎么办"]
    assert entry["service_id"] == "passport" and entry["version"] == "1"
    assert load_knowledge(kb_dirs.knowledge_dir).faq[0].id == body["faq_id"]

    # closed drafts stay closed
    for to in ("approved", "rejected", "published"):
        closed = client.post(f"{base}/transition", json={"to": to, "note": "再试"}, headers=admin)
        assert closed.status_code == 409, to
    assert client.patch(base, json={"question": "新的问题文字"}, headers=admin).status_code == 409

    # the published entry is now editable like any FAQ entry, with a version bump
    path = f"/api/admin/kb/faq/{body['faq_id']}"
    assert client.get(path, headers=admin).json()["version"] == "1"
    same = client.patch(path, json={"path": "answer", "value": "可以加急。",
                                    "version": "1", "effective_date": "2026-12-02"},
                        headers=admin)  # fmt: skip
    assert same.status_code == 422 and same.json()["field"] == "version"
    too_short = client.patch(path, json={"path": "answer", "value": "可以",
                                         "version": "2", "effective_date": "2026-12-02"},
                             headers=admin)  # fmt: skip
    assert too_short.status_code == 422 and too_short.json()["field"] == "answer"
    bad_service = client.patch(path, json={"path": "service_id", "value": "visa_free",
                                           "version": "2", "effective_date": "2026-12-02"},
                               headers=admin)  # fmt: skip
    assert bad_service.status_code == 422 and bad_service.json()["field"] == "service_id"
    ok = client.patch(path, json={"path": "answer", "value": "可以申请加急，一般5个工作日出证。",
                                  "version": "2", "effective_date": "2026-12-02"},
                      headers=admin)  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert load_knowledge(kb_dirs.knowledge_dir).faq[0].version == "2"

    # a second draft, rejected with a reason
    ids2 = seed_conversation(app)
    second = client.post(promote, json={"sender": SENDER, "message_id": ids2["own"]},
                         headers=agent).json()  # fmt: skip
    rejected = client.post(f"/api/admin/kb/drafts/{second['id']}/transition",
                           json={"to": "rejected", "note": "与已发布条目重复"}, headers=admin)  # fmt: skip
    assert rejected.json()["state"] == "rejected"
    assert rejected.json()["review_note"] == "与已发布条目重复"
    actions = {a["action"] for a in client.app.state.accounts.audit_log()}  # type: ignore[attr-defined]
    assert {"faq_draft_create", "faq_draft_approved", "faq_draft_published",
            "faq_draft_rejected", "kb_publish_faq", "kb_edit_faq"} <= actions  # fmt: skip


def test_the_draft_state_machine() -> None:
    allowed = {
        ("draft", "approved"), ("draft", "rejected"), ("approved", "published"),
        ("approved", "rejected"), ("approved", "draft"),
    }  # fmt: skip
    states = ("draft", "approved", "rejected", "published")
    for start in states:
        for to in states:
            if (start, to) in allowed:
                check_transition(start, to)
            else:
                with pytest.raises(DraftError):
                    check_transition(start, to)


# ---------------------------------------------------------------------- rebuild


def wait_idle(client: TestClient, headers: dict[str, str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get("/api/admin/kb/rebuild", headers=headers).json()
        if status["state"] == "idle":
            return status
        time.sleep(0.1)
    raise AssertionError("rebuild did not finish")


def test_one_rebuild_at_a_time_with_progress_and_a_result(
    client: TestClient, admin: dict[str, str], kb_dirs: RetrievalSettings
) -> None:
    idle = client.get("/api/admin/kb/rebuild", headers=admin).json()
    assert idle["state"] == "idle" and idle["last"] is None and idle["pending_changes"] is True

    started = client.post("/api/admin/kb/rebuild", headers=admin)
    assert started.status_code == 202, started.text
    assert started.json()["state"] == "running"
    assert client.post("/api/admin/kb/rebuild", headers=admin).status_code == 409
    # no edits while the build reads knowledge/
    busy = client.patch("/api/admin/kb/guides/passport", json=fee_edit(), headers=admin)
    assert busy.status_code == 409 and busy.json()["error"] == "rebuild_running"

    seen: list[float] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get("/api/admin/kb/rebuild", headers=admin).json()
        if status["state"] != "running":
            break
        if status["progress"]:
            seen.append(status["progress"]["percent"])
        time.sleep(0.05)
    assert seen and seen == sorted(seen), seen
    assert any(0 < p < 100 for p in seen), seen
    status = wait_idle(client, admin)
    last = status["last"]
    assert last["ok"] is True and last["started_by"] == "kb-admin"
    assert last["kb_version"].startswith("fake-") and status["kb_version"] == last["kb_version"]
    assert last["seconds"] > 0
    audit = client.app.state.accounts.audit_log()  # type: ignore[attr-defined]
    assert {"kb_rebuild", "kb_rebuild_done"} <= {a["action"] for a in audit}
    # edits are accepted again
    assert client.patch("/api/admin/kb/guides/passport", json=fee_edit(),
                        headers=admin).status_code == 200  # fmt: skip


def test_a_failed_rebuild_reports_why(
    client: TestClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_BUILD_FAIL", "1")
    assert client.post("/api/admin/kb/rebuild", headers=admin).status_code == 202
    last = wait_idle(client, admin)["last"]
    assert last["ok"] is False
    assert last["error"] == "knowledge_invalid"
    assert "fee.amount" in last["error_detail"]
    assert last["exit_code"] == 1
