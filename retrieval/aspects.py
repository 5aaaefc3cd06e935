"""Aspect cues: the words that say which part of a guide a question is about."""

from __future__ import annotations

import re

_CUES: dict[str, str] = {
    "fee": r"多少钱|几块钱|收费|手续费|收.{0,4}费|费吗|收不收|收钱|要钱|花钱|花多少|交多少|缴多少|费用|税费|免费|价格|工本费|贵不贵|要不要钱|掏钱",
    "time_limit": (
        r"多久|多长时间|几天|几个工作日|时限|多快|啥时候|什么时候(?:能|可以|才)?(?:拿|领|办好|下来|出来|到账|办完)"
        r"|期限|截止|加急|当天|当场|立等|最晚|过期|以内|之内"
    ),
    "location": r"在哪|哪里|哪儿|去哪|什么地方|地址|窗口|几点|上班时间|办公时间|周末|星期六|礼拜|附近|哪个大厅|哪个派出所|哪个部门",
    "online": r"网上|线上|手机上|手机办|app|小程序|公众号|微信上|网办|不用跑|掌上|在家(?:就能|能)?办|远程|刷脸|网站",
    "materials": r"材料|带什么|带啥|证件要|准备什么|准备啥|复印件|照片|户口本|资料|要带|提交什么|需要什么东西|要什么东西|拿什么|需要什么$|要什么$|需要啥$|要啥$",
    "conditions": (
        r"条件|资格|谁能|谁可以|能不能办|能办吗|可以办吗|符合|够不够|有没有资格|能申请吗|可以申请|能参加|能领吗"
        r"|行不行|可不可以办|一定要|必须"
    ),
    "process": (
        r"流程|步骤|手续|怎么办|怎么弄|咋办|咋弄|咋整|怎么申请|如何办理|怎么操作|程序|第一步|先干啥|先做什么"
        r"|怎么换|咋换|怎么交|咋交|怎么转|咋转|怎么报|咋报|怎么提|咋提|怎么开|咋开|怎么上|怎么落"
    ),
}
_COMPILED = {aspect: re.compile(pattern, re.IGNORECASE) for aspect, pattern in _CUES.items()}
# "能……办吗" asks whether one qualifies, unless a more specific cue says what else it asks
_WEAK_CONDITIONS = re.compile(r"能.{0,8}(?:办|领|参加|申请|落户|提取?|享受)吗")


def aspect_cues(text: str) -> set[str]:
    """Aspects the question names explicitly (often none, sometimes two)."""
    found = {aspect for aspect, pattern in _COMPILED.items() if pattern.search(text)}
    if not found and _WEAK_CONDITIONS.search(text):
        found.add("conditions")
    # "怎么办" also appears inside questions about another aspect ("网上怎么办"): keep the specific one
    if "process" in found and len(found) > 1:
        found.discard("process")
    return found
