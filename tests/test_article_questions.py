"""Never the wrong article: questions that name an article, generated from the corpus in many written forms.

Every question that names 第N条 of a corpus document must cite exactly that article of that document; a
document that is not in the corpus (宪法修正案 is not 宪法, 高等教育法 is not 教育法), an article the document does
not have, or a bare 第N条 with no document named must be answered with found=False, no citation, and the
right kind of message (``Answer.reasons["article"]``) — never with some other document's 第N条.

Uses the session ``engine`` (read-only). The questions come from the law files themselves, so adding a law to
the corpus adds questions. One assertion lists every failure, so a regression shows all its forms at once.
"""

from __future__ import annotations

from assistant.citations import int_to_cn

#: Question templates: {t} the document's name, {a} the article as written.
FORMS = [
    "{t}{a}", "《{t}》{a}", "{t}{a}规定了什么？", "{t}{a}怎么说", "{t}{a}是什么内容", "{t}{a}原文", "{t}的{a}",
    "{t}里{a}说了什么", "{t}中的{a}", "请问{t}{a}是什么", "查一下《{t}》{a}", "{t}2021年修正版{a}",
    "{t}（2020年修订）{a}", "{t}(2021修正) {a}", "{t}修订版{a}", "新{t}{a}", "最新{t}{a}", "现行{t}{a}",
    "2018年修正版{t}{a}", "在{t}里，{a}规定了什么", "《{t}》中关于这个问题，{a}怎么规定", "{t} {a}",
]
#: Classification words legal databases put in front of a title.
CLASSES = ["社会法", "宪法相关法", "行政法", "法律", "行政法规", "司法解释", "现行有效", "民法商法", "经济法"]
PREFIXED = ["{c}{t}{a}", "{c} - {t}{a}", "【{c}】{t}{a}", "{c}：《{t}》{a}"]
#: Documents that are not in the corpus, many of them a corpus title plus or minus a word.
ABSENT = ["宪法修正案", "刑法修正案（十一）", "行政复议法实施条例", "高等教育法", "刑法", "未成年人保护条例", "家庭教育促进法",
          "民法典婚姻家庭编司法解释", "义务教育法实施细则", "教师资格条例", "禁毒条例", "立法法", "学生伤害事故处理办法",
          "最高人民法院关于适用《中华人民共和国行政诉讼法》的解释", "治安管理处罚法", "中华人民共和国刑法"]
ABSENT_FORMS = ["{t}{a}", "《{t}》{a}", "{t}的{a}规定了什么", "社会法{t}{a}", "{t}（2021年修正）{a}", "请问{t}里{a}怎么说"]
BARE = ["第二十二条规定了什么？", "第39条", "第 5 条是什么", "那第四十条呢？", "第３条原文", "第一条和第二条", "本法第十条",
        "第九千条是什么"]


def written(label: str, n: int, style: int) -> str:
    """第三十九条 as a user may type it: Chinese, Arabic, full-width or spaced digits."""
    return [label, f"第{n}条", f"第{str(n).translate(str.maketrans('0123456789', '０１２３４５６７８９'))}条",
            f"第 {n} 条"][style % 4]


def names(title: str) -> list[str]:
    """How a title is written: in full, without 中华人民共和国 / the court, and 出庭应诉规定."""
    short = title.removeprefix("中华人民共和国").removeprefix("最高人民法院")
    return list(dict.fromkeys([title, short] + (["出庭应诉规定"] if "出庭应诉" in title else [])))


def laws(corpus, split_articles) -> dict[str, list[str]]:
    """Full title → its article labels, in order, read from the files (not from the index)."""
    out = {}
    for path in sorted((corpus / "regulations").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        out[text.splitlines()[0].removeprefix("# ").strip()] = list(split_articles(text))
    return out


def test_article_questions_never_cite_another_article(engine, corpus, split_articles):
    cases: list[tuple[str, dict, str, str | None, str | None]] = []  # question, kwargs, reason, doc, label
    for i, (title, labels) in enumerate(laws(corpus, split_articles).items()):
        n = len(labels)
        for j, k in enumerate(dict.fromkeys([1, n // 2, n, (7 * i + 3) % n + 1])):
            label = labels[k - 1]
            for m in range(6):
                x = i * 24 + j * 6 + m
                t = names(title)[x % len(names(title))]
                a = written(label, k, x)
                cases.append((FORMS[x % len(FORMS)].format(t=t, a=a), {}, "ok", title, label))
            c = CLASSES[(i + j) % len(CLASSES)]
            t = names(title)[min(1, len(names(title)) - 1)]  # the short title: a glued abbreviation is ambiguous
            if c not in t:
                cases.append((PREFIXED[(i + j) % len(PREFIXED)].format(c=c, t=t, a=written(label, k, i + j)), {}, "ok",
                              title, label))
        beyond = article_label_of(n + 1 if i % 2 else n + 50)
        cases.append((f"{names(title)[-1]}{beyond}", {}, "no_such_article", None, None))
        # a bare 第N条 means the conversation's document, or the single document the caller filters on
        cases.append((f"那{labels[-1]}呢？", {"context_title": title}, "ok", title, labels[-1]))
        cases.append((f"{labels[0]}规定了什么？", {"doc": title}, "ok", title, labels[0]))
    for i, t in enumerate(ABSENT):
        for j, form in enumerate(ABSENT_FORMS):
            cases.append((form.format(t=t, a=written(article_label_of(i + j + 3), i + j + 3, i + j)), {},
                          "document_not_in_corpus", None, None))
    cases += [(q, {}, "which_document", None, None) for q in BARE]
    cases += [("禁毒法第九十九条", {}, "no_such_article", None, None), ("备案条例第十条", {}, "ambiguous", None, None)]

    failures = []
    for question, kwargs, reason, doc, label in cases:
        answer = engine.ask(question, **kwargs)
        cited = [(c.chunk.doc, c.chunk.article) for c in answer.citations]
        got = answer.reasons.get("article")
        if reason == "ok":
            ok = answer.found and cited and set(cited) == {(doc, label)} and got == "ok"
        else:
            ok = not answer.found and not cited and got == reason
        if not ok:
            failures.append(f"{question!r} {kwargs or ''}: expected {reason} {doc or ''}{label or ''}, got {got} "
                            f"{cited} {answer.answer[:60]!r}")
    print(f"{len(cases)} article questions, {len(failures)} failures")
    assert not failures, f"{len(failures)} of {len(cases)} article questions:\n" + "\n".join(failures)


def article_label_of(n: int) -> str:
    return f"第{int_to_cn(n)}条"


def test_held_out_article_questions_are_exact(engine):
    """data/eval/articles_holdout.jsonl: article questions in the forms people and legal databases write, by a
    writer who had not seen this code (its first measurement: 0.975 exact, 2 answers citing another article)."""
    from assistant.evaluate import evaluate_articles
    from assistant.settings import PROJECT_ROOT

    result = evaluate_articles(engine, PROJECT_ROOT / "data" / "eval" / "articles_holdout.jsonl")
    assert result["citing_another_article"] == [], result["citing_another_article"]
    assert result["by_expect"]["article"]["exact"] >= 0.9
    assert result["exact"] >= 0.95, result["not_exact"]
