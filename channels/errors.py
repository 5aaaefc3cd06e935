"""One error type for the gateway and the handlers that render every error as JSON.

Every error body is `{"error": <machine code>, "detail": <a sentence>}`. `detail` is Chinese,
because the web page shows it to the citizen as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

BOT_UNAVAILABLE_DETAIL = (
    "抱歉，智能助手暂时无法回复，请稍后再试。急事请拨打12345政务服务便民热线；"
    "遇到紧急情况请立即拨打110（报警）、119（火警）、120（急救）。"
)


class YishiError(Exception):
    """An error the gateway answers with a status code and a JSON body."""

    def __init__(
        self,
        error: str,
        detail: str,
        status_code: int = 400,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail
        self.status_code = status_code
        self.headers = headers


class BotUnavailableError(YishiError):
    def __init__(self, reason: str) -> None:
        super().__init__("bot_unavailable", BOT_UNAVAILABLE_DETAIL, 503)
        self.reason = reason


def error_response(
    error: str, detail: str, status_code: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "detail": detail}, status_code=status_code, headers=headers
    )


def _noted(request: Request, error: str) -> str:
    """Note the error code for the metrics middleware (channels/metrics.py)."""
    request.state.yishi_error = error
    return error


_HTTP_DETAILS = {
    400: ("invalid_body", "请求体无法解析，请发送 UTF-8 编码的 JSON。"),
    404: ("not_found", "请求的地址不存在。"),
    405: ("method_not_allowed", "不支持该请求方法。"),
    413: ("body_too_large", "请求内容过大。"),
}


def _validation_detail(exc: RequestValidationError) -> tuple[str, str]:
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "invalid_json", "请求体不是有效的 JSON。"
        if err.get("type") == "model_attributes_type" or err.get("loc") == ("body",):
            return "invalid_body", "请求体必须是 JSON 对象。"
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    message = first.get("msg", "invalid")
    return "validation_error", f"字段 {field} 不合法：{message}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(YishiError)
    async def _yishi_error(request: Request, exc: YishiError) -> JSONResponse:
        return error_response(_noted(request, exc.error), exc.detail, exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        error, detail = _validation_detail(exc)
        return error_response(_noted(request, error), detail, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error, detail = _HTTP_DETAILS.get(exc.status_code, ("http_error", str(exc.detail)))
        return error_response(_noted(request, error), detail, exc.status_code, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response("internal_error", "系统繁忙，请稍后再试。", 500)
