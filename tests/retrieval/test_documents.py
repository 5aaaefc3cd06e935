"""Guide Q&A tagged with the main aspect they elaborate, and how the evaluation counts them."""

from __future__ import annotations

import pytest

from retrieval.documents import Document, build_documents
from retrieval.evaluate import Outcome, Report, outcome_for
from retrieval.knowledge import load_knowledge
from retrieval.schema import EvalQuestion


@pytest.fixture(scope="module")
def docs() -> dict[str, Document]:
    return {doc.doc_id: doc for doc in build_documents(load_knowledge())}


def test_a_tagged_qa_covers_its_aspect_and_stays_a_qa(docs: dict[str, Document]) -> None:
    proxy = docs["passport-qa5"]  # 可以找人代办护照吗？ (who may apply: conditions)
    assert proxy.aspect == "other" and proxy.topic == "conditions"
    assert proxy.aspects == {"other", "conditions"}
    untagged = docs["passport-qa3"]  # 旧护照上还有有效签证怎么办？
    assert untagged.topic is None and untagged.aspects == {"other"}
    assert docs["passport#fee"].aspects == {"fee"}


def test_a_qa_is_also_asked_with_the_service_named(docs: dict[str, Document]) -> None:
    qa = docs["social_security_card-qa3"]  # 可以请家人帮忙代办吗？ names no service
    assert qa.questions[0] == "可以请家人帮忙代办吗？"
    assert "社会保障卡申领与补换可以请家人帮忙代办吗？" in qa.questions


def test_every_tag_names_a_main_aspect(docs: dict[str, Document]) -> None:
    topics = {doc.topic for doc in docs.values() if doc.topic}
    assert topics and topics <= {"conditions", "materials", "process", "time_limit", "fee",
                                 "location", "online"}  # fmt: skip


def test_eval_counts_a_tagged_qa_for_its_aspect_and_for_other(
    docs: dict[str, Document],
) -> None:
    def question(aspect: str) -> EvalQuestion:
        return EvalQuestion(
            q="护照能让别人代办吗", service_id="passport", aspect=aspect, split="dev"
        )

    report = Report("t")
    report.outcomes = [
        outcome_for(question("conditions"), docs["passport-qa5"], "answer"),
        outcome_for(question("other"), docs["passport-qa5"], "answer"),
        outcome_for(question("fee"), docs["passport-qa5"], "answer"),  # the Q&A is no fee answer
        outcome_for(question("other"), docs["passport#conditions"], "answer"),
    ]
    assert [o.aspect_ok for o in report.outcomes] == [True, True, False, False]
    metrics = report.metrics()
    assert metrics["service_top1"] == 1.0 and metrics["service_aspect_top1"] == 0.5


def test_an_outcome_without_a_document_is_a_miss() -> None:
    q = EvalQuestion(q="护照多少钱", service_id="passport", aspect="fee", split="dev")
    outcome = outcome_for(q, None, "none")
    assert isinstance(outcome, Outcome) and not outcome.aspect_ok and outcome.service_id is None
