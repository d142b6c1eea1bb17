"""Chinese personal names for the demo bank, with pinyin so operators get believable WeCom userids.

Surnames are drawn by their approximate share of the population (王, 李, 张 and 刘 alone are a fifth of
it); given names have one or two characters and lean on the habits of the generation the person was born
in (建国 and 秀英 for the 1950s, 子轩 and 欣怡 for the 2000s).
"""

import random
from bisect import bisect
from itertools import accumulate

# "字pinyin weight" — weights are per mille of the population, roughly.
_SURNAMES = """
王wang71 李li70 张zhang67 刘liu54 陈chen45 杨yang31 黄huang22 赵zhao20 吴wu20 周zhou19 徐xu15 孙sun14
马ma13 朱zhu12 胡hu12 郭guo11 何he11 高gao10 林lin10 罗luo9 郑zheng9 梁liang8 谢xie7 宋song7 唐tang6
许xu6 韩han6 冯feng6 邓deng6 曹cao5 彭peng5 曾zeng5 肖xiao5 田tian5 董dong5 袁yuan4 潘pan4 于yu4
蒋jiang4 蔡cai4 余yu4 杜du4 叶ye4 程cheng4 苏su3 魏wei3 吕lv3 丁ding3 任ren3 沈shen3 姚yao3 卢lu3
姜jiang3 崔cui3 钟zhong3 谭tan3 陆lu3 汪wang3 范fan3 金jin3 石shi3 廖liao3 贾jia2 夏xia2 韦wei2 付fu2
方fang2 白bai2 邹zou2 孟meng2 熊xiong2 秦qin2 邱qiu2 江jiang2 尹yin2 薛xue2 闫yan2 段duan2 雷lei2 侯hou2
龙long2 史shi2 陶tao2 黎li2 贺he2 顾gu2 毛mao2 郝hao2 龚gong2 邵shao2 万wan2 钱qian2 严yan2 武wu2
戴dai2 莫mo1 孔kong1 向xiang1 汤tang1 欧阳ouyang1 司马sima1 诸葛zhuge1
"""

# Given-name characters by sex and by era; "old" is typical of people born before about 1975.
_MALE_OLD = "建jian 国guo 华hua 军jun 明ming 平ping 强qiang 伟wei 德de 福fu 忠zhong 林lin 荣rong 生sheng 根gen 海hai 春chun 胜sheng 文wen 志zhi"  # noqa: E501
_MALE_NEW = "浩hao 宇yu 轩xuan 杰jie 磊lei 涛tao 鹏peng 辉hui 俊jun 博bo 晨chen 阳yang 睿rui 航hang 峰feng 斌bin 超chao 凯kai 泽ze 子zi 梓zi 皓hao 然ran 铭ming 一yi 嘉jia 天tian 豪hao 宁ning 毅yi"  # noqa: E501
_FEMALE_OLD = "秀xiu 英ying 兰lan 芳fang 桂gui 珍zhen 凤feng 玉yu 梅mei 红hong 霞xia 丽li 萍ping 琴qin 云yun 淑shu 敏min 华hua 娟juan 翠cui"  # noqa: E501
_FEMALE_NEW = "婷ting 静jing 雪xue 颖ying 倩qian 欣xin 怡yi 琳lin 佳jia 悦yue 涵han 诗shi 雨yu 萱xuan 晓xiao 梦meng 思si 可ke 馨xin 蕾lei 媛yuan 璐lu 瑶yao 薇wei 妍yan 楠nan 丹dan 洁jie 蓉rong 慧hui"  # noqa: E501


def _parse(spec: str) -> tuple[list[str], list[str], list[int]]:
    chars, pinyins, weights = [], [], []
    for item in spec.split():
        split = next(i for i, ch in enumerate(item) if ch.isascii())
        end = next((i for i, ch in enumerate(item) if ch.isdigit()), len(item))
        chars.append(item[:split])
        pinyins.append(item[split:end])
        weights.append(int(item[end:]) if end < len(item) else 1)
    return chars, pinyins, weights


SURNAMES, _SURNAME_PINYIN, _SURNAME_WEIGHTS = _parse(_SURNAMES)
_SURNAME_CUM = list(accumulate(_SURNAME_WEIGHTS))
_POOLS = {
    (sex, era): _parse(spec)[0]
    for (sex, era), spec in {
        ("M", "old"): _MALE_OLD,
        ("M", "new"): _MALE_NEW,
        ("F", "old"): _FEMALE_OLD,
        ("F", "new"): _FEMALE_NEW,
    }.items()
}
PINYIN = dict(zip(SURNAMES, _SURNAME_PINYIN, strict=True)) | {
    ch: py
    for spec in (_MALE_OLD, _MALE_NEW, _FEMALE_OLD, _FEMALE_NEW)
    for ch, py in zip(*_parse(spec)[:2], strict=True)
}


def person_name(rng: random.Random, sex: str, birth_year: int) -> str:
    """A full name: a weighted surname and a one- or two-character given name fitting sex and generation."""
    r = rng.random
    surname = SURNAMES[bisect(_SURNAME_CUM, r() * _SURNAME_CUM[-1])]
    old = birth_year < 1975
    if r() < 0.15:  # a generation is never uniform
        old = not old
    pool = _POOLS[(sex if sex in ("M", "F") else "MF"[r() < 0.5], "old" if old else "new")]
    size = len(pool)
    if r() < 0.25:
        return surname + pool[int(r() * size)]
    return surname + pool[int(r() * size)] + pool[int(r() * size)]


def pinyin(name: str) -> str:
    """Toneless pinyin of a generated name ("张伟" → "zhangwei"); compound surnames come first."""
    if name[:2] in PINYIN:
        head, rest = PINYIN[name[:2]], name[2:]
    else:
        head, rest = PINYIN[name[0]], name[1:]
    return head + "".join(PINYIN[ch] for ch in rest)


class UseridAllocator:
    """WeCom userids in the style banks use: pinyin plus a two-digit serial (zhangwei01, zhangwei02…)."""

    def __init__(self):
        self._seen: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        base = pinyin(name)
        serial = self._seen.get(base, 0) + 1
        self._seen[base] = serial
        return f"{base}{serial:02d}"
