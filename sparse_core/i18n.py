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
    # Pattern Explorer
    "ex.title": {"en": "Pattern Explorer", "zh": "模式探索"},
    "ex.lead": {"en": "Pick a pattern, set its parameters, and read its exact cost at any length up to a "
                      "million tokens.",
                "zh": "选择一个模式、设置参数，查看它在任意长度（最多一百万词元）下的精确成本。"},
    "ex.n": {"en": "Sequence length n", "zh": "序列长度 n"},
    "ex.causal": {"en": "Causal (j ≤ i)", "zh": "因果（j ≤ i）"},
    "ex.causal_help": {"en": "Intersect every pattern with the lower triangle, as in decoder LLMs.",
                       "zh": "将每个模式与下三角相交，如解码器 LLM。"},
    "ex.layer": {"en": "Pattern {i}", "zh": "模式 {i}"},
    "ex.pattern": {"en": "Pattern", "zh": "模式"},
    "ex.add": {"en": "➕ Add a pattern", "zh": "➕ 添加模式"},
    "ex.remove": {"en": "Remove", "zh": "移除"},
    "ex.defaults": {"en": "Paper defaults", "zh": "论文默认值"},
    "ex.op": {"en": "Combine patterns by", "zh": "组合方式"},
    "ex.union": {"en": "union (keep if any keeps)", "zh": "并集（任一保留即保留）"},
    "ex.intersection": {"en": "intersection (keep if all keep)", "zh": "交集（全部保留才保留）"},
    "ex.block": {"en": "Kernel block size B", "zh": "内核块大小 B"},
    "ex.block_help": {"en": "Tile size of a block-sparse kernel (FlexAttention uses 128).",
                      "zh": "块稀疏内核的分块大小（FlexAttention 默认 128）。"},
    "ex.d_head": {"en": "Head dimension d", "zh": "头维度 d"},
    "ex.reference": {"en": "Reference: {ref}", "zh": "参考文献：{ref}"},
    "ex.complexity": {"en": "Complexity", "zh": "复杂度"},
    "ex.tab_mask": {"en": "Mask & numbers", "zh": "掩码与数据"},
    "ex.tab_compare": {"en": "Compare", "zh": "对比"},
    "ex.tab_export": {"en": "Export & share", "zh": "导出与分享"},
    "ex.token_view": {"en": "Token-level mask, {n} × {n}: dark = kept.", "zh": "词元级掩码 {n} × {n}：深色为保留。"},
    "ex.pooled_view": {
        "en": "Pooled view: each cell is a {b} × {b} block of tokens, shaded by the exact share of pairs kept.",
        "zh": "池化视图：每格为 {b} × {b} 的词元块，颜色深浅为精确的保留比例。"},
    "ex.pooled_binary": {
        "en": "Block view: each cell is a {b} × {b} block of tokens, dark if it keeps any pair.",
        "zh": "块视图：每格为 {b} × {b} 的词元块，含任一保留对即为深色。"},
    "ex.kept_pairs": {"en": "Kept pairs", "zh": "保留的词元对"},
    "ex.density": {"en": "Density", "zh": "密度"},
    "ex.flops": {"en": "Attention FLOPs per head", "zh": "每头注意力计算量"},
    "ex.speedup": {"en": "{x} fewer than dense", "zh": "比稠密少 {x}"},
    "ex.score_mem": {"en": "Score memory per head", "zh": "每头分数矩阵内存"},
    "ex.score_mem_delta": {"en": "dense {dense}", "zh": "稠密 {dense}"},
    "ex.block_kernel": {"en": "Block kernel computes", "zh": "块内核实际计算"},
    "ex.block_waste": {"en": "{w} of it masked out", "zh": "其中 {w} 被屏蔽"},
    "ex.block_inexact": {"en": "Block numbers are an upper bound for this intersection at this n.",
                         "zh": "在此 n 下，该交集的块统计为上界。"},
    "ex.kv": {"en": "KV cache per layer & head (decoding)", "zh": "每层每头 KV 缓存（解码）"},
    "ex.kv_bounded": {"en": "bounded: {t} tokens", "zh": "有界：{t} 个词元"},
    "ex.kv_unbounded": {"en": "grows with n", "zh": "随 n 增长"},
    "ex.softmax": {"en": "Softmax FLOPs (apart)", "zh": "Softmax 计算量（单列）"},
    "ex.degree": {"en": "Keys each query sees (per-row degree)", "zh": "每个查询看到的键数（行度）"},
    "ex.degree_axis": {"en": "keys kept", "zh": "保留的键数"},
    "ex.degree_range": {"en": "min–max in bin", "zh": "区间内最小–最大"},
    "ex.degree_mean": {"en": "mean", "zh": "平均"},
    "ex.zoom": {"en": "🔍 Zoom into a region (exact, token level)", "zh": "🔍 放大某区域（精确，词元级）"},
    "ex.zoom_row": {"en": "First query row", "zh": "起始查询行"},
    "ex.zoom_col": {"en": "First key column", "zh": "起始键列"},
    "ex.zoom_size": {"en": "Region size", "zh": "区域大小"},
    "ex.compare_pick": {"en": "Patterns to compare (2–4), each with its paper defaults",
                        "zh": "要对比的模式（2–4 个），均使用论文默认值"},
    "ex.compare_need": {"en": "Pick at least two patterns.", "zh": "请至少选择两个模式。"},
    "ex.metric": {"en": "metric", "zh": "指标"},
    "ex.dl_npy": {"en": "Mask (.npy)", "zh": "掩码（.npy）"},
    "ex.dl_csv": {"en": "Mask (.csv)", "zh": "掩码（.csv）"},
    "ex.dl_layout": {"en": "Block layout (.npy)", "zh": "块布局（.npy）"},
    "ex.dl_json": {"en": "Configuration (.json)", "zh": "配置（.json）"},
    "ex.dl_flex": {"en": "FlexAttention script (.py)", "zh": "FlexAttention 脚本（.py）"},
    "ex.too_large": {
        "en": "A token-level mask at n = {n} would be {size}; downloads are limited to n ≤ {limit}. "
              "The block layout ({nb} × {nb} blocks of {b}) is offered instead.",
        "zh": "n = {n} 时词元级掩码将达 {size}；下载限于 n ≤ {limit}。"
              "改为提供块布局（{nb} × {nb} 个大小为 {b} 的块）。"},
    "ex.image_format": {"en": "Camera button saves the figure as", "zh": "相机按钮保存图像格式"},
    "ex.share": {"en": "Share: this page's URL holds the whole configuration.", "zh": "分享：本页网址包含完整配置。"},
    "ex.flex_title": {"en": "FlexAttention code that reproduces this mask", "zh": "复现此掩码的 FlexAttention 代码"},
    "ex.url_problem": {"en": "The link's settings could not all be used: {msg}. Defaults are shown instead.",
                       "zh": "链接中的设置无法全部使用：{msg}。已改用默认值。"},
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
