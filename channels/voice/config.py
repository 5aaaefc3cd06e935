"""Voice input settings (environment prefix `YISHI_VOICE_`, optional `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.config import ROOT


class VoiceSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="YISHI_VOICE_", env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    # "faster_whisper" (built in), or "package.module:Class" for another engine: the class is
    # built as Class(settings) and must have transcribe(audio: bytes, content_type: str)
    asr_backend: str = "faster_whisper"
    model_dir: Path = ROOT / "models" / "whisper-base"
    language: str = "zh"
    beam_size: int = Field(3, ge=1, le=10)
    compute_type: str = "int8"
    # never write Latin letters (whisper-base turns unclear Mandarin into English words)
    suppress_latin: bool = True
    # CTranslate2 threads per transcription (0 = its default: every core)
    cpu_threads: int = Field(2, ge=0)
    # transcriptions at a time; more wait their turn, at most this long (then 503: busy)
    max_concurrent: int = Field(1, ge=1)
    queue_timeout_s: float = Field(30.0, gt=0)
    # load the speech model while the gateway starts instead of on the first recording
    preload: bool = False

    # what a recording may be
    max_audio_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    max_seconds: float = Field(60.0, gt=0)
    min_seconds: float = Field(0.3, ge=0)

    # matching a transcript to services (channels/voice/matching.py), calibrated on
    # knowledge/eval/voice_questions.yaml with `python -m channels.voice.evaluate`
    top_k: int = Field(3, ge=1, le=10)
    # answer at once only when the best service scores at least this ...
    sure_score: float = Field(0.6, ge=0, le=2)
    # ... leads the second by at least this much ...
    sure_margin: float = Field(0.15, ge=0, le=2)
    # ... and the transcript has at least this share of its best phrase's characters right
    # (the bot gets the transcript as typed text); otherwise offer top_k buttons. Characters
    # are weighted by how few services use them, so the share falls as guides gain phrasings:
    # 0.4 became 0.35 when the sections went from 2-3 to 8-10 phrasings (社保卡丢了 heard as
    # 石炮卡丢的: 0.431 → 0.387); on the 48 spoken questions the sure answers stayed all right
    sure_chars: float = Field(0.35, ge=0, le=1)


@lru_cache
def get_voice_settings() -> VoiceSettings:
    return VoiceSettings()
