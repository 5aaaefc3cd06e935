"""The voice handle the gateway keeps in `app.state.voice`: the ASR engine, one recording at a
time on the CPU, and the service matcher (built from knowledge/ on first use)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from starlette.concurrency import run_in_threadpool

from channels.errors import YishiError
from channels.voice.asr import (
    AsrBackend,
    SamplesBackend,
    Transcript,
    check_content_type,
    decode_audio,
    make_backend,
)
from channels.voice.config import VoiceSettings
from channels.voice.matching import MatchResult, ServiceMatcher

logger = logging.getLogger(__name__)


def build_matcher(settings: VoiceSettings) -> ServiceMatcher:
    return ServiceMatcher.from_knowledge(
        top_k=settings.top_k,
        sure_score=settings.sure_score,
        sure_margin=settings.sure_margin,
        sure_chars=settings.sure_chars,
    )


class VoiceService:
    def __init__(
        self,
        settings: VoiceSettings,
        backend: AsrBackend | None = None,
        matcher: ServiceMatcher | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend or make_backend(settings)
        self._matcher = matcher
        self._matcher_lock = threading.Lock()
        self._slots = asyncio.Semaphore(settings.max_concurrent)

    @classmethod
    def start(cls, settings: VoiceSettings) -> VoiceService:
        """The gateway's handle; with `preload` the model loads in a background thread."""
        service = cls(settings)
        if settings.preload:
            threading.Thread(target=service.warm_up, name="voice-warm-up", daemon=True).start()
        return service

    def matcher(self) -> ServiceMatcher:
        if self._matcher is None:
            with self._matcher_lock:
                if self._matcher is None:
                    started = time.monotonic()
                    self._matcher = build_matcher(self.settings)
                    logger.info(
                        "voice matcher: %d phrases in %.1f s",
                        len(self._matcher.phrases),
                        time.monotonic() - started,
                    )
        return self._matcher

    def warm_up(self) -> None:
        """Build the matcher and load the speech model now (a background thread at startup)."""
        try:
            self.matcher()
            model = getattr(self.backend, "model", None)
            if callable(model):
                model()
        except Exception:  # noqa: BLE001 - the first recording reports the problem to the citizen
            logger.exception("voice warm-up failed")

    def transcribe_now(self, audio: bytes, content_type: str) -> Transcript:
        """Decode (with the limits) and recognise, in this thread."""
        s = self.settings
        # every engine gets the same limits: decode here, once
        samples = decode_audio(audio, content_type, s.max_seconds, s.min_seconds)
        try:
            if isinstance(self.backend, SamplesBackend):
                return self.backend.transcribe_samples(samples)
            return self.backend.transcribe(audio, content_type)
        except YishiError:
            raise
        except Exception as exc:  # an engine's own failure: the citizen can still type
            logger.exception("speech recognition failed (%s)", type(self.backend).__name__)
            raise YishiError(
                "asr_failed", "语音识别出错了，请再说一遍，或直接输入文字提问。", 503
            ) from exc

    async def transcribe(self, audio: bytes, content_type: str) -> tuple[Transcript, float]:
        """The transcript and the seconds recognition took (waiting for a slot excluded).

        A recording waits at most `queue_timeout_s` for its turn; recognition itself is bounded
        by the recording's length (`max_seconds`)."""
        check_content_type(content_type)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.settings.queue_timeout_s)
        except TimeoutError as exc:
            logger.warning(
                "speech recognition busy: no slot in %.0f s", self.settings.queue_timeout_s
            )
            raise YishiError(
                "asr_busy", "语音识别繁忙，请稍后再说一遍，或直接输入文字提问。", 503
            ) from exc
        try:
            started = time.monotonic()
            transcript = await run_in_threadpool(self.transcribe_now, audio, content_type)
            return transcript, time.monotonic() - started
        finally:
            self._slots.release()

    async def match(self, text: str) -> MatchResult:
        return await run_in_threadpool(lambda: self.matcher().match(text))
