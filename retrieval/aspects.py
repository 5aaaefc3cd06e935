"""Aspect cues: the words that say which part of a guide a question is about."""

from __future__ import annotations

import re

# which step, in what order: a process cue, and an explicit ask for the steps (_STEPS)
_STEP_ORDER = (
    r"哪一步|哪几步|先[^，,。？?\s]{1,10}再|是先[^，,。？?\s]{1,8}还是先|顺序|环节|一步步|先后"
)

_CUES: dict[str, str] = {
    "fee": (
        r"多少钱|几块钱|收费|手续费|收.{0,4}费|费吗|收不收|收钱|要钱|花钱|花多少|交多少|缴多少|费用|税费|免费"
        r"|价格|工本|贵不贵|要不要钱|掏钱|交钱|交不交钱|比例|契税|什么税|哪些税|滞纳金"
        r"|(?:交|缴|收|花|给)[^，,。？?\s]{0,3}(?:几|[0-9一二三四五六七八九十百千]+)(?:块|元|百)"
        r"|(?:交|缴)费(?:吗|不|么|嘛)|要(?:交|缴)费"
        r"|掏腰包|扣钱|另外?(?:出|掏|付)(?:钱|吗|不)|扣不扣|扣费|便宜|自费|给钱|付钱|出钱|钱[^，,。？?\s]{0,6}收(?:吗|不|么)|谁(?:出|付|掏)(?:钱)?$|(?:费|钱)(?:是|由)?(?:谁|哪个)(?:出|付|掏|承担|收)"
    ),
    # not "过期": "过期了怎么换 / 还能用吗" asks what to do, not how long the office takes
    "time_limit": (
        r"多久|多长时间|几天|几个工作日|时限|多快|啥时候|什么时候|几号|几月|哪天|多少天"
        r"|期限|截止|加急|当天|当场|立等|最晚|以内|之内|马上|立马|多会儿|几时|要等|得等"
        r"|工作日|来得及|来不及|几个?礼拜|几周|[月年]底(?:之)?前|赶得上|拖到.{0,6}(?:再|行|可以)|半小时|几个?小时|多就"
        r"|(?:当周|隔天|次日|第二天|明天|下周|下礼拜|一周|几周|半个月|一个月)(?:内|之内)?(?:就|能|可以|会)?"
        r"(?:拿|取|到|好|下来|办好|办完|出来|批|寄到|到账|到卡)"
    ),
    # where and when, also as "<place>能办吗": 街道、派出所、周六……
    "location": (
        r"在哪|哪里|哪儿|去哪|上哪|什么地方|哪个地方|哪个单位|地址(?:在|是|呢|$)|什么地址|窗口|几点|上班时间|办公时间|周末|周六|周日|星期六|星期天|礼拜[一二三四五六天日]|节假日|晚上"
        r"|附近|哪个大厅|哪个派出所|哪个部门|哪个区|去.{1,6}还是.{1,6}(?:办|换|交|弄|领|开)|去.{1,5}办吗"
        r"|派出所|街道|社区|村里(?:能|可以|就)?办|村委会|居委会|车管所|交警队|银行网点|大厅|服务中心|登记中心"
        r"|高新区|回老家|回户籍地|就地|协办点|办理点|代办点|服务点|服务站|点(?:也|就)?(?:能|可以)办|(?:能|可以)在(?!这|本|网|手机|线上|示例市|当地|外地)[^，,。？?\s]{1,8}办"
        r"|(?:区|县|镇|那边|那儿)(?:也|就)?(?:能|可以)办|跑.{0,8}(?:中心|大厅|局|所|窗口)"
    ),
    "online": (
        r"网上|线上|手机上|手机办|app|小程序|公众号|微信|支付宝|网办|不用跑|掌上|在家(?:就能|能)?办|远程|刷脸|网站"
        r"|邮寄|寄到|寄过去|快递|电脑上|12123|电子税务局|不去现场|不用去现场|不到现场|不用到场"
        r"|下载|网址|链接|平台|怎么查|在线查|电子社保卡|电子证照|电子营业执照|电子版"
        r"|示例办|政务服务网|入口|点进去|从哪进|在哪进|菜单|网页|手机能查|手机上查"
        r"|电子[^，,。？?\s]{0,4}(?:卡|证|照|版|标志|凭证)"
        r"|哪个系统|什么系统|系统(?:里|上)(?:能|可以|咋|怎么)|用手机|手机里|手机(?:能|可以|咋|怎么|哪)"
    ),
    "materials": (
        r"材料|带什么|带啥|证件要|准备什么|准备啥|准备哪些|哪些证件|什么证件|复印件|照片|户口本|资料|要带"
        r"|提交什么|提供什么|要提供|需要什么东西|要什么东西|拿什么|需要什么$|要什么$|需要啥$|要啥$"
        r"|什么证明|证据|几张|尺寸|授权书|什么章|盖章"
        r"|(?:用|得|还|需|要不要|用不用)带|带着|带些|带哪些|带上啥|带上什么|(?:拿|带)些?(?:啥|什么)东西"
        r"|揣|(?:要|得|还得|需要)(?:拿|带)(?:啥|什么|哪些|哪个)|(?:拿|带)点(?:啥|什么)"
    ),
    "conditions": (
        r"条件|资格|谁能|谁可以|符合|够不够|有没有资格|什么情况|哪些情况|什么人|哪些人"
        r"|多大岁数|多大年纪|多少岁|几岁|岁数|年龄|还用(?:办|交|报|申请|参加)"
    ),
    "process": (
        r"流程|步骤|手续|怎么办|怎么弄|咋办|咋弄|咋整|怎么申请|如何办理|怎么操作|程序|第一步|先干啥|先做什么"
        r"|(?:怎么|咋|如何|怎样)(?:给.{1,3}|把.{1,6})?(?:换|交|缴|转|报|提|开|上|落|参保|登记|拿|取|关|销|注销)"
        r"|(?:咋|怎么)个?(?:操作|办法|搞|走|处理|申请)|咋个办|怎么个办|什么办法|啥办法|几个步骤"
        r"|从哪开始|具体(?:怎么|咋)|过程|啥流程|" + _STEP_ORDER
    ),
}
_COMPILED = {aspect: re.compile(pattern, re.IGNORECASE) for aspect, pattern in _CUES.items()}
# a physical place or office hours, as opposed to a bare "where" (在哪, 哪里)
_PLACE = re.compile(
    r"窗口|几点|上班时间|办公时间|周末|周六|周日|星期|礼拜[一二三四五六天日]|节假日|晚上|附近|大厅|派出所|街道|社区|车管所"
    r"|交警队|网点|服务中心|登记中心|区|县|镇|回老家|户籍地|地址|哪个部门|哪个单位|办理点|协办点|服务点"
)
# "上哪个地方交材料": where to hand the papers in, not which papers
_WHERE_TO_HAND_IN = re.compile(r"(?:哪|什么地方).{0,6}(?:交|递|送|提交|报)(?:材料|资料|申请)")
# "网上把材料交了": handing papers in online asks about the online route, not the list
_SUBMIT_PAPERS = re.compile(r"(?:交|传|提交|上传|递交)(?:了|的)?材料|材料(?:交|传|提交|上传|递交)")
# an explicit ask for the steps stays the main aspect even in a particular case
_STEPS = re.compile(r"流程|步骤|手续|程序|" + _STEP_ORDER)
# "哪些银行网点能当场办": which place, whatever else the question mentions
_WHICH_PLACE = re.compile(
    r"哪(?:些|个|家)[^，,。？?\s]{0,4}(?:网点|银行|大厅|窗口|派出所|医院|中心|地方|部门|单位)"
)
# "不想跑大厅 手机上能办不": the place named is the one to avoid
_AVOID_PLACE = re.compile(
    r"(?:不想|不用|不愿|懒得|免得|不必|省得)(?:再)?(?:跑|去)|还是(?:只能|得|要|必须)去"
)
# "不会在网上报名 去哪儿找人帮忙": online is what the citizen cannot do
_NO_ONLINE = re.compile(
    r"不会(?:在|用)?(?:网上|手机|电脑|上网|智能手机)|不会上网|没有?(?:智能)?手机"
)
# "住多久才能办", "交满几年才可以领": a duration one must reach first is a condition, not how
# long the office takes
_DURATION_CONDITION = re.compile(
    r"(?:住|满|缴|交|工作|上班|参保|居住|待)了?.{0,2}(?:多久|多长时间|几年|几个月).{0,4}"
    r"(?:才(?:能|可以)|(?:能|可以)(?:办|领|申请|提|落户|参加|享受))"
    r"|提前多久|多久.{0,2}一次"
)
_VALIDITY = re.compile(r"管多长时间|管多久|能用多久|待几天|最多待|停留|有效期")
# "一个月能补多少", "能贷多少": how much one gets is set by the conditions, it is not a fee
_AMOUNT = re.compile(r"(?:补|领|发|拿|贷|报|退|提)了?多少|挣多少|收入.{0,3}多少")
# "要收入证明吗", "上户口需要出生证吗": whether a document is needed is about materials
_NEEDS_DOCUMENT = re.compile(
    r"(?:要|需要|要不要|需不需要|用不用|得)(?:拿|带|交|提供|出具)?[^，,。？?\s办领换补开考拿去]{0,8}"
    r"(?:证|证明|合同|发票|单据|票据|户口簿|复印件)(?:吗|不|么)?[？?]?$"
)
# "能办吗", "必须……吗" ask whether one qualifies, unless a more specific cue says what else
# is asked ("在哪办 火车站能办吗" asks where); "能……吗" on its own says so more weakly
_GENERIC_CONDITIONS = re.compile(
    r"能不能办|能办吗|可以办吗|能申请吗|可以申请|能参加|能领吗|行不行|可不可以办|一定要|必须|一定得"
    r"|有[^，,。？?\s]{1,6}(?:拿|领)(?:吗|不|么)|能拿吗"
)
_CAN_CONDITIONS = re.compile(r"能.{0,8}(?:办|领|参加|申请|落户|提取?|享受)吗")
# any "能……吗 / 能不能 / 要不要办" hints at conditions too, without naming the aspect
_MAYBE_CONDITIONS = re.compile(
    r"能不能|可不可以|能否|可否|(?:能|可以|行)[^，,。？?]{0,14}(?:吗|不|么|嘛)[？?]?$"
    r"|(?:需要|要不要|需不需要|用不用)(?:办|交|参加)"
)
# questions about a particular case rather than the standard procedure: what happens if…,
# a refusal or dispute, someone else doing it. Guide Q&A answer those.
_OTHER = re.compile(
    r"会怎样|会怎么样|会不会|后果|驳回|被拒|没通过|不通过|异议|不满意|申诉|复核|罚款|罚不罚|受影响|影响.{0,6}吗"
    r"|代办|代领|代为|替我|替他|替她|帮我|帮他|帮她|帮忙|(?:让|请|找|委托).{0,4}(?:帮|替|代)"
    r"|忘了|忘记|写错|填错|登记错|弄错|错了|找回|去世|有效期|过期|还能|还可以"
    r"|结果|发现|压根|不一样|对不上|回不来|还没好|都过了|咋回事|怎么回事|好几[回次遍]|不成功|失败"
    r"|找着|找到了|又找|人在国外|在国外|出国了|[两几三多]个(?:城市|地方)|管多长时间|管多久|能用多久|待几天|最多待|停留"
)

