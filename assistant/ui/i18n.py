"""Gradio's own words in Chinese, whatever the browser's language.

Gradio's frontend picks its locale from ``navigator.language`` (svelte-i18n's ``getLocaleFromNavigator``, read once
when the page starts) and falls back to English for any key its zh-CN file lacks. Three gaps remain after the locale
is pinned to zh-CN (:data:`assistant.ui.server.PIN_CHINESE`), each closed here:

1. keys that Gradio's zh-CN file does not have (「Copy message」, the upload progress, the screen-reader
   「common.complete」, which no locale has): :data:`GRADIO_ZH_CN`, handed to ``launch(i18n=…)`` by
   :func:`gradio_i18n`, which Gradio merges into the frontend dictionary;
2. words that Gradio's components write without going through i18n (the 「More tabs」 button, the chat's
   「user's message: …」 screen-reader labels, the upload area's aria-label): :data:`HARDCODED`, rewritten in the
   page by the small script :data:`TRANSLATE_SCRIPT` as soon as an element shows them;
3. a component without a label gets its class name as a hidden label (「Textbox」): the app gives every component
   a Chinese label (see :func:`assistant.ui.chat.build_app`).

The lists were taken from Gradio 6.31's bundled frontend (``templates/frontend/assets``: ``en-*.js`` against
``zh-CN-*.js``, and the string literals of the components this app uses); tests/test_ui.py checks the page in an
English browser, so a Gradio upgrade that adds an English word shows up there.
"""

from __future__ import annotations

import json

import gradio as gr

#: Gradio frontend keys with no zh-CN text in Gradio itself (flat "namespace.key" names, which svelte-i18n looks up
#: as they are). Components this app does not use are translated too: cheap, and safe if one is added later.
GRADIO_ZH_CN: dict[str, str] = {
    "audio.recording_error": "无法开始用麦克风录音。",
    "chat_interface.new_chat": "新对话",
    "chat_interface.message_placeholder": "输入消息…",
    "chat_interface.additional_inputs": "更多输入",
    "chat_interface.chatbot": "对话",
    "chat_interface.conversation": "对话记录",
    "chatbot.complete": "完成",
    "chatbot.copy_message": "复制这条消息",
    "chatbot.copied_message": "已复制",
    "common.complete": "完成",
    "common.download_all": "全部下载",
    "common.runs": "运行记录",
    "common.runs_description": "查看保存在本浏览器中的运行记录",
    "common.back_to_app": "返回",
    "common.back_to_app_description": "返回应用",
    "common.progress": "进度",
    "common.record": "录制",
    "common.stop_recording": "停止录制",
    "common.screen_studio": "屏幕录制",
    "common.share_gradio_tab": "分享页面",
    "common.run": "运行",
    "common.upload": "上传",
    "common.video": "视频",
    "common.webcam": "摄像头",
    "dataframe.import_empty_file": "拖入的文件是空的。",
    "dataframe.import_no_column_names": "拖入的文件没有列名。",
    "dataframe.import_ragged_row": "文件第 {line} 行有 {fields} 个字段，表头有 {columns} 个。",
    "dataframe.import_static_columns": "表格含只读列，无法导入。",
    "dataframe.import_fixed_columns": "表格必须正好有 {expected} 列，文件有 {actual} 列。",
    "dataframe.import_fixed_rows": "表格必须正好有 {expected} 行，文件有 {actual} 行。",
    "dataframe.filter": "筛选",
    "dataframe.clear_filter": "清除筛选",
    "image.no_webcam_support": "无法使用摄像头。",
    "image_editor.add_layer": "添加图层",
    "image_editor.brush": "画笔",
    "image_editor.brush_size": "画笔大小",
    "image_editor.clear_canvas": "清空画布",
    "image_editor.color": "颜色",
    "image_editor.confirm_crop": "确认裁剪",
    "image_editor.crop": "裁剪",
    "image_editor.erase": "擦除",
    "image_editor.eraser_size": "橡皮擦大小",
    "image_editor.fit_to_screen": "适应屏幕",
    "image_editor.layer": "图层",
    "image_editor.layers": "图层",
    "image_editor.pan": "平移",
    "image_editor.paste": "粘贴",
    "image_editor.redo": "重做",
    "image_editor.resize": "调整大小",
    "image_editor.save_changes": "保存修改",
    "image_editor.select_draw_tool": "请选择绘图工具开始",
    "image_editor.show_layers": "显示图层",
    "image_editor.upload": "上传",
    "image_editor.upload_image": "上传图像",
    "image_editor.webcam": "摄像头",
    "image_editor.zoom_in": "放大",
    "image_editor.zoom_out": "缩小",
    "status.queue_position": "排队中：第 {position} 位，共 {size} 位",
}

