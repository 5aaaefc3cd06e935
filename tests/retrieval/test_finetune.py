"""The optional encoder tuning (retrieval/finetune.py): what it trains on, and that it trains.

Needs the converted base model (`make model`). The training test runs a few dozen real steps
on the real guides and checks the objective moved the way the searcher needs: a phrasing
closer to another phrasing of its own section than to the same service's other sections.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from retrieval import convert_e5
from retrieval.documents import build_documents
from retrieval.encoder import MARKER, Encoder
from retrieval.finetune import TuneConfig, finetune, labelled_questions, tuned_model_id
from retrieval.knowledge import KNOWLEDGE_DIR, load_knowledge

BASE = convert_e5.DEFAULT_OUT

pytestmark = pytest.mark.skipif(
    not (BASE / MARKER).is_file(), reason="needs the converted model (make model)"
)


def _edit_question(root: Path, split: str) -> None:
    path = root / "eval" / "questions.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    first = next(q for q in data["questions"] if q["split"] == split and q["service_id"])
    first["q"] += "呢"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_model_id_follows_guides_and_dev_but_never_the_test_split(knowledge_copy: Path) -> None:
    knowledge = knowledge_copy
    original = tuned_model_id(BASE, knowledge)
    assert original.startswith(
        json.loads((BASE / MARKER).read_text())["model_id"] + "+yishi-tuned-"
    )

    _edit_question(knowledge, "test")
    assert tuned_model_id(BASE, knowledge) == original, "the test split must not reach training"

    _edit_question(knowledge, "dev")
    after_dev = tuned_model_id(BASE, knowledge)
    assert after_dev != original
    # without the dev split only the guides count
    assert tuned_model_id(BASE, knowledge, use_dev=False) != after_dev

    guide = knowledge / "guides" / "passport.yaml"
    text = guide.read_text(encoding="utf-8")
    edited = text.replace("- 护照能用多久", "- 护照到底能用多久", 1)
    assert edited != text
    guide.write_text(edited, encoding="utf-8")
    assert tuned_model_id(BASE, knowledge) != after_dev
    assert tuned_model_id(BASE, knowledge, config=TuneConfig(epochs=2)) != tuned_model_id(
        BASE, knowledge
    )


def _margin(encoder: Encoder, pairs: list[tuple[str, str, str]]) -> float:
    """Mean of cos(phrasing, same-section phrasing) − cos(phrasing, other-section phrasing)."""
    anchors = encoder.encode_queries([a for a, _, _ in pairs])
    same = encoder.encode_queries([s for _, s, _ in pairs])
    other = encoder.encode_queries([o for _, _, o in pairs])
    return float(np.mean((anchors * same).sum(1) - (anchors * other).sum(1)))


@pytest.mark.slow
def test_tuning_pulls_a_sections_phrasings_together(tmp_path: Path) -> None:
    docs = build_documents(load_knowledge(KNOWLEDGE_DIR))
    rng = random.Random(5)
    by_service: dict[str, list[list[str]]] = {}
    for doc in docs:
        if doc.service_id and len(set(doc.questions)) >= 3:
            by_service.setdefault(doc.service_id, []).append(doc.phrasings)
    pairs = []
    for sections in by_service.values():
        if len(sections) >= 2:
            mine, theirs = rng.sample(sections, 2)
            anchor, same = rng.sample(mine, 2)
            pairs.append((anchor, same, rng.choice(theirs)))
    before = _margin(Encoder(BASE), pairs)

    out = tmp_path / "tuned"
    config = TuneConfig(max_steps=40, learning_rate=5e-5)
    finetune(BASE, out, KNOWLEDGE_DIR, config, quiet=True)
    meta = json.loads((out / MARKER).read_text())
    assert meta["model_id"] == tuned_model_id(BASE, KNOWLEDGE_DIR, config)
    assert meta["base_model_id"] == json.loads((BASE / MARKER).read_text())["model_id"]
    assert meta["tuning"]["steps"] == 40
    assert meta["tuning"]["dev_questions"] > 1000
    assert meta["tuning"]["loss_last"] < meta["tuning"]["loss_first"]

    tuned = Encoder(out)
    assert tuned.model_id == meta["model_id"]
    after = _margin(tuned, pairs)
    assert after > before + 0.02, (before, after)

    # current: a second run keeps the directory as it is
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    finetune(BASE, out, KNOWLEDGE_DIR, config, quiet=True)
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp


def test_other_questions_go_to_a_qa_of_their_service() -> None:
    from sentence_transformers import SentenceTransformer

    from retrieval.schema import EvalQuestion

    docs = build_documents(load_knowledge(KNOWLEDGE_DIR))
    questions = [
        EvalQuestion(q="护照丢在国外了 回来后补办要注意啥", service_id="passport", aspect="other", split="dev"),
        EvalQuestion(q="补身份证多少钱", service_id="id_card_lost", aspect="fee", split="dev"),
    ]  # fmt: skip
    model = SentenceTransformer(str(BASE), device="cpu")
    labelled = labelled_questions(docs, questions, model, "query: ")
    assert len(labelled) == 2
    by_text = {text: docs[i] for text, i in labelled}
    fee = next(d for t, d in by_text.items() if "多少钱" in t)
    assert fee.doc_id == "id_card_lost#fee"
    qa = next(d for t, d in by_text.items() if "护照" in t)
    assert qa.service_id == "passport" and qa.aspect == "other"
