"""What a question asks for: one table of question types and their cue words.

Retrieval and answering both read the type: a plan question is answered from a report's plan section, a
liability question from the articles that assign 责任, a time question with the sentence that states the time.
Keeping the cues in one table means one place to extend them, and one place that tests pin down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from assistant.citations import cn_to_int
from assistant.textutil import tokens as _tokens

if TYPE_CHECKING:
    from assistant.schema import Chunk

TYPES = ("plan", "problems", "liability", "time", "definition", "procedure", "list", "permission", "fact")


@dataclass(frozen=True)
class Intent:
    """One question type: everything retrieval, compose and answer do differently for it.

    Adding a type is adding an entry to ``INTENTS`` (and its name to ``TYPES``, which orders the cue matching).
    """

    name: str
    #: Cue words in the clauses that ask (see ``classify``). The first type (in TYPES order) whose cue matches wins:
    #: plan and problems are the narrowest, fact is what is left.
    cues: re.Pattern
    #: Cue words that set the question's frame wherever they stand, in the story too (明年, 下一步: a plan).
    frame: re.Pattern | None = None
    #: A report section whose heading matches this is where the answer lives (plan → 工作计划 / 下一步打算); a named
    #: report without one does not answer (its name for the refusal: ``section_name``).
    section: re.Pattern | None = None
    section_name: str = ""
    #: A sentence that matches this is the one that answers (time → the one that states the time).
    deciding: re.Pattern | None = None
    #: Retrieval: a passage whose text matches ``favours`` (or, for a type with a ``section``, a report passage under
    #: such a heading) has its fused score multiplied by ``boost``.
    favours: re.Pattern | None = None
    boost: float = 1.0
    #: Document terms the question implies without saying them, added to the keyword search.
    extra_terms: Callable[[str], list[str]] | None = None
    #: How the answer is built (assistant/compose.py): "section" — the items of the report section ``section``
    #: names; "report_list" — every section of the top report on the topic; "sentences" — the best sentences.
    shape: str = "sentences"
    #: The answer must be a deciding sentence when the passages have one.
    decided: bool = False
    #: An enumerated item brings its sibling items, not only its lead-in (lists, definitions with 包括（一）…).
    whole_enumeration: bool = False
    #: Sentences of this many top passages are scored; at most ``max_sentences`` from ``max_passages`` passages.
    read_passages: int = 3
    max_sentences: int = 3
    max_passages: int = 2
    #: A sentence with a number is preferred when the question also matches this (多少/几 in a fact question).
    wants_number: re.Pattern | None = None
    #: When the quoted articles state different values of this (periods), the answer says they are for different
    #: actions.
    differ: re.Pattern | None = None
    #: The answer's period must be for the question's action: passages and sentences whose periods are for what the
    #: question names (申请行政复议) come before those whose periods are for another action (提起行政诉讼).
    period_action: bool = False


#: A number of days, months or years: the value of a period (六十日, 两个月, 7个工作日).
_PERIOD_VALUE = r"[0-9０-９一二三四五六七八九十百两]+\s*(?:个)?(?:工作日|日|天|月|年)"
_TIME_EXPR = (r"[0-9０-９一二三四五六七八九十百两]+\s*(?:个)?(?:日|天|个?月|年|周岁|岁|小时|时|点|分钟|周|个工作日)"
              r"|日内|之日起|期限|时效|期间|以前|之前|前|以内|届满|夜间|凌晨|每日|每周")

#: Text of a passage that assigns liability (who bears 责任 / pays 赔偿).
LIABILITY_TEXT = re.compile(r"承担.{0,12}责任|侵权责任|赔偿责任|补充责任|赔偿损失|依法赔偿|责令赔偿")
#: A passage that enumerates: "享有下列权利：" followed by items （一）（二）….
ENUMERATION_TEXT = re.compile(r"[：:]\s*[（(]一[）)]")
#: Age in a question, and the terms of civil capacity the law uses for it (民法典 第十九条、第二十条).
_AGE = re.compile(r"([0-9]{1,2}|[一二三四五六七八九十]{1,3})\s*(?:周)?岁")
_SCHOOL_AGE = (("幼儿园", 5), ("托儿所", 3), ("小学", 10), ("初一", 13), ("初二", 14), ("初三", 15), ("初中", 14),
               ("高一", 16), ("高二", 17), ("高中", 17))


def _age(question: str) -> int | None:
    """The child's age the question gives; the last one when it gives several (a follow-up's 要是十六岁呢 after
    我家孩子6岁… replaces the earlier age)."""
    if found := list(_AGE.finditer(question)):
        m = found[-1]
        try:
            return cn_to_int(m.group(1))
        except ValueError:
            return None
    return next((age for word, age in _SCHOOL_AGE if word in question), None)


def capacity_terms(question: str) -> list[str]:
    """A child's age in the question → the civil-capacity term the law uses for it (民法典第十九条、第二十条): a
    liability question about a child hurt at school is decided by it. Under eight 无民事行为能力人 (民法典第一千一百
    九十九条), eight to seventeen 限制民事行为能力人 (第一千二百条)."""
    if (age := _age(question)) is None:
        return []
    if age < 8:
        return ["无民事行为能力人"]
    return ["限制民事行为能力人"] if age < 18 else []


def definition_terms(question: str) -> list[str]:
    """A definition is stated as "…是指…" / "本法所称…"."""
    return ["是指", "所称"]


INTENTS: dict[str, Intent] = {i.name: i for i in (
    Intent("plan",
           re.compile(r"以后(?:要|将|准备|打算)|计划|打算|准备做|工作安排|工作思路|工作重点|目标是什么"),
           frame=re.compile(r"明年|下一年|下一步|下步|今后|接下来|未来|往后|(?:20\d\d|来)年(?:要|将|准备|打算|重点)"),
           section=re.compile(r"计划|打算|思路|下一步|今后|展望|工作安排|工作要点|努力方向|工作重点|工作目标"),
           section_name="下一步工作计划", boost=1.5, shape="section"),
    Intent("problems",
           re.compile(r"不足|短板|薄弱|差距|欠缺|缺点|缺陷|毛病|困难|弱项|不够好|(?:哪里|哪些方面|哪方面|什么地方)(?:做得|做的|还)*不(?:好|够|足|到位)|不到位|不理想|效果不.{0,2}好|有待(?:加强|提高|改进)"
                      r"|(?:存在|有|还有)(?:哪些|什么|的|些)?问题|问题(?:有哪些|是什么|在哪)|哪些问题|什么问题"),
           section=re.compile(r"问题|不足|短板|薄弱|困难|差距|欠缺|弱项"),
           section_name="存在的问题和不足", boost=1.5, shape="section"),
    Intent("liability",
           re.compile(r"(?:谁|要|该|得|应该|应当|来)负责(?!人)|负责吗|负什么责|谁的责任|责任(?:吗|呢|在谁|归谁)|有责任|担责|(?:钱|费)得?.{0,6}出吗|谁出|担.{0,5}责任|什么责任|什么后果|承担.{0,8}责任|要赔|赔偿|赔钱|谁赔|该赔|赔吗|赔不赔"
                      # 追究期限 / 追究时效 is a time asked about, not who is liable
                      r"|追责|追究(?!.{0,2}(?:期限|时效))|算谁的|怪谁|谁来管|谁管"),
           deciding=re.compile(r"承担.{0,12}责任|责任|赔偿|追究|处分|处罚"),
           favours=LIABILITY_TEXT, boost=1.3, extra_terms=capacity_terms, decided=True),
    Intent("time",
           re.compile(r"多久|多长时间|多少天|几天|几个月|几月|几年|多少年|期限|时限|时间限制|时效|几点|什么时候|何时|几岁|多大(?:的|年龄|才)"
                      r"|年龄|最晚|最迟|截止|哪个月|哪一年|哪一?天|几号|时间段|时段"),
           deciding=re.compile(_TIME_EXPR), decided=True, read_passages=5, max_passages=3, max_sentences=4,
           differ=re.compile(_PERIOD_VALUE), period_action=True),
    Intent("definition",
           re.compile(r"是什么意思|什么意思|什么是|什么叫|叫什么|指什么|指的是|是指|定义|含义|怎么理解|如何理解|才算|算是|算不算|属于什么"),
           deciding=re.compile(r"是指|所称|包括|指"), extra_terms=definition_terms, decided=True,
           whole_enumeration=True),
    Intent("permission",
           re.compile(r"可以.{0,20}吗|可不可以|能不能|能否|不能|能.{0,20}吗|是否(?:允许|可以|能|应当|必须|需要)|允许|准许|禁止|不得"
                      r"|让不让|许不许|行不行|合法吗|违法吗|违不违法|有权|必须.{0,12}吗|要不要|需不需要|该不该"),
           deciding=re.compile(r"不得|禁止|严禁|可以|应当|必须|有权|不准|准许|允许")),
    Intent("procedure",
           re.compile(r"怎么办|怎么处理|如何处理|怎么做|怎样做|如何做|怎么解决|程序|流程|步骤|手续|怎么申请|如何申请|怎么投诉"
                      r"|怎么举报|怎么维权|找谁|向谁|去哪|哪里(?:申请|投诉|反映|告)|怎么告|如何应对|怎么管|什么途径|什么渠道|怎么走"),
           deciding=re.compile(r"应当|可以|依法|申请|报告|通知|处理|提起")),
    Intent("list",
           re.compile(r"哪些|哪几|做了什么|做了些什么|干了什么|有什么(?:措施|活动|工作|举措|办法|做法|要求|权利|义务|职责)"
                      r"|采取了|开展了|都有什么|都做了|什么活动|几个方面|主要(?:工作|做法|措施)|有什么成效|成效"
                      # 是怎么…的: how something was done (a report's measures), not how a law provides it
                      r"|是(?:怎么|怎样|如何)(?!规定|说|讲|写|定义|理解|算|认定).{1,16}的"),
           # the lead-in of an enumeration: 教师享有下列权利： / 行政处罚的种类：
           deciding=re.compile(r"[：:]$"), favours=ENUMERATION_TEXT, boost=1.2, shape="report_list", decided=True,
           whole_enumeration=True, read_passages=5, max_sentences=8, max_passages=3),
    Intent("fact", re.compile(r""), wants_number=re.compile(r"多少|几|数量|比例|占比|人数|次数|参与率|平均分")),
)}


#: Clauses of a question, and the clauses that ask (a question mark, or an interrogative word or particle).
_CLAUSE = re.compile(r"[^，,。！？!?；;\n]+[，,。！？!?；;]?")
_ASKING = re.compile(r"[？?]|吗|呢|怎么|怎样|如何|什么|多少|多久|多长|几|谁|哪|是否|能否|可否|有没有|能不能|可不可以|要不要|行不行")


def _first_type(asking: str, question: str) -> str | None:
    for name in TYPES:
        intent = INTENTS[name]
        if name != "fact" and ((intent.frame and intent.frame.search(question)) or intent.cues.search(asking)):
            return name
    return None


def classify(question: str) -> str:
    """The question's type: the first of TYPES whose frame words occur anywhere in it or whose cue words occur in
    the clauses that ask; else the first whose cue words occur anywhere ('fact' when none do).

    People tell the story first and ask last (「…我们打算在学校旁边给他租个单间，这样法律上允许吗？」): a cue word in the
    story (打算, 负责, 算) says nothing about what is asked, so the asking clauses are read first.
    """
    asking = "".join(c for c in _CLAUSE.findall(question) if _ASKING.search(c))
    return (asking and _first_type(asking, question)) or _first_type(question, question) or "fact"


def topic(question: str) -> str:
    """The question without the words that say what kind of question it is (多长时间, 要不要承担责任): what it is about."""
    for intent in INTENTS.values():
        if intent.name != "fact":
            for cue in (intent.cues, intent.frame):
                question = cue.sub(" ", question) if cue else question
    return question


#: A period a law sets: 六十日内, 十五日内, 三十日前, 两个月, 二年内; what follows it up to the sentence's end is what it is
#: for (…之日起十五日内，依法向人民法院提起行政诉讼).
_PERIOD = re.compile(rf"{_PERIOD_VALUE}(?:以内|之内|内|之前|以前|前|以后|后)?")
_SENTENCE_END = re.compile(r"[。；;]")


def period_actions(text: str) -> list[str]:
    """What each period in ``text`` is for: the words after it, up to the end of its sentence (…十五日内，依法向人民法院
    提起行政诉讼); when they are a bare verb (…六个月内提出, …期限为三年), the sentence's words before it too (直接向人民法院
    提起诉讼的，应当自…). How laws state a deadline, not a list of actions."""
    out = []
    for m in _PERIOD.finditer(text):
        end = _SENTENCE_END.search(text, m.end())
        action = text[m.end() : end.start() if end else len(text)]
        if len([t for t in _tokens(action) if len(t) > 1]) < 2:
            start = max((e.end() for e in _SENTENCE_END.finditer(text, 0, m.start())), default=0)
            action = text[start : m.start()] + action
        out.append(action)
    return out


def asked_action(question: str) -> str:
    """What the question asks the period of: the last clause that asks for a time, without its time words (…不服，多长时间
    内可以申请行政复议 → 可以申请行政复议), joined to the clause before it when it says nothing else (想去法院起诉，有多长时间).
    The question's mirror of ``period_actions``; its topic when no clause asks for a time."""
    cues = INTENTS["time"].cues
    clauses = _CLAUSE.findall(question)
    for k in reversed(range(len(clauses))):  # the last: a follow-up's own clause comes after the question it continues
        clause = clauses[k]
        if cues.search(clause):
            rest = cues.sub(" ", clause)
            if k and not [t for t in _tokens(rest) if len(t) > 1]:
                rest = clauses[k - 1] + rest
            return rest
    return topic(question)


