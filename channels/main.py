"""The gateway app: `uvicorn channels.main:create_app --factory`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import sessionmaker

from channels import api
from channels.admin import routes as admin_routes
from channels.agent_console import routes as agent_routes
from channels.agent_console.accounts import AccountStore
from channels.applications import routes as application_routes
from channels.applications.store import ApplicationStore
from channels.config import Settings, get_settings
from channels.core.chat import ChatService
from channels.core.conversations import ConversationStore
from channels.core.handoff import HandoffService, SenderLocks, ServiceHours
from channels.core.health import HealthChecker
from channels.core.hub import AgentHub
from channels.core.rasa_client import RasaClient
from channels.core.redis_hub import RedisAgentHub
from channels.core.store import TranscriptStore, make_engine
from channels.errors import install_error_handlers
from channels.feedback import routes as feedback_routes
from channels.feedback.store import FeedbackStore
from channels.kb import admin as kb_admin_routes
from channels.kb import routes as kb_routes
from channels.kb.insights import AskedNext
from channels.kb.insights import router as insights_router
from channels.metrics import GatewayMetrics, MetricsMiddleware
from channels.metrics import router as metrics_router
from channels.middleware import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from channels.privacy import routes as privacy_routes
from channels.privacy.crypto import cipher_from_settings
from channels.privacy.vault import PiiVault
from channels.ratelimit import ClientRateLimitMiddleware, RateLimiter
from channels.tickets import routes as ticket_routes
from channels.tickets.store import TicketStore
from channels.voice import routes as voice_routes
from channels.voice.config import get_voice_settings
from channels.voice.service import VoiceService
from channels.web import routes as web_routes
from channels.wechat import routes as wechat_routes
from channels.wechat import simulator as wechat_simulator
from channels.wechat.asr import VoiceServiceRecognizer
from channels.wechat.config import get_wechat_settings
from channels.wechat.service import WechatChannel
from retrieval.config import get_retrieval_settings
from retrieval.searcher import SearcherHandle
from yishi.logging import setup_logging


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    voice_settings = get_voice_settings()
    setup_logging(settings.log_level, settings.json_logs)
    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.rasa_timeout_s, connect=settings.rasa_connect_timeout_s)
        http = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=100), trust_env=False
        )
        engine = make_engine(settings.database_url)
        sessions = sessionmaker(engine, expire_on_commit=False)
        # personal data at rest is encrypted with the data keys (docs/privacy.md)
        cipher = cipher_from_settings(settings)
        app.state.vault = PiiVault(sessions, cipher)
        rasa = RasaClient(http, settings.rasa_url, settings.rasa_token.get_secret_value())
        transcript = TranscriptStore(engine)
        app.state.rasa = rasa
        app.state.limiter = RateLimiter(settings, metrics)
        app.state.accounts = AccountStore(
            sessions,
            session_ttl_s=settings.staff_session_ttl_s,
            idle_timeout_s=settings.staff_idle_timeout_s,
            max_failures=settings.login_max_failures,
            failure_window_s=settings.login_failure_window_s,
        )
        app.state.tickets = TicketStore(sessions, cipher=cipher)
        app.state.tickets.router  # noqa: B018 - a broken knowledge/tickets.yaml fails at startup
        app.state.feedback = FeedbackStore(sessions)
        hub = RedisAgentHub(settings.redis_url) if settings.redis_url else AgentHub()
        if isinstance(hub, RedisAgentHub):
            await hub.start()
        app.state.handoff = HandoffService(
            ConversationStore(sessions),
            transcript,
            hub,
            app.state.accounts,
            app.state.tickets,
            app.state.feedback,
            ServiceHours.parse(
                settings.handoff_hours, settings.handoff_weekdays, settings.timezone
            ),
            settings.handoff_default_handle_s,
            SenderLocks(),
        )
        app.state.chat = ChatService(
            rasa, transcript, settings.max_text_chars, app.state.handoff, metrics
        )
        app.state.wechat = WechatChannel.create(get_wechat_settings(), engine, app.state.chat)
        app.state.handoff.deliverers.update(app.state.wechat.deliverers())
        app.state.applications = ApplicationStore(
            sessions, settings.appointment_slot_capacity, cipher=cipher
        )
        app.state.asked_next = AskedNext(sessions)
        app.state.health = HealthChecker(rasa, http, settings.action_url, settings.health_timeout_s)
        # loaded on first use: the gateway starts without the embedding model in memory
        app.state.kb = SearcherHandle()
        # knowledge edits, FAQ drafts and index rebuilds (child process) from /admin/kb
        app.state.kb_admin = kb_admin_routes.KnowledgeAdmin.create(
            sessions, get_retrieval_settings(), app.state.accounts
        )
        # speech model loaded on the first recording (or in the background: YISHI_VOICE_PRELOAD)
        app.state.voice = VoiceService.start(voice_settings)
        # WeChat voice messages without <Recognition> go through the same speech model
        if voice_settings.model_dir.is_dir() or voice_settings.asr_backend != "faster_whisper":
            app.state.wechat.asr = VoiceServiceRecognizer(app.state.voice)
        try:
            yield
        finally:
            app.state.kb_admin.runner.stop()
            if isinstance(hub, RedisAgentHub):
                await hub.stop()
            await app.state.wechat.aclose()
            await http.aclose()
            engine.dispose()

    app = FastAPI(
        title="一事通 Yishi gateway",
        description="政务服务智能助手网关：网页聊天、长辈版、微信公众号与人工坐席共用的对话接口。",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    install_error_handlers(app)
    # the last added runs first: metrics see every answer, security headers go on every
    # answer (413 and 429 too), limits come before any body is read
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits={
            voice_routes.VOICE_PATH: voice_settings.max_audio_bytes
            + voice_routes.MULTIPART_OVERHEAD
        },
    )
    app.add_middleware(ClientRateLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(api.router)
    app.include_router(kb_routes.router)
    app.include_router(kb_admin_routes.router)
    app.include_router(insights_router)
    app.include_router(application_routes.router)
    app.include_router(privacy_routes.router)
    app.include_router(agent_routes.router)
    app.include_router(admin_routes.router)
    app.include_router(ticket_routes.router)
    app.include_router(feedback_routes.router)
    app.include_router(web_routes.router)
    app.include_router(wechat_routes.router)
    app.include_router(wechat_simulator.router)
    app.include_router(voice_routes.router)
    app.include_router(metrics_router)
    app.mount("/static", StaticFiles(directory=web_routes.STATIC_DIR), name="static")
    app.mount("/agent-static", StaticFiles(directory=agent_routes.STATIC_DIR), name="agent-static")
    app.mount("/admin-static", StaticFiles(directory=admin_routes.STATIC_DIR), name="admin-static")
    return app