#: English that Gradio's components write into the page directly (attribute values and a few texts), → Chinese.
HARDCODED: dict[str, str] = {
    "More tabs": "更多标签页",
    "Gradio footer navigation": "页脚导航",
    "chatbot conversation": "对话记录",
    "Click to upload or drop files": "点击上传或拖放文件",
    "File upload": "上传文件",
    "Upload file": "上传文件",
    "Remove this file": "移除这个文件",
    "Copy": "复制",
    "copy": "复制",
    "Copied": "已复制",
    "Close": "关闭",
    "Loading response": "正在生成回答",
    "Loading content": "正在加载内容",  # the screen-reader text of the chat's pending answer (its three dots)
    "Loading...": "加载中…",
    "Empty value": "空",
    "Paste from clipboard": "从剪贴板粘贴",
    "undo": "撤销",
    "Connection Lost": "连接已断开",
    "History storage": "历史记录存储",
    "Example attachments": "示例附件",
    "bot avatar": "回答者头像",
    "Example icon": "示例图标",
    "Capture from camera": "用摄像头拍摄",
    "Record audio": "录音",
    "Record video from camera": "用摄像头录像",
    "Start Recording": "开始录制",
    "Stop Recording": "停止录制",
    "Custom action": "自定义操作",
    "Type a message...": "输入消息…",
    "Error": "出错了",
    "processing |": "处理中 |",  # the progress overlay while an event runs
}

#: Labels that start with English and go on with content: the English head is replaced, the rest kept.
HARDCODED_PREFIXES: list[tuple[str, str]] = [
    ("user's message: ", "提问："),
    ("bot's message: ", "回答："),
    ("assistant's message: ", "回答："),
    ("File: ", "文件："),
]

#: Attributes the script rewrites; text nodes are rewritten only when their whole text is a :data:`HARDCODED` key.
ATTRIBUTES = ("aria-label", "title", "alt", "placeholder")

# A message's screen-reader label is its raw Markdown: a marker link [\[1\]](#src-1-1) is read as [1], escapes dropped.
_SCRIPT = r"""(() => {
const EXACT = %(exact)s, PREFIX = %(prefixes)s, ATTRS = %(attrs)s;
const MORE = /^(\d+) more files$/, EXAMPLE = /^Select example (\d+): /, QUEUE = /^queue: (\d+)\/(\d*) \|$/;
const plain = (md) => md.replace(/\[\\\[(\d+)\\\]\]\([^)]*\)/g, "[$1]").replace(/\\([!-\/:-@\[-`{-~])/g, "$1");
const zh = (v) => {
  if (v == null) return null;
  const t = v.trim();
  if (Object.hasOwn(EXACT, t)) return EXACT[t];
  for (const [p, r] of PREFIX) if (v.startsWith(p)) return r + plain(v.slice(p.length));
  if (MORE.test(t)) return t.replace(MORE, "另有 $1 个文件");
  if (EXAMPLE.test(v)) return v.replace(EXAMPLE, "示例 $1：");
  return null;
};
const fixEl = (el) => {
  for (const a of ATTRS) { const v = el.getAttribute(a), z = zh(v); if (z !== null && z !== v) el.setAttribute(a, z); }
};
const fixText = (n) => {
  const t = n.nodeValue.trim();
  if (t && Object.hasOwn(EXACT, t)) n.nodeValue = n.nodeValue.replace(t, EXACT[t]);
  else if (QUEUE.test(t)) n.nodeValue = n.nodeValue.replace(t, t.replace(QUEUE, "排队：$1/$2 |"));
};
const walk = (root) => {
  if (root.nodeType === 3) return fixText(root);
  if (root.nodeType !== 1) return;
  fixEl(root);
  for (const el of root.querySelectorAll("*")) fixEl(el);
  const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n; (n = w.nextNode()); ) fixText(n);
};
new MutationObserver((changes) => {
  for (const c of changes) {
    if (c.type === "attributes") fixEl(c.target);
    else if (c.type === "characterData") fixText(c.target);
    else c.addedNodes.forEach(walk);
  }
}).observe(document.documentElement,
  {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ATTRS});
})();"""

#: The page script that applies :data:`HARDCODED` / :data:`HARDCODED_PREFIXES` to every element Gradio adds or
#: changes (a MutationObserver: Gradio re-renders, so a one-off pass would not last).
TRANSLATE_SCRIPT = _SCRIPT % {
    "exact": json.dumps(HARDCODED, ensure_ascii=False),
    "prefixes": json.dumps(HARDCODED_PREFIXES, ensure_ascii=False),
    "attrs": json.dumps(list(ATTRIBUTES)),
}


def gradio_i18n() -> gr.I18n:
    """The ``i18n`` argument of ``launch``: :data:`GRADIO_ZH_CN` for zh-CN, the locale the page is pinned to (and
    the one a visitor gets by choosing 简体中文 in Gradio's settings panel)."""
    return gr.I18n(**{"zh-CN": dict(GRADIO_ZH_CN)})
