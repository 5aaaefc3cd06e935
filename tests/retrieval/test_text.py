import pytest

from retrieval.aspects import aspect_cues
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
