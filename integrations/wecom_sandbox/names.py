"""Made-up Chinese customer names and remarks for the simulator and for generated contacts."""

import random

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉红梅建国文斌宇浩凯秀云晨阳欣怡子涵梓萱雨轩"
    "思远志强海燕金凤春花淑珍凤英玉梅德明永福"
)
_REMARKS = ["代发客户", "退休客户", "理财意向", "老客户", "网点转介", "活动添加", "定期到期", "社区活动", ""]
_DESCRIPTIONS = ["关注大额存单", "每月15日发薪", "偏好稳健理财", "子女在外地", "有房贷", ""]
# What a WeCom admin adds in the client's tag settings: the simulator adds each once, in their own group.
MEMBER_TAG_GROUP = "客户经理标签"
MEMBER_TAGS = (
    "偏好电话沟通",
    "周末可联系",
    "关注养老",
    "关注黄金",
    "孩子上学",
    "有车贷需求",
    "喜欢线下活动",
    "关注外汇",
)


def person_name(rng: random.Random) -> str:
    given = "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(_SURNAMES) + given


def remark(rng: random.Random, name: str) -> str:
    label = rng.choice(_REMARKS)
    return f"{name}-{label}"[:20] if label else name


def description(rng: random.Random) -> str:
    return rng.choice(_DESCRIPTIONS)
