"""POST /api/voice: a recording in, its transcript, the services it likely means, and the chat
answer when the service is clear.

Multipart fields: `audio` (the file: webm/opus from MediaRecorder, amr from WeChat, ogg, wav,
mp3, m4a), `sender` (as for /api/chat) and optional `mode`. The answer is

    {"transcript": "...", "candidates": [{"service_id", "title", "payload", "score"}],
     "chat": <the /api/chat answer for the transcript> | null, "confident": bool, ...}

`chat` is null while the citizen should confirm: the page shows the candidates as big buttons,
and a button sends its `payload` to /api/chat as typed text.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from channels.api import CitizenToken
from channels.core.chat import check_citizen_token
from channels.core.schemas import SENDER_PATTERN, ChatRequest, ChatResponse, ErrorBody
from channels.deps import ChatServiceDep, LimiterDep, SettingsDep
from channels.errors import YishiError
from channels.voice.service import VoiceService

logger = logging.getLogger(__name__)
router = APIRouter()
VOICE_PATH = "/api/voice"
# room for the multipart framing and the text fields around the recording
MULTIPART_OVERHEAD = 64 * 1024


class VoiceCandidate(BaseModel):
    service_id: str
    title: str = Field(examples=["居民身份证遗失补领"])
    payload: str = Field(description="the text a button sends to /api/chat")
    score: float


class VoiceResponse(BaseModel):
    transcript: str = Field(examples=["身份证丢了怎么办"])
    candidates: list[VoiceCandidate]
    chat: ChatResponse | None = Field(
        description="the chat answer for the transcript; null while the citizen should pick"
    )
    confident: bool
    duration_s: float = Field(description="length of the recording")
    asr_s: float = Field(description="seconds speech recognition took")


def get_voice(request: Request) -> VoiceService:
    voice: VoiceService = request.app.state.voice
    return voice


VoiceDep = Annotated[VoiceService, Depends(get_voice)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (403, 413, 415, 422, 429, 503)
}


@router.post(VOICE_PATH, response_model=VoiceResponse, responses=_ERRORS, tags=["voice"])
async def voice_turn(
    voice: VoiceDep,
    chat: ChatServiceDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    audio: Annotated[UploadFile | None, File(description="the recording")] = None,
    sender: Annotated[str | None, Form(examples=["web:3f2a9c7e"])] = None,
    mode: Annotated[str | None, Form(description="standard | elder")] = None,
    token: CitizenToken = None,
) -> VoiceResponse:
    """Speech in: the transcript, the top-3 services it likely means, and the chat answer when
    one service is clearly meant (otherwise `chat` is null and the candidates are buttons)."""
    if not sender or not re.fullmatch(SENDER_PATTERN, sender):
        raise YishiError("bad_sender", "会话编号格式不正确。", 422)
    if mode not in (None, "", "standard", "elder"):
        raise YishiError("bad_mode", "mode 只能是 standard 或 elder。", 422)
    if token is not None and not check_citizen_token(
        settings.citizen_secret.get_secret_value(), sender, token
    ):
        raise YishiError("forbidden", "会话凭证无效，请刷新页面后重试。", 403)
    await limiter.check("voice", sender)  # before recognition: each recording costs CPU
    if audio is None or isinstance(audio, str):
        raise YishiError("audio_missing", "没有收到录音，请按住按钮说话后再松开。", 422)
    limit = voice.settings.max_audio_bytes
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise YishiError(
            "audio_too_large",
            f"录音文件太大（上限 {limit // (1024 * 1024)} MB），请说短一些。",
            413,
        )
    content_type = audio.content_type or ""
    transcript, asr_s = await voice.transcribe(data, content_type)
    text = transcript.text.strip()
    if not text:
        raise YishiError(
            "speech_unclear", "没有听清您说的话，请靠近话筒再说一遍，或直接输入文字。", 422
        )
    result = await voice.match(text)
    answer = None
    if result.sure:
        request = ChatRequest(
            sender=sender, text=text[: settings.max_text_chars], mode=mode or "standard"
        )
        answer = await chat.handle(request)
    logger.info(
        "voice sender=%s seconds=%.1f asr=%.2fs sure=%s top=%s",
        sender,
        transcript.duration_s,
        asr_s,
        result.sure,
        [c.service_id for c in result.candidates],
    )
    return VoiceResponse(
        transcript=text,
        candidates=[
            VoiceCandidate(
                service_id=c.service_id, title=c.title, payload=c.payload, score=round(c.score, 3)
            )
            for c in result.candidates
        ],
        chat=answer,
        confident=result.sure,
        duration_s=transcript.duration_s,
        asr_s=round(asr_s, 2),
    )
