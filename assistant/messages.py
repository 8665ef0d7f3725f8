"""Every sentence and label the project shows to people, in Chinese, in one place for review.

Grouped by where it appears. ``{name}`` placeholders are filled with ``str.format`` by the code that shows the
text (keep them when rewording). Labels that are data (document kinds, verdict names) sit here too; the phrases
that *parse* text (regular expressions, word lists) stay with their code, since they are not shown.
"""

from __future__ import annotations

# --- the web app (assistant/ui/chat.py) --------------------------------------------------------------

#: What the chat shows while the index loads, and instead of an unexpected error's text.
WAITING = "请稍候：{message}"
INTERNAL_ERROR = "抱歉，服务器处理时出错了，请稍后再试。（详细信息已记录在服务器日志中）"
#: The heading of an error message box (Gradio's default is the English "Error").
ERROR_TITLE = "出错了"

UI_INTRO_LLM = "回答由大模型依据文件原文撰写，每句都已与所引原文核对，并附原文摘录；"
UI_INTRO_EXTRACTIVE = "回答只摘录文件原文，"
UI_INTRO_SOURCES = "每句后的 [n] 指向右侧的引用来源。"
UI_STATUS_READING = "正在读取索引状态…"
UI_TAB_CHAT = "问答"
UI_TAB_CORPUS = "关于语料"
UI_TAB_CHECK = "引用核查"
UI_TAB_UPLOAD = "上传文件"

UI_CHAT_LABEL = "对话"
UI_CHAT_PLACEHOLDER = "请在下面输入问题，或点击示例问题。"
UI_QUESTION_LABEL = "问题"
UI_QUESTION_PLACEHOLDER = "输入问题，按回车发送，例如：未成年人保护法第三十九条"
UI_SEND = "发送"
UI_CLEAR = "清空"
UI_EXAMPLES_HEAD = "**示例问题**（点击即问）"
UI_DOC_FILTER = "按文件筛选"
UI_TYPE_FILTER = "按类型筛选"
UI_SOURCES_HEAD = "### 引用来源"
UI_SEARCHING = "正在查找相关条文…"

UI_CORPUS_INTRO = "索引中的文件（法律法规的日期与沿革取自文件开头的说明）。"

UI_UPLOAD_OFF_HELP = "上传功能未启用：管理员设置环境变量 `ASSISTANT_ADMIN_PASSWORD` 后重启即可在此上传文件。"
UI_UPLOAD_HELP = ("上传 .txt / .md / .docx / .pdf / .html 文件加入索引（每个不超过 {max_mb:g} MB）。"
                  "文件保存在服务器的索引目录中；同名文件会被替换。")
UI_PASSWORD_LABEL = "管理员密码"
UI_FILES_LABEL = "选择文件"
UI_IMPORT = "导入"
UI_UPLOAD_OFF = "上传功能未启用。"
UI_WRONG_PASSWORD = "**密码错误**，没有导入任何文件。连续输错后每次等待的时间会越来越长。"
UI_NO_FILES = "请先选择要上传的文件。"
UI_UPLOAD_NOT_READY = "索引尚未就绪，请稍后再上传。"
UI_IMPORT_START = "开始导入"
UI_NO_SUCH_DOC = "索引中没有这个文件：{doc}"


# --- the citation checker (assistant/checker.py) ------------------------------------------------------

#: Status → its name (the check tab's legend); ``VERDICT_LABELS`` adds the verdict ``mismatch``.
LABELS = {"ok": "正确", "no_such_article": "条文不存在", "document_not_in_corpus": "语料中无此文件", "ambiguous": "名称不明确"}
#: Short names of the verdicts (legends, highlight colours); ``verdict_text`` adds each citation's reason.
VERDICT_LABELS = {"ok": "正确", "mismatch": "内容可能不符", "no_such_article": "条文不存在",
                  "document_not_in_corpus": "语料中无此文件", "ambiguous": "名称不明确"}
#: What a draft's 本办法 / 本规定 resolves to when the draft has no title.
OWN_DOCUMENT = "本文件"
#: How a document's count of articles is introduced in 条文不存在（该法共 132 条）: a law, or any other document.
KIND_LAW = "该法"
KIND_DOCUMENT = "该文件"

