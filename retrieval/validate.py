"""`python -m retrieval.validate`: check every file under knowledge/ (make validate-kb)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from retrieval.knowledge import KNOWLEDGE_DIR, KnowledgeError, load_knowledge
from retrieval.life_events import load_life_events


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=KNOWLEDGE_DIR)
    args = parser.parse_args(argv)
    try:
        kb = load_knowledge(args.root)
        events, _ = load_life_events(args.root)
    except KnowledgeError as exc:
        sys.stderr.write(f"knowledge base invalid:\n{exc}\n")
        return 1
    sys.stdout.write(
        f"knowledge base OK: {len(kb.guides)} guides, {len(kb.halls)} halls, {len(kb.faq)} FAQ entries, {len(events)} life events\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
