"""What citizens ask next: learned from the transcript, offered by the bot as related questions.

For every conversation, the services answered one after another (a `kb` trace with band
`answer`) give pairs S → T. `GET /internal/insights/next?service_id=S` returns the services most
often asked right after S in the last 30 days (at least `min_count` conversations each).
The table is rebuilt at most every ten minutes.
"""

from __future__ import annotations

import csv
import datetime as dt
import threading
import time
from collections import Counter, defaultdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from channels.applications.routes import require_internal
from channels.core.store import ChatMessage
from retrieval.config import get_retrieval_settings

router = APIRouter()
REFRESH_S = 600.0
WINDOW_DAYS = 30


class AskedNext:
    def __init__(self, sessions: sessionmaker[Session], min_count: int = 3) -> None:
        self._sessions = sessions
        self.min_count = min_count
        self._pairs: dict[str, Counter[str]] = {}
        self._built = 0.0
        self._lock = threading.Lock()
        with (get_retrieval_settings().knowledge_dir / "services.csv").open(encoding="utf-8") as f:
            self._names = {row["id"]: row["name"] for row in csv.DictReader(f)}

    def build(self) -> dict[str, Counter[str]]:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=WINDOW_DAYS)
        last: dict[str, str] = {}
        seen: dict[tuple[str, str], set[str]] = defaultdict(set)
        with self._sessions() as db:
            rows = db.execute(
                select(ChatMessage.sender, ChatMessage.trace)
                .where(ChatMessage.author == "bot", ChatMessage.created_at >= since)
                .order_by(ChatMessage.id)
                .execution_options(yield_per=2000)
            )
            for sender, trace in rows:
                kb = (trace or {}).get("kb") or {}
                service = kb.get("service_id")
                if kb.get("band") != "answer" or not service:
                    continue
                before = last.get(sender)
                if before and before != service:
                    seen[(before, service)].add(sender)  # one vote per conversation
                last[sender] = service
        pairs: dict[str, Counter[str]] = defaultdict(Counter)
        for (before, after), senders in seen.items():
            pairs[before][after] = len(senders)
        return pairs

    def next_for(self, service_id: str, limit: int = 3) -> list[dict[str, Any]]:
        with self._lock:
            if time.monotonic() - self._built > REFRESH_S or not self._built:
                self._pairs = self.build()
                self._built = time.monotonic()
            counts = self._pairs.get(service_id, Counter())
        return [
            {"service_id": s, "title": self._names.get(s, s), "count": n}
            for s, n in counts.most_common()
            if n >= self.min_count
        ][:limit]


@router.get(
    "/internal/insights/next", dependencies=[Depends(require_internal)], include_in_schema=False
)
async def asked_next(request: Request, service_id: str = Query(max_length=64)) -> dict[str, Any]:
    insights: AskedNext = request.app.state.asked_next
    return {"items": await run_in_threadpool(insights.next_for, service_id)}
