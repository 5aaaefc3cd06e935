"""Logging configured once per process, with personal data masked in every record.

`YISHI_LOG_FORMAT=text` writes one readable line per record; `json` one JSON object per line
(python-json-logger) with `ts`, `level`, `logger`, `message`, `conversation_id` when the record
belongs to a conversation, and `exc_info` for errors. Every string that reaches a handler has
gone through `mask_pii` (身份证号, 手机号, 银行卡号), the conversation id included.

The conversation id comes from `log_context(sender)` (a context variable, so it follows the
turn into tasks and threads it starts) or from `extra={"conversation_id": ...}`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from yishi.privacy import mask_pii

_conversation: ContextVar[str | None] = ContextVar("yishi_conversation_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextmanager
def log_context(conversation_id: str | None) -> Iterator[None]:
    """Records logged inside carry `conversation_id` (masked when written)."""
    token = _conversation.set(conversation_id)
    try:
        yield
    finally:
        _conversation.reset(token)


def current_conversation() -> str | None:
    return _conversation.get()


class MaskingFilter(logging.Filter):
    """Renders the record's message once, masked, so no handler sees raw personal data; adds
    the conversation id of the current context."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_pii(record.getMessage())
        record.args = None
        conversation_id = getattr(record, "conversation_id", None) or _conversation.get()
        if conversation_id:
            record.conversation_id = mask_pii(str(conversation_id))
        return True


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line; every string field masked."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's name
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)  # uvicorn's coloured copy of the message
        if not log_data.get("conversation_id"):
            conversation_id = _conversation.get()
            if conversation_id:
                log_data["conversation_id"] = conversation_id
            else:
                log_data.pop("conversation_id", None)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        masked: dict[str, Any] = _masked(log_data)
        return masked


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    """Configure the root logger: one stream handler with the masking filter, text or JSON."""
    handler = logging.StreamHandler()
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own loggers propagate to root so their lines are masked too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # httpx logs every request's URL at INFO, query string (Rasa's ?token=) included
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
