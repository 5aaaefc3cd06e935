import pytest

from retrieval.aspects import STRONG, aspect_cues, aspect_weights
from retrieval.text import normalise, tokens


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("身分证丢了", "身份证丢了"),
        ("公基金怎么取", "公积金怎么取"),
        ("良民证去哪开", "无犯罪记录证明去哪开"),
        ("ＡＰＰ上能办吗？", "app上能办吗?"),
        ("  社宝卡   补办 ", "社保卡 补办"),
    ],
)
def test_normalise_fixes_width_case_spaces_and_typos(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def test_tokens_keep_service_terms_whole_and_drop_filler() -> None:
    result = tokens("请问公积金租房提取需要什么材料呢？")
    assert "公积金" in result and "材料" in result
    assert not {"请问", "需要", "什么", "呢", "？"} & set(result)


@pytest.mark.parametrize(
    ("question", "aspects"),
    [
        ("护照办一下多少钱", {"fee"}),
        ("补办身份证要带什么", {"materials"}),
        ("社保卡在哪里办", {"location"}),
        ("公积金提取多久到账", {"time_limit"}),
        ("能在手机上办吗", {"online"}),
        ("低保申请有什么条件", {"conditions"}),
        ("结婚登记怎么办", {"process"}),
        ("网上怎么办", {"online"}),
        ("身份证", set()),
    ],
)
def test_aspect_cues(question: str, aspects: set[str]) -> None:
    assert aspect_cues(question) == aspects


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        # of two cues the one that ends the question is what it asks
        ("办居住证的资格审核收费吗", "fee"),
        ("换驾照要带什么材料 网上能办吗", "online"),
        # a duration one must reach first is a condition, not how long the office takes
        ("外地人在这里住多久才能办居住证", "conditions"),
        ("高龄津贴一个月能领多少钱", "conditions"),  # an amount one receives is no fee
        ("街道能办低保吗", "location"),  # a place, then a generic "能办吗"
        ("周六能去交警队处理违章吗", "location"),
        ("外地户口能在这边交医保吗", "conditions"),  # only "能……吗": conditions, weakly
    ],
)
def test_aspect_weights_put_what_is_asked_first(question: str, asked: str) -> None:
    weights = aspect_weights(question)
    assert max(weights, key=weights.__getitem__) == asked, weights


def test_particular_cases_lean_to_the_guide_qa() -> None:
    # "过期了怎么换" asks what to do, not how long the office takes
    assert "time_limit" not in aspect_weights("残疾证过期了怎么换")
    assert aspect_weights("残疾证过期了怎么换")["process"] < STRONG
    assert "other" in aspect_weights("可以让家人帮我代办吗")
    assert "other" in aspect_weights("申请被驳回了怎么办")
    assert "other" not in aspect_weights("护照办一下多少钱")
    # aspect_cues names only main aspects, and not the weak hint of a bare "能……吗"
    assert aspect_cues("可以让家人帮我代办吗") == set()
