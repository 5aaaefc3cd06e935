"""`python -m retrieval.evaluate` (make eval): quality numbers on the eval test split.

Prints, for the searcher alone and (with --bot) through the running bot's /api/chat:
service top-1, service+aspect top-1, out-of-scope false-answer rate, clarify rate, answer rate.
The test split is never used for tuning; calibration uses the dev split at build time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from retrieval.build import load_eval, load_eval_file
from retrieval.config import get_retrieval_settings
from retrieval.documents import Document
from retrieval.schema import EvalQuestion

if TYPE_CHECKING:
    from retrieval.searcher import Searcher


@dataclass
class Outcome:
    question: EvalQuestion
    service_id: str | None
    aspect: str | None
    band: str
    # what the answering document covers: its aspect, plus the main aspect a guide Q&A is
    # tagged with (a Q&A "代办可以吗" tagged conditions answers a question about conditions)
    covers: frozenset[str] = frozenset()

    @property
    def aspect_ok(self) -> bool:
        return self.question.aspect == self.aspect or self.question.aspect in self.covers


def outcome_for(q: EvalQuestion, doc: Document | None, band: str) -> Outcome:
    if doc is None:
        return Outcome(q, None, None, band)
    return Outcome(q, doc.service_id, doc.aspect, band, doc.aspects)


@dataclass
class Report:
    name: str
    outcomes: list[Outcome] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        scoped = [o for o in self.outcomes if o.question.service_id]
        oos = [o for o in self.outcomes if not o.question.service_id]
        answered = [o for o in scoped if o.band == "answer"]

        def share(items: list[Outcome], cond: Any) -> float:
            return sum(1 for o in items if cond(o)) / len(items) if items else 0.0

        return {
            "questions": float(len(self.outcomes)),
            "service_top1": share(scoped, lambda o: o.service_id == o.question.service_id),
            "service_aspect_top1": share(
                scoped,
                lambda o: o.service_id == o.question.service_id and o.aspect_ok,
            ),
            "answer_rate": share(scoped, lambda o: o.band == "answer"),
            "answered_correct_service": share(
                answered, lambda o: o.service_id == o.question.service_id
            ),
            "clarify_rate": share(self.outcomes, lambda o: o.band == "clarify"),
            "oos_false_answer": share(oos, lambda o: o.band == "answer"),
            "oos_declined": share(oos, lambda o: o.band != "answer"),
        }

    def misses(self, limit: int = 15, aspects: bool = False) -> list[str]:
        """Wrong services and out-of-scope answers; with `aspects`, right service, wrong aspect."""
        lines = []
        for o in self.outcomes:
            q = o.question
            if aspects:
                if q.service_id and o.service_id == q.service_id and not o.aspect_ok:
                    lines.append(f"  {q.q}  → {o.aspect} ({o.band}); expected {q.aspect}")
            elif q.service_id and o.service_id != q.service_id:
                lines.append(
                    f"  {q.q}  → {o.service_id}#{o.aspect} ({o.band}); expected {q.service_id}#{q.aspect}"
                )
            elif not q.service_id and o.band == "answer":
                lines.append(f"  {q.q}  → answered {o.service_id}#{o.aspect} (out of scope)")
        return lines[:limit]


def evaluate_searcher(questions: list[EvalQuestion], searcher: Searcher | None = None) -> Report:
    from retrieval.searcher import SearcherHandle

    searcher = searcher or SearcherHandle().get()
    report = Report("searcher")
    for q in questions:
        result = searcher.search(q.q)
        report.outcomes.append(
            outcome_for(q, result.best.document if result.best else None, result.band)
        )
    return report


def evaluate_bot(
    questions: list[EvalQuestion], gateway_url: str, docs: dict[str, Document] | None = None
) -> Report:
    """Through the gateway; `docs` (the index's documents by id) says what a Q&A answer covers."""
    import httpx

    docs = docs or {}
    report = Report("bot (/api/chat)")
    with httpx.Client(base_url=gateway_url, timeout=60, trust_env=False) as client:
        for q in questions:
            response = client.post(
                "/api/chat", json={"sender": f"eval:{uuid.uuid4().hex}", "text": q.q}
            )
            response.raise_for_status()
            kb = response.json()["trace"].get("kb") or {}
            doc = docs.get(kb.get("doc_id") or "")
            report.outcomes.append(
                Outcome(
                    q,
                    kb.get("service_id"),
                    kb.get("aspect"),
                    kb.get("band") or "none",
                    doc.aspects if doc else frozenset(),
                )
            )
    return report


def print_reports(
    reports: list[Report], split: str, show_misses: bool, limit: int = 15, aspects: bool = False
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Yishi knowledge-base evaluation — split '{split}'")
    table.add_column("metric")
    for report in reports:
        table.add_column(report.name, justify="right")
    all_metrics = [r.metrics() for r in reports]
    targets = {
        "service_top1": "≥ 0.95",
        "service_aspect_top1": "≥ 0.90",
        "oos_false_answer": "≤ 0.03",
    }
    for key in all_metrics[0]:
        label = f"{key} (target {targets[key]})" if key in targets else key
        table.add_row(
            label,
            *[f"{m[key]:.0f}" if key == "questions" else f"{m[key]:.3f}" for m in all_metrics],
        )
    console.print(table)
    if show_misses:
        for report in reports:
            console.print(f"[bold]{report.name}: first misses[/bold]")
            for line in report.misses(limit, aspects):
                console.print(line, markup=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--split", default="test", choices=["dev", "test"])
    parser.add_argument("--bot", metavar="URL", help="also evaluate through a running gateway")
    parser.add_argument(
        "--start-bot",
        action="store_true",
        help="start the stack on free ports and evaluate through it",
    )
    parser.add_argument("--misses", action="store_true", help="list the first misses")
    parser.add_argument(
        "--aspect-misses", action="store_true", help="list right-service, wrong-aspect answers"
    )
    parser.add_argument("--limit", type=int, default=15, help="how many misses to list")
    parser.add_argument(
        "--questions",
        metavar="FILE",
        help="evaluate this question file (same format as knowledge/eval/) instead, e.g. a "
        "fresh batch to measure before it joins the dev split",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    if args.questions:
        from pathlib import Path

        questions = load_eval_file(Path(args.questions), args.split)
    else:
        questions = load_eval(get_retrieval_settings().knowledge_dir, args.split)
    started = time.monotonic()
    from retrieval.searcher import SearcherHandle

    searcher = SearcherHandle().get()
    reports = [evaluate_searcher(questions, searcher)]
    if args.bot:
        reports.append(evaluate_bot(questions, args.bot, searcher.by_id))
    elif args.start_bot:
        import tempfile
        from pathlib import Path

        from ops.bench import LOAD_ENV
        from ops.stack import Stack, StackConfig

        with tempfile.TemporaryDirectory() as tmp:
            # one client asks hundreds of questions: the per-sender and per-IP limits are off
            config = StackConfig.on_free_ports(
                var_dir=Path(tmp) / "var", log_dir=Path(tmp) / "logs", extra_env=dict(LOAD_ENV)
            )
            with Stack(config):
                reports.append(evaluate_bot(questions, config.gateway_url, searcher.by_id))
    if args.json:
        sys.stdout.write(json.dumps({r.name: r.metrics() for r in reports}, indent=2) + "\n")
    else:
        print_reports(
            reports, args.split, args.misses or args.aspect_misses, args.limit, args.aspect_misses
        )
        bands = Counter(o.band for o in reports[0].outcomes)
        sys.stdout.write(
            f"{len(questions)} questions in {time.monotonic() - started:.1f} s; searcher bands {dict(bands)}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