# the weight of an aspect cue on its documents, relative to RetrievalSettings.aspect_boost
STRONG, SECONDARY, WEAK = 1.0, 0.5, 0.5


def aspect_cues(text: str) -> set[str]:
    """Main aspects the question names explicitly (often none, sometimes two)."""
    return _analyse(text)[1]


def aspect_weights(text: str) -> dict[str, float]:
    """How strongly the question asks about each aspect ("other": a particular case).

    A Chinese question puts what it asks last ("每年验证领取资格收钱吗" asks about the fee,
    not the conditions): of several cues, the one that ends last counts fully, the others half.
    """
    return _analyse(text)[0]


def _analyse(text: str) -> tuple[dict[str, float], set[str]]:
    ends: dict[str, int] = {}
    for aspect, pattern in _COMPILED.items():
        matches = list(pattern.finditer(text))
        if matches:
            ends[aspect] = matches[-1].end()
    if "time_limit" in ends and _VALIDITY.search(text):
        del ends["time_limit"]
    if "time_limit" in ends and _DURATION_CONDITION.search(text):
        ends["conditions"] = max(ends.get("conditions", 0), ends.pop("time_limit"))
    if amount := _AMOUNT.search(text):
        ends.pop("fee", None)
        ends["conditions"] = max(ends.get("conditions", 0), amount.end())
    if needs := _NEEDS_DOCUMENT.search(text):
        ends["materials"] = max(ends.get("materials", 0), needs.end())
    if where := _WHERE_TO_HAND_IN.search(text):
        ends.pop("materials", None)
        ends["location"] = max(ends.get("location", 0), where.end())
    if _NO_ONLINE.search(text):
        ends.pop("online", None)
    if which := _WHICH_PLACE.search(text):
        ends["location"] = max([which.end(), *ends.values()]) + 1
    if "online" in ends and "location" in ends and _AVOID_PLACE.search(text):
        ends["online"] = max(ends["online"], ends.pop("location")) + 1
    if "online" in ends and "materials" in ends and _SUBMIT_PAPERS.search(text):
        ends["online"] = max(ends["online"], ends.pop("materials"))
    # "入口在哪", "手机上在哪弄": a bare "where" next to an online cue asks where online
    if "online" in ends and "location" in ends and not _PLACE.search(text):
        ends["online"] = max(ends["online"], ends.pop("location"))
    # "怎么办" also appears inside questions about another aspect ("网上怎么办"): keep the specific one
    if "process" in ends and len(ends) > 1 and not _STEPS.search(text):
        del ends["process"]
    other = bool(_OTHER.search(text))
    weights: dict[str, float] = {}
    if ends:
        last = max(ends.values())
        weights = {a: STRONG if end == last else SECONDARY for a, end in ends.items()}
        # "被驳回了怎么办": what to do in a particular case, which a Q&A answers best
        if other and set(weights) == {"process"} and not _STEPS.search(text):
            weights["process"] = SECONDARY
    elif _GENERIC_CONDITIONS.search(text):
        weights["conditions"] = STRONG
    elif _CAN_CONDITIONS.search(text):
        weights["conditions"] = WEAK
    named = set(weights)
    if not weights and _MAYBE_CONDITIONS.search(text):
        weights["conditions"] = WEAK
    if other:
        weights["other"] = WEAK
    return weights, named
