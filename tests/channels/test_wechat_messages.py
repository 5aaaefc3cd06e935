"""Parsing what WeChat sends (safely), rendering what we answer, the menu and the halls."""

from __future__ import annotations

import pytest
import yaml

from channels.core.schemas import Button
from channels.wechat.halls import Halls
from channels.wechat.menu import MENU_FILE, Menu, load_menu
from channels.wechat.messages import (
    CHOOSE_HINT,
    BadMessage,
    encrypted_reply_xml,
    parse_inbound,
    parse_xml,
    pick_button,
    render,
    split_text,
    text_reply_xml,
)
from retrieval.config import get_retrieval_settings

TEXT = """<xml>
  <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
  <FromUserName><![CDATA[oUser-abc_123]]></FromUserName>
  <CreateTime>1700000000</CreateTime>
  <MsgType><![CDATA[text]]></MsgType>
  <Content><![CDATA[身份证丢了 <怎么> 补办 & ]]></Content>
  <MsgId>24000000000000001</MsgId>
</xml>"""


def test_text_message() -> None:
    inbound = parse_inbound(parse_xml(TEXT.encode()))
    assert inbound.openid == "oUser-abc_123" and inbound.to_user == "gh_123456789abc"
    assert inbound.sender == "wechat:oUser-abc_123"
    assert inbound.msg_type == "text" and inbound.create_time == 1700000000
    assert inbound.get("Content") == "身份证丢了 <怎么> 补办 & "
    assert inbound.dedup_key == "m:24000000000000001"


def test_voice_location_and_events() -> None:
    voice = parse_inbound(
        parse_xml(
            "<xml><ToUserName>gh</ToUserName><FromUserName>oV</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>voice</MsgType><MediaId>m1</MediaId>"
            "<Format>amr</Format><Recognition><![CDATA[社保卡怎么办]]></Recognition>"
            "<MsgId>7</MsgId></xml>"
        )
    )
    assert voice.get("Recognition") == "社保卡怎么办" and voice.get("Format") == "amr"
    where = parse_inbound(
        parse_xml(
            "<xml><ToUserName>gh</ToUserName><FromUserName>oL</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>location</MsgType>"
            "<Location_X>30.289</Location_X><Location_Y>120.212</Location_Y><Scale>15</Scale>"
            "<Label><![CDATA[东湖区]]></Label><MsgId>8</MsgId></xml>"
        )
    )
    assert where.location == (30.289, 120.212)
    click = parse_inbound(
        parse_xml(
            "<xml><ToUserName>gh</ToUserName><FromUserName>oE</FromUserName>"
            "<CreateTime>1700000005</CreateTime><MsgType>event</MsgType>"
            "<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[HELP]]></EventKey></xml>"
        )
    )
    # events have no MsgId: FromUserName + CreateTime (and the event itself)
    assert click.event == "click" and click.event_key == "HELP"
    assert click.dedup_key == "e:oE:1700000005:click:HELP"


@pytest.mark.parametrize(
    "body",
    [
        # XXE: an external entity reading a local file
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><FromUserName>o1</FromUserName><Content>&xxe;</Content></xml>",
        # billion laughs
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<xml><Content>&lol3;</Content></xml>",
        # a DTD even without entities
        '<!DOCTYPE xml SYSTEM "http://example.invalid/x.dtd"><xml><Content>x</Content></xml>',
        # not XML, not <xml>, nothing
        "hello",
        "<html><body/></html>",
        "",
    ],
)
def test_unsafe_or_foreign_bodies_are_refused(body: str) -> None:
    with pytest.raises(BadMessage):
        parse_xml(body.encode())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("FromUserName", "o bad id"),
        ("FromUserName", "o<script>"),
        ("FromUserName", "x" * 129),
        ("FromUserName", ""),
        ("CreateTime", "yesterday"),
        ("MsgType", ""),
    ],
)
def test_malformed_fields_are_refused(field: str, value: str) -> None:
    fields = {"FromUserName": "oOk", "CreateTime": "1", "MsgType": "text", "ToUserName": "gh"}
    fields[field] = value
    with pytest.raises(BadMessage):
        parse_inbound(fields)


