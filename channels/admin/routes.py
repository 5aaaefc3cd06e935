"""The operations dashboard: the page (`GET /admin`) and its data (admin role).

    GET /admin                                        the page (anyone; it asks to log in)
    GET /api/admin/dashboard?from=YYYY-MM-DD&to=…     every section as JSON (admin)
    GET /api/admin/dashboard/export.csv?section=…     one section as CSV, UTF-8 with BOM (admin)

Dates are inclusive local dates (Asia/Shanghai); both default to the last 7 days. What each
number means is in channels/admin/analytics.py.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from channels.admin import analytics
from channels.agent_console.auth import AdminDep
from channels.errors import YishiError

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter(tags=["admin dashboard"])

FromQuery = Annotated[
    str | None, Query(alias="from", max_length=32, description="first day, YYYY-MM-DD")
]
ToQuery = Annotated[str | None, Query(max_length=32, description="last day, YYYY-MM-DD")]


def _sessions(request: Request) -> sessionmaker[Session]:
    """The gateway's sessionmaker (app.state.sessions, else the one the stores share)."""
    sessions: sessionmaker[Session] | None = getattr(request.app.state, "sessions", None)
    if sessions is None:
        sessions = request.app.state.accounts._sessions
    assert sessions is not None
    return sessions


class QuestionEmbedder:
    """e5 query embeddings from the gateway's knowledge handle (its cluster encoder: the
    untuned model the threshold was measured on); when the model cannot be loaded, character
    n-grams (and their own threshold) so the dashboard still groups."""

    def __init__(self, request: Request) -> None:
        self._handle = getattr(request.app.state, "kb", None)
        self.method = "e5"

    def current_threshold(self) -> float:
        """The threshold of the method used so far (asked after the texts are embedded)."""
        return analytics.E5_THRESHOLD if self.method == "e5" else analytics.CHARS_THRESHOLD

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self._handle is not None and self.method == "e5":
            try:
                return np.asarray(self._handle.cluster_encoder.encode_queries(list(texts)))
            except Exception:  # the model is missing or broken: say so, do not fail the page
                logger.exception("embedding model unavailable; grouping by characters")
        self.method = "chars"
        return analytics.char_ngram_embed(texts)


def _period(start: str | None, end: str | None) -> analytics.Period:
    try:
        return analytics.parse_period(start, end)
    except analytics.PeriodError as exc:
        raise YishiError("bad_date", str(exc), 422) from exc


@router.get("/admin", include_in_schema=False)
async def admin_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "admin.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/admin/dashboard")
async def dashboard(
    request: Request, admin: AdminDep, start: FromQuery = None, to: ToQuery = None
) -> dict[str, Any]:
    """Every dashboard section for the period (see channels/admin/analytics.py)."""
    period = _period(start, to)
    sessions = _sessions(request)
    embed = QuestionEmbedder(request)

    def build() -> dict[str, Any]:
        data = analytics.dashboard(sessions, period, embed, threshold=embed.current_threshold)
        data["similarity"] = {"method": embed.method, "threshold": embed.current_threshold()}
        return data

    return await run_in_threadpool(build)


@router.get("/api/admin/dashboard/export.csv")
async def export_csv(
    request: Request,
    admin: AdminDep,
    section: Annotated[str, Query(max_length=32)],
    start: FromQuery = None,
    to: ToQuery = None,
) -> Response:
    """One section as CSV (UTF-8 with BOM, so Excel shows the Chinese text)."""
    if section not in analytics.SECTIONS:
        raise YishiError(
            "bad_section",
            f"没有“{section}”这个导出项，只能是{'、'.join(analytics.SECTIONS)}。",
            422,
        )
    period = _period(start, to)
    sessions = _sessions(request)
    embed = QuestionEmbedder(request)

    def build() -> str:
        value = analytics.section_data(
            section, sessions, period, embed, threshold=embed.current_threshold
        )
        header, rows = analytics.csv_rows(section, value)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows(analytics.csv_lines(header, rows))
        return out.getvalue()

    body = "\ufeff" + await run_in_threadpool(build)
    filename = f"yishi-{section}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    return Response(
        content=body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
