import logging

import pytest

from yishi.logging import MaskingFilter
from yishi.privacy import mask_pii


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("我的身份证号是11010519491231002X", "我的身份证号是1101**********002X"),
        ("身份证110105194912310021，电话13912345678", "身份证1101**********0021，电话139****5678"),
        ("电话 139 1234 5678 找我", "电话 139****5678 找我"),
        ("卡号6222 0200 1234 5678 901", "卡号***************8901"),
        ("银行卡6217000010001234567", "银行卡***************4567"),
    ],
)
def test_personal_data_is_masked(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked


@pytest.mark.parametrize(
    "text",
    [
        "护照费用120元",
        "办理时限20个工作日",
        "受理编号YS20261123000123",
        "受理编号YS-20261123-000123",
        "12345工单编号12345-20261123-0001已办结",
        "2026年11月23日上午9点",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_log_records_are_masked_before_any_handler_sees_them() -> None:
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "citizen %s said %s", ("web:1", "手机13812345678"), None
    )
    assert MaskingFilter().filter(record)
    assert record.getMessage() == "citizen web:1 said 手机138****5678"