def action_share(action: str, text: str, idf: Callable[[str], float]) -> float | None:
    """How well one of ``text``'s periods is for ``action`` (``asked_action``): the rarity-weighted share of the
    action's words that the period's action has, times the share of the period's action words the question has — so
    提出行政复议申请 matches 申请行政复议 better than 作出行政复议决定 or 转送行政复议机关 do. None: ``text`` states no period.
    Words of one character (内, 想, 去) are left out on both sides; words, not the keyword index's character pairs too,
    which scored worse on the dev sets (deadlines_dev 0.90 → 0.80 with the ranking across laws first measured)."""
    actions = period_actions(text)
    if not actions:
        return None
    asked = {t for t in _tokens(action) if len(t) > 1}
    best = 0.0
    for a in actions:
        words = {t for t in _tokens(a) if len(t) > 1}
        common = sum(idf(t) for t in asked & words)
        if common:
            best = max(best, common / sum(idf(t) for t in asked) * common / sum(idf(t) for t in words))
    return best


def section_pattern(kind: str) -> re.Pattern | None:
    """Heading words of the report section that answers questions of this type (plan, problems), else None."""
    return INTENTS[kind].section


def deciding_pattern(kind: str) -> re.Pattern | None:
    """What the answering sentence of this type of question contains (a time, 不得/可以, 责任…), else None."""
    return INTENTS[kind].deciding