CHECK_NOTE_REPEALED_INFO = "文件信息中载有“废止”"
CHECK_NOTE_REPLACED = "已废止：自{date}起由《{new}》取代（语料保留的是废止前的文本）"
CHECK_NOTE_SCANNED = "扫描件，文字经OCR识别"
CHECK_NOTE_OCR = "{label}，引文可能有识别错误"
CHECK_MISSING_PART = "条文不存在（{why}）"
CHECK_NO_SUCH_PARAGRAPH = "{label}只有 {count} 款，没有{kuan}"
CHECK_NO_SUCH_ITEM = "{label}只有 {count} 项，没有{xiang}"
CHECK_NO_ITEMS = "{label}不分项"
CHECK_MISMATCH = "条文存在，内容可能不符（{reason}）"
CHECK_NO_SUCH_ARTICLE = "条文不存在{which}{count}"
CHECK_ARTICLE_COUNT = "（{kind}共 {count} 条）"
CHECK_AMBIGUOUS = "名称不明确（可能是{candidates}）"
CHECK_REASON_RIVAL = "{article}更相符"
CHECK_REASON_UNSTATED = "条文中没有“{quantities}”"
CHECK_REASON_WEAK = "条文内容与该句关联较弱"
CHECK_SEVERAL_DOCUMENTS = "有多个文件匹配"
CHECK_NO_DOCUMENT = "索引中没有这个文件"
CHECK_LONG_NAME = "{start}…（共 {length} 字）"
CHECK_SUMMARY = ("共 {total} 处引用：正确 {ok}，内容可能不符 {mismatch}，条文不存在 {no_such_article}，"
                 "语料中无此文件 {document_not_in_corpus}，名称不明确 {ambiguous}。")
CHECK_SUMMARY_ABSENT = "\n语料中无此文件："
CHECK_WHERE_PARAGRAPH = "第{n}段"
CHECK_WHERE_COUNT = "{count} 处"
CHECK_SUPPORT = "  支持度 {support:.2f}"
CHECK_DOCUMENT = "    文件：《{title}》"
CHECK_BETTER_ARTICLE = "    更相符的{article}（支持度 {support:.2f}）："
CHECK_DRAFT_DATE = "成文日期：{date}"
CHECK_MAP_ABSENT = "（语料中无此文件）"
CHECK_MAP_CITES = "  引用 《{title}》{mark} ×{count}：{where}"
CHECK_MAP_CITED_BY = "  被引 《{doc}》 {section}"
CHECK_MAP_PREFACE = "前言"


# --- reviewing a draft: comments and reports (assistant/review.py) ------------------------------------

#: How the verdicts' highlight colours read in a legend (comments, report, README).
COLOUR_NAMES = {"ok": "绿色", "mismatch": "黄色", "no_such_article": "粉红", "document_not_in_corpus": "灰色",
                "ambiguous": "青绿"}
