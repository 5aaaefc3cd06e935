"""`python -m retrieval.bench` (make bench-retrieval): latency and build time as the KB grows.

The real documents are grown synthetically to 1k, 10k and 100k documents: each copy keeps a
real document's rows with its vectors perturbed (and re-normalised) and its tokens shuffled with a
unique marker, so the dense and lexical indexes have realistic shapes. Queries are real eval
questions, encoded by the real model. Prints query p50/p95 (search alone and with encoding),
index build time and the index's memory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from retrieval.build import load_eval
from retrieval.config import get_retrieval_settings
from retrieval.documents import Document
from retrieval.index import DenseIndex, make_index
from retrieval.lexical import BM25_SERVICES_DIR, LexicalIndex
from retrieval.manifest import DOCS_FILE, MANIFEST_FILE
from retrieval.searcher import Searcher, SearcherHandle, service_key
from retrieval.text import lexicon_sha256, tokens


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q))


def grow(
    base: Searcher, target: int, seed: int = 7
) -> tuple[list[Document], np.ndarray, np.ndarray, list[list[str]]]:
    rng = np.random.default_rng(seed)
    shuffle = random.Random(seed)
    vectors = base.dense.index.reconstruct_n(0, base.dense.index.ntotal)
    rows_of: dict[int, list[int]] = {}
    for row, doc in enumerate(base.dense.row_docs):
        rows_of.setdefault(int(doc), []).append(row)
    base_tokens = [tokens(doc.lexical_text) for doc in base.docs]
    docs: list[Document] = []
    row_vectors: list[np.ndarray] = []
    owners: list[int] = []
    token_lists: list[list[str]] = []
    for n in range(target):
        src = n % len(base.docs)
        copy = n // len(base.docs)
        doc = base.docs[src]
        if copy == 0:
            docs.append(doc)
            chosen = rows_of[src]
            token_lists.append(base_tokens[src])
        else:
            docs.append(Document(
                doc_id=f"{doc.doc_id}~{copy}", service_id=f"{doc.service_id or doc.doc_id}~{copy}",
                aspect=doc.aspect, title=doc.title, questions=doc.questions[:2], passage=doc.passage,
                answer=doc.answer, source=doc.source,
            ))  # fmt: skip
            rows = rows_of[src]
            chosen = [rows[0], rows[-1], rows[len(rows) // 2]]
            toks = list(base_tokens[src])
            shuffle.shuffle(toks)
            token_lists.append(toks[: max(4, int(len(toks) * 0.7))] + [f"syn{copy}"])
        for row in chosen:
            vector = vectors[row]
            if copy:
                vector = vector + rng.normal(0, 0.06, vector.shape).astype(np.float32)
                vector /= np.linalg.norm(vector)
            row_vectors.append(vector)
            owners.append(len(docs) - 1)
    return docs, np.stack(row_vectors).astype(np.float32), np.array(owners), token_lists


def bench_size(base: Searcher, size: int, queries: list[str], index_type: str) -> dict[str, float]:
    docs, vectors, owners, token_lists = grow(base, size)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        dense = make_index(vectors, index_type)
        dense_s = time.perf_counter() - started
        started = time.perf_counter()
        lexical = LexicalIndex.build_from_tokens(token_lists)
        grouped: dict[str, list[str]] = {}
        for doc, toks in zip(docs, token_lists, strict=True):
            grouped.setdefault(service_key(doc), []).extend(toks)
        service_lexical = LexicalIndex.build_from_tokens([grouped[k] for k in sorted(grouped)])
        lexical_s = time.perf_counter() - started
        DenseIndex(dense, owners, len(docs)).save(directory)
        lexical.save(directory)
        service_lexical.save(directory, BM25_SERVICES_DIR)
        with (directory / DOCS_FILE).open("w", encoding="utf-8") as handle:
            for doc in docs:
                handle.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
        manifest = dict(base.manifest, doc_count=len(docs), row_count=len(vectors), kb_version=f"bench-{size}",
                        lexicon_sha256=lexicon_sha256(), index_type=index_type)  # fmt: skip
        (directory / MANIFEST_FILE).write_text(json.dumps(manifest, ensure_ascii=False))
        searcher = Searcher(directory, base.encoder, base.settings, check_corpus=False)
        index_bytes = sum(
            p.stat().st_size for p in directory.rglob("*") if p.is_file() and p.name != DOCS_FILE
        )
        for q in queries[:5]:  # warm-up
            searcher.search(q)
        search_times, total_times, encode_times = [], [], []
        vectors_cache = {q: base.encoder.encode_queries([q])[0] for q in queries}
        original = searcher.encoder.encode_queries
        for q in queries:
            started = time.perf_counter()
            base.encoder.encode_queries([q])
            encode_times.append(time.perf_counter() - started)
            searcher.encoder.encode_queries = lambda texts, _q=q: vectors_cache[_q][None, :]  # type: ignore[method-assign,misc]
            started = time.perf_counter()
            searcher.search(q)
            search_times.append(time.perf_counter() - started)
            searcher.encoder.encode_queries = original  # type: ignore[method-assign]
            total_times.append(search_times[-1] + encode_times[-1])
    return {
        "docs": float(size),
        "rows": float(len(vectors)),
        "search_p50_ms": _percentile(search_times, 50),
        "search_p95_ms": _percentile(search_times, 95),
        "with_encode_p50_ms": _percentile(total_times, 50),
        "with_encode_p95_ms": _percentile(total_times, 95),
        "encode_p50_ms": _percentile(encode_times, 50),
        "build_dense_s": dense_s,
        "build_lexical_s": lexical_s,
        "index_mb": index_bytes / 2**20,
    }


TOPICS = ("垃圾分类", "停车收费", "公园开放", "图书馆借阅", "公交卡", "养犬登记", "燃气开户", "供水报修",
          "路灯故障", "噪音扰民", "社区食堂", "体育场馆", "老年大学", "献血", "志愿服务", "防汛避险")  # fmt: skip


def bench_import(base: Searcher, entries: int) -> dict[str, float]:
    """Time importing a city FAQ list of `entries` rows and rebuilding the index with it."""
    import shutil

    from retrieval.build import build
    from retrieval.config import RetrievalSettings
    from retrieval.import_faq import convert, write_entries

    rows = [
        {
            "问题": f"{TOPICS[i % len(TOPICS)]}第{i}项：{['怎么办理', '在哪里咨询', '要收费吗', '需要什么材料'][i % 4]}？",
            "答案": f"关于{TOPICS[i % len(TOPICS)]}第{i}项，请按社区公告办理，咨询电话0000-1234{i % 10000:04d}。",
            "部门": "示例市城市服务中心",
        }
        for i in range(entries)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        knowledge = Path(tmp) / "knowledge"
        shutil.copytree(base.settings.knowledge_dir, knowledge)
        # a copy of the embedding cache: the guides' vectors are known, the imported entries
        # are all new, and the real cache is not filled with the bench's synthetic entries
        cache = Path(tmp) / "cache"
        if base.settings.cache_dir.exists():
            shutil.copytree(base.settings.cache_dir, cache)
        settings = RetrievalSettings(knowledge_dir=knowledge, index_root=Path(tmp) / "indexes",
                                     cache_dir=cache)  # fmt: skip
        started = time.perf_counter()
        faq, _ = convert(rows, "bench", "bench.csv")
        write_entries(faq, "bench", knowledge)
        build(settings, encoder=base.encoder, quiet=True)
        seconds = time.perf_counter() - started
    return {"entries": float(len(faq)), "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--index-type", default="flat", choices=["flat", "hnsw", "ivf"])
    parser.add_argument(
        "--import-entries", type=int, default=2000, help="0 skips the FAQ import timing"
    )
    args = parser.parse_args(argv)
    settings = get_retrieval_settings()
    base = SearcherHandle(settings).get()
    questions = [q.q for q in load_eval(settings.knowledge_dir, "test")][: args.queries]
    # embedding throughput, to put a full (non-synthetic) build of each size in perspective
    sample = [doc.passage for doc in base.docs[:64]]
    started = time.perf_counter()
    base.encoder.encode_passages(sample)
    per_text = (time.perf_counter() - started) / len(sample)
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"retrieval bench ({args.index_type}, {len(questions)} queries, 2-core CPU)"
    )
    for column in (
        "docs",
        "rows",
        "search p50/p95 ms",
        "+encode p50/p95 ms",
        "build dense s",
        "build bm25 s",
        "index MB",
    ):
        table.add_column(column, justify="right")
    for size in (int(s) for s in args.sizes.split(",")):
        r = bench_size(base, size, questions, args.index_type)
        table.add_row(f"{size:,}", f"{r['rows']:,.0f}", f"{r['search_p50_ms']:.1f} / {r['search_p95_ms']:.1f}",
                      f"{r['with_encode_p50_ms']:.1f} / {r['with_encode_p95_ms']:.1f}", f"{r['build_dense_s']:.2f}",
                      f"{r['build_lexical_s']:.2f}", f"{r['index_mb']:.1f}")  # fmt: skip
    Console().print(table)
    if args.import_entries:
        imported = bench_import(base, args.import_entries)
        sys.stdout.write(
            f"FAQ import: {imported['entries']:.0f} entries imported and indexed in {imported['seconds']:.1f} s\n"
        )
    sys.stdout.write(
        f"embedding: {1 / per_text:.0f} passages/s at batch {len(sample)} "
        f"(a real 100k-document build would spend ~{100_000 * 3 * per_text / 60:.0f} min embedding 3 rows each)\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