def intent_terms(question: str, kind: str) -> list[str]:
    """Document terms a question of this kind implies without saying them (keyword side only)."""
    extra = INTENTS[kind].extra_terms
    return extra(question) if extra else []


def kind_weight(kind: str, chunk: Chunk) -> float:
    """How much a passage's fused score is multiplied by for a question of this kind (the entry's ``boost``).

    Plan and problems questions are answered by a report's section with those heading words (any report: the
    words, not one report's numbering); liability questions by passages that assign 责任; list questions by
    passages that enumerate.
    """
    intent = INTENTS[kind]
    if intent.section is not None:
        return intent.boost if chunk.doc_type == "report" and intent.section.search(chunk.section) else 1.0
    if intent.favours is not None and intent.favours.search(chunk.text):
        return intent.boost
    return 1.0


# ---- what fact the answer must state ---------------------------------------------------------------------

_CN_NUM = "[0-9０-９一二三四五六七八九十百千万两]+"
#: Questions that ask for a particular kind of fact, and what a passage that states it must contain.
#: A report that never gives an amount, a head count or a name cannot answer "多少钱", "多少人", "是谁",
#: however close its wording is to the question.
ANSWER_TYPES: tuple[tuple[str, re.Pattern, re.Pattern | Callable[[str, str], bool]], ...] = (
    ("amount", re.compile(r"多少钱|多少元|金额|花了多少|多少.{0,3}费"), re.compile(rf"{_CN_NUM}(?:多)?(?:元|万元|亿元)")),
    ("rate", re.compile(r"(?:率|比例|占比)(?:是|有|为)?多少"), re.compile(r"[0-9０-９.]+\s*[%％]|百分之")),
    ("name", re.compile(r"叫什么名字|姓名|名字是"), lambda q, p: _names_person(p)),
    ("person", re.compile(r"是谁|是哪位"), lambda q, p: _names_person(p) or _names_post(q, p)),
    # 哪一天 is a calendar date in a report (2024年9月26日) and a period in a law (六十日内)
    ("date", re.compile(r"哪一?天|几号|几月几[日号]|哪个日子"),
     re.compile(rf"{_CN_NUM}\s*月\s*{_CN_NUM}\s*[日号]|{_CN_NUM}\s*(?:个)?(?:日|天|个?月|年)")),
    ("clock", re.compile(r"几点|几时|什么时间点"), re.compile(rf"{_CN_NUM}\s*(?:时|点)")),
    ("month", re.compile(r"几月|哪个月|哪一个月|什么月份"), re.compile(rf"{_CN_NUM}\s*月")),
    # 多少师生 / 多少家: a count with no measure word still needs a number in the answer (digits, or a Chinese
    # numeral with a measure word: 八五普法 is a name, not a count)
    ("number", re.compile(r"(?<!哪)多少(?!钱|元|份|件|项|条|次|人|名)"),
     re.compile(r"[0-9０-９]|[一二三四五六七八九十百千万两]+(?:多|余)?[个名人份件项次场所家位批期篇条起天日年月]")),
)
#: "多少份 / 几次 / 多少所": a count of something is stated as number + the same measure word (or a kin).
#: 好几个月 / 十几天 / 几十人 say "several", they do not ask.
_COUNT_QUESTION = re.compile(r"(?<!哪)(?:多少|(?<![好十])几(?![十百千万]))(?:个)?(小时|分钟|[人名份件项条家所次起场期篇册张天日岁位批周]|月|年(?!级)|个)")
_MEASURE_KIN = {"人": "[人名]", "名": "[人名]", "条": "[条项]", "项": "[项条]", "次": "[次起]", "起": "[次起]", "件": "[件份]", "份": "[份件]",
                "天": "(?:工作)?[天日]", "日": "(?:工作)?[天日]", "周": "(?:周|星期)", "小时": "(?:小时|个钟头)",
                "个": "[个人名份件项条家所次起场期篇册张天日岁位批]"}  # 多少个学生 is answered by 135人