#: The author and initials of the comments in an annotated draft.
REVIEW_AUTHOR, REVIEW_INITIALS = "引用核查", "核查"
#: The review report's columns (CSV header, table header).
REPORT_COLUMNS = ("序号", "段落", "引用", "核查结果", "语料中的文件", "条文", "支持度", "更相符的条文", "版本与效力", "引用句")
REVIEW_BAD_DATE = "无法识别的日期：{shown}（请写成 2022-06-01 或 2022年6月1日）"
REVIEW_BAD_TYPE = "不支持的文稿类型：{suffix}（可用 .docx、.txt、.md、.pdf）"
REVIEW_NO_SUFFIX = "无扩展名"
REVIEW_BROKEN_DOCX = "{name}: docx 文件已损坏（{error}）"
REVIEW_CHANGED = "文稿的段落与读取时不一致（文件在核查期间被修改？），未写出批注稿"
REVIEW_BAD_REPORT_TYPE = "报告只能写成 .csv 或 .docx：{name}"
COMMENT_VERDICT = "核查结果：{verdict}"
COMMENT_ABSENT = "语料中没有《{title}》，无法核对条文。请核对文件名称，并确认该文件现行有效。"
COMMENT_AMBIGUOUS = "“{title}”可能指多部文件，请写出完整名称。"
COMMENT_MISSING = "《{title}》中没有{articles}。"
COMMENT_ARTICLE_TEXT = "《{title}》{articles}原文："
COMMENT_SUPPORT = "支持度：{support:.2f}（该句与条文内容的相符程度，0–1；低于 {threshold} 视为可能不符）"
COMMENT_UNSTATED = "条文中没有该句所写的：{quantities}"
COMMENT_BETTER = "更相符的条文：{article}（支持度 {support:.2f}）"
COMMENT_NOTE_LABEL = "效力"
COMMENT_VERSION_LABEL = "版本"
COMMENT_LABELLED = "{label}：{text}"
COMMENT_HISTORY = "文件沿革：{event}"
COMMENT_TRUNCATED = "……（条文过长，已截断；全文见核查报告或语料）"
COMMENT_SUMMARY = "引用核查汇总：{summary}\n颜色：{legend}"
COMMENT_DRAFT_DATE = "\n成文日期（用于版本核对）：{date}"
LEGEND_ITEM = "{colour}＝{label}"
REPORT_FILE = "文稿：{file}"
REPORT_TITLE_LINE = "标题：{title}"
REPORT_DATE = "成文日期：{date}"
REPORT_NO_DATE = "成文日期：未识别（版本核对未按日期进行）"
REPORT_CHECKED_ON = "核查日期：{today}"
REPORT_SUMMARY_ROW = "汇总"
REPORT_NOTE_ROW = "说明"
REPORT_HEADING = "引用核查报告"
REPORT_FOOTER = "批注稿中的颜色：{legend}。支持度：引用句与条文内容的相符程度（0–1），仅供复核参考。"


# --- the command line (assistant/cli.py) --------------------------------------------------------------

CLI_ERROR = "错误 / error: {message}"
CLI_BAD_PATH = "错误 / error: 无法访问路径 {path}：{why}；没有导入任何文件。"
CLI_NO_QUESTION = "请给出问题，或用 --batch FILE.jsonl"
CLI_BUILT_INDEX = "索引为空，已从默认文件夹建立索引：\n{summary}"
CLI_BATCH_BAD_JSON = "{file}:{line}: invalid JSON / 不是有效的 JSON: {error}"
CLI_BATCH_BAD_LINE = ("{file}:{line}: 每行应为 {{\"id\": …, \"question\": \"…\", \"history\": [\"…\"]}} / "
                      "each line must be an object with a string question (and a list of earlier questions)")
CLI_STANDALONE = "（问题理解为：{question}）"
CLI_NOTE = "（{note}）"
CLI_SOURCE = "\n[{n}] 《{doc}》 {where}\n    {text}"
CLI_MODE_LLM = "，大模型撰写、逐句核对"
CLI_TIME = "\n({ms:.0f} ms{mode})"
CLI_CHECK_BAD_OPTIONS = "--annotate / --report 用于核查文稿（文字、文件或 -），不能与 --doc、--map 同用"
CLI_ANNOTATED_DRAFT = "批注稿"
CLI_REVIEW_REPORT = "核查报告"
CLI_NOTHING_TO_CHECK = "请给出要核查的文字或文件（- 表示标准输入），或用 --doc TITLE / --map"
CLI_WROTE_ANNOTATED = "已写出批注稿（{count} 处引用已标注）：{path}"
CLI_WROTE_REPORT = "已写出核查报告：{path}"
CLI_CANNOT_WRITE = "无法写出文件：{file} {error}"
CLI_STDIN = "标准输入"
CLI_FILE_NOT_FOUND = "找不到文件：{path}（要核查的若是这段文字本身，请写成完整的句子）/ file not found"
CLI_OUT_BAD_NAME = "{what}的文件名无效：{path}"
CLI_OUT_BAD_TYPE = "{what}应为 {suffixes} 文件：{path}"
CLI_OUT_TYPE_SEPARATOR = " 或 "
CLI_OUT_NO_FOLDER = "{what}的文件夹不存在：{folder}"
CLI_OUT_IS_FOLDER = "{what}的路径是一个文件夹：{path}"
CLI_OUT_IS_SOURCE = "{what}不能覆盖原稿：{path}"
CLI_SHORTENED = "{start}…（共 {length} 字）"
CLI_NUL = "含有空字符 / contains a NUL character"
CLI_NAME_TOO_LONG = "文件名过长 / file name too long"
CLI_STDIN_EMPTY = "标准输入为空：请通过管道传入要核查的文字 / standard input is empty"
CLI_STDIN_FILE = "标准输入.txt"
CLI_STDIN_BAD = "标准输入：{reason}"
CLI_QUESTION_FILE = "问题文件"
CLI_QUESTION_SET = "问题集"
CLI_CANNOT_READ = "无法读取{what} {path}：{why}"
CLI_NOT_UTF8 = "{what} {path} 不是 UTF-8 文本文件（可能是二进制文件）/ not a UTF-8 text file"
CLI_BINARY = "{what} {path} 含有二进制内容 / contains binary data"
CLI_SET_BAD_JSON = "{where}: 不是有效的 JSON / invalid JSON: {error}"
CLI_SET_BAD_LINE = "{where}: 每行应为含 \"question\" 字符串的 JSON 对象 / each line needs a string question"
CLI_SET_BAD_EXPECT = "{where}: \"expect\" 应为 {reasons} 之一"
CLI_SET_BAD_EXPECTED = "{where}: \"expected\" 应为 {{\"doc\", \"text\"}} 对象的列表"
CLI_SET_EMPTY = "问题集 {path} 中没有问题 / no questions"
CLI_SET_MIXED = "问题集 {path}：条文问题集的每一行都要有 \"expect\""
CLI_DESCRIPTION = "政策文件问答：带原文引用的回答"


