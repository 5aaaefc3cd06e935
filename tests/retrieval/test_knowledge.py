"""The real knowledge base validates; a broken copy is reported by file and field."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from retrieval.knowledge import KNOWLEDGE_DIR, KnowledgeError, load_knowledge
from retrieval.validate import main as validate_main

SHARED_SERVICES = KNOWLEDGE_DIR.parent.parent / "shared" / "spec" / "services.csv"


def test_the_real_knowledge_base_is_valid_and_complete() -> None:
    kb = load_knowledge()
    assert len(kb.guides) == 40 == len(kb.services)
    assert len(kb.halls) >= 6
    for guide in kb.guides.values():
        assert 3 <= len(guide.faq) <= 8
        assert guide.basis and guide.fee.basis


def test_services_csv_matches_the_shared_spec() -> None:
    if not SHARED_SERVICES.exists():
        pytest.skip("shared/spec not beside this checkout")
    assert (KNOWLEDGE_DIR / "services.csv").read_text() == SHARED_SERVICES.read_text()


def test_nationally_set_fees_are_right() -> None:
    kb = load_knowledge()
    assert kb.guides["id_card_lost"].fee.amount == "40元"
    assert kb.guides["id_card_renew"].fee.amount == "20元"
    assert kb.guides["id_card_temp"].fee.amount == "10元"
    assert kb.guides["passport"].fee.amount == "120元"
    assert kb.guides["no_criminal_record"].fee.free
    assert kb.guides["marriage_registration"].fee.free


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_errors_name_the_file_and_the_field(
    knowledge_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = knowledge_copy / "guides" / "passport.yaml"
    _edit(guide, lambda d: d["fee"].update(amount="120"))
    _edit(
        knowledge_copy / "guides" / "fund_loan.yaml",
        lambda d: d["location"].update(halls=["moon_base"]),
    )
    (knowledge_copy / "guides" / "hukou_move_in.yaml").unlink()

    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(knowledge_copy)
    message = str(caught.value)
    assert f"{guide}: field fee.amount" in message and "元" in message
    assert "fund_loan.yaml: field location.halls.0: unknown hall 'moon_base'" in message
    assert "hukou_move_in.yaml: missing" in message

    assert validate_main(["--root", str(knowledge_copy)]) == 1
    assert "field fee.amount" in capsys.readouterr().err


def test_unknown_keys_are_refused(knowledge_copy: Path) -> None:
    _edit(knowledge_copy / "guides" / "passport.yaml", lambda d: d.update(prices="cheap"))
    with pytest.raises(KnowledgeError, match=r"passport.yaml: field prices: Extra inputs"):
        load_knowledge(knowledge_copy)