#: Posts and forms of address (Chinese job titles: general vocabulary, not words of the questions seen).
_POSTS = re.compile(r"[局组校科处院所部厅站队班]长|主任|书记|律师|委员|教授|法官|检察官|主席|顾问|同志|先生|女士|专家")


def _names_person(passage: str) -> bool:
    """The passage names a person: a name (jieba's part-of-speech tag nr, two or three characters) next to a post
    (常务副主任 姚芳, 蒋隆旭律师, 教授王敬波). jieba tags many other words nr (青少年, 宣传教育), so a name alone is not
    enough."""
    if not _POSTS.search(passage):
        return False
    import jieba.posseg  # loaded on the first person question only

    pairs = [(w, flag) for w, flag in jieba.posseg.lcut(passage) if w.strip()]
    words, flags = [w for w, _ in pairs], dict(pairs)
    for i, w in enumerate(words):
        if flags.get(w) == "nr" and 2 <= len(w) <= 3 and not _POSTS.search(w):
            near = words[i - 1:i] + words[i + 1:i + 2]
            if any(_POSTS.search(n) for n in near):
                return True
    return False


_ASSIGNED = re.compile(rf"由(?:{_POSTS.pattern})|(?:{_POSTS.pattern})(?:任|担任|兼任|作为|为)")


def _names_post(question: str, passage: str) -> bool:
    """The passage gives a post the role asked about, a post the question does not itself name: 由局长任组长 answers
    谁当组长, but 校长由…聘任 does not answer 校长是谁."""
    return any(not any(p in question for p in _POSTS.findall(m.group())) for m in _ASSIGNED.finditer(passage))


def _states(states: re.Pattern | Callable[[str, str], bool], question: str, passage: str) -> bool:
    return states(question, passage) if callable(states) else bool(states.search(passage))


def unanswered_type(question: str, passages: list[str]) -> str | None:
    """The kind of fact the question asks for when none of the passages states one, else None."""
    for name, asks, states in ANSWER_TYPES:
        if asks.search(question) and not any(_states(states, question, p) for p in passages):
            return name
    for m in _COUNT_QUESTION.finditer(question):
        measure = _MEASURE_KIN.get(m.group(1), m.group(1))
        stated = re.compile(rf"(?<![第0-9０-９])(?:{_CN_NUM})(?:多|余|来|逾)?(?:个|周)?{measure}")
        if not any(stated.search(p) for p in passages):
            return f"count:{m.group(1)}"
    return None
