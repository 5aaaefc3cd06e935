"""Aspect cues: the words that say which part of a guide a question is about."""

from __future__ import annotations

import re

_CUES: dict[str, str] = {
    "fee": r"多少钱|几块钱|收费|收不收费|费用|免费|要钱|花钱|价格|工本费|交钱|缴费标准|贵不贵",
    "time_limit": r"多久|多长时间|几天|几个工作日|时限|多快|什么时候(?:能|可以)?(?:拿|领|办好|下来|出来|到账)|期限|截止|加急|啥时候",
    "location": r"在哪|哪里|哪儿|去哪|什么地方|地址|窗口|几点|上班时间|办公时间|周末|星期六|礼拜|附近|哪个大厅",
    "online": r"网上|线上|手机上|手机办|app|小程序|公众号|微信上|网办|不用跑|掌上|在家(?:就能|能)?办|远程",
    "materials": r"材料|带什么|带啥|证件|准备什么|准备啥|复印件|照片|户口本|资料|要带|提交什么",
    "conditions": r"条件|资格|谁能|谁可以|能不能办|可以办吗|符合|要求|够不够|有没有资格|能申请吗|可以申请",
    "process": r"流程|步骤|手续|怎么办|怎么弄|咋办|咋弄|怎么申请|如何办理|怎么操作|程序",
}
_COMPILED = {aspect: re.compile(pattern, re.IGNORECASE) for aspect, pattern in _CUES.items()}


def aspect_cues(text: str) -> set[str]:
    """Aspects the question names explicitly (often none, sometimes two)."""
    found = {aspect for aspect, pattern in _COMPILED.items() if pattern.search(text)}
    # "怎么办" also appears inside questions about another aspect ("网上怎么办"): keep the specific one
    if "process" in found and len(found) > 1:
        found.discard("process")
    return found
