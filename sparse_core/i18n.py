"""One translation mechanism for every piece of UI text: t(key, lang, **fields).

Each entry holds English and Chinese; tests check that none is missing and that every key the
app uses exists here.
"""

from __future__ import annotations

LANGS = {"en": "English", "zh": "中文"}

STRINGS: dict[str, dict[str, str]] = {
    "app.title": {"en": "Sparse Attention Explorer", "zh": "稀疏注意力探索器"},
    "app.language": {"en": "Language", "zh": "语言"},
    "nav.home": {"en": "Home", "zh": "首页"},
    "nav.explorer": {"en": "Pattern Explorer", "zh": "模式探索"},
    "nav.inspector": {"en": "Attention Inspector", "zh": "注意力检查"},
    "nav.cost": {"en": "Cost & Speed", "zh": "成本与速度"},
    "nav.learn": {"en": "Learn", "zh": "学习"},
    "home.lead": {
        "en": "Full attention lets every token score every other token: **n² pairs**, so doubling "
              "the context quadruples compute and score memory. Sparse attention scores only the "
              "pairs in a *pattern* — a window, a few global tokens, random links, learned blocks — "
              "and keeps most of what matters at a fraction of the cost.",
        "zh": "完整注意力让每个词元给所有词元打分：共 **n² 对**，上下文翻倍，计算量和分数内存就翻四倍。"
              "稀疏注意力只为*模式*中的词元对打分——窗口、少数全局词元、随机连接、学习出的块——"
              "以很小的代价保留大部分重要信息。",
    },
    "home.demo": {"en": "Try it: one pattern, live", "zh": "试一试：一个模式，实时计算"},
    "home.n": {"en": "Tokens n", "zh": "词元数 n"},
    "home.dense": {"en": "Dense: {pairs} pairs", "zh": "稠密：{pairs} 对"},
    "home.sparse": {"en": "{pattern}: {pairs} pairs ({share} of dense)",
                    "zh": "{pattern}：{pairs} 对（稠密的 {share}）"},
    "home.pages": {"en": "Where to go next", "zh": "接下来去哪里"},
    "home.explorer": {"en": "pick any pattern, see its mask, exact FLOP and memory savings, export it.",
                      "zh": "选择任意模式，查看掩码、精确的计算量与内存节省，并导出。"},
    "home.inspector": {"en": "a real model's attention on your text, dense vs sparse.",
                       "zh": "真实模型在你的文本上的注意力：稠密与稀疏对比。"},
    "home.cost": {"en": "how cost grows with n, and measured block-sparse speed.",
                  "zh": "成本如何随 n 增长，以及实测的块稀疏速度。"},
    "home.learn": {"en": "a guided tour of the ideas, step by step.", "zh": "循序渐进的概念导览。"},
    "fig.query": {"en": "query i", "zh": "查询 i"},
    "fig.key": {"en": "key j", "zh": "键 j"},
    "fig.kept": {"en": "kept", "zh": "保留"},
    "fig.dropped": {"en": "dropped", "zh": "丢弃"},
    "err.prefix": {"en": "Cannot do that: {msg}", "zh": "无法执行：{msg}"},
}


def t(key: str, lang: str = "en", **fields) -> str:
    entry = STRINGS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**fields) if fields else text
