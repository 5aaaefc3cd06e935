"""Elder mode answers: the essentials, at most three points, and the rest offered."""

from __future__ import annotations

from actions.kb_answer import ELDER_POINTS, elder_answer

MATERIALS = """办理居民身份证遗失补领需要准备：
1. 居民户口簿（原件1份，户籍地公安机关）〔视情况提供〕：本市户籍居民携带；异地补领无需提供户口簿。
2. 本人近期免冠彩色证件照片（电子或纸质1份，窗口现场免费采集）
3. 监护人居民身份证（原件1份，公安机关）〔视情况提供〕：仅未满十六周岁申请人需要。
4. 居住证（原件1份）：外地户籍居民提供。"""


def test_at_most_three_points_without_details() -> None:
    short, left_out = elder_answer(MATERIALS)
    lines = short.splitlines()
    assert lines[0] == "办理居民身份证遗失补领需要准备："
    assert lines[1:] == [
        "1. 居民户口簿：本市户籍居民携带",
        "2. 本人近期免冠彩色证件照片",
        "3. 监护人居民身份证：仅未满十六周岁申请人需要",
    ]
    assert len(lines) - 1 == ELDER_POINTS and left_out


def test_fee_basis_is_left_for_the_full_answer() -> None:
    short, left_out = elder_answer(
        "遗失补领工本费每证40元；邮寄送证的，快递费另收。\\n收费依据：《关于居民身份证收费标准的通知》"
    )
    assert short == "遗失补领工本费每证40元" and left_out


def test_a_short_answer_stays_whole() -> None:
    assert elder_answer("不收费。") == ("不收费", False)
    short, _ = elder_answer("不需要单独挂失。到窗口申请补领时即同时办理挂失。")
    assert short == "不需要单独挂失。到窗口申请补领时即同时办理挂失"