def test_passive_reply_xml_round_trips_awkward_text() -> None:
    content = "答复含 ]]> 与 <b>&amp; 以及控制字符\x07。"
    xml = text_reply_xml("oUser", "gh_1", content, 1700000000)
    back = parse_xml(xml)
    assert back["ToUserName"] == "oUser" and back["FromUserName"] == "gh_1"
    assert back["MsgType"] == "text" and back["CreateTime"] == "1700000000"
    assert back["Content"] == "答复含 ]]> 与 <b>&amp; 以及控制字符。"
    sealed = parse_xml(encrypted_reply_xml("QUJD", "sig", "1700000000", "n1"))
    assert sealed == {
        "Encrypt": "QUJD",
        "MsgSignature": "sig",
        "TimeStamp": "1700000000",
        "Nonce": "n1",
    }


def test_buttons_become_numbered_lines_across_a_turn() -> None:
    rendered = render(
        [
            (
                "您是想问哪一项？",
                [Button(title="补领身份证", payload='/ask_service{"kb_doc":"a"}')],
            ),
            ("也可以：", [{"title": "换领身份证", "payload": "换领"}, {"title": "转人工客服"}]),
            ("", []),
        ]
    )
    assert rendered.text == (
        "您是想问哪一项？\n1. 补领身份证\n\n也可以：\n2. 换领身份证\n3. 转人工客服\n" + CHOOSE_HINT
    )
    assert rendered.buttons[0]["payload"] == '/ask_service{"kb_doc":"a"}'
    assert rendered.buttons[2] == {"title": "转人工客服", "payload": "转人工客服"}
    assert render([("没有按钮的答复", [])]).buttons == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", "p1"), (" 2 ", "p2"), ("２", "p2"), ("3。", "p3"), ("3.", "p3"), ("0", None),
     ("4", None), ("12", None), ("1个", None), ("补领", None)],
)  # fmt: skip
def test_a_number_picks_a_button(text: str, expected: str | None) -> None:
    buttons = [{"title": f"t{i}", "payload": f"p{i}"} for i in (1, 2, 3)]
    assert pick_button(text, buttons) == expected
    assert pick_button("1", []) is None


def test_long_replies_are_split_by_bytes() -> None:
    paragraph = "办理材料：居民户口簿、近期免冠照片。" * 10  # 180 characters, 540 bytes
    text = "\n".join([paragraph] * 6)
    chunks = split_text(text, 1200)
    assert all(len(c.encode()) <= 1200 for c in chunks) and len(chunks) == 3
    assert "\n".join(chunks) == text
    one_line = "长" * 1000  # 3000 bytes without a line break
    pieces = split_text(one_line, 1000)
    assert all(len(p.encode()) <= 1000 for p in pieces) and "".join(pieces) == one_line
    assert split_text("短答复", 2000) == ["短答复"] and split_text("  \n ", 2000) == []


def test_the_menu_file_fits_wechat_limits() -> None:
    menu = load_menu()
    body = menu.wechat()
    assert 1 <= len(body["button"]) <= 3
    keys = []
    for item in body["button"]:
        assert len(item["name"].encode()) <= 16
        for sub in item.get("sub_button", []):
            assert sub["type"] == "click" and len(sub["name"].encode()) <= 60
            keys.append(sub["key"])
        if "key" in item:
            keys.append(item["key"])
    assert set(keys) <= set(menu.actions) and "HUMAN" in keys


def test_menu_validation_names_the_problem() -> None:
    raw = yaml.safe_load(MENU_FILE.read_text(encoding="utf-8"))
    too_long = {**raw, "menu": [{"name": "一二三四五六", "key": "HELP"}]}
    with pytest.raises(ValueError, match="16 bytes"):
        Menu.model_validate(too_long)
    missing = {**raw, "menu": [{"name": "帮助", "key": "NOPE"}]}
    with pytest.raises(ValueError, match="NOPE"):
        Menu.model_validate(missing)
    four = {**raw, "menu": [{"name": f"项{i}", "key": "HELP"} for i in range(4)]}
    with pytest.raises(ValueError):
        Menu.model_validate(four)


def test_nearest_hall() -> None:
    halls = Halls.load(get_retrieval_settings().knowledge_dir / "halls.yaml")
    text = halls.describe_nearest(30.2885, 120.2130, "湖滨路")
    assert text.startswith("离您（湖滨路）最近的政务服务中心：\n东湖区政务服务中心")
    assert "地址：示例市东湖区湖滨路28号" in text and "附近还有" in text
    nearest_hall, km = halls.nearest(30.2741, 120.1551, limit=1)[0]
    assert nearest_hall.id == "city_service_center" and km < 0.01
