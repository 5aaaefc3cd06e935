"""The chat API's request and response bodies (shared/spec/README.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# "<channel>:<user id>", e.g. web:3f2a9c..., wechat:oAbC..., elder:...
SENDER_PATTERN = r"^[a-z][a-z0-9_]{0,15}:[A-Za-z0-9_.@=\-]{1,128}$"

Mode = Literal["standard", "elder"]
State = Literal["bot", "queued", "agent", "closed"]
Band = Literal["answer", "clarify", "none"]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sender: str = Field(pattern=SENDER_PATTERN, examples=["web:3f2a9c7e"])
    text: str = Field(examples=["身份证丢了怎么补办"])
    mode: Mode = "standard"


class Button(BaseModel):
    title: str
    payload: str


class Source(BaseModel):
    service_id: str | None = None
    aspect: str | None = None
    guide_version: str | None = None
    title: str | None = None


class Reply(BaseModel):
    text: str
    buttons: list[Button] = Field(default_factory=list)
    source: Source | None = None


class IntentTrace(BaseModel):
    name: str | None = None
    confidence: float = 0.0


class KbTrace(BaseModel):
    service_id: str | None = None
    aspect: str | None = None
    doc_id: str | None = None
    score: float = 0.0
    band: Band = "none"


class Trace(BaseModel):
    intent: IntentTrace = Field(default_factory=IntentTrace)
    kb: KbTrace | None = None
    form: str | None = None
    handoff: bool = False
    emergency: bool = False


class QueueInfo(BaseModel):
    position: int = Field(description="1 = next to be served")
    wait_minutes: int


class AgentInfo(BaseModel):
    display_name: str
    employee_no: str


class ChatResponse(BaseModel):
    sender: str
    state: State = "bot"
    replies: list[Reply]
    trace: Trace
    queue: QueueInfo | None = None
    agent: AgentInfo | None = None


class SessionResponse(BaseModel):
    sender: str
    token: str


class PushedMessage(BaseModel):
    id: int
    author: str
    text: str
    buttons: list[Button] = Field(default_factory=list)
    at: str | None = None
    agent_name: str | None = None


class UpdatesResponse(BaseModel):
    sender: str
    state: State
    queue: QueueInfo | None = None
    agent: AgentInfo | None = None
    messages: list[PushedMessage]


class ErrorBody(BaseModel):
    error: str = Field(examples=["text_empty"])
    detail: str = Field(examples=["消息内容不能为空。"])
