"""Matching a transcript to services on characters and toneless pinyin (channels/voice/matching.py)."""

from __future__ import annotations

import pytest

from channels.voice.matching import ServiceMatcher, syllable_similarity, units


@pytest.fixture(scope="module")
def matcher() -> ServiceMatcher:
    return ServiceMatcher.from_knowledge()


def test_similar_sounds_score_between_unrelated_and_identical() -> None:
    assert syllable_similarity("shen", "shen") == 1.0
    assert syllable_similarity("shen", "sheng") == syllable_similarity("sheng", "shen")
    near = [("shen", "sheng"), ("zhi", "zi"), ("ji", "zhi"), ("ban", "pan"), ("lu", "nu")]
    for a, b in near:
        assert 0.6 < syllable_similarity(a, b) < 1.0, (a, b)
    assert syllable_similarity("shen", "ma") < 0.3
    assert syllable_similarity("gong", "ai") < 0.3


def test_units_read_han_digits_and_latin_pinyin() -> None:
    assert units("身份证") == [("身", "shen"), ("份", "fen"), ("证", "zheng")]
    assert [s for _, s in units("打12345")] == ["da", "yi", "er", "san", "si", "wu"]
    # whisper sometimes writes what it heard as Latin letters
    assert [s for _, s in units("DQE-PAN")] == ["pan"]
    assert units("？！ ...") == []


def _top(matcher: ServiceMatcher, text: str, k: int = 3) -> list[str]:
    return [c.service_id for c in matcher.match(text).candidates][:k]


@pytest.mark.parametrize(
    ("transcript", "service_id"),
    [
        ("身份证丢了怎么办", "id_card_lost"),
        # homophone typos: the characters are wrong, the sounds are right
        ("生分证丢了", "id_card_lost"),
        ("公鸡金租房提取", "fund_withdraw_rent"),
        ("节婚登记要带什么", "marriage_registration"),
        ("异地救医备案", "medical_remote_filing"),
        ("无犯最记录证明", "no_criminal_record"),
        ("社保卡丢了怎么补", "social_security_card"),
        ("港奥通行证续签", "hk_macau_permit"),
    ],
)
def test_homophones_and_typos_find_the_service_first(
    matcher: ServiceMatcher, transcript: str, service_id: str
) -> None:
    assert _top(matcher, transcript, 1) == [service_id]


@pytest.mark.parametrize(
    ("transcript", "service_id"),
    [
        # what whisper-base actually wrote for espeak-ng speaking the question in brackets
        ("我犯罪器,我只能被你抓住", "no_criminal_record"),  # 无犯罪记录证明去哪里开
        ("小豹卡丢的肩膀", "social_security_card"),  # 社保卡丢了怎么补办
        ("感傲通现真正的事前", "hk_macau_permit"),  # 港澳通行证怎么续签
        ("我的事先叛到阿伊布了", "service_progress"),  # 我的事情办到哪一步了
        ("我要投诉仲贤仲敏", "complaint_12345"),  # 我要投诉噪音扰民
    ],
)
def test_misheard_transcripts_keep_the_service_in_the_top_three(
    matcher: ServiceMatcher, transcript: str, service_id: str
) -> None:
    assert service_id in _top(matcher, transcript)


def test_a_clear_question_is_sure_and_candidates_carry_title_and_payload(
    matcher: ServiceMatcher,
) -> None:
    result = matcher.match("我的身份证丢了怎么补办")
    assert result.sure
    best = result.candidates[0]
    assert best.service_id == "id_card_lost" and best.title == "居民身份证遗失补领"
    assert best.payload == "身份证丢了怎么办"  # the guide's first process question
    assert len(result.candidates) == 3
    assert [c.score for c in result.candidates] == sorted(
        (c.score for c in result.candidates), reverse=True
    )


def test_an_ambiguous_transcript_asks_to_confirm(matcher: ServiceMatcher) -> None:
    result = matcher.match("身份证")
    assert not result.sure
    assert {c.service_id for c in result.candidates} <= {
        "id_card_lost",
        "id_card_first",
        "id_card_renew",
        "id_card_temp",
    }


def test_nothing_spoken_gives_no_candidates(matcher: ServiceMatcher) -> None:
    result = matcher.match("……")
    assert result.candidates == [] and not result.sure
