"""POST /api/kb/search (hit testing) and GET /guides/<service_id> (the page answers link to)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import YishiError
from retrieval.knowledge import KnowledgeError, parse_file, read_yaml
from retrieval.manifest import IndexMismatchError
from retrieval.schema import ASPECT_NAMES, SERVICE_ID_PATTERN, Guide, HallsFile
from retrieval.searcher import SearcherHandle

logger = logging.getLogger(__name__)
TEMPLATES = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "web" / "templates")
router = APIRouter()


class KbSearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=200, examples=["身份证丢了要带什么"])
    top_k: int = Field(5, ge=1, le=20)


class KbHit(BaseModel):
    doc_id: str
    service_id: str | None
    aspect: str | None
    title: str
    score: float
    dense: float
    lexical: float
    # the guide version (or FAQ entry version) the hit's answer comes from, and since when
    guide_version: str | None = None
    effective_date: str | None = None


class KbSearchResponse(BaseModel):
    query: str
    kb_version: str
    band: str
    confidence: float
    hits: list[KbHit]
    services: list[dict[str, Any]]
    # a subject no guide covers that the question names (the band is then "none")
    outside: str | None = None


def get_kb(request: Request) -> SearcherHandle:
    handle: SearcherHandle = request.app.state.kb
    return handle


KbDep = Annotated[SearcherHandle, Depends(get_kb)]


@router.post("/api/kb/search", response_model=KbSearchResponse, tags=["knowledge"])
async def kb_search(body: KbSearchRequest, kb: KbDep) -> KbSearchResponse:
    """Hit testing: the documents, scores and band the bot would see for a question."""
    query = body.query.strip()
    if not query:
        raise YishiError("query_empty", "查询内容不能为空。", 422)
    try:
        searcher = await run_in_threadpool(kb.get)
    except (IndexMismatchError, OSError) as exc:
        logger.error("knowledge index unavailable: %s", exc)
        raise YishiError(
            "kb_unavailable", "知识库索引暂不可用，请先构建索引（make index）。", 503
        ) from exc
    result = await run_in_threadpool(searcher.search, query, body.top_k)
    return KbSearchResponse(
        query=query,
        kb_version=searcher.kb_version,
        band=result.band,
        outside=result.outside,
        confidence=round(result.confidence, 4),
        hits=[
            KbHit(
                **hit.summary(),
                guide_version=hit.document.source.get("guide_version"),
                effective_date=hit.document.source.get("effective_date"),
            )
            for hit in result.hits
        ],
        services=[{"service_id": s, "score": round(v, 5)} for s, v in result.services],
    )


@router.get("/guides/{service_id}", response_class=HTMLResponse, include_in_schema=False)
async def guide_page(request: Request, service_id: str) -> HTMLResponse:
    import re

    from retrieval.config import get_retrieval_settings

    knowledge_dir = get_retrieval_settings().knowledge_dir
    path = knowledge_dir / "guides" / f"{service_id}.yaml"
    if not re.fullmatch(SERVICE_ID_PATTERN, service_id) or not path.is_file():
        raise YishiError("guide_not_found", "没有找到这个事项的办事指南。", 404)
    try:
        guide = await run_in_threadpool(parse_file, path, Guide)
        halls_file = HallsFile.model_validate(read_yaml(knowledge_dir / "halls.yaml"))
    except KnowledgeError as exc:
        logger.error("guide page %s: %s", service_id, exc)
        raise YishiError("guide_invalid", "该办事指南正在更新，请稍后再看。", 503) from exc
    halls = [h for h in halls_file.halls if h.id in guide.location.halls]
    return TEMPLATES.TemplateResponse(
        request,
        "guide.html",
        {"guide": guide, "halls": halls, "aspects": ASPECT_NAMES},
        headers={"Cache-Control": "no-cache"},
    )
