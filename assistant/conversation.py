"""Follow-up questions: 「如果孩子已经十六岁了呢？」 after 「孩子在学校被同学打伤了，学校要承担责任吗？」 means the first
question with the new detail. Without an LLM to rewrite it, the follow-up is recognised by its form (a leading
如果/那/要是…, a closing 呢) and joined to the question it leans on.

The rule is about the form of Chinese follow-ups, not about any question's words, and it is deliberately narrow:
a question that starts afresh (「学校可以没收手机吗？」) is answered on its own even in a conversation.
"""

from __future__ import annotations

import re

#: A follow-up opens with a connective that points back (如果…, 那…, 要是…) or closes with 呢.
_LEADS = r"如果|要是|假如|假设|若是|倘若|万一|那么|那|还有|另外|换成|换作|改成"
_OPENING = re.compile(rf"^\s*(?:{_LEADS})[，,]?")
_CLOSING = re.compile(r"(?:的话)?\s*呢?\s*[？?。!！]*\s*$")
_ENDS_WITH_NE = re.compile(r"呢\s*[？?]*\s*$")
#: A follow-up is short: a long question carries its own context.
MAX_FOLLOW_UP = 30


def is_follow_up(question: str) -> bool:
    q = question.strip()
    return len(q) <= MAX_FOLLOW_UP and bool(_OPENING.match(q) or _ENDS_WITH_NE.search(q))


def detail(question: str) -> str:
    """The new detail of a follow-up: 「如果孩子已经十六岁了呢？」 → 「孩子已经十六岁了」."""
    return _CLOSING.sub("", _OPENING.sub("", question.strip())).strip("，, ")


def standalone(question: str, history: list[str] | None) -> str:
    """The question as it is meant in the conversation: a follow-up joined to the (resolved) question before it,
    anything else as asked. ``history`` is the conversation's earlier questions, oldest first."""
    if not history or not is_follow_up(question):
        return question
    previous = standalone(history[-1], history[:-1])
    extra = detail(question)
    return f"{previous.rstrip('？?。 ')}，{extra}？" if extra else previous
