"""Anger and complaints about staff: the citizen should reach a person, not another answer.

A deliberately small, readable cue list. Complaints about a city matter (路灯坏了, 噪音扰民)
are not here: those are 12345 complaints the bot files with the complaint form. These are
about how the citizen is being served — by the assistant, a hall window or its staff — or
plain exasperation.
"""

from __future__ import annotations

import re

_ANGER = re.compile(
    r"气死|烦死|急死|受够|忍无可忍|太过分|欺负人|什么破|破系统|破机器|垃圾|废物|"
    r"有病吧|搞什么|什么玩意|骗子|坑人|踢皮球|推来推去|推三阻四|跑了\s*[好很几\d一二三四五六七八九十]+\s*[趟次]|"
    r"(?:办事|审批|窗口|效率).{0,3}(?:太慢|慢死|拖拉)|"
    r"(?:工作人员|窗口的?人|办事员|柜员|坐席|客服|你们的?人).{0,8}(?:态度|骂|凶|吼|爱答不理|不理人|刁难|不耐烦|玩手机|推诿|敷衍)|"
    r"(?:态度|服务).{0,2}(?:太差|恶劣|极差|很差|真差|差劲)|"
    r"投诉.{0,4}(?:工作人员|窗口|办事员|柜员|你们)"
)
_NEGATED = re.compile(
    r"不(?:是|算)?垃圾|垃圾(?:分类|清运|桶|站|处理|收集|箱)|骗子.{0,4}(?:诈骗|电话)"
)


def is_upset(text: str) -> bool:
    """Whether the message shows anger or complains about how the citizen is served."""
    if not _ANGER.search(text):
        return False
    return not _NEGATED.search(text) or bool(_ANGER.search(_NEGATED.sub("", text)))
