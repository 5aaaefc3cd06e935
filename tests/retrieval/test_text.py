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
        # a bare "where" next to an online cue asks for the online entry
        ("国家医保app里异地备案在哪点进去", "online"),
        ("退休金认证在微信里能做不 入口在哪", "online"),
        # where to hand the papers in is a place, handing them in online is the online route
        ("我户口在南岗区 低保申请得上哪个地方交材料", "location"),
        ("迁户口能不能先在网上把材料交了 省得来回跑", "online"),
        ("房子在西山区，补房产证能在东湖那边办吗", "location"),
        ("外地户口能在示例市办出国的证件吗", "conditions"),
        # colloquial ways of asking for the steps
        ("公司倒闭了，失业金从哪一步开始办", "process"),
        ("要去上海做手术，医保备案是咋个办法", "process"),
        ("在大厅查办理进度要交费不", "fee"),
        ("证过期了去换新的 旧的那张还用带着不", "materials"),
        ("外省户口的娃第一次办身份证，要拿居住证吗", "materials"),
        # the place is one to avoid; which place; the order of the steps
        ("手机上能把违章处理了不 不想跑交警队", "online"),
        ("哪些银行网点能当场做社保卡", "location"),
        ("身份证掉了好几天了，是不是得先去派出所挂失再补办", "process"),
        ("孩子出院一个礼拜了 准备去派出所报户口 需要拿些啥东西过去", "materials"),
        # asked without the section's own word
        ("这个还要掏腰包吗", "fee"),
        ("换个驾驶证 体检那个钱是医院收吗", "fee"),
        ("下礼拜一交了材料 当周能拿到新证吗", "time_limit"),
        ("八月初的航班 七月中旬才去申请 会不会来不及", "time_limit"),
        ("去大厅领发票 要揣哪个章", "materials"),
        ("简易注销公示在哪个系统能看到", "online"),
        ("失业登记和领失业金是个啥顺序", "process"),
        # dialect and short forms: 工本 for the card fee, weeks as 礼拜, "拿点啥", "还用办吗"
        ("补办护照要交工本不", "fee"),
        ("公积金提取批下来以后 大概几个礼拜到账", "time_limit"),
        ("礼拜天大厅开门不", "location"),
        ("社保窗口礼拜一上午开不开", "location"),
        ("身份证丢了去补 得拿点啥", "materials"),
        ("领了养老金以后 资格认证还用办吗", "conditions"),
        ("今年的个税汇算五月底之前能弄完不", "time_limit"),
        ("过户的评估费要买家另外出吗", "fee"),
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
    # a mishap before "咋整" makes it a particular case; an explicit "流程" stays the steps
    assert aspect_weights("刚申请了补房本 结果旧的在柜子里翻出来了 咋整")["process"] < STRONG
    assert aspect_weights("港澳通行证快过期了，换新证是个啥流程")["process"] == STRONG
    # how long what was issued stays valid is no office time limit
    assert "time_limit" not in aspect_weights("上个月开的无犯罪证明，这证明到底管多长时间")
    # online is what the citizen cannot do
    assert "online" not in aspect_weights("不会在网上报名 可以去哪儿找人帮忙填")
    # "在村里种地" is no place to apply; "村里能办吗" is
    assert "location" not in aspect_weights("我在村里种地 没单位 能自己交养老保险不")
    assert "location" in aspect_weights("村里能办吗")
    # aspect_cues names only main aspects, and not the weak hint of a bare "能……吗"
    assert aspect_cues("可以让家人帮我代办吗") == set()
