"""Filing or asking: what starts a form and what is answered from the guides instead.

The phrasings are the real ones: the form requests of tests/conversations and the dev-split
questions that Rasa's NLU sent to a form intent before action_check_request existed.
"""

from __future__ import annotations

import pytest

from actions.forms.specs import FORMS
from actions.request_check import SERVICE_FOR_INTENT, asks_to_file, looks_like_question

REQUESTS = [
    "身份证丢了，麻烦帮我约个补办的时间",
    "我想把公积金取出来交租金，帮我办一下",
    "我妈要去成都住院，帮忙先办个异地就医的备案",
    "小区旁边的烧烤摊天天吵到凌晨，我要投诉一下",
    "帮我看下我提交的件审到哪了",
    "能不能约个号，我要补领身份证",
    "租房提取公积金，在这里直接申请吧",
    "我想反映个事，马路上的红绿灯坏了",
    "受理编号是YS-20260315-000218 帮我看看到哪了",
    "/apply_fund_rent",
]
STATEMENTS = ["公积金提取付房租", "身份证丢了", "查进度", "我要去外地看病 备个案"]
QUESTIONS = [
    "没扯证生的娃 能给他落户口不",
    "我租房子住钱能不能从那个住房的钱里出",
    "我办的事 能在手机上查进度吗",
    "要去上海做手术，医保备案是咋个办法",
    "转社保的进度在哪看 手机能查不",
    "我没打算办正式身份证 就想单弄一张临时的 行不行",
    "租房提取当天到账不",
    "补办身份证要多少钱",
    "生育津贴算下来比我平时工资少一千多，差的钱谁补",
]


@pytest.mark.parametrize("text", REQUESTS)
def test_requests_ask_to_file(text: str) -> None:
    assert asks_to_file(text)


@pytest.mark.parametrize("text", STATEMENTS)
def test_statements_are_neither(text: str) -> None:
    assert not asks_to_file(text) and not looks_like_question(text)


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions_are_questions_and_not_requests(text: str) -> None:
    assert looks_like_question(text) and not asks_to_file(text)


def test_every_form_intent_has_its_service() -> None:
    assert set(SERVICE_FOR_INTENT) == {spec.intent for spec in FORMS.values()}


def test_only_a_request_for_ones_own_list_shows_the_history() -> None:
    """Every ask_my_history example asks for the list; questions the NLU sent there do not."""
    from pathlib import Path

    import yaml

    from actions.history import asks_for_own_history

    path = Path(__file__).resolve().parents[2] / "bot/data/nlu/history.yml"
    nlu = yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]
    examples = [
        line.removeprefix("- ").strip()
        for item in nlu
        if item.get("intent") == "ask_my_history"
        for line in item["examples"].splitlines()
        if line.strip()
    ]
    assert len(examples) > 20
    assert [e for e in examples if not asks_for_own_history(e)] == []
    assert asks_for_own_history("/ask_my_history")
    for question in (
        "想给家里申请低报，要准备哪些东西",
        "上线检验都要检查哪些项目",
        "说好十个工作日办完 现在都过了还没好 咋办",
    ):
        assert not asks_for_own_history(question), question
