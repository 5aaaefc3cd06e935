"""Where speech recognition plugs in for voice messages WeChat did not transcribe.

WeChat fills `<Recognition>` when the Official Account has 语音识别 switched on; when it is
empty the channel downloads the audio (AMR or Speex) and asks a `SpeechRecognizer`. Our own ASR
arrives with the elder/voice issue (#7): until then `NoSpeechRecognizer` is used, the audio is
not downloaded, and the citizen is asked politely to type instead.
"""

from __future__ import annotations

from typing import Protocol


class SpeechRecognizer(Protocol):
    available: bool

    async def transcribe(self, audio: bytes, content_type: str, fmt: str) -> str | None:
        """The words said in `audio` (WeChat's `Format`: amr, speex…), or None."""


class NoSpeechRecognizer:
    available = False

    async def transcribe(self, audio: bytes, content_type: str, fmt: str) -> str | None:
        return None
