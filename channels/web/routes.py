"""The citizen web chat pages (phone-sized, Chinese UI): `/` and the 长辈版 `/elder`; both use
POST /api/chat."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/elder", include_in_schema=False)
async def elder() -> FileResponse:
    """The 长辈版 page: large type, big buttons, answers read aloud, press-and-hold voice."""
    return FileResponse(STATIC_DIR / "elder.html", headers={"Cache-Control": "no-cache"})
