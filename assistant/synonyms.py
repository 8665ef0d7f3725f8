"""How people ask → how the documents say it. Used on the keyword side only.

USE embeds the question as typed; BM25 only matches words the documents contain. Users say 欺负, 受伤,
多久, 开罚单; the laws say 欺凌, 人身损害, 日内, 当场作出行政处罚决定. Each entry maps a phrase found
anywhere in the question to terms of the documents. Kept to general legal and administrative vocabulary
and question forms (time limits, kinds, definitions), never to one question's answer.
"""

from __future__ import annotations

SYNONYMS: dict[str, tuple[str, ...]] = {
    # everyday words → terms of the laws
    "欺负": ("欺凌",), "霸凌": ("欺凌",), "校园暴力": ("欺凌",), "校园欺凌": ("学生欺凌",),
    "受伤": ("人身损害", "伤害"), "摔伤": ("人身损害", "伤害"), "打伤": ("人身损害", "伤害"),
    "赔偿": ("承担", "责任", "侵权"), "赔": ("承担", "侵权责任"), "担责": ("承担", "责任"),
    "性侵": ("性侵害",), "猥亵": ("性侵害", "猥亵"), "辱骂": ("侮辱", "诽谤"), "恶搞": ("侮辱", "诽谤"),
    "删帖": ("删除",), "删掉": ("删除", "屏蔽", "断开链接"), "网上": ("网络",), "上网": ("网络",),
    "网吧": ("互联网上网服务营业场所",), "酒吧": ("营业性娱乐场所", "酒吧"), "手机": ("智能终端", "手机"),
    "游戏": ("网络游戏",), "孩子": ("未成年人",), "小孩": ("未成年人",), "家长": ("父母", "监护人"),
    "老师": ("教师",), "工资": ("工资", "待遇"), "打骂": ("体罚", "侮辱"), "吸毒": ("吸食", "毒品"),
    "禁毒课": ("禁毒", "宣传教育"), "上学": ("入学", "义务教育"), "上小学": ("入学",), "辍学": ("辍学", "失学"),
    "几岁": ("周岁", "年满"), "抽烟": ("吸烟",), "喝酒": ("饮酒",), "逃学": ("旷课", "逃学"),
    "屡教不改": ("专门学校", "专门教育"), "管不住": ("专门学校", "专门教育"), "管教": ("管理教育", "措施"),
    "开除": ("开除", "退学"), "校外人员": ("第三人", "以外的人员"), "局长": ("负责人",), "领导": ("负责人",),
    "告": ("诉讼", "起诉"), "打官司": ("诉讼",), "开罚单": ("当场", "处罚决定"), "罚单": ("处罚决定",),
    "律所": ("律师事务所",), "律师": ("律师", "法律顾问"), "听证会": ("听证",), "政府部门": ("行政机关",),
    # question forms → how the documents state the answer
    "多久": ("期限", "日内", "之日起"), "多长时间": ("期限", "日内", "之日起"), "几天": ("日内", "期限"),
    "多少天": ("日内", "期限"), "最晚": ("期限", "日内"), "时限": ("期限", "日内"),
    "几种": ("种类",), "哪些种类": ("种类",), "哪几类": ("种类",), "哪几种": ("种类",),
    "怎样才算": ("是指",), "什么是": ("是指",), "什么叫": ("是指",), "定义": ("是指",),
    "以内": ("以下",), "有哪些权利": ("享有", "权利"), "什么权利": ("享有", "权利"),
}


def expansions(question: str) -> dict[str, tuple[str, ...]]:
    """The entries whose phrase occurs in the question."""
    return {k: v for k, v in SYNONYMS.items() if k in question}