# --- answers (assistant/answer.py) --------------------------------------------------------------------

NOT_FOUND = "抱歉，现有文件中没有找到能回答这个问题的内容。您可以换个问法，或指明相关文件名称。"
EMPTY = "请输入问题。"
TOO_LONG = "问题太长了（超过 {limit} 字），请精简后再问。"
NO_WORDS = "问题里没有可以查找的文字（只有标点或表情符号），请用中文写出您的问题，例如“学校对学生欺凌应该怎么处理？”。"
#: After an answer that quotes different periods (or other values its type compares) from different articles
#: (申请复议六十日 / 起诉十五日).
NO_SECTION = "《{doc}》中没有谈{what}的部分，无法回答这个问题。"
VALUES_DIFFER = "（以上各条规定的期限分别适用于不同事项，请按您的情形对照各条文。）"
INDEX_EMPTY = "索引为空：请先导入文件（assistant ingest）。"
ANSWER_DOC_NOT_IN_CORPUS = "现有文件中没有《{name}》，无法核对{articles}。"
ANSWER_AMBIGUOUS = "“{name}”可能指多部文件（{docs}），请写出完整名称。"
ANSWER_WHICH_DOCUMENT = "您问的是哪部文件的{articles}？语料中有{articles}的文件有：{docs}。请写明文件名称，例如“{example}”。"
ANSWER_WHICH_DOCUMENT_NONE = "您问的是哪部文件的{articles}？语料中没有哪部文件有{articles}。请写明文件名称。"
ANSWER_NO_SUCH_ARTICLE = "《{title}》中没有{missing}（该文件共 {total} 条）。"
ANSWER_NO_SUCH_PARAGRAPH = "《{title}》{article}只有 {count} 款，没有{kuan}。"
ANSWER_PARAGRAPH_HEAD = "《{title}》{article}{kuan}规定：\n"
ANSWER_ARTICLES_HEAD = "《{title}》{articles}规定：\n"
#: A law in several versions (assistant/versions.py): the version an answer quotes, after the title …
ANSWER_VERSION = "（{label}）"
#: … and, when a newer version exists, a line after the quoted text.
ANSWER_NEWER_VERSION = "（注：该法另有更新的版本：{labels}；以上为{label}的文本。）"
#: The checker: a dated draft's citation checked against the version in force at its date.
CHECK_NOTE_VERSION_AT = "按成文日期时施行的版本（{label}）核对；此后另有{newer}的版本"
#: A law whose subject is narrower than the general law answering before it (assistant/law_scope.py).
ANSWER_SPECIAL_LAW = "（特别规定）"
#: The first line of an answer: 根据《A》第X条、第Y条，《B》“section”：
ANSWER_LEAD = "根据{where}：\n"
