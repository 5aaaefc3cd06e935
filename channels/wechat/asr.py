"""Where speech recognition plugs in for voice messages WeChat did not transcribe.

WeChat fills `<Recognition>` when the Official Account has 语音识别 switched on; when it is
empty the channel downloads the audio (AMR or Speex) and asks a `SpeechRecognizer`. Our own ASR
(channels/voice, whisper-base) is `VoiceServiceRecognizer`; `NoSpeechRecognizer` stands in where
no speech model is installed: the audio is not downloaded and the citizen is asked politely to
type instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from channels.errors import YishiError

if TYPE_CHECKING:
    from channels.voice.service import VoiceService

logger = logging.getLogger(__name__)


class SpeechRecognizer(Protocol):
    available: bool

    async def transcribe(self, audio: bytes, content_type: str, fmt: str) -> str | None:
        """The words said in `audio` (WeChat's `Format`: amr, speex…), or None."""


class NoSpeechRecognizer:
    available = False

    async def transcribe(self, audio: bytes, content_type: str, fmt: str) -> str | None:
        return None


# WeChat's `Format` of a voice message → the content type our decoder expects
_FORMATS = {"amr": "audio/amr", "speex": "audio/speex", "mp3": "audio/mpeg", "silk": ""}


class VoiceServiceRecognizer:
    """Our own speech model (channels/voice, whisper-base) for voice messages WeChat sent
    without `<Recognition>`. Unclear or unsupported audio gives None: the citizen is asked to
    type instead."""

    available = True

    def __init__(self, voice: VoiceService) -> None:
        self.voice = voice

    async def transcribe(self, audio: bytes, content_type: str, fmt: str) -> str | None:
        kind = _FORMATS.get(fmt.lower(), "") or content_type
        try:
            transcript, _ = await self.voice.transcribe(audio, kind)
        except YishiError as exc:  # undecodable, too long, busy, model missing
            logger.warning("wechat voice not recognised: %s", exc.error)
            return None
        return transcript.text or None
