"""Dense text embeddings from a local sentence-transformers directory, offline, on the CPU.

The default model is `models/e5-small-tuned` (`make model`: `retrieval.convert_e5`, then
`retrieval.finetune`), but any sentence-transformers directory works. Queries and passages get
the model's own prompts from its `config_sentence_transformers.json` (`query: ` / `passage: `
for e5); a model without them encodes the bare text.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MARKER = "yishi_model.json"
QUERY_PROMPT_NAMES = ("query",)
PASSAGE_PROMPT_NAMES = ("passage", "document", "corpus")


class EncoderError(Exception):
    """The model directory is missing or cannot be loaded."""


def _offline_environment() -> None:
    # read by huggingface_hub / transformers at import time: set before importing them
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def _load(path: Path) -> SentenceTransformer:
    _offline_environment()
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # transformers draws a "Loading weights" bar on stderr; not from a library
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()


class Encoder:
    """L2-normalised float32 embeddings for queries and passages.

    >>> enc = Encoder("models/e5-small")
    >>> q = enc.encode_queries(["社保卡丢了怎么补办"])        # shape (1, enc.dim)
    >>> p = enc.encode_passages(["社会保障卡挂失补办流程……"])
    >>> float(q[0] @ p[0])                                       # cosine similarity
    """

    def __init__(self, model_dir: str | os.PathLike[str], *, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.path = Path(model_dir).expanduser().resolve()
        if not (self.path / "modules.json").is_file():
            raise EncoderError(
                f"{self.path} is not a sentence-transformers directory (no modules.json); "
                "run `make model` to create models/e5-small and models/e5-small-tuned"
            )
        self.batch_size = batch_size
        self._marker = self._read_marker()

        import torch

        torch.set_num_threads(min(2, os.cpu_count() or 1))
        try:
            self._model = _load(self.path)
        except (OSError, ValueError) as exc:
            raise EncoderError(f"{self.path}: cannot load the model: {exc}") from exc
        self._model.eval()

        dim = self._model.get_embedding_dimension()
        if not dim:
            raise EncoderError(f"{self.path}: the model does not report its embedding size")
        self._dim = int(dim)
        if "dim" in self._marker and int(self._marker["dim"]) != self._dim:
            raise EncoderError(f"{self.path}: {MARKER} says dim {self._marker['dim']}, got {dim}")
        prompts = {k: v for k, v in (self._model.prompts or {}).items() if v}
        self._query_prompt = _pick_prompt(prompts, QUERY_PROMPT_NAMES)
        self._passage_prompt = _pick_prompt(prompts, PASSAGE_PROMPT_NAMES)
        # one forward pass at a time: torch's intra-op threads are already the parallelism
        self._lock = threading.Lock()
        logger.info(
            "encoder %s loaded from %s (dim %d, query prompt %r, passage prompt %r)",
            self.model_id,
            self.path,
            self._dim,
            self._query_prompt and prompts[self._query_prompt],
            self._passage_prompt and prompts[self._passage_prompt],
        )

    def _read_marker(self) -> dict[str, Any]:
        try:
            value = json.loads((self.path / MARKER).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise EncoderError(f"{self.path / MARKER}: unreadable: {exc}") from exc
        if not isinstance(value, dict):
            raise EncoderError(f"{self.path / MARKER}: not a JSON object")
        return value

    @property
    def model_id(self) -> str:
        """Identifies the model for index manifests: yishi_model.json's model_id, or the
        directory name for other sentence-transformers directories."""
        model_id = self._marker.get("model_id")
        return str(model_id) if model_id else self.path.name

    @property
    def dim(self) -> int:
        return self._dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of search queries, shape [len(texts), dim]."""
        return self._encode(texts, self._query_prompt)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of passages (documents), shape [len(texts), dim]."""
        return self._encode(texts, self._passage_prompt)

    def _encode(self, texts: Sequence[str], prompt_name: str | None) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        items = list(texts)
        if not items:
            return np.zeros((0, self._dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                items,
                prompt_name=prompt_name,
                batch_size=self.batch_size,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        out = np.ascontiguousarray(vectors, dtype=np.float32)
        if out.shape != (len(items), self._dim):
            raise EncoderError(f"unexpected embedding shape {out.shape}")
        return out


def _pick_prompt(prompts: dict[str, str], names: Sequence[str]) -> str | None:
    """The first of `names` the model defines with a non-empty prompt."""
    return next((name for name in names if prompts.get(name)), None)
