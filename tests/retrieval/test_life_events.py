"""Life-event chains: loaded from knowledge/, checked against the catalogue, next steps found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from retrieval.config import get_retrieval_settings
from retrieval.knowledge import KnowledgeError
from retrieval.life_events import load_life_events, next_steps

KNOWLEDGE = get_retrieval_settings().knowledge_dir


def test_every_chain_names_catalogue_services() -> None:
    events, names = load_life_events(KNOWLEDGE)
    assert len(events) >= 6
    assert all(step.service_id in names for e in events for step in e.steps)


def test_next_step_of_a_birth_is_medical_insurance() -> None:
    steps = next_steps("birth_registration", KNOWLEDGE)
    assert [s.service_id for s in steps] == ["medical_insurance_enroll"]
    assert steps[0].event == "宝宝出生" and steps[0].title == "城乡居民基本医疗保险参保缴费"
    # a service on several chains gets the next step of each; the last step of a chain, none
    assert {s.service_id for s in next_steps("medical_insurance_enroll", KNOWLEDGE)} >= {
        "social_security_card"
    }
    assert next_steps("complaint_12345", KNOWLEDGE) == []


def test_a_wrong_service_id_names_the_field(tmp_path: Path) -> None:
    shutil.copy(KNOWLEDGE / "services.csv", tmp_path / "services.csv")
    text = (KNOWLEDGE / "life_events.yaml").read_text(encoding="utf-8")
    (tmp_path / "life_events.yaml").write_text(
        text.replace("service_id: hukou_move_in", "service_id: hukou_move", 1), encoding="utf-8"
    )
    with pytest.raises(KnowledgeError, match=r"events\.1\.steps\.1\.service_id"):
        load_life_events(tmp_path)
