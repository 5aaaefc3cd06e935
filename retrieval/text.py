"""Text normalisation and jieba tokenisation with the project lexicon.

`knowledge/lexicon/jieba/*.txt` are jieba user dictionaries (shared with Rasa's JiebaTokenizer);
`knowledge/lexicon/normalise.yaml` maps typos and homophones citizens type (身分证, 公基金) to
the right words before anything else sees the query.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path

import jieba
import yaml

LEXICON_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "lexicon"

jieba.setLogLevel(logging.WARNING)

# Function words and chat filler that say nothing about which service or aspect is meant.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 啦 哈 嗯 着 过 得 地 和 与 及 或 在 是 有 我 你 您 他 她 它 我们 你们 "
    "请问 请 问 一下 想 想要 要 需要 能 能不能 可以 可不可以 会 这个 那个 这 那 什么 啥 怎么 怎样 如何 "
    "咋 咋办 怎么办 哪 哪里 哪儿 多少 几 吗 一个 就 都 还 也 又 再 给 把 被 让 从 到 对 向 为 为了 "
    "如果 但是 然后 所以 因为 还是 已经 现在 今天 时候 办 办理 一下子 帮 帮忙 谢谢 你好".split()
)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """NFKC (full-width → half-width), lower case, collapse spaces, fix known typos."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\s+", " ", text).strip()
    for wrong, right in _typo_map().items():
        if wrong in text:
            text = text.replace(wrong, right)
    return text


@lru_cache(maxsize=1)
def _typo_map() -> dict[str, str]:
    path = LEXICON_DIR / "normalise.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    mapping: dict[str, str] = {}
    for right, wrongs in (data.get("typos") or {}).items():
        for wrong in wrongs:
            mapping[unicodedata.normalize("NFKC", str(wrong)).lower()] = str(right)
    # longest first, so 身分证号 is fixed before 身分
    return dict(sorted(mapping.items(), key=lambda item: -len(item[0])))


@lru_cache(maxsize=1)
def out_of_scope_terms() -> dict[str, str]:
    """{term: subject} for subjects no guide covers (knowledge/lexicon/out_of_scope.yaml)."""
    path = LEXICON_DIR / "out_of_scope.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        normalise(str(term)): str(subject)
        for subject, terms in (data.get("subjects") or {}).items()
        for term in terms
    }


@lru_cache(maxsize=1)
def out_of_scope_subjects() -> dict[str, tuple[str, ...]]:
    """{subject: its terms}: out_of_scope_terms() grouped by subject."""
    grouped: dict[str, list[str]] = {}
    for term, subject in out_of_scope_terms().items():
        grouped.setdefault(subject, []).append(term)
    return {subject: tuple(terms) for subject, terms in grouped.items()}


_tokenizer_lock = threading.Lock()


@lru_cache(maxsize=1)
def tokenizer() -> jieba.Tokenizer:
    """One jieba tokenizer per process, with every user dictionary of the lexicon loaded."""
    with _tokenizer_lock:
        tk = jieba.Tokenizer()
        tk.initialize()
        for path in sorted((LEXICON_DIR / "jieba").glob("*.txt")):
            tk.load_userdict(str(path))
        return tk


def tokens(text: str) -> list[str]:
    """Search-mode jieba tokens of the normalised text, without stopwords and punctuation."""
    result = []
    for token in tokenizer().cut_for_search(normalise(text)):
        token = token.strip()
        if not token or token in STOPWORDS or _PUNCT.fullmatch(token):
            continue
        result.append(token)
    return result


def lexicon_sha256() -> str:
    digest = hashlib.sha256()
    for path in sorted(LEXICON_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(LEXICON_DIR).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
