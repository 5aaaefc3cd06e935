"""`python -m retrieval.faq_check` (make eval-faq): does the searcher find what a city imports?

A city loads its own FAQ list (`retrieval.import_faq`), mostly on subjects the 40 guides do not
cover: the library, the elder canteen, waste sorting. This check imports the entries of
`knowledge/eval/faq_check/` into a copy of the knowledge base, builds an index there with the
configured model, and asks each entry's citizen questions (written in other words). It prints
how often the imported entry is the best hit, is among the hits, and is answered outright.

It measures what the eval splits cannot: the encoder's sense of subjects it was never shown.
A model tuned on the guides alone can gain on guide questions and lose this (session 6: 7 of 8
paraphrases found with the base model, 0 of 8 with the guide-tuned one), so any model change
is checked here as well as on the eval splits. `--dev` also runs the dev split against the
index with the imports, to show the imported entries do not take guide questions.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from retrieval.config import RetrievalSettings, get_retrieval_settings

CHECK_DIR = "eval/faq_check"
IMPORT_NAME = "faqcheck"


class CheckEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    question: str = Field(min_length=4)
    answer: str = Field(min_length=4)
    department: str | None = None
    asks: list[str] = Field(min_length=1)


class CheckFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[CheckEntry] = Field(min_length=1)


def load_check(knowledge_dir: Path) -> list[CheckEntry]:
    entries: list[CheckEntry] = []
    for path in sorted((knowledge_dir / CHECK_DIR).glob("*.yaml")):
        entries.extend(CheckFile.model_validate(yaml.safe_load(path.read_text("utf-8"))).entries)
    return entries


@dataclass
class AskOutcome:
    entry: str
    ask: str
    best: str | None
    rank: int | None  # 1-based rank of the imported entry among the hits; None: not among them
    band: str


@dataclass
class CheckReport:
    outcomes: list[AskOutcome] = field(default_factory=list)
    dev: dict[str, float] | None = None

    def metrics(self) -> dict[str, float]:
        n = max(1, len(self.outcomes))
        out = {
            "asks": float(len(self.outcomes)),
            "top1": sum(o.rank == 1 for o in self.outcomes) / n,
            "in_hits": sum(o.rank is not None for o in self.outcomes) / n,
            "answered": sum(o.rank == 1 and o.band == "answer" for o in self.outcomes) / n,
        }
        if self.dev:
            out.update({f"dev_{k}": v for k, v in self.dev.items() if k != "questions"})
        return out


def run_check(
    settings: RetrievalSettings | None = None, with_dev: bool = False, keep: Path | None = None
) -> CheckReport:
    """Import the check entries into a copy of the knowledge base, build, search every ask."""
    from retrieval.build import build, load_eval
    from retrieval.import_faq import convert, write_entries
    from retrieval.searcher import SearcherHandle

    settings = settings or get_retrieval_settings()
    entries = load_check(settings.knowledge_dir)
    with tempfile.TemporaryDirectory(prefix="yishi-faqcheck-") as tmp:
        work = keep or Path(tmp)
        knowledge = work / "knowledge"
        shutil.rmtree(knowledge, ignore_errors=True)
        shutil.copytree(settings.knowledge_dir, knowledge)
        rows = [{"问题": e.question, "答案": e.answer, "部门": e.department or ""} for e in entries]
        imported, skipped = convert(rows, IMPORT_NAME, "faq_check")
        if skipped:
            raise ValueError(f"check entries rejected by the importer: {skipped}")
        write_entries(imported, IMPORT_NAME, knowledge)
        local = settings.model_copy(
            update={"knowledge_dir": knowledge, "index_root": work / "indexes"}
        )
        build(local, quiet=True)
        searcher = SearcherHandle(local).get()
        report = CheckReport()
        for entry, faq in zip(entries, imported, strict=True):
            for ask in entry.asks:
                result = searcher.search(ask)
                ids = [hit.doc_id for hit in result.hits]
                rank = ids.index(faq.id) + 1 if faq.id in ids else None
                report.outcomes.append(
                    AskOutcome(entry.id, ask, ids[0] if ids else None, rank, result.band)
                )
        if with_dev:
            from retrieval.evaluate import evaluate_searcher

            report.dev = evaluate_searcher(load_eval(knowledge, "dev"), searcher).metrics()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--dev", action="store_true", help="also run the dev split")
    parser.add_argument("--misses", action="store_true", help="list the asks not found first")
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    settings = get_retrieval_settings()
    report = run_check(settings, with_dev=args.dev)
    metrics = report.metrics()
    if args.json:
        sys.stdout.write(json.dumps(metrics) + "\n")
    else:
        sys.stdout.write(f"model: {settings.model_dir}\n")
        for key, value in metrics.items():
            shown = f"{value:.0f}" if key == "asks" else f"{value:.3f}"
            sys.stdout.write(f"{key:>28}: {shown}\n")
    if args.misses:
        for o in report.outcomes:
            if o.rank != 1:
                sys.stdout.write(f"  {o.entry}: {o.ask!r} → {o.best} (rank {o.rank}, {o.band})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
