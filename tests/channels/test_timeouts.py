"""Every call that leaves the gateway or the action server is bounded in time: Rasa and the
action server's health (one httpx client), WeChat's API, the action server's calls to the
gateway, and a recording's wait for the speech recogniser."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from actions.forms import gateway
from channels.config import Settings
from channels.errors import YishiError
from channels.main import create_app
from channels.voice.asr import Transcript
from channels.voice.config import VoiceSettings
from channels.voice.service import VoiceService
from ops.stack import free_port


def _bounded(timeout: httpx.Timeout) -> None:
    for part in ("connect", "read", "write", "pool"):
        assert getattr(timeout, part) is not None, part


def test_gateway_http_clients_have_timeouts(tmp_path: Path) -> None:
    closed = free_port()
    settings = Settings(
        rasa_url=f"http://127.0.0.1:{closed}",
        action_url=f"http://127.0.0.1:{closed}",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        rasa_timeout_s=7,
        rasa_connect_timeout_s=1.5,
    )
    app = create_app(settings)
    with TestClient(app):
        rasa_http: httpx.AsyncClient = app.state.rasa._http
        _bounded(rasa_http.timeout)
        assert rasa_http.timeout.read == 7 and rasa_http.timeout.connect == 1.5
        wechat_http = app.state.wechat._http
        assert wechat_http is not None
        _bounded(wechat_http.timeout)
        assert wechat_http.timeout.read == app.state.wechat.settings.api_timeout_s


def test_action_server_calls_to_the_gateway_have_a_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _bounded(gateway._timeout())
    assert gateway._timeout().read == 8.0
    monkeypatch.setenv("YISHI_GATEWAY_TIMEOUT_S", "3")
    assert gateway._timeout().read == 3.0 and gateway._timeout().connect == 2.0


class _NeverCalled:
    def transcribe(self, audio: bytes, content_type: str) -> Transcript:
        raise AssertionError("recognition must not start")


def test_a_recording_waits_for_the_recogniser_at_most_queue_timeout() -> None:
    settings = VoiceSettings(max_concurrent=1, queue_timeout_s=0.05)
    service = VoiceService(settings, backend=_NeverCalled())

    async def scenario() -> None:
        await service._slots.acquire()  # another recording holds the only slot
        with pytest.raises(YishiError) as refused:
            await service.transcribe(b"RIFF", "audio/wav")
        assert refused.value.error == "asr_busy" and refused.value.status_code == 503
        assert "繁忙" in refused.value.detail

    asyncio.run(scenario())
