"""The one catalog of UI text, English and Chinese: t(key, lang, **fields).

A Python dict rather than gettext .po files: every entry keeps both languages side by side (a
translator sees the English beside the Chinese), placeholders are plain str.format fields that a
test checks key by key, and there is no compile step or extra tool to install. Tests check that
no entry misses a language, that every key the app uses exists, and that no page hard-codes text.
The engine's own English (pattern titles, summaries, parameter help, error messages) is
translated here by key: `pattern.<name>`, `pattern.<name>.summary`, `help.<pattern>.<param>`,
`err.<code>`.
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
    "home.sparse": {
        "en": "{pattern}: {pairs} pairs ({share} of dense)",
        "zh": "{pattern}：{pairs} 对（稠密的 {share}）",
    },
    "home.pages": {"en": "Where to go next", "zh": "接下来去哪里"},
    "home.explorer": {
        "en": "pick any pattern, see its mask, exact FLOP and memory savings, export it.",
        "zh": "选择任意模式，查看掩码、精确的计算量与内存节省，并导出。",
    },
    "home.inspector": {
        "en": "a real model's attention on your text, dense vs sparse.",
        "zh": "真实模型在你的文本上的注意力：稠密与稀疏对比。",
    },
    "home.cost": {
        "en": "how cost grows with n, and measured block-sparse speed.",
        "zh": "成本如何随 n 增长，以及实测的块稀疏速度。",
    },
    "home.learn": {"en": "a guided tour of the ideas, step by step.", "zh": "循序渐进的概念导览。"},
    "home.lab": {
        "en": "which pattern keeps the most of a real model at a given budget, on your text.",
        "zh": "在给定预算下，哪种模式在你的文本上保留了真实模型的最多信息。",
    },
    "home.saving": {
        "en": "Pairs scored: {dense} dense → {sparse} sparse, {times}× fewer",
        "zh": "打分的词元对：稠密 {dense} → 稀疏 {sparse}，少 {times} 倍",
    },
    # Pattern Explorer
    "ex.title": {"en": "Pattern Explorer", "zh": "模式探索"},
    "ex.lead": {
        "en": "Pick a pattern, set its parameters, and read its exact cost at any length up to a million tokens.",
        "zh": "选择一个模式、设置参数，查看它在任意长度（最多一百万词元）下的精确成本。",
    },
    "ex.n": {"en": "Sequence length n", "zh": "序列长度 n"},
    "ex.causal": {"en": "Causal (j ≤ i)", "zh": "因果（j ≤ i）"},
    "ex.causal_help": {
        "en": "Intersect every pattern with the lower triangle, as in decoder LLMs.",
        "zh": "将每个模式与下三角相交，如解码器 LLM。",
    },
    "ex.layer": {"en": "Pattern {i}", "zh": "模式 {i}"},
    "ex.pattern": {"en": "Pattern", "zh": "模式"},
    "ex.add": {"en": "➕ Add a pattern", "zh": "➕ 添加模式"},
    "ex.remove": {"en": "Remove", "zh": "移除"},
    "ex.defaults": {"en": "Paper defaults", "zh": "论文默认值"},
    "ex.op": {"en": "Combine patterns by", "zh": "组合方式"},
    "ex.union": {"en": "union (keep if any keeps)", "zh": "并集（任一保留即保留）"},
    "ex.intersection": {"en": "intersection (keep if all keep)", "zh": "交集（全部保留才保留）"},
    "ex.block": {"en": "Kernel block size B", "zh": "内核块大小 B"},
    "ex.block_help": {
        "en": "Tile size of a block-sparse kernel (FlexAttention uses 128).",
        "zh": "块稀疏内核的分块大小（FlexAttention 默认 128）。",
    },
    "ex.d_head": {"en": "Head dimension d", "zh": "头维度 d"},
    "ex.reference": {"en": "Reference: {ref}", "zh": "参考文献：{ref}"},
    "ex.complexity": {"en": "Complexity", "zh": "复杂度"},
    "ex.tab_mask": {"en": "Mask & numbers", "zh": "掩码与数据"},
    "ex.tab_compare": {"en": "Compare", "zh": "对比"},
    "ex.tab_export": {"en": "Export & share", "zh": "导出与分享"},
    "ex.token_view": {"en": "Token-level mask, {n} × {n}: dark = kept.", "zh": "词元级掩码 {n} × {n}：深色为保留。"},
    "ex.pooled_view": {
        "en": "Pooled view: each cell is a {b} × {b} block of tokens, shaded by the exact share of pairs kept.",
        "zh": "池化视图：每格为 {b} × {b} 的词元块，颜色深浅为精确的保留比例。",
    },
    "ex.pooled_binary": {
        "en": "Block view: each cell is a {b} × {b} block of tokens. Counting each block's share is too costly "
        "at this n, so every block that keeps any pair is shaded by the exact mean share over those blocks.",
        "zh": "块视图：每格为 {b} × {b} 的词元块。此 n 下逐块统计比例代价过高，"
        "因此所有含保留对的块统一按这些块的精确平均保留比例着色。",
    },
    "ex.dense_note": {
        "en": "At n = {n} this pattern keeps {share} of the pairs a model could attend: it is (nearly) dense "
        "here and saves almost nothing. Its paper parameters were chosen for much longer sequences.",
        "zh": "在 n = {n} 时，该模式保留了模型可关注词元对的 {share}：这里它（几乎）是稠密的，几乎没有节省。"
        "其论文参数是为长得多的序列设计的。",
    },
    "ex.scale_button": {"en": "Scale its parameters to n = {n}", "zh": "把参数缩放到 n = {n}"},
    "ex.scale_help": {
        "en": "Same shape, shrunk: every length (window, stride, block, global tokens, sinks…) is halved "
        "together until at most half of the pairs are kept. Counts such as random blocks stay.",
        "zh": "形状不变、整体缩小：所有长度参数（窗口、步长、块、全局词元、汇聚词元…）一起减半，"
        "直到最多保留一半的词元对。随机块数等计数参数不变。",
    },
    "ex.kept_pairs": {"en": "Kept pairs", "zh": "保留的词元对"},
    "ex.density": {"en": "Density", "zh": "密度"},
    "ex.flops": {"en": "Attention FLOPs per head", "zh": "每头注意力计算量"},
    "ex.speedup": {"en": "{x} fewer than dense", "zh": "比稠密少 {x}"},
    "ex.score_mem": {"en": "Score memory per head", "zh": "每头分数矩阵内存"},
    "ex.score_mem_delta": {"en": "dense {dense}", "zh": "稠密 {dense}"},
    "ex.block_kernel": {"en": "Block kernel computes", "zh": "块内核实际计算"},
    "ex.block_waste": {"en": "{w} of it masked out", "zh": "其中 {w} 被屏蔽"},
    "ex.block_inexact": {
        "en": "Block numbers are an upper bound for this intersection at this n.",
        "zh": "在此 n 下，该交集的块统计为上界。",
    },
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
    "ex.compare_pick": {
        "en": "Compare your pattern with (up to 3, each with its paper defaults)",
        "zh": "与你的模式对比（最多 3 个，均使用论文默认值）",
    },
    "ex.your_pattern": {"en": "Your pattern", "zh": "你的模式"},
    "ex.dense_short": {"en": "Dense here: keeps {share} of the pairs.", "zh": "此处为稠密：保留了 {share} 的词元对。"},
    "ex.compare_need": {"en": "Pick at least two patterns.", "zh": "请至少选择两个模式。"},
    "ex.metric": {"en": "metric", "zh": "指标"},
    "ex.dl_npy": {"en": "Mask (.npy)", "zh": "掩码（.npy）"},
    "ex.dl_csv": {"en": "Mask (.csv)", "zh": "掩码（.csv）"},
    "ex.dl_packed": {"en": "Mask, packed bits (.npy)", "zh": "掩码，按位打包（.npy）"},
    "ex.not_offered": {"en": "{name} is not offered here: {msg}", "zh": "此处不提供 {name}：{msg}"},
    "ex.flex_long": {
        "en": "The script embeds index tables (~{size}), too long to print here: use the download button.",
        "zh": "脚本内嵌索引表（约 {size}），太长无法在此显示：请用下载按钮。",
    },
    "ex.dl_layout": {"en": "Block layout (.npy)", "zh": "块布局（.npy）"},
    "ex.dl_json": {"en": "Configuration (.json)", "zh": "配置（.json）"},
    "ex.dl_flex": {"en": "FlexAttention script (.py)", "zh": "FlexAttention 脚本（.py）"},
    "ex.too_large": {
        "en": "A token-level mask at n = {n} would be {size}; downloads are limited to n ≤ {limit}. "
        "The block layout ({nb} × {nb} blocks of {b}) is offered instead.",
        "zh": "n = {n} 时词元级掩码将达 {size}；下载限于 n ≤ {limit}。"
        "改为提供块布局（{nb} × {nb} 个大小为 {b} 的块）。",
    },
    "ex.too_large_no_layout": {
        "en": "A token-level mask at n = {n} would be {size}; downloads are limited to n ≤ {limit}. "
        "The block layout is not offered either at block size {b}: {reason}",
        "zh": "n = {n} 时词元级掩码将达 {size}；下载限于 n ≤ {limit}。块大小为 {b} 时也不提供块布局：{reason}",
    },
    "ex.flex_refused": {
        "en": "The script is not printed here and not offered for download at these settings: {msg}",
        "zh": "在当前设置下，脚本既不在此显示，也不提供下载：{msg}",
    },
    "ex.csv_limit": {
        "en": "CSV is offered up to n = {limit}; use .npy for longer sequences.",
        "zh": "CSV 仅在 n ≤ {limit} 时提供；更长的序列请用 .npy。",
    },
    "ex.image_format": {"en": "Camera button saves the figure as", "zh": "相机按钮保存图像格式"},
    "ex.share": {"en": "Share: this page's URL holds the whole configuration.", "zh": "分享：本页网址包含完整配置。"},
    "ex.flex_title": {"en": "FlexAttention code that reproduces this mask", "zh": "复现此掩码的 FlexAttention 代码"},
    "ex.url_problem": {
        "en": "The link's settings could not all be used: {msg}. Defaults are shown instead.",
        "zh": "链接中的设置无法全部使用：{msg}。已改用默认值。",
    },
    # Attention Inspector
    "in.title": {"en": "Attention Inspector", "zh": "注意力检查"},
    "in.lead": {
        "en": "A real pretrained model reads your text. See what each head attends to, what a sparse "
        "pattern keeps and drops, and how far the model's outputs move when the pattern is applied "
        "inside every layer.",
        "zh": "真实的预训练模型读取你的文本。查看每个注意力头关注什么、稀疏模式保留和丢弃了什么，"
        "以及在每一层应用该模式后模型输出偏移了多少。",
    },
    "in.model": {"en": "Model", "zh": "模型"},
    "in.local": {"en": "…or a local model folder (optional)", "zh": "……或本地模型文件夹（可选）"},
    "in.local_help": {
        "en": "A folder with config.json and a fast tokenizer. Model hubs are not reachable from here.",
        "zh": "包含 config.json 和快速分词器的文件夹。此处无法访问模型仓库。",
    },
    "in.loading": {"en": "Loading {model}…", "zh": "正在加载 {model}……"},
    "in.loaded": {"en": "{model} ready", "zh": "{model} 已就绪"},
    "in.example": {"en": "Example text", "zh": "示例文本"},
    "in.own": {"en": "(your own text)", "zh": "（自己的文本）"},
    "in.own_missing": {
        "en": "This link was made with a pasted text, which a link cannot carry: paste your text or pick an example.",
        "zh": "此链接是用粘贴的文本生成的，而链接无法携带文本：请粘贴你的文本或选择一个示例。",
    },
    "in.own_not_in_link": {
        "en": "Your own text stays in this session (it survives a page change) but a shared link cannot carry it: "
        "the link opens with the text box empty.",
        "zh": "你自己的文本保存在本次会话中（切换页面不会丢失），但分享的链接无法携带它：打开链接时文本框为空。",
    },
    "in.text": {"en": "Text", "zh": "文本"},
    "in.limit": {"en": "Tokens to inspect", "zh": "检查的词元数"},
    "in.limit_help": {
        "en": "Heatmaps and metrics use the first tokens only; 256 keeps the page fast.",
        "zh": "热力图和指标只使用前面的词元；256 可保持页面流畅。",
    },
    "in.count": {"en": "{n} tokens inspected", "zh": "检查了 {n} 个词元"},
    "in.truncated": {
        "en": "The text needs about {total} tokens; only the first {n} are inspected ({chars} characters left out).",
        "zh": "该文本约需 {total} 个词元；只检查前 {n} 个（省略了 {chars} 个字符）。",
    },
    "in.pattern": {"en": "Sparse pattern", "zh": "稀疏模式"},
    "in.causal_note": {
        "en": "This model is causal: the pattern is intersected with j ≤ i.",
        "zh": "该模型是因果的：模式与 j ≤ i 相交。",
    },
    "in.layer": {"en": "Layer", "zh": "层"},
    "in.head": {"en": "Head", "zh": "头"},
    "in.qk_source": {
        "en": "Chosen from the real queries and keys of layer {layer}, head {head}, "
        "then applied to every layer and head.",
        "zh": "由第 {layer} 层第 {head} 个头的真实查询与键选出，再应用到每一层每个头。",
    },
    "in.dense": {"en": "Dense attention", "zh": "稠密注意力"},
    "in.mask": {"en": "Pattern on these tokens", "zh": "该模式在这些词元上"},
    "in.sparse": {"en": "Sparse attention (masked inside the model)", "zh": "稀疏注意力（在模型内部屏蔽）"},
    "in.diff": {"en": "Sparse − dense", "zh": "稀疏 − 稠密"},
    "in.weight": {"en": "weight", "zh": "权重"},
    "in.mass": {"en": "Mass kept", "zh": "保留质量"},
    "in.mass_head": {"en": "Mass kept by this head", "zh": "该头保留的质量"},
    "in.cosine": {"en": "Output cosine", "zh": "输出余弦相似度"},
    "in.cosine_help": {
        "en": "Cosine similarity of the final hidden states, dense vs sparse: mean over the rows the pattern "
        "changes (worst token below). All rows: {all}.",
        "zh": "最终隐藏状态的余弦相似度（稠密 vs 稀疏）：模式改变的行上的平均值（下方为最差词元）。全部行：{all}。",
    },
    "in.agreement": {"en": "Next-token agreement", "zh": "下一词元一致率"},
    "in.ppl": {"en": "perplexity {sparse} (dense {dense})", "zh": "困惑度 {sparse}（稠密 {dense}）"},
    "in.density": {"en": "Density", "zh": "密度"},
    "in.overview": {"en": "All layers × heads: click a tile to open that head", "zh": "所有层 × 头：点击某格打开该头"},
    "in.table": {
        "en": "Per-head share of attention mass kept (click a column to sort)",
        "zh": "各头保留的注意力质量（点击列名排序）",
    },
    "in.kept_col": {"en": "mass kept", "zh": "保留质量"},
    "in.entropy_col": {"en": "dense entropy (bits)", "zh": "稠密熵（比特）"},
    "in.rows_fixed": {
        "en": "{n} query rows kept nothing under this pattern; they attend to themselves only.",
        "zh": "{n} 个查询行在该模式下不保留任何键；它们只关注自身。",
    },
    "in.how": {"en": "How to read this", "zh": "如何解读"},
    "in.how_text": {
        "en": "Each heatmap row is a query token, each column a key token. *Dense* is what the model does; the "
        "*pattern* is which pairs are allowed; *sparse* is the model rerun with the pattern applied in "
        "every layer, so later layers see sparse inputs; the *difference* shows where weight moved. "
        "*Mass kept* is the share of each row's dense weight that falls inside the pattern: near 100% "
        "means the pattern keeps what this head uses.",
        "zh": "热力图每一行是一个查询词元，每一列是一个键词元。*稠密* 是模型的原始行为；*模式* 是允许的词元对；"
        "*稀疏* 是在每一层都应用该模式后重新运行模型，因此后面的层看到的是稀疏的输入；*差异* 显示权重移到了哪里。"
        "*保留质量* 是每行稠密权重落在模式内的比例：接近 100% 说明该模式保留了这个头所用的信息。",
    },
    "in.ex_en_story": {"en": "A short story (English)", "zh": "短篇故事（英文）"},
    "in.ex_zh_story": {"en": "A short story (Chinese)", "zh": "短篇故事（中文）"},
    "in.ex_code_review": {"en": "Code and prose", "zh": "代码与说明"},
    "in.ex_mixed_scripts": {"en": "Many scripts, emoji, right-to-left", "zh": "多种文字、表情符号、从右到左"},
    "in.mass_help": {
        "en": "Share of each row's dense attention that falls inside the pattern, averaged over the (layer, head, "
        "row) triples whose row the pattern changes. All rows: {all}.",
        "zh": "每行稠密注意力落在模式内的比例，在模式改变的（层、头、行）上取平均。全部行：{all}。",
    },
    "in.density_help": {
        "en": "Kept pairs / pairs the model could attend (the causal triangle for a causal LM), all layers and "
        "heads: {kept} / {allowed}. Raw share of all T² pairs: {raw}.",
        "zh": "保留的词元对 / 模型可关注的词元对（因果语言模型为因果三角），全部层和头：{kept} / {allowed}。"
        "占全部 T² 对的原始比例：{raw}。",
    },
    "in.empty": {"en": "Empty rows", "zh": "空行"},
    "in.empty_help": {
        "en": "(layer, head, row) triples where the pattern keeps no key the model could attend. Such a row "
        "attends to its own token only and counts as not kept.",
        "zh": "模式未保留任何模型可关注键的（层、头、行）数量。这样的行只关注自身，且不计为保留。",
    },
    "in.agreement_help": {
        "en": "Share of the changed positions whose next-token argmax is the same dense and sparse. All positions: "
        "{all}.",
        "zh": "在被改变的位置中，稠密与稀疏的下一词元 argmax 相同的比例。全部位置：{all}。",
    },
    "in.ppl_sparse": {"en": "Perplexity, sparse", "zh": "困惑度（稀疏）"},
    "in.ppl_dense": {"en": "Perplexity, dense", "zh": "困惑度（稠密）"},
    "in.ppl_help": {
        "en": "exp of the mean negative log-probability of each actual next token, over the whole text.",
        "zh": "整段文本上每个实际下一词元的负对数概率平均值的指数。",
    },
    "in.changed_rows": {
        "en": "The pattern changes {changed} of {n} rows (in some layer or head); the figures above are means over "
        "changed rows.",
        "zh": "该模式改变了 {n} 行中的 {changed} 行（在某层或某头）；上面的数字是被改变的行上的平均值。",
    },
    "in.all_rows": {
        "en": "All rows: mass kept {mass}, output cosine {cosine}, raw density {raw}.",
        "zh": "全部行：保留质量 {mass}，输出余弦 {cosine}，原始密度 {raw}。",
    },
    "in.all_rows_agreement": {
        "en": "Next-token agreement, all positions: {agreement}.",
        "zh": "全部位置的下一词元一致率：{agreement}。",
    },
    "in.too_dense": {
        "en": "At {n} tokens this pattern keeps {share} of the pairs the model could attend: it is (nearly) dense "
        "here, so the numbers show almost no loss. Shrink its parameters to see what a sparse pattern drops.",
        "zh": "在 {n} 个词元上，该模式保留了模型可关注词元对的 {share}：它在这里（几乎）是稠密的，"
        "因此数字几乎看不出损失。缩小参数才能看到稀疏模式丢弃了什么。",
    },
    "in.scale_button": {"en": "Scale the parameters to {n} tokens", "zh": "按 {n} 个词元缩放参数"},
    "in.local_off_admin": {
        "en": "For whoever runs this app: models from your own folders are switched off here. Start the server "
        "with {env}=1 to offer them (make run does this on a laptop).",
        "zh": "写给运行本应用的人：此处已关闭从你自己的文件夹加载模型。启动服务器时设置 {env}=1 即可提供该功能"
        "（在笔记本上 make run 会这样做）。",
    },
    "in.rescaled": {
        "en": "Fitted to these {n} tokens: {changes}, halved until the pattern keeps at most half of the pairs "
        "the model could attend. Parameters you have not changed follow the text.",
        "zh": "已按这 {n} 个词元调整：{changes}，逐次减半，直到该模式最多保留模型可关注词元对的一半。"
        "你未修改的参数会随文本调整。",
    },
    "in.rescale_undo": {"en": "Undo: keep the values I had", "zh": "撤销：保留我原来的取值"},
    "in.clamped": {
        "en": "This model has {count} of them: {what} {old} does not exist here, so {what} {new} is shown.",
        "zh": "该模型只有 {count} 个：{what} {old} 在此不存在，因此显示{what} {new}。",
    },
    "in.model_line": {"en": "Model:", "zh": "模型："},
    "in.notes_smollm2": {
        "en": "Weights dequantised from the 4-bit Q4_1 GGUF and run in fp32; the text is fed raw, without BOS or "
        "chat template.",
        "zh": "权重由 4 位 Q4_1 GGUF 反量化并以 fp32 运行；文本原样输入，不加 BOS 或对话模板。",
    },
    "in.computing": {
        "en": "Running {model} dense and sparse on {n} tokens… {last}",
        "zh": "正在用 {model} 对 {n} 个词元运行稠密与稀疏计算……{last}",
    },
    "in.last_time": {"en": "(last time: {s} s)", "zh": "（上次：{s} 秒）"},
    "in.last_time_n": {"en": "(last time: {s} s for {n} tokens)", "zh": "（上次：{n} 个词元用时 {s} 秒）"},
    "in.load_failed": {"en": "{model} could not run", "zh": "{model} 无法运行"},
    "in.stage_wait": {
        "en": "Waiting for another session's conversion to finish",
        "zh": "正在等待另一个会话完成转换",
    },
    "in.stage_start": {"en": "Starting the one-time conversion", "zh": "开始一次性转换"},
    "in.stage_read": {"en": "Reading the 4-bit GGUF weights", "zh": "正在读取 4 位 GGUF 权重"},
    "in.stage_save": {"en": "Saving a local fp32 copy", "zh": "正在保存本地 fp32 副本"},
    "in.stage_done": {"en": "Converted", "zh": "转换完成"},
    "in.stage_first_run": {
        "en": "Loading the copy and running the first comparison",
        "zh": "正在加载副本并运行第一次比较",
    },
    "in.timing": {
        "en": "This run: dense pass {dense} s (cached when only the pattern changes), masks {masks} s, sparse "
        "pass {sparse} s.",
        "zh": "本次运行：稠密计算 {dense} 秒（只改模式时使用缓存），掩码 {masks} 秒，稀疏计算 {sparse} 秒。",
    },
    "in.timing_long": {
        "en": "This run: dense pass {dense} s (past {limit} tokens it runs again on every inspection, a pattern "
        "change included), masks {masks} s, sparse pass {sparse} s.",
        "zh": "本次运行：稠密计算 {dense} 秒（超过 {limit} 个词元时每次检查都重新计算，只改模式也一样），"
        "掩码 {masks} 秒，稀疏计算 {sparse} 秒。",
    },
    "in.long_note": {
        "en": "Past {limit} tokens each map is pooled: a cell is the mean over a block of about {block} × {block} "
        "token pairs ({side} × {side} blocks). Every number above is computed over all pairs, a few rows at a time.",
        "zh": "超过 {limit} 个词元时，每张图都经过池化：每个单元格是约 {block} × {block} 个词元对所成区块的平均值"
        "（共 {side} × {side} 个区块）。上面的每个数字都是逐批按行、在全部词元对上计算的。",
    },
    "in.long_price": {
        "en": "{n} tokens: about {seconds} CPU seconds (this server allows {budget} per request).",
        "zh": "{n} 个词元：预计约需 {seconds} CPU 秒（本服务器每次请求上限 {budget} 秒）。",
    },
    "in.long_ready": {
        "en": "Texts longer than {limit} tokens run on request: it waits its turn behind other heavy jobs, shows "
        "its progress layer by layer and can be cancelled.",
        "zh": "超过 {limit} 个词元的文本需手动运行：它在其他繁重任务之后排队，逐层显示进度，并可取消。",
    },
    "in.long_run": {"en": "Inspect {n} tokens", "zh": "检查 {n} 个词元"},
    "in.long_cancel": {"en": "Cancel", "zh": "取消"},
    "in.long_cancelled": {
        "en": "Cancelled before the end: nothing is shown. Press the button to run it again.",
        "zh": "已在完成前取消：不显示任何结果。按下按钮可重新运行。",
    },
    "in.long_progress": {"en": "{stage}: layer {done} of {total}", "zh": "{stage}：第 {done} 层，共 {total} 层"},
    "in.long_stage_dense": {"en": "Dense pass", "zh": "稠密计算"},
    "in.long_stage_sparse": {"en": "Sparse pass", "zh": "稀疏计算"},
    "in.long_done": {"en": "Inspected {n} tokens in {s} s", "zh": "已检查 {n} 个词元，用时 {s} 秒"},
    "in.per_head_rule": {
        "en": "Each layer and head chooses its own keys from its own queries and keys; the mask shown is the "
        "selected head's. {rule}",
        "zh": "每一层、每个头都由自己的查询与键选择要保留的键；图中显示的是所选头的掩码。{rule}",
    },
    "in.rule_topk": {
        "en": "Each query keeps the k keys with the highest scores q·k of this head; no look-ahead beyond the "
        "model's own mask.",
        "zh": "每个查询保留该头中 q·k 得分最高的 k 个键；除模型自身的掩码外不看未来。",
    },
    "in.rule_lsh": {
        "en": "Reformer: each token's (q+k)/2 of this head is hashed by random rotations; a query keeps the keys "
        "in its bucket. A bucket depends only on the token's own vector: no look-ahead.",
        "zh": "Reformer：该头中每个词元的 (q+k)/2 经随机旋转哈希；查询保留同一桶中的键。桶只取决于词元自身的向量：不看未来。",
    },
    "in.rule_routing": {
        "en": "Routing Transformer: this head's queries and keys are centred, put on the unit sphere and "
        "clustered by k-means with one set of centroids; a query keeps the keys of its cluster. The centroids "
        "are fitted on all tokens of the text (look-ahead; fine for an encoder).",
        "zh": "Routing Transformer：该头的查询与键先中心化、投影到单位球面，再用同一组中心做 k-means 聚类；"
        "查询保留同一簇中的键。中心在整段文本的所有词元上拟合（会看未来；对编码器没有问题）。",
    },
    "in.rule_routing_online": {
        "en": "Routing Transformer, online (used on causal LMs): tokens arrive in order and update the shared "
        "centroids as they come; a key keeps the cluster it got on arrival, so row t depends only on tokens up "
        "to t.",
        "zh": "Routing Transformer 在线版（用于因果语言模型）：词元按顺序到达并随之更新共享中心；"
        "键保留到达时分到的簇，因此第 t 行只取决于 t 及之前的词元。",
    },
    "in.rule_block_gating": {
        "en": "MoBA: each query keeps its own block and the other blocks with the highest "
        "q · mean(keys of the block), blocks kept in all; causal models consider only past blocks.",
        "zh": "MoBA：每个查询保留自己所在的块，以及 q · mean(块内键) 最高的其他块，总数为保留块数；因果模型只考虑过去的块。",
    },
    "in.rule_nsa": {
        "en": "NSA selection: each query keeps its own block and the best-scoring past blocks (MoBA rule), plus a "
        "causal sliding window.",
        "zh": "NSA 选择：每个查询保留自己的块和得分最高的过去块（MoBA 规则），再加一个因果滑动窗口。",
    },
    "in.rule_vertical_slash": {
        "en": "MInference: the key columns and diagonals with the most attention mass. The original estimate uses "
        "the last last_q queries of the text for every row (look-ahead); the causal estimate lets row t use "
        "queries t − last_q + 1 … t only.",
        "zh": "MInference：注意力质量最多的键列和对角线。原始估计对每一行都使用文本最后 last_q 个查询（会看未来）；"
        "因果估计只让第 t 行使用查询 t − last_q + 1 … t。",
    },
    "in.rule_vs_causal": {
        "en": "Running now: the causal estimate (this model is causal).",
        "zh": "当前运行：因果估计（该模型是因果的）。",
    },
    "in.rule_vs_last": {
        "en": "Running now: the original estimate from the last queries (an encoder sees the whole text anyway).",
        "zh": "当前运行：基于最后若干查询的原始估计（编码器本来就能看到整段文本）。",
    },
    "in.scale": {"en": "Colour scale", "zh": "色标"},
    "in.scale_linear": {"en": "linear", "zh": "线性"},
    "in.scale_log": {"en": "log", "zh": "对数"},
    "in.scale_row": {"en": "per row", "zh": "按行"},
    "in.scale_help": {
        "en": "Linear shows weights as they are; log shows small weights too (from 10⁻⁴); per row divides each "
        "row by its largest weight, so heads that pour mass on one token still show their structure.",
        "zh": "线性按原值显示权重；对数也能显示很小的权重（从 10⁻⁴ 起）；按行把每行除以该行最大权重，"
        "这样把质量集中在一个词元上的头也能显示其结构。",
    },
    "in.hide_first": {"en": "Hide the first token", "zh": "隐藏第一个词元"},
    "in.hide_first_help": {
        "en": "Many heads park most of their attention on the first token (an attention sink); hiding its row and "
        "column lets the colour scale show the rest.",
        "zh": "许多头把大部分注意力放在第一个词元上（注意力汇点）；隐藏其行和列后，色标能显示其余部分。",
    },
    "in.hover_weight": {"en": "weight %{z:.4f}", "zh": "权重 %{z:.4f}"},
    "in.hover_log": {"en": "weight 10^%{z:.2f}", "zh": "权重 10^%{z:.2f}"},
    "in.hover_row": {"en": "%{z:.1%} of the row's largest weight", "zh": "为该行最大权重的 %{z:.1%}"},
    "in.hover_diff": {"en": "sparse − dense %{z:+.4f}", "zh": "稀疏 − 稠密 %{z:+.4f}"},
    "in.hover_diff_row": {"en": "%{z:+.1%} of the row's largest change", "zh": "为该行最大变化的 %{z:+.1%}"},
    "in.hover_weight_word": {"en": "weight", "zh": "权重"},
    "in.mask_kept": {"en": "kept", "zh": "保留"},
    "in.mask_dropped": {"en": "dropped", "zh": "丢弃"},
    "in.mask_outside": {"en": "model cannot attend", "zh": "模型不可关注"},
    "in.mask_empty": {"en": "empty row: itself", "zh": "空行：仅自身"},
    "in.token_view": {"en": "One token's attention", "zh": "单个词元的注意力"},
    "in.token": {"en": "Query token", "zh": "查询词元"},
    "in.token_help": {
        "en": "Pick the query token whose row of weights is drawn below; type to search.",
        "zh": "选择要在下方绘制其权重行的查询词元；可输入文字搜索。",
    },
    "in.sparse_short": {"en": "Sparse attention", "zh": "稀疏注意力"},
    "in.token_caption": {
        "en": "Lines go from the query (left) to its keys (right), thicker for more weight. Shown: the keys with at "
        "least {floor} of the row's weight on either side, at most {top} per side; grey keys were dropped by the "
        "pattern.",
        "zh": "线条从查询（左）连到它的键（右），权重越大线越粗。显示：任一侧占该行权重至少 {floor} 的键，"
        "每侧最多 {top} 个；灰色的键被模式丢弃。",
    },
    "in.kept_changed_col": {"en": "mass kept, changed rows", "zh": "保留质量（被改变的行）"},
    "in.density_col": {"en": "density", "zh": "密度"},
    "in.empty_col": {"en": "empty rows", "zh": "空行"},
    "in.defs_title": {"en": "How each number is defined", "zh": "每个数字的定义"},
    "in.defs": {
        "en": "- **Mass kept** of row i (one layer and head): m_i = Σ_{j ∈ P_i} a_ij, where a_i is the dense "
        "attention row and P_i the keys the pattern keeps among those the model could attend. Shown: the mean "
        "over the rows the pattern changes (rows that lose at least one key), with the mean over all rows "
        "beside it.\n"
        "- **Density** = kept pairs / pairs the model could attend, summed over layers and heads: n(n+1)/2 per "
        "head for a causal LM, n² for an encoder. The raw density divides by n² instead. An empty row's "
        "substituted self-pair is not counted.\n"
        "- **Output cosine** of token i: cos(h_i, h̃_i) = h_i · h̃_i / (‖h_i‖ ‖h̃_i‖) for the final hidden states of "
        "the dense run and the sparse run (the pattern applied in every layer).\n"
        "- **Next-token agreement** (causal LMs): the share of positions t where argmax of the dense logits "
        "equals argmax of the sparse logits.\n"
        "- **Perplexity** = exp(−1/(T−1) · Σ_t log p(x_{t+1} | x_≤t)), for each run on its own.\n"
        "- **Empty rows**: rows where the pattern keeps no key the model could attend; they attend to their own "
        "token only (a softmax over nothing is undefined) and count as not kept.",
        "zh": "- **保留质量**（某层某头的第 i 行）：m_i = Σ_{j ∈ P_i} a_ij，其中 a_i 是稠密注意力行，P_i 是模式在模型可关注的键中保留的键。"
        "显示的是模式改变的行（至少丢掉一个键的行）上的平均值，旁边给出全部行的平均值。\n"
        "- **密度** = 保留的词元对 / 模型可关注的词元对，对所有层和头求和：因果语言模型每个头为 n(n+1)/2，编码器为 n²。"
        "原始密度改为除以 n²。空行替代的自身对不计入。\n"
        "- **输出余弦**（词元 i）：cos(h_i, h̃_i) = h_i · h̃_i / (‖h_i‖ ‖h̃_i‖)，h 与 h̃ 分别是稠密运行和稀疏运行（每层都应用模式）的最终隐藏状态。\n"
        "- **下一词元一致率**（因果语言模型）：稠密 logits 的 argmax 与稀疏 logits 的 argmax 相同的位置 t 所占比例。\n"
        "- **困惑度** = exp(−1/(T−1) · Σ_t log p(x_{t+1} | x_≤t))，两次运行各自计算。\n"
        "- **空行**：模式没有保留任何模型可关注键的行；它们只关注自身（对空集做 softmax 没有定义），且不计为保留。",
    },
    # Cost & Speed
    "co.title": {"en": "Cost & Speed", "zh": "成本与速度"},
    "co.lead": {
        "en": "How attention cost grows with sequence length for each pattern, in a real model's units, "
        "and what a block-sparse kernel actually achieves on this machine.",
        "zh": "各模式的注意力成本如何随序列长度增长（以真实模型的单位表示），以及块稀疏内核在本机上的实际表现。",
    },
    "co.patterns": {"en": "Patterns (paper defaults)", "zh": "模式（论文默认值）"},
    "co.model": {"en": "Model", "zh": "模型"},
    "co.custom": {"en": "custom", "zh": "自定义"},
    "co.unknown": {"en": "not a pattern of this app", "zh": "不是本应用中的模式"},
    "co.layers": {"en": "layers", "zh": "层数"},
    "co.heads": {"en": "heads", "zh": "头数"},
    "co.kv_heads": {"en": "KV heads", "zh": "KV 头数"},
    "co.d_head": {"en": "d_head", "zh": "头维度"},
    "co.dtype": {"en": "dtype", "zh": "数据类型"},
    "co.tab_prefill": {"en": "Prefill", "zh": "预填充"},
    "co.tab_decode": {"en": "Decoding", "zh": "解码"},
    "co.tab_budget": {"en": "Memory budget", "zh": "内存预算"},
    "co.tab_speed": {"en": "Measured speed", "zh": "实测速度"},
    "co.dense": {"en": "dense", "zh": "稠密"},
    "co.slope": {"en": "slope {s:.2f}", "zh": "斜率 {s:.2f}"},
    "co.flops_title": {
        "en": "Attention FLOPs for the whole model (QKᵀ + AV), log-log",
        "zh": "整个模型的注意力计算量（QKᵀ + AV），双对数坐标",
    },
    "co.mem_title": {
        "en": "Score-matrix memory of one layer (all heads), log-log",
        "zh": "单层（所有头）分数矩阵内存，双对数坐标",
    },
    "co.slope_note": {
        "en": "The slope of a log-log line is the exponent: ≈ 2 means O(n²), ≈ 1 means linear. It is fitted over "
        "the upper half of the range, where the asymptote shows.",
        "zh": "双对数坐标中直线的斜率就是指数：≈ 2 表示 O(n²)，≈ 1 表示线性。斜率在区间的上半段拟合，以体现渐近行为。",
    },
    "co.kv_title": {
        "en": "KV cache held while generating token n (whole model)",
        "zh": "生成第 n 个词元时的 KV 缓存（整个模型）",
    },
    "co.decode_title": {
        "en": "Attention FLOPs to generate one token at position n",
        "zh": "在位置 n 生成一个词元的注意力计算量",
    },
    "co.decode_note": {
        "en": "Decoding reads the KV cache once per token. Only causal local patterns (sliding window, StreamingLLM, "
        "Mistral) can evict old entries, so only they keep the cache bounded; the others save compute but "
        "must keep every key, because some future query may still attend to it.",
        "zh": "解码时每生成一个词元都要读取一次 KV 缓存。只有因果的局部模式（滑动窗口、StreamingLLM、Mistral）能淘汰旧条目，"
        "因此只有它们的缓存有界；其他模式节省计算，但必须保留所有键，因为之后的查询仍可能关注它们。",
    },
    "co.budget": {"en": "Memory budget (GiB)", "zh": "内存预算（GiB）"},
    "co.budget_note": {
        "en": "Memory = the whole KV cache + one layer's materialised scores (naive attention). The largest n "
        "that fits, found exactly by bisection on the engine's counts.",
        "zh": "内存 = 整个 KV 缓存 + 单层物化的分数矩阵（朴素注意力）。在引擎精确计数上二分查找能放下的最大 n。",
    },
    "co.largest_dense": {"en": "largest n, dense", "zh": "最大 n（稠密）"},
    "co.largest_sparse": {"en": "largest n, sparse", "zh": "最大 n（稀疏）"},
    "co.gain": {"en": "context gain", "zh": "上下文增益"},
    "co.data_dependent": {
        "en": "{p} is data-dependent (n ≤ 4,096): shown only up to its limit.",
        "zh": "{p} 依赖数据（n ≤ 4,096）：只显示到其上限。",
    },
    "co.speed_pattern": {"en": "Pattern to time", "zh": "要计时的模式"},
    "co.speed_ns": {"en": "Sequence lengths", "zh": "序列长度"},
    "co.speed_heads": {"en": "heads", "zh": "头数"},
    "co.speed_block": {"en": "kernel block", "zh": "内核块"},
    "co.device": {"en": "device", "zh": "设备"},
    "co.measure": {"en": "⏱ Measure", "zh": "⏱ 开始测量"},
    "co.measuring": {"en": "Timing n = {n:,} ({i}/{total})…", "zh": "正在计时 n = {n:,}（{i}/{total}）……"},
    "co.speed_intro": {
        "en": "Dense attention is PyTorch SDPA. Sparse is compiled FlexAttention running only the kept blocks of "
        "the engine's layout. The first run of each shape compiles (shown apart); results are cached.",
        "zh": "稠密注意力使用 PyTorch SDPA。稀疏注意力是编译后的 FlexAttention，只计算引擎布局中保留的块。"
        "每种形状首次运行需要编译（单独显示）；结果会被缓存。",
    },
    "co.col_dense": {"en": "dense SDPA (ms)", "zh": "稠密 SDPA（毫秒）"},
    "co.col_masked": {"en": "SDPA + boolean mask (ms)", "zh": "SDPA + 布尔掩码（毫秒）"},
    "co.col_sparse": {"en": "block-sparse (ms)", "zh": "块稀疏（毫秒）"},
    "co.col_compile": {"en": "compile (s)", "zh": "编译（秒）"},
    "co.col_speedup": {"en": "measured speed-up", "zh": "实测加速"},
    "co.col_ideal": {"en": "ideal 1/density", "zh": "理想 1/密度"},
    "co.col_block_ideal": {"en": "block ideal", "zh": "块理想"},
    "co.col_share": {"en": "share of block ideal", "zh": "占块理想比例"},
    "co.speed_chart": {"en": "Speed-up over dense: measured vs ideal", "zh": "相对稠密的加速：实测 vs 理想"},
    "co.gap": {
        "en": "**Why measured < ideal.** (1) Block granularity: a kernel computes every kept block in full, so "
        "the best it can do is 1/block density, not 1/density; the gap between the two is the block waste. "
        "(2) Fixed work per query tile (loading Q, softmax state, writing O) does not shrink with "
        "sparsity, so very sparse rows pay relatively more. (3) Partial blocks evaluate mask_mod "
        "element by element.",
        "zh": "**为什么实测低于理想值。**（1）块粒度：内核会完整计算每个保留的块，所以最好只能达到 1/块密度，而非 1/密度；"
        "两者之差就是块浪费。（2）每个查询块的固定开销（加载 Q、softmax 状态、写出 O）不随稀疏度减少，"
        "行越稀疏，占比越大。（3）部分保留的块需要逐元素计算 mask_mod。",
    },
    "co.honesty": {
        "en": "**Where masking saves nothing.** Passing a boolean mask to SDPA still computes all n² scores (and "
        "often disables the fused kernel): see the boolean-mask column. Only a kernel that skips blocks "
        "saves work, and only whole blocks.",
        "zh": "**掩码何时毫无节省。** 给 SDPA 传布尔掩码仍会计算全部 n² 个分数（还常常无法使用融合内核）：见布尔掩码一列。"
        "只有跳过整块的内核才能节省计算，而且只能以块为单位节省。",
    },
    "co.no_results": {"en": "Press Measure to time this pattern here.", "zh": "点击“开始测量”在本机计时。"},
    "co.gpu": {"en": "A GPU is present: lengths up to 65,536 are offered.", "zh": "检测到 GPU：可选长度最长 65,536。"},
    "co.queued": {
        "en": "Queued: {ahead} speed run(s) ahead of you. One run at a time keeps the server fast for everyone.",
        "zh": "排队中：前面还有 {ahead} 个测速任务。一次只运行一个，服务器才能对所有人保持流畅。",
    },
    "co.speed_off": {
        "en": "Speed runs are switched off on this server (SPARSE_EXPLORER_ALLOW_SPEED_RUNS=0). The cost curves "
        "above are exact; run `python -m benchmarks.speed` on your own machine to time the kernels.",
        "zh": "本服务器已关闭测速（SPARSE_EXPLORER_ALLOW_SPEED_RUNS=0）。上面的成本曲线是精确的；"
        "可在自己的机器上运行 `python -m benchmarks.speed` 来测量内核速度。",
    },
    "co.speed_setup": {
        "en": "Head size d = {d} from the model above; timed with {threads} CPU thread(s), so that the server "
        "stays responsive for other users.",
        "zh": "头维度 d = {d}，取自上面的模型；使用 {threads} 个 CPU 线程计时，以便服务器对其他用户保持响应。",
    },
    "co.budget_same": {
        "en": "Dense fits are solved in closed form; the same numbers appear on the Learn page.",
        "zh": "稠密情形的上限由闭式解求得；“学习”页面显示的是同样的数字。",
    },
    # Learn
    "le.title": {"en": "Learn: how sparse attention works", "zh": "学习：稀疏注意力如何工作"},
    "le.lead": {
        "en": "Nine short steps, each with a live figure you can change.",
        "zh": "九个简短的步骤，每一步都配有可以调整的实时图。",
    },
    "le.step": {"en": "Step", "zh": "步骤"},
    "le.prev": {"en": "← Previous", "zh": "← 上一步"},
    "le.next": {"en": "Next →", "zh": "下一步 →"},
    "le.s1": {"en": "1 · Full attention", "zh": "1 · 完整注意力"},
    "le.s2": {"en": "2 · Most weights are tiny", "zh": "2 · 大多数权重都很小"},
    "le.s3": {"en": "3 · A pattern is a graph", "zh": "3 · 模式就是一张图"},
    "le.s4": {"en": "4 · The families", "zh": "4 · 各类模式"},
    "le.s5": {"en": "5 · Published designs", "zh": "5 · 已发表的设计"},
    "le.s6": {"en": "6 · Receptive field", "zh": "6 · 感受野"},
    "le.s7": {"en": "7 · The gains", "zh": "7 · 收益"},
    "le.s8": {"en": "8 · The price", "zh": "8 · 代价"},
    "le.t1": {
        "en": "In self-attention every token builds a **query** and compares it with the **key** of every other token: "
        "one score per pair, so **n² scores** for n tokens. Each score costs a dot product of length d, and the "
        "n × n score matrix must be stored to take the softmax. Double the text and you quadruple both.\n\n"
        "Move the slider: the curve is the memory that plain (non-fused) attention needs to read a prompt of n "
        "tokens with a 7B model (Llama-2-7B: 32 layers, 32 heads, d = 128, fp16). It counts exactly two "
        "things: the score matrices of **one** layer (32 × n × n values) and the **KV cache** of all 32 layers "
        "(2 × 32 × 32 × 128 values per token). Weights and activations are not counted, so the real need is "
        "higher. The grey horizontal lines, one line style per GPU as named in the legend, are the memory of "
        "common GPUs.",
        "zh": "在自注意力中，每个词元生成一个**查询**，并与所有词元的**键**比较：每一对一个分数，n 个词元就有 **n² 个分数**。"
        "每个分数是长度为 d 的点积，而且要存下 n × n 的分数矩阵才能做 softmax。文本长度翻倍，两者都变成四倍。\n\n"
        "拖动滑块：曲线是普通（非融合）注意力用一个 7B 模型（Llama-2-7B：32 层、32 个头、d = 128、fp16）读取 n 个词元的"
        "提示所需的内存。它只精确计算两部分：**一层**的分数矩阵（32 × n × n 个值）和全部 32 层的 **KV 缓存**"
        "（每个词元 2 × 32 × 32 × 128 个值）。权重和激活值不计在内，所以实际需求更高。灰色水平线是常见 GPU 的显存，每种 GPU 一种线型，名称见图例。",
    },
    "le.f1_n": {"en": "Tokens n", "zh": "词元数 n"},
    "le.f1_title": {"en": "Memory to read n tokens", "zh": "读取 n 个词元所需内存"},
    "le.f1_total": {"en": "one layer's scores + KV cache", "zh": "单层分数 + KV 缓存"},
    "le.f1_kv": {"en": "KV cache alone", "zh": "仅 KV 缓存"},
    "le.f1_marker": {"en": "n = {n} (now)", "zh": "n = {n}（当前）"},
    "le.f1_bytes": {"en": "memory (bytes)", "zh": "内存（字节）"},
    "le.f1_metric": {"en": "Memory at n = {n}", "zh": "n = {n} 时的内存"},
    "le.f1_parts": {
        "en": "= scores of one layer {scores} + KV cache of all layers {kv}",
        "zh": "= 单层分数 {scores} + 全部层的 KV 缓存 {kv}",
    },
    "le.f1_gpu": {"en": "{gpu} ({mem})", "zh": "{gpu}（{mem}）"},
    "le.f1_fits": {
        "en": "{gpu} ({mem}): up to n = {n} tokens (the same count as on the Cost & Speed page).",
        "zh": "{gpu}（{mem}）：最多 n = {n} 个词元（与“成本与速度”页面的计数一致）。",
    },
    "le.t2": {
        "en": "Here a real pretrained model (all-MiniLM-L6-v2) reads a real paragraph (open it below the figures). "
        "For every head and query, "
        "softmax spreads weight over all keys — but look at the histogram: almost all weights are close to "
        "zero, and a handful of keys per query hold most of the mass.\n\n"
        "The top-k curve answers: *if each query kept only its top-k keys, what share of its attention "
        "would survive?* That is the insight that makes sparse attention work.",
        "zh": "这里，一个真实的预训练模型（all-MiniLM-L6-v2）读取一段真实的英文文字（可在图下方展开查看）。对每个头和每个查询，softmax 把权重分配给所有键——"
        "但请看直方图：几乎所有权重都接近零，每个查询只有少数几个键占了大部分质量。\n\n"
        "前 k 个键的曲线回答：*如果每个查询只保留得分最高的 k 个键，还能保留多少注意力？* 这正是稀疏注意力可行的原因。",
    },
    "le.f2_layer": {"en": "Layer", "zh": "层"},
    "le.f2_text": {
        "en": "The paragraph {model} reads ({n} tokens)",
        "zh": "{model} 读取的段落（{n} 个词元）",
    },
    "le.f2_hist": {"en": "Attention weights (all heads), log scale", "zh": "注意力权重（所有头），对数坐标"},
    "le.f2_weight": {"en": "weight", "zh": "权重"},
    "le.f2_count": {"en": "count", "zh": "数量"},
    "le.f2_topk": {"en": "Share of mass in the top-k keys", "zh": "前 k 个键所占质量比例"},
    "le.f2_share": {"en": "share of mass kept", "zh": "保留的质量比例"},
    "le.f2_summary": {
        "en": "{tiny} of weights are below 1% · top-{k} keys hold {share} of the mass ({n} tokens)",
        "zh": "{tiny} 的权重低于 1% · 前 {k} 个键占 {share} 的质量（{n} 个词元）",
    },
    "le.t3": {
        "en": "A sparse pattern is just a **graph**: an arrow from query i to key j when the pair is scored (a pair "
        "scored both ways has a head at each end). The mask beside it is the same graph as a matrix (its "
        "adjacency matrix); its diagonal is each token attending itself, drawn as a thick ring on the node. "
        "Fewer arrows, less work: the cost is proportional to the number of dark cells, not to n².",
        "zh": "稀疏模式其实就是一张**图**：如果查询 i 与键 j 这一对被打分，就画一个从 i 指向 j 的箭头（双向打分的一对两端都有箭头）。"
        "旁边的掩码是同一张图的矩阵形式（邻接矩阵）；对角线是每个词元关注自身，在图中画成节点上的粗圈。"
        "箭头越少，计算越少：成本与深色格子的数量成正比，而不是 n²。",
    },
    "le.f3_pattern": {"en": "Pattern", "zh": "模式"},
    "le.f3_graph": {"en": "As a graph ({edges} arrows)", "zh": "图的形式（{edges} 个箭头）"},
    "le.f3_mask": {"en": "As a mask", "zh": "掩码形式"},
    "le.f3_counts": {
        "en": "{edges} arrows between different tokens + {loops} tokens attending themselves (the diagonal) "
        "= {cells} dark cells of the {n} × {n} mask",
        "zh": "{edges} 个不同词元之间的箭头 + {loops} 个关注自身的词元（对角线）= {n} × {n} 掩码中的 {cells} 个深色格子",
    },
    "le.t4": {
        "en": "Every sparse pattern is built from a few families. **Local** (window, dilated) keeps neighbours: text is "
        "mostly local. **Global** tokens see and are seen by everyone, a hub for long-range information. "
        "**Block** patterns tile the matrix so kernels can skip whole tiles. **Random** links shorten paths "
        "between far tokens. **Hash (LSH)** and **learnable** patterns (top-k, routing, block gating) choose "
        "pairs from the content itself.",
        "zh": "所有稀疏模式都由少数几类构成。**局部**（窗口、空洞窗口）保留邻居：文本大多是局部的。**全局**词元看见所有词元也被所有词元看见，"
        "是长距离信息的枢纽。**分块**模式把矩阵切成块，内核可以整块跳过。**随机**连接缩短远距离词元之间的路径。"
        "**哈希（LSH）**和**可学习**模式（top-k、路由、块门控）根据内容本身选择词元对。",
    },
    "le.f4_n": {"en": "Tokens n", "zh": "词元数 n"},
    "le.f4_kept": {"en": "{share} kept", "zh": "保留 {share}"},
    "le.t5": {
        "en": "Published models combine the families. **Longformer**: a window plus global tokens. **BigBird**: block "
        "window + global + random blocks, and proved that this keeps the expressiveness of full attention. "
        "**Sparse Transformer**: strided or fixed patterns with O(n√n) cost. **StreamingLLM**: a few "
        "*attention sinks* plus a recent window: the cache that decoding reads is fixed (sinks + window), so "
        "memory per generated token stays bounded however long a chat goes on; what leaves the window is gone.",
        "zh": "已发表的模型把这些类别组合起来。**Longformer**：窗口加全局词元。**BigBird**：块状窗口 + 全局块 + 随机块，并证明这样保留了"
        "完整注意力的表达能力。**Sparse Transformer**：步长式或固定式模式，成本 O(n√n)。**StreamingLLM**：少数*注意力汇*"
        "加近期窗口：解码读取的缓存大小固定（注意力汇 + 窗口），所以无论对话多长，每生成一个词元所需的内存都有上限；"
        "离开窗口的内容就丢失了。",
    },
    "le.t6": {
        "en": "A sparse layer lets each token hear only a few others, but layers stack: information hops one edge per "
        "layer. After L layers, token i has heard from every token within L hops. The figure colours, for "
        "the chosen query, the layer at which each key first reaches it. A sliding window needs about n/w "
        "layers to connect everything; one global token connects everything in two.",
        "zh": "稀疏层让每个词元只能听到少数词元，但层会叠加：信息每层沿一条边传播一跳。经过 L 层后，词元 i 已经听到 L 跳以内的所有词元。"
        "图中为选定的查询标出每个键最早在哪一层到达它。滑动窗口大约需要 n/w 层才能连通所有词元；一个全局词元两层就能连通。",
    },
    "le.f6_query": {"en": "Query token", "zh": "查询词元"},
    "le.f6_layers": {"en": "Layers", "zh": "层数"},
    "le.f6_title": {"en": "First layer at which each key reaches query {q}", "zh": "每个键最早到达查询 {q} 的层"},
    "le.f6_table": {"en": "Layers needed to connect every pair (n = {n})", "zh": "连通所有词元对所需层数（n = {n}）"},
    "le.f6_never": {"en": "never ({groups} separate groups)", "zh": "永不（{groups} 个互不相连的组）"},
    "le.f6_why": {
        "en": "Never: the pattern splits the tokens into groups with no edge between them (their number is in "
        "the table: a block pattern keeps each block apart; a dilated window never joins two positions whose "
        "remainders modulo the dilation differ), and stacking layers only follows edges.",
        "zh": "永不：该模式把词元分成了互相之间没有任何边的组（组数见表：分块模式让每个块彼此隔离；空洞窗口让除以空洞间隔余数不同的位置彼此隔离），"
        "而层的叠加只能沿着边传播。",
    },
    "le.f6_reach": {
        "en": "{reached} of {n} keys reach query {q} within {layers} layers",
        "zh": "{n} 个键中有 {reached} 个在 {layers} 层内到达查询 {q}",
    },
    "le.f6_layers_col": {"en": "layers", "zh": "层数"},
    "le.f6_reached": {"en": "first reached at layer", "zh": "最早到达的层"},
    "le.t7": {
        "en": "What sparsity buys, computed exactly by the engine for a 7B-class model (32 layers, 32 heads, "
        "d = 128, fp16): attention compute for a whole prompt, the memory of one layer's scores, and the "
        "longest prompt that fits in 80 GiB when naive attention reads it in one pass: one layer's kept "
        "scores at once plus the KV cache (the same count as in step 1 and on the Cost & Speed page). The "
        "decode cache is what generating each new token reads.",
        "zh": "稀疏带来的收益，由引擎为一个 7B 级模型（32 层、32 个头、d = 128、fp16）精确计算：整段提示的注意力计算量、"
        "单层分数矩阵的内存，以及朴素注意力一次读完整段提示（同时存下一层保留的分数加 KV 缓存）时能放进 80 GiB 的最长提示"
        "（与第 1 步和“成本与速度”页面的计数一致）。解码缓存是生成每个新词元时要读取的缓存。",
    },
    "le.f7_n": {"en": "Prompt length", "zh": "提示长度"},
    "le.f7_compute": {"en": "attention FLOPs", "zh": "注意力计算量"},
    "le.f7_memory": {"en": "one layer's scores", "zh": "单层分数"},
    "le.f7_context": {"en": "longest prompt in {mem}", "zh": "{mem} 内最长提示"},
    "le.f7_cache": {"en": "decode cache at this length", "zh": "此长度下的解码缓存"},
    "le.f7_cache_cell": {"en": "{tokens} tokens, {bytes}", "zh": "{tokens} 个词元，{bytes}"},
    "le.f7_streaming": {
        "en": "{pattern} decodes from a fixed cache of {tokens} tokens ({bytes}) at every length: that bounds "
        "memory per generated token. Its longest prompt ({longest} tokens) is set by something else: reading "
        "the whole prompt in one pass keeps one layer's kept scores at once ({scores} at n = {n}), and they "
        "grow with n. Reading the prompt in chunks would lift that limit.",
        "zh": "{pattern} 在任何长度下都从固定的 {tokens} 个词元的缓存（{bytes}）解码：这限定了每生成一个词元所需的内存。"
        "它的最长提示（{longest} 个词元）由另一件事决定：一次读完整段提示时要同时存下一层保留的分数"
        "（n = {n} 时为 {scores}），而它随 n 增长。分块读取提示可以解除这个限制。",
    },
    "le.t8": {
        "en": "Nothing is free. Back on real text: each bar is the share of the model's own (dense) attention mass "
        "that falls inside the pattern, averaged over all heads, and the dot is how similar the model's "
        "outputs stay (cosine of final hidden states) when the pattern is enforced in every layer. "
        "Patterns that keep the mass the heads actually use change the outputs least. Try them on your own "
        "text, or measure them on a long text in the Pattern Lab:",
        "zh": "天下没有免费的午餐。回到真实文本：每根柱子是模型自身（稠密）注意力质量落在模式内的比例（所有头平均），圆点是在每一层强制"
        "使用该模式后模型输出保持的相似度（最终隐藏状态的余弦）。保留了注意力头真正使用的质量的模式，对输出的改变最小。"
        "用你自己的文本试试，或在模式实验室里用长文本测一测：",
    },
    "le.f8_mass": {"en": "attention mass kept", "zh": "保留的注意力质量"},
    "le.f8_cos": {"en": "output cosine", "zh": "输出余弦"},
    "le.f8_density": {"en": "pattern density", "zh": "模式密度"},
    "le.f8_best": {
        "en": "Most mass kept: {pattern}, {mass} of the attention mass with {density} of the pairs.",
        "zh": "保留质量最多的是 {pattern}：用 {density} 的词元对保留了 {mass} 的注意力质量。",
    },
    "le.f8_lab": {"en": "Measure it in the Pattern Lab", "zh": "在模式实验室里测一测"},
    "le.s9": {"en": "9 · Fluent is not remembering", "zh": "9 · 流畅不等于记得住"},
    "le.t9": {
        "en": "Perplexity asks whether the model still writes fluent text; it does not ask whether the model can "
        "still **find** something it read long ago. Here the same patterns at the same budget are measured both "
        "ways on SmolLM2: on the left the perplexity change on a long text, on the right a passkey test — a "
        '5-digit key hidden at a depth of a filler text, then "What is the pass key?". A pattern that keeps '
        "the first tokens and a recent window (StreamingLLM) keeps the model fluent, but a key outside its "
        "window is simply not there to read. The numbers below are read from the figures.",
        "zh": "困惑度问的是模型是否还能写出流畅的文本，却不问模型能否**找回**很久以前读过的内容。这里在 SmolLM2 上用两种方式"
        "测量同一预算下的同一批模式：左边是长文本上的困惑度变化，右边是密钥测试——把一个 5 位数藏在填充文本的某个深度，"
        "再问“密钥是什么？”。保留开头词元和最近窗口的模式（StreamingLLM）让模型保持流畅，但窗口之外的密钥根本读不到。"
        "下面的数字都读自图中数据。",
    },
    "le.f9_ppl": {"en": "perplexity change (fluent)", "zh": "困惑度变化（流畅）"},
    "le.f9_recall": {"en": "keys recalled (remembers)", "zh": "答对的密钥（记得住）"},
    "le.f9_title": {
        "en": "The same budget, {budget} of the attention",
        "zh": "同一预算：注意力的 {budget}",
    },
    "le.f9_caption": {
        "en": "{fluent} is the most fluent pattern here (perplexity {ppl} against dense) yet recalls {correct} of "
        "{trials} keys; "
        "dense recalls {dense_correct} of {dense_trials}.",
        "zh": "{fluent} 是这里最流畅的模式（困惑度相对稠密 {ppl}），却只答对 {correct}/{trials} 个密钥；"
        "稠密注意力答对 {dense_correct}/{dense_trials} 个。",
    },
    "le.f9_source": {
        "en": "Computed once by the engine on {model}: {trials} trials × {depths} depths × {lengths} tokens; "
        "perplexity on {tokens} tokens of the Lab's long text.",
        "zh": "由引擎在 {model} 上预先算好：{trials} 次试验 × {depths} 个深度 × {lengths} 个词元；"
        "困惑度基于实验室长文本的 {tokens} 个词元。",
    },
    "le.f9_lab": {"en": "Run your own grid in the Pattern Lab", "zh": "在模式实验室里运行你自己的网格"},
    "le.f9_missing": {
        "en": "This step's measured grid is not in this copy of the app; the Pattern Lab's Memory view measures one.",
        "zh": "此副本中没有这一步的测量网格；可以在模式实验室的“记得住吗？”视图中测量。",
    },
    "le.f8_inspector": {"en": "Your own text in the Attention Inspector", "zh": "在注意力检查页面用你自己的文本"},
    "le.f8_title": {
        "en": "What each pattern keeps on real text ({n} tokens)",
        "zh": "各模式在真实文本上保留了什么（{n} 个词元）",
    },
    "le.loading": {"en": "Running the bundled model on the example text…", "zh": "正在用内置模型处理示例文本……"},
    "le.computing": {"en": "Counting exactly with the engine…", "zh": "正在用引擎精确计数……"},
    "ex.computing": {"en": "Counting exactly with the engine at n = {n}…", "zh": "正在用引擎精确计数（n = {n}）……"},
    "cx.topk": {"en": "O(n·k) kept, O(n²) to score", "zh": "保留 O(n·k)，打分 O(n²)"},
    # pattern references (engine text, translated by key; the English equals the engine's)
    "ref.window": {
        "en": "Local attention (Image Transformer, Parmar et al. 2018; Longformer 2020)",
        "zh": "局部注意力（Image Transformer，Parmar 等 2018；Longformer 2020）",
    },
    "ref.dilated": {
        "en": "Dilated sliding window (Longformer, Beltagy et al. 2020)",
        "zh": "空洞滑动窗口（Longformer，Beltagy 等 2020）",
    },
    "ref.global": {
        "en": "Global attention (Longformer 2020; ETC 2020)",
        "zh": "全局注意力（Longformer 2020；ETC 2020）",
    },
    "ref.block": {"en": "Blockwise attention (Qiu et al. 2019)", "zh": "分块注意力（Qiu 等 2019）"},
    "ref.random": {
        "en": "Random attention (BigBird, Zaheer et al. 2020)",
        "zh": "随机注意力（BigBird，Zaheer 等 2020）",
    },
    "ref.logsparse": {"en": "LogSparse Transformer (Li et al. 2019)", "zh": "LogSparse Transformer（Li 等 2019）"},
    "ref.neighborhood": {
        "en": "Neighborhood Attention Transformer (Hassani et al. 2023): kernel 7, windows clamped at borders",
        "zh": "邻域注意力 Transformer（Hassani 等 2023）：核大小 7，窗口在边界处夹回图内",
    },
    "ref.lsh": {"en": "Reformer (Kitaev et al. 2020)", "zh": "Reformer（Kitaev 等 2020）"},
    "ref.topk": {"en": "Explicit sparse attention (Zhao et al. 2019)", "zh": "显式稀疏注意力（Zhao 等 2019）"},
    "ref.routing": {"en": "Routing Transformer (Roy et al. 2021)", "zh": "Routing Transformer（Roy 等 2021）"},
    "ref.block_gating": {
        "en": "MoBA (Lu et al. 2025); NSA selection branch (Yuan et al. 2025)",
        "zh": "MoBA（Lu 等 2025）；NSA 的选择分支（Yuan 等 2025）",
    },
    "ref.vertical_slash": {"en": "MInference 1.0 (Jiang et al. 2024)", "zh": "MInference 1.0（Jiang 等 2024）"},
    "ref.strided": {
        "en": "Sparse Transformer, strided (Child et al. 2019): l ≈ √n",
        "zh": "Sparse Transformer，跨步式（Child 等 2019）：l ≈ √n",
    },
    "ref.fixed": {
        "en": "Sparse Transformer, fixed (Child et al. 2019): l = 128, c ∈ {8, 16, 32}",
        "zh": "Sparse Transformer，固定式（Child 等 2019）：l = 128，c ∈ {8, 16, 32}",
    },
    "ref.longformer": {
        "en": "Longformer (Beltagy et al. 2020): window 512, global [CLS]",
        "zh": "Longformer（Beltagy 等 2020）：窗口 512，全局 [CLS]",
    },
    "ref.bigbird": {
        "en": "BigBird ITC (Zaheer et al. 2020) as google-research/bigbird draws it: block 64, 3 window blocks, "
        "first and last block global, 3 random blocks outside window and global blocks",
        "zh": "BigBird ITC（Zaheer 等 2020），按 google-research/bigbird 的画法：块大小 64，3 个窗口块，"
        "首尾两块为全局块，3 个随机块取在窗口块与全局块之外",
    },
    "ref.streaming": {
        "en": "StreamingLLM (Xiao et al. 2024): 4 sinks, cache 1024",
        "zh": "StreamingLLM（Xiao 等 2024）：4 个注意力汇，缓存 1024",
    },
    "ref.mistral": {"en": "Mistral 7B (Jiang et al. 2023): W = 4096", "zh": "Mistral 7B（Jiang 等 2023）：W = 4096"},
    "ref.a_shape": {
        "en": "MInference 1.0 (Jiang et al. 2024): A-shape, 64 initial + 1024 local",
        "zh": "MInference 1.0（Jiang 等 2024）：A 形，64 个起始词元 + 1024 个局部词元",
    },
    "ref.nsa": {
        "en": "Native Sparse Attention (Yuan et al. 2025): block 64, 16 selected, window 512",
        "zh": "原生稀疏注意力 NSA（Yuan 等 2025）：块大小 64，选 16 块，窗口 512",
    },
    "ex.help_kv_dtype": {
        "en": "{t} tokens × 2 (K and V) × d × {bytes} bytes ({dtype})",
        "zh": "{t} 个词元 × 2（K 与 V）× d × {bytes} 字节（{dtype}）",
    },
    "err.layout_blocks": {
        "en": "The block layout would be {nb} × {nb} blocks (limit {limit}); choose a block size of {b} or more.",
        "zh": "块布局将有 {nb} × {nb} 个块（上限 {limit}）；请选择 {b} 或更大的块大小。",
    },
    # parameter labels (one per ParamSpec name)
    "param.block": {"en": "block size", "zh": "块大小"},
    "param.buckets": {"en": "buckets", "zh": "桶数"},
    "param.clusters": {"en": "clusters", "zh": "簇数"},
    "param.dilation": {"en": "dilation", "zh": "空洞间隔"},
    "param.global_blocks": {"en": "global blocks", "zh": "全局块数"},
    "param.global_tokens": {"en": "global tokens", "zh": "全局词元数"},
    "param.iterations": {"en": "iterations", "zh": "迭代次数"},
    "param.k": {"en": "k", "zh": "k"},
    "param.last_q": {"en": "last queries", "zh": "末尾查询数"},
    "param.neighbors": {"en": "neighbour blocks", "zh": "相邻块数"},
    "param.radius": {"en": "radius", "zh": "半径"},
    "param.random_blocks": {"en": "random blocks", "zh": "随机块数"},
    "param.random_keys": {"en": "random keys", "zh": "随机键数"},
    "param.rounds": {"en": "hash rounds", "zh": "哈希轮数"},
    "param.seed": {"en": "seed", "zh": "随机种子"},
    "param.side": {"en": "grid width", "zh": "网格宽度"},
    "param.sinks": {"en": "sink tokens", "zh": "注意力汇词元数"},
    "param.slash": {"en": "diagonals", "zh": "斜线数"},
    "param.stride": {"en": "stride", "zh": "步长"},
    "param.summary": {"en": "summary tokens", "zh": "摘要词元数"},
    "param.top_blocks": {"en": "blocks kept", "zh": "保留块数"},
    "param.vertical": {"en": "columns", "zh": "竖线数"},
    "param.window": {"en": "window", "zh": "窗口"},
    "param.window_blocks": {"en": "window blocks", "zh": "窗口块数"},
    "ex.times_dense": {"en": "× fewer FLOPs", "zh": "计算量减少倍数"},
    "in.model_minilm": {"en": "all-MiniLM-L6-v2 (BERT encoder, 6×12)", "zh": "all-MiniLM-L6-v2（BERT 编码器，6×12）"},
    "in.model_smollm2": {
        "en": "SmolLM2-135M-Instruct (Llama causal LM, 30×9)",
        "zh": "SmolLM2-135M-Instruct（Llama 因果语言模型，30×9）",
    },
    "in.worst": {"en": "worst {v}", "zh": "最差 {v}"},
    "co.done": {"en": "done", "zh": "完成"},
    "ex.help_flops": {
        "en": "{sparse} vs {dense} FLOPs (4·d per kept pair, d = {d})",
        "zh": "{sparse} 对比 {dense} FLOPs（每个保留对 4·d，d = {d}）",
    },
    "ex.help_mem": {
        "en": "CSR {sparse} B vs dense {dense} B (fp32 scores, int32 indices)",
        "zh": "CSR {sparse} B 对比稠密 {dense} B（fp32 分数，int32 索引）",
    },
    "ex.help_blocks": {
        "en": "{kept} of {total} blocks of {b}² = {pairs} pairs computed",
        "zh": "{total} 个 {b}² 块中保留 {kept} 个 = 计算 {pairs} 对",
    },
    "ex.softmax_line": {"en": "{label}: {sparse} (dense {dense})", "zh": "{label}：{sparse}（稠密 {dense}）"},
    "fig.query": {"en": "query i", "zh": "查询 i"},
    "fig.key": {"en": "key j", "zh": "键 j"},
    "fig.kept": {"en": "kept", "zh": "保留"},
    "fig.dropped": {"en": "dropped", "zh": "丢弃"},
    "fig.share_kept": {"en": "share of pairs kept", "zh": "保留对的比例"},
    "fig.shade_log": {
        "en": "darker: a larger share of the cell's pairs kept (log scale, 0.01 % … 100 %)",
        "zh": "颜色越深：该格内保留的词元对比例越大（对数刻度，0.01% … 100%）",
    },
    "fig.mean_share": {"en": "kept blocks keep {share} of their pairs", "zh": "保留块内平均保留 {share} 的词元对"},
    "fig.kept_block": {"en": "block keeps ≥ 1 pair (share not computed)", "zh": "块内至少保留 1 对（未计算比例）"},
    # Patterns: titles, summaries and parameter help (the engine holds the English as data)
    "pattern.window": {"en": "Sliding window", "zh": "滑动窗口"},
    "pattern.window.summary": {
        "en": "Each token attends to the W tokens on each side, itself included.",
        "zh": "每个词元关注两侧各 W 个词元（含自身）。",
    },
    "help.window.window": {
        "en": "Tokens on each side, the token itself included: keeps |i − j| < W.",
        "zh": "每侧的词元数 W（含词元自身）：保留 |i − j| < W。",
    },
    "pattern.dilated": {"en": "Dilated window", "zh": "空洞窗口"},
    "pattern.dilated.summary": {
        "en": "A window with gaps: every d-th key up to w·d away.",
        "zh": "带间隔的窗口：每隔 d 个取一个键，最远 w·d。",
    },
    "help.dilated.window": {
        "en": "Keys on each side, the token itself included, counted in dilated steps.",
        "zh": "每侧保留的键数（含词元自身，按空洞步长计）。",
    },
    "help.dilated.dilation": {"en": "Gap d between kept keys.", "zh": "保留键之间的间隔 d。"},
    "pattern.global": {"en": "Global tokens", "zh": "全局词元"},
    "pattern.global.summary": {
        "en": "A few tokens see everything and are seen by everything.",
        "zh": "少数词元看见所有词元，也被所有词元看见。",
    },
    "help.global.global_tokens": {
        "en": "First g tokens attend to and are attended by all.",
        "zh": "前 g 个词元与所有词元互相关注。",
    },
    "pattern.block": {"en": "Block / banded", "zh": "分块 / 带状"},
    "pattern.block.summary": {
        "en": "Tokens attend within their block and k neighbouring blocks.",
        "zh": "词元关注所在块及相邻的 k 个块。",
    },
    "help.block.block": {"en": "Block size b.", "zh": "块大小 b。"},
    "help.block.neighbors": {
        "en": "Neighbouring blocks on each side (0 = block-diagonal).",
        "zh": "每侧相邻块数（0 为块对角）。",
    },
    "pattern.random": {"en": "Random keys", "zh": "随机键"},
    "pattern.random.summary": {
        "en": "Each query attends r distinct keys chosen uniformly (seeded).",
        "zh": "每个查询均匀随机选取 r 个不同的键（可复现）。",
    },
    "help.random.random_keys": {"en": "Random keys r per query.", "zh": "每个查询的随机键数 r。"},
    "help.random.seed": {"en": "Random seed (same seed, same mask).", "zh": "随机种子（相同种子得到相同掩码）。"},
    "pattern.lsh": {"en": "LSH buckets", "zh": "LSH 哈希分桶"},
    "pattern.lsh.summary": {
        "en": "Reformer: angular LSH of the token vectors; attend within a shared bucket.",
        "zh": "Reformer：对词元向量做角度 LSH，只关注同一桶内的词元。",
    },
    "help.lsh.buckets": {"en": "Hash buckets (even).", "zh": "哈希桶数（偶数）。"},
    "help.lsh.rounds": {
        "en": "Hash rounds; a pair is kept if it shares a bucket in any round.",
        "zh": "哈希轮数；任一轮同桶即保留。",
    },
    "help.lsh.seed": {"en": "Random seed (same seed, same mask).", "zh": "随机种子（相同种子得到相同掩码）。"},
    "pattern.topk": {"en": "Top-k", "zh": "Top-k 选择"},
    "pattern.topk.summary": {
        "en": "Each query keeps its k highest-scoring keys.",
        "zh": "每个查询保留得分最高的 k 个键。",
    },
    "help.topk.k": {"en": "Keys kept per query.", "zh": "每个查询保留的键数。"},
    "pattern.routing": {"en": "Routing (k-means)", "zh": "路由（k-means 聚类）"},
    "pattern.routing.summary": {
        "en": "Routing Transformer: queries and keys clustered by k-means; attend within the cluster.",
        "zh": "Routing Transformer：用 k-means 聚类查询和键，只在同一簇内关注。",
    },
    "help.routing.clusters": {"en": "k-means clusters.", "zh": "k-means 簇数。"},
    "help.routing.iterations": {"en": "k-means iterations.", "zh": "k-means 迭代次数。"},
    "help.routing.seed": {"en": "Random seed (same seed, same mask).", "zh": "随机种子（相同种子得到相同掩码）。"},
    "pattern.block_gating": {"en": "Block gating (MoBA)", "zh": "块门控（MoBA）"},
    "pattern.block_gating.summary": {
        "en": "Each query keeps its own block and the other key blocks that score highest on mean-pooled keys, blocks kept in all.",
        "zh": "每个查询保留自身所在块，以及按块均值键打分最高的其他块，总数为保留块数。",
    },
    "help.block_gating.block": {"en": "Key block size.", "zh": "键块大小。"},
    "help.block_gating.top_blocks": {
        "en": "Blocks kept per query, its own block included (MoBA uses 3).",
        "zh": "每个查询保留的块数，含自身所在的块（MoBA 取 3）。",
    },
    "pattern.vertical_slash": {"en": "Vertical-slash (MInference)", "zh": "竖线-斜线（MInference）"},
    "pattern.vertical_slash.summary": {
        "en": "Top key columns plus top diagonals, estimated from the last queries.",
        "zh": "由最后若干查询估计出的重要列（竖线）与重要对角线（斜线）。",
    },
    "help.vertical_slash.vertical": {"en": "Key columns kept.", "zh": "保留的列数。"},
    "help.vertical_slash.slash": {"en": "Diagonals kept.", "zh": "保留的对角线数。"},
    "help.vertical_slash.last_q": {"en": "Queries used for the estimate.", "zh": "用于估计的末尾查询数。"},
    "pattern.strided": {"en": "Sparse Transformer (strided)", "zh": "Sparse Transformer（步长式）"},
    "pattern.strided.summary": {
        "en": "The previous l tokens plus every l-th token before them.",
        "zh": "前 l 个词元，加上更早的每隔 l 个的词元。",
    },
    "help.strided.stride": {"en": "Stride l; the paper uses l ≈ √n.", "zh": "步长 l；论文取 l ≈ √n。"},
    "pattern.fixed": {"en": "Sparse Transformer (fixed)", "zh": "Sparse Transformer（固定式）"},
    "pattern.fixed.summary": {
        "en": "Attend within your l-block, plus the last c 'summary' tokens of every block.",
        "zh": "关注所在 l 块内的词元，以及每块最后 c 个“摘要”词元。",
    },
    "help.fixed.stride": {"en": "Block length l.", "zh": "块长 l。"},
    "help.fixed.summary": {
        "en": "Summary tokens c per block (paper: 8–32 for l = 128).",
        "zh": "每块摘要词元数 c（论文：l = 128 时取 8–32）。",
    },
    "pattern.longformer": {"en": "Longformer", "zh": "Longformer"},
    "pattern.longformer.summary": {
        "en": "Sliding window plus task-chosen global tokens.",
        "zh": "滑动窗口加上由任务指定的全局词元。",
    },
    "help.longformer.window": {
        "en": "Tokens on each side, the token included (paper: window 512 = 256 per side + itself).",
        "zh": "每侧的词元数（含词元自身；论文窗口 512 = 每侧 256 + 自身）。",
    },
    "help.longformer.global_tokens": {
        "en": "First g tokens attend to and are attended by all.",
        "zh": "前 g 个词元与所有词元互相关注。",
    },
    "pattern.bigbird": {"en": "BigBird", "zh": "BigBird"},
    "pattern.bigbird.summary": {
        "en": "Block window + global blocks + random blocks.",
        "zh": "块状窗口 + 全局块 + 随机块。",
    },
    "help.bigbird.block": {"en": "Block size (paper: 64).", "zh": "块大小（论文：64）。"},
    "help.bigbird.window_blocks": {"en": "Sliding blocks, odd (paper: 3).", "zh": "滑动块数，奇数（论文：3）。"},
    "help.bigbird.global_blocks": {
        "en": "Global blocks, half at the start and half at the end (reference: 2 = first and last).",
        "zh": "全局块数，一半在开头、一半在末尾（参考实现：2 = 第一块和最后一块）。",
    },
    "help.bigbird.random_blocks": {
        "en": "Random blocks per query block (paper: 3).",
        "zh": "每个查询块的随机块数（论文：3）。",
    },
    "help.bigbird.seed": {"en": "Random seed (same seed, same mask).", "zh": "随机种子（相同种子得到相同掩码）。"},
    "pattern.streaming": {"en": "StreamingLLM (sinks + window)", "zh": "StreamingLLM（注意力汇 + 窗口）"},
    "pattern.streaming.summary": {
        "en": "The first s 'sink' tokens plus a causal recent window.",
        "zh": "开头 s 个“注意力汇”词元加上因果的近期窗口。",
    },
    "help.streaming.sinks": {"en": "Attention sinks (paper: 4).", "zh": "注意力汇词元数（论文：4）。"},
    "help.streaming.window": {
        "en": "Recent tokens, the current one included (paper: 4 sinks + 1,020 = cache of 1,024).",
        "zh": "近期词元数，含当前词元（论文：4 个汇 + 1,020 = 缓存 1,024）。",
    },
    "pattern.mistral": {"en": "Mistral sliding window", "zh": "Mistral 滑动窗口"},
    "pattern.mistral.summary": {
        "en": "Causal window of W tokens including the token itself.",
        "zh": "包含自身在内、长度为 W 的因果窗口。",
    },
    "help.mistral.window": {
        "en": "Window W (Mistral 7B: 4096); keeps 0 ≤ i − j < W.",
        "zh": "窗口 W（Mistral 7B：4096）；保留 0 ≤ i − j < W。",
    },
    "pattern.a_shape": {"en": "A-shape (MInference)", "zh": "A 形（MInference）"},
    "pattern.a_shape.summary": {
        "en": "Initial tokens plus a local window: the static head type in MInference.",
        "zh": "开头词元加局部窗口：MInference 中的静态头类型。",
    },
    "help.a_shape.sinks": {"en": "Initial tokens kept (MInference: 64).", "zh": "保留的开头词元数（MInference：64）。"},
    "help.a_shape.window": {
        "en": "Local window in tokens, the current one included (MInference: 1024).",
        "zh": "局部窗口的词元数，含当前词元（MInference：1024）。",
    },
    "pattern.logsparse": {"en": "LogSparse", "zh": "LogSparse（对数稀疏）"},
    "pattern.logsparse.summary": {
        "en": "Each token attends itself and the tokens 1, 2, 4, 8, … positions before it.",
        "zh": "每个词元关注自身以及它之前 1、2、4、8……个位置的词元。",
    },
    "pattern.neighborhood": {"en": "Neighborhood (2-D)", "zh": "邻域注意力（二维）"},
    "pattern.neighborhood.summary": {
        "en": "Tokens are pixels of a grid; each attends the k × k pixels around it, the window shifted inside the grid at its borders.",
        "zh": "词元是网格上的像素；每个像素关注其周围 k × k 个像素，在边界处窗口平移到网格内部。",
    },
    "help.neighborhood.side": {
        "en": "Grid width in tokens; n = side² is a square image (NAT: 56 at stage 1).",
        "zh": "网格宽度（词元数）；n = side² 时为正方形图像（NAT 第 1 阶段：56）。",
    },
    "help.neighborhood.radius": {
        "en": "Window radius: k = 2·radius + 1 keys per axis (NAT: k = 7).",
        "zh": "窗口半径：每个轴 k = 2·radius + 1 个键（NAT：k = 7）。",
    },
    "pattern.nsa": {"en": "NSA (selection + window)", "zh": "NSA（选择 + 窗口）"},
    "pattern.nsa.summary": {
        "en": "Top-k selected blocks plus a sliding window; the compression branch attends block summaries, not tokens, so it adds no token pairs.",
        "zh": "选出的 top-k 块加滑动窗口；压缩分支关注的是块摘要而非词元，不增加词元对。",
    },
    "help.nsa.block": {"en": "Selection block size (paper: 64).", "zh": "选择块大小（论文：64）。"},
    "help.nsa.top_blocks": {
        "en": "Blocks kept per query, its own block included (paper: 16).",
        "zh": "每个查询保留的块数，含自身所在的块（论文：16）。",
    },
    "help.nsa.window": {
        "en": "Sliding window in tokens, the current one included (paper: 512).",
        "zh": "滑动窗口的词元数，含当前词元（论文：512）。",
    },
    "err.speed_budget": {
        "en": "n = {n} with {heads} heads of d = {d} is {gflop} GFLOP per dense call, over this server's {limit} "
        "GFLOP: choose fewer heads or a shorter n",
        "zh": "n = {n}、{heads} 个头、d = {d} 每次稠密调用需 {gflop} GFLOP，超过本服务器上限 {limit} GFLOP："
        "请减少头数或缩短 n",
    },
    "err.not_number": {"en": "{name} must be a number, got {value}", "zh": "{name} 必须是数字，收到的是 {value}"},
    "err.not_whole": {"en": "{name} must be a whole number, got {value}", "zh": "{name} 必须是整数，收到的是 {value}"},
    "err.out_of_range": {
        "en": "{name} must be between {low} and {high}, got {value}",
        "zh": "{name} 必须在 {low} 到 {high} 之间，收到的是 {value}",
    },
    "err.unknown_pattern": {
        "en": "unknown pattern '{name}'; choose one of: {known}",
        "zh": "未知模式“{name}”；可选：{known}",
    },
    "err.unknown_param": {
        "en": "pattern '{pattern}' has no parameter '{name}'",
        "zh": "模式“{pattern}”没有参数“{name}”",
    },
    "err.engine_cost": {
        "en": "counting this pattern exactly at n = {n} would touch about {cells} row segments, above the engine's limit of {limit}: lower n, the number of random keys, or the number of combined layers",
        "zh": "在 n = {n} 时精确计数该模式约需处理 {cells} 个行段，超过引擎上限 {limit}：请减小 n、随机键数或组合的层数",
    },
    "err.block_cost": {
        "en": "the exact block layout of this pattern at n = {n} and block size {block} would cost about {work} work units, above the engine's limit of {limit}: lower n or the number of random keys, or change the block size",
        "zh": "在 n = {n}、块大小 {block} 时，该模式的精确块布局约需 {work} 个工作单位，超过引擎上限 {limit}：请减小 n 或随机键数，或更改块大小",
    },
    "err.too_many_terms": {
        "en": "this combination expands into {terms} union terms with strided parts; exact counting is limited to {limit} such terms at this length: combine fewer layers or use a shorter n",
        "zh": "该组合展开为 {terms} 个含跨步部分的并集项；在此长度下精确计数最多支持 {limit} 项：请减少组合层数或缩短 n",
    },
    "err.data_dependent_n": {
        "en": "data-dependent patterns score every pair, so n is limited to {limit} (got {n}): lower n",
        "zh": "数据相关模式要为每一对打分，因此 n 最多为 {limit}（当前 {n}）：请减小 n",
    },
    "err.fit_data_dependent_n": {
        "en": "{name}'s density here depends on the scores, so it is fitted only up to n = {limit} (got {n}): lower n",
        "zh": "{name} 在此处的密度取决于打分，因此只在 n ≤ {limit} 时拟合（当前 {n}）：请减小 n",
    },
    "err.budget_n": {
        "en": "n = {n} is above this server's limit of {limit}: lower n",
        "zh": "n = {n} 超过了本服务器的上限 {limit}：请减小 n",
    },
    "err.budget_dense_n": {
        "en": "a dense mask at n = {n} is too large; the limit is n = {limit}: use the block layout instead",
        "zh": "n = {n} 时的稠密掩码太大；上限为 n = {limit}：请改用块布局",
    },
    "err.budget_terms": {
        "en": "this combination expands to {terms} union terms (limit {limit}): combine fewer layers, or use union instead of intersection",
        "zh": "此组合展开为 {terms} 个并集项（上限 {limit}）：请减少组合的层数，或改用并集而非交集",
    },
    "err.budget_segment_evals": {
        "en": "this request would evaluate ~{amount} row segments (limit {limit}): lower {params}",
        "zh": "此请求约需计算 {amount} 个行片段（上限 {limit}）：请减小 {params}",
    },
    "err.budget_memory_bytes": {
        "en": "this request would hold ~{amount} bytes of segment tables (limit {limit}): lower {params}",
        "zh": "此请求约需 {amount} 字节的片段表（上限 {limit}）：请减小 {params}",
    },
    "err.budget_scored_pairs": {
        "en": "this request would score ~{amount} query-key pairs (limit {limit}): lower {params}",
        "zh": "此请求约需为 {amount} 个查询-键对打分（上限 {limit}）：请减小 {params}",
    },
    "err.budget_kmeans_work": {
        "en": "this request would do ~{amount} k-means operations (limit {limit}): lower {params}",
        "zh": "此请求约需 {amount} 次 k-means 运算（上限 {limit}）：请减小 {params}",
    },
    "err.budget_lsh_work": {
        "en": "this request would do ~{amount} hashing operations (limit {limit}): lower {params}",
        "zh": "此请求约需 {amount} 次哈希运算（上限 {limit}）：请减小 {params}",
    },
    "err.budget_block_cells": {
        "en": "this request would draw ~{amount} block cells (limit {limit}): lower {params}",
        "zh": "此请求约需绘制 {amount} 个块单元（上限 {limit}）：请减小 {params}",
    },
    "err.budget_dense_bytes": {
        "en": "this request would build a dense mask of ~{amount} cells (limit {limit}): lower {params}",
        "zh": "此请求约需构建 {amount} 个单元的稠密掩码（上限 {limit}）：请减小 {params}",
    },
    "err.budget_random_draws": {
        "en": "this request would draw ~{amount} random keys (limit {limit} per request): lower {params}",
        "zh": "此请求约需抽取 {amount} 个随机键（每次请求上限 {limit}）：请减小 {params}",
    },
    "err.budget_random_block_draws": {
        "en": "this request would draw ~{amount} random keys (limit {limit} per request): lower {params}, or use larger blocks",
        "zh": "此请求约需抽取 {amount} 个随机键（每次请求上限 {limit}）：请减小 {params}，或使用更大的块",
    },
    "err.kv_cost": {
        "en": "the decode cache of this combination at n = {n} would test more than {limit} random (row, key) pairs: lower n, the window or the random keys",
        "zh": "在 n = {n} 时，此组合的解码缓存需要检验超过 {limit} 个随机（行，键）对：请减小 n、窗口或随机键数",
    },
    "err.budget_csv_n": {
        "en": "a CSV of {n} × {n} cells is larger than this installation allows ({limit} × {limit}): lower n, use --blocks with a larger --block-size, or write .npy or .png",
        "zh": "{n} × {n} 个单元的 CSV 超过了本安装允许的大小（{limit} × {limit}）：请减小 n、使用 --blocks 并增大 --block-size，或改写为 .npy 或 .png",
    },
    "err.budget_uncountable": {
        "en": "this combination expands to {terms} union terms with strided parts, which cannot be counted exactly at n = {n}: lower n or combine fewer layers",
        "zh": "此组合展开为 {terms} 个含跨步部分的并集项，在 n = {n} 时无法精确计数：请减小 n 或减少组合的层数",
    },
    "err.budget_uncountable_blocks": {
        "en": "the block layout of this combination ({terms} union terms with strided parts) cannot be counted exactly with {blocks} blocks: use larger blocks, lower n or combine fewer layers",
        "zh": "此组合的块布局（{terms} 个含跨步部分的并集项）在 {blocks} 个块时无法精确计数：请使用更大的块、减小 n 或减少组合的层数",
    },
    "err.budget_uncountable_decode": {
        "en": "the decode cache of this combination at n = {n} cannot be counted within this budget (its random parts meet too many pieces of the others): lower n, the window or the random keys",
        "zh": "在 n = {n} 时，此组合的解码缓存无法在本预算内计数（其随机部分与其他部分相交的片段过多）：请减小 n、窗口或随机键数",
    },
    "err.budget_env": {
        "en": "the setting {name} must be a whole number, got {value}",
        "zh": "设置 {name} 必须是整数，收到的是 {value}",
    },
    "err.lab_over_budget": {
        "en": "this Lab run would take about {seconds} CPU seconds, over this server's {budget}: use fewer tokens "
        "(at most {fit_tokens} fit) or fewer pattern × budget pairs (at most {fit_rows} fit)",
        "zh": "这次实验室运行预计约需 {seconds} CPU 秒，超过本服务器上限 {budget}：请减少词元数（最多 {fit_tokens} 个可行）"
        "或减少模式 × 预算组合（最多 {fit_rows} 个可行）",
    },
    "err.lab_token_cap": {
        "en": "this server runs the Lab on at most {cap} tokens; choose {cap} or fewer",
        "zh": "本服务器的实验室最多处理 {cap} 个词元；请选择 {cap} 个或更少",
    },
    "err.memory_too_long": {
        "en": "{model} reads at most {max_tokens} tokens: with {new_tokens} answer tokens a retrieval prompt can be "
        "at most {limit} tokens long",
        "zh": "{model} 最多读取 {max_tokens} 个词元：加上 {new_tokens} 个答案词元，检索提示最长只能有 {limit} 个词元",
    },
    "err.in_over_budget": {
        "en": "this inspection would take about {seconds} CPU seconds, over this server's {budget}: choose fewer "
        "tokens (at most {fit_tokens} fit)",
        "zh": "这次检查预计约需 {seconds} CPU 秒，超过本服务器上限 {budget}：请减少词元数（最多 {fit_tokens} 个可行）",
    },
    "err.jobs_session_limit": {
        "en": "you already have {held} heavy jobs waiting or running (at most {limit} per session); wait for one "
        "to finish",
        "zh": "您已有 {held} 个繁重任务在排队或运行（每个会话最多 {limit} 个）；请等待其中一个完成",
    },
    "lab.short_text": {
        "en": "The text has about {n} tokens, fewer than the {asked} chosen: the run reads all {n} of them, and is priced for them.",
        "zh": "该文本约有 {n} 个词元，少于所选的 {asked} 个：运行读取全部 {n} 个词元，开销也按此估算。",
    },
    "lab.price": {
        "en": "Predicted cost: about {seconds} CPU seconds (this server allows {budget}).",
        "zh": "预计开销：约 {seconds} CPU 秒（本服务器上限 {budget}）。",
    },
    "lab.queued": {
        "en": "Waiting for the heavy-job queue: {ahead} ahead of you.",
        "zh": "正在排队等待繁重任务：前面还有 {ahead} 个。",
    },
    # Pattern Lab
    "lab.nav": {"en": "Pattern Lab", "zh": "模式实验室"},
    "lab.title": {"en": "Pattern Lab", "zh": "模式实验室"},
    "lab.learn_link": {
        "en": "The Lab opens with window, StreamingLLM and BigBird at 5–25 % of the pairs on a long text (SmolLM2).",
        "zh": "实验室将用长文本（SmolLM2）比较窗口、StreamingLLM 和 BigBird 在 5–25% 词元对预算下的表现。",
    },
    "lab.lead": {
        "en": "Which pattern keeps the most of this model on this text, at which budget? Each pattern's parameter "
        "is fitted to each budget with exact counts, then measured against the dense model.",
        "zh": "在这段文本上，哪种模式在给定预算下保留了模型的最多信息？每个模式的参数都按精确计数拟合到各个预算，"
        "再与稠密模型对比测量。",
    },
    "lab.how": {"en": "How each number is defined", "zh": "各项数字的定义"},
    "lab.how_text": {
        "en": "- **Budget / density**: kept pairs ÷ pairs the model could attend (the causal triangle n(n+1)/2 for a "
        "causal LM, n² for an encoder). The fitted density is exact; the solved parameter is the one closest to "
        "the budget (neither neighbouring value is closer).\n"
        "- **FLOPs share**: pairs a block-sparse kernel computes (64×64 blocks with at least one kept pair) ÷ "
        "the same for dense attention.\n"
        "- **Mass kept**: dense attention probability inside the pattern, averaged over layers, heads and rows.\n"
        "- **Cosine**: cosine similarity of the final hidden states, dense vs sparse, averaged over positions.\n"
        "- **Perplexity change**: exp(mean NLL sparse − mean NLL dense) − 1 over the next-token predictions.\n"
        "- **Agreement**: share of positions whose greedy next token is the same as dense.\n"
        "- **KL (changed)**: mean KL(dense ‖ sparse) of next-token distributions over the positions whose row "
        "the pattern changes (drops a key in some layer or head).\n"
        "Data-dependent patterns (top-k, block gating) select per layer and head from that pass's own q and k. "
        "The text is fed raw (no chat template); results are cached by model, text, pattern and parameters.",
        "zh": "- **预算 / 密度**：保留的词元对 ÷ 模型本可关注的词元对（因果语言模型为因果三角 n(n+1)/2，编码器为 n²）。"
        "拟合出的密度是精确值；所解参数是最接近预算的取值（相邻取值都不会更接近）。\n"
        "- **计算量占比**：块稀疏内核实际计算的词元对（至少含一个保留对的 64×64 块）÷ 稠密注意力的同一数值。\n"
        "- **保留质量**：模式内的稠密注意力概率，对层、头和行取平均。\n"
        "- **余弦**：稠密与稀疏的最终隐藏状态的余弦相似度，对位置取平均。\n"
        "- **困惑度变化**：exp(稀疏平均负对数似然 − 稠密平均负对数似然) − 1，基于下一词元预测。\n"
        "- **一致率**：贪心下一词元与稠密相同的位置占比。\n"
        "- **KL（变化处）**：在模式改变了其行（在某层或某头丢弃了某个键）的位置上，下一词元分布的 KL(稠密 ‖ 稀疏) 平均值。\n"
        "数据相关模式（top-k、块门控）按每层每头、根据该次前向自身的 q 和 k 选择。"
        "文本按原样输入（不加对话模板）；结果按模型、文本、模式和参数缓存。",
    },
    "lab.model": {"en": "Model", "zh": "模型"},
    "lab.local": {"en": "Or a local model folder", "zh": "或本地模型文件夹"},
    "lab.local_help": {
        "en": "A folder with config.json; this server allows local models.",
        "zh": "包含 config.json 的文件夹；本服务器允许本地模型。",
    },
    "lab.text": {"en": "Text", "zh": "文本"},
    "lab.src_keeper_of_the_light": {
        "en": "Long text: Keeper of the Light",
        "zh": "长文：灯塔守护人（英文）",
    },
    "lab.src_en_story": {"en": "Example: a short story", "zh": "示例：短篇故事"},
    "lab.src_zh_story": {"en": "Example: a Chinese story", "zh": "示例：中文故事"},
    "lab.src_code_review": {"en": "Example: a code review", "zh": "示例：代码评审"},
    "lab.src_mixed_scripts": {"en": "Example: mixed scripts", "zh": "示例：混合文字"},
    "lab.src_own": {"en": "My own text", "zh": "我自己的文本"},
    "lab.own": {"en": "Paste your text", "zh": "粘贴你的文本"},
    "lab.tokens": {"en": "Tokens used", "zh": "使用的词元数"},
    "lab.tokens_help": {
        "en": "The first tokens of the text; SmolLM2 takes up to 2,048 (about 10 s per pattern and budget at 1,024).",
        "zh": "取文本开头的词元；SmolLM2 最多 2,048 个（1,024 个词元时每个模式和预算约 10 秒）。",
    },
    "lab.patterns": {"en": "Patterns", "zh": "模式"},
    "lab.budgets": {"en": "Budgets (share of what the model could attend)", "zh": "预算（占模型本可关注部分的比例）"},
    "lab.run": {"en": "Run", "zh": "运行"},
    "lab.cancel": {"en": "Cancel", "zh": "取消"},
    "lab.starting": {"en": "Dense pass…", "zh": "稠密前向计算中…"},
    "lab.progress": {"en": "{done} of {total} done: {label}", "zh": "已完成 {done}/{total}：{label}"},
    "lab.progress_layer": {
        "en": "{done} of {total} done: {label}, layer {layer} of {layers}",
        "zh": "已完成 {done}/{total}：{label}，第 {layer}/{layers} 层",
    },
    "lab.view_quality": {"en": "Fluent? Perplexity", "zh": "流畅吗？困惑度"},
    "lab.view_memory": {"en": "Remembers? Retrieval", "zh": "记得住吗？检索"},
    "lab.mem_lead": {
        "en": "A key is hidden at a depth of a filler text, then asked for. The prompt is read under the pattern "
        "(in every layer) and the answer decoded reading only the cached positions the pattern keeps, exact match "
        "scored. Dense is the reference: what the model itself can recall.",
        "zh": "在填充文本的某个深度藏一个密钥，然后提问。提示在每一层都按模式读取，答案在解码时只读取模式保留的缓存位置，"
        "按完全匹配评分。稠密注意力作为参照：模型本身能记住什么。",
    },
    "lab.mem_task": {"en": "Task", "zh": "任务"},
    "lab.mem_task_passkey": {"en": "Passkey (one 5-digit key)", "zh": "密钥（一个 5 位数）"},
    "lab.mem_task_multikey": {"en": "Multi-key (one of several asked)", "zh": "多键（多个键值对中问一个）"},
    "lab.mem_lengths": {"en": "Lengths (tokens)", "zh": "长度（词元）"},
    "lab.mem_depths": {"en": "Depths of the key", "zh": "密钥所在深度"},
    "lab.mem_trials": {"en": "Trials per cell", "zh": "每格试验次数"},
    "lab.mem_filler": {"en": "Filler language", "zh": "填充文本语言"},
    "lab.mem_bf16": {"en": "Faster: linear layers in bfloat16", "zh": "更快：线性层用 bfloat16 计算"},
    "lab.mem_bf16_help": {
        "en": "The model's linear layers compute in bfloat16, about 1.5× faster a grid on a CPU with native "
        "bfloat16 (this server's default grid: 524 against 805 CPU seconds). Attention, scores and the "
        "patterns' choices stay float32; answers can differ slightly from float32, and every row says which.",
        "zh": "模型的线性层用 bfloat16 计算；在原生支持 bfloat16 的 CPU 上整组实验约快 1.5 倍（本服务器的默认实验："
        "524 对 805 CPU 秒）。注意力、分数和模式的选择仍为 float32；答案可能与 float32 略有不同，每一行都注明所用精度。",
    },
    "lab.mem_filler_en": {"en": "English", "zh": "英文"},
    "lab.mem_filler_zh": {"en": "Chinese", "zh": "中文"},
    "lab.mem_run": {"en": "Run retrieval", "zh": "运行检索"},
    "lab.mem_cap": {
        "en": "Lengths stop at this server's cap of {cap} tokens.",
        "zh": "长度以本服务器的上限 {cap} 个词元为止。",
    },
    "lab.mem_causal": {
        "en": "Retrieval needs a causal language model: pick SmolLM2.",
        "zh": "检索需要因果语言模型：请选择 SmolLM2。",
    },
    "lab.mem_pick": {"en": "Pick at least one length and one depth.", "zh": "请至少选择一个长度和一个深度。"},
    "lab.mem_over": {
        "en": "This retrieval grid would take about {seconds} CPU seconds, over this server's {budget}: "
        "choose fewer lengths (the {longest}-token prompts cost most), depths, trials, patterns or budgets.",
        "zh": "这个检索网格约需 {seconds} CPU 秒，超过本服务器的 {budget} 秒：请减少长度"
        "（{longest} 词元的提示最贵）、深度、试验次数、模式或预算。",
    },
    "lab.mem_over_trials": {
        "en": "Trials per cell that fit: at most {trials}.",
        "zh": "每格最多可做 {trials} 次试验。",
    },
    "lab.mem_not_run": {
        "en": "No retrieval measured yet for this grid: press Run retrieval.",
        "zh": "此网格尚未测量检索：请点击“运行检索”。",
    },
    "lab.mem_cancelled": {
        "en": "Stopped early: the cells not reached are blank.",
        "zh": "已提前停止：未完成的格子留空。",
    },
    "lab.mem_partial": {
        "en": "{done} of {total} cells were finished before the run stopped (Cancel, or a change on the page during the run); press Run retrieval to measure the whole grid.",
        "zh": "运行停止前（点击了取消，或运行中更改了页面）已完成 {total} 个格子中的 {done} 个；点击“运行检索”可测量整个网格。",
    },
    "lab.partial": {
        "en": "{rows} of {total} rows are measured (a run was stopped, or the choice changed since): press Run for the rest.",
        "zh": "已测量 {total} 行中的 {rows} 行（运行被停止，或之后更改了选择）：点击“运行”测量其余各行。",
    },
    "lab.mem_done": {
        "en": "{prompts} prompts in {seconds} CPU seconds.",
        "zh": "共 {prompts} 个提示，用时 {seconds} CPU 秒。",
    },
    "lab.mem_compare": {
        "en": "{dense} recalled {dense_correct} of {dense_trials} keys; {best} recalled {best_correct} of {best_trials}, "
        "{worst} {worst_correct} of {worst_trials}.",
        "zh": "{dense} 答对 {dense_correct}/{dense_trials} 个密钥；{best} 答对 {best_correct}/{best_trials}，"
        "{worst} 答对 {worst_correct}/{worst_trials}。",
    },
    "lab.mem_compare_one": {
        "en": "{dense} recalled {dense_correct} of {dense_trials} keys; {best} recalled {best_correct} of {best_trials}.",
        "zh": "{dense} 答对 {dense_correct}/{dense_trials} 个密钥；{best} 答对 {best_correct}/{best_trials}。",
    },
    "lab.mem_length": {"en": "length (tokens)", "zh": "长度（词元）"},
    "lab.mem_depth": {"en": "depth", "zh": "深度"},
    "lab.mem_recall": {"en": "recall", "zh": "召回率"},
    "lab.mem_interval": {"en": "95% interval", "zh": "95% 区间"},
    "lab.mem_measured": {"en": "depth in tokens", "zh": "按词元计深度"},
    "lab.mem_keys": {"en": "keys recalled", "zh": "答对次数"},
    "lab.mem_decode": {"en": "decoding reads", "zh": "解码时读取"},
    "lab.mem_note_dense": {"en": "every cached position", "zh": "全部缓存位置"},
    "lab.mem_note_structured": {"en": "only the positions its row keeps", "zh": "仅其行保留的位置"},
    "lab.mem_note_selects": {
        "en": "the keys it selects by scoring every cached key",
        "zh": "对全部缓存键打分后选出的键",
    },
    "lab.pick": {"en": "Pick at least one pattern and one budget.", "zh": "请至少选择一个模式和一个预算。"},
    "lab.empty": {"en": "The text is empty: paste some text or pick one.", "zh": "文本为空：请粘贴文本或选择一个。"},
    "lab.not_run": {
        "en": "Nothing measured yet for this configuration: press Run.",
        "zh": "此配置尚未测量：请点击“运行”。",
    },
    "lab.rows": {"en": "{rows} results on {tokens} tokens.", "zh": "{tokens} 个词元上的 {rows} 条结果。"},
    "lab.bad_patterns": {"en": "the link's patterns were not used: {msg}", "zh": "链接中的模式未被采用：{msg}"},
    "lab.bad_budgets": {"en": "the link's budgets were not used: {msg}", "zh": "链接中的预算未被采用：{msg}"},
    "lab.mem_bad_list": {
        "en": "the link's {name} were not used: each must be one of {choices}",
        "zh": "链接中的 {name} 未被采用：每个值都必须是 {choices} 之一",
    },
    "lab.x": {"en": "Cost axis", "zh": "成本轴"},
    "lab.y": {"en": "Quality metric", "zh": "质量指标"},
    "lab.col_pattern": {"en": "Pattern", "zh": "模式"},
    "lab.col_budget": {"en": "Budget", "zh": "预算"},
    "lab.col_value": {"en": "Fitted value", "zh": "拟合值"},
    "lab.col_density": {"en": "Density", "zh": "密度"},
    "lab.col_flops_share": {"en": "FLOPs share (block kernel)", "zh": "计算量占比（块内核）"},
    "lab.col_mass_kept": {"en": "Mass kept", "zh": "保留质量"},
    "lab.col_cosine": {"en": "Hidden-state cosine", "zh": "隐藏状态余弦"},
    "lab.col_ppl_sparse": {"en": "Perplexity (sparse)", "zh": "困惑度（稀疏）"},
    "lab.col_ppl_change": {"en": "Perplexity change", "zh": "困惑度变化"},
    "lab.col_agreement": {"en": "Next-token agreement", "zh": "下一词元一致率"},
    "lab.col_kl_changed": {"en": "KL on changed positions", "zh": "变化位置上的 KL"},
    "lab.col_kl_all": {"en": "KL on all positions", "zh": "全部位置上的 KL"},
    "lab.col_prefill_cpu_s": {"en": "Sparse prefill (CPU s)", "zh": "稀疏预填充（CPU 秒）"},
    "lab.col_dense_prefill_cpu_s": {"en": "Dense prefill (CPU s)", "zh": "稠密预填充（CPU 秒）"},
    "lab.col_prefill_peak_bytes": {"en": "Sparse prefill peak (bytes)", "zh": "稀疏预填充峰值内存（字节）"},
    "lab.col_dense_prefill_peak_bytes": {"en": "Dense prefill peak (bytes)", "zh": "稠密预填充峰值内存（字节）"},
    "lab.col_params": {"en": "Parameters", "zh": "参数"},
    "lab.col_cached": {"en": "From cache", "zh": "来自缓存"},
    "lab.help_ppl_change": {
        "en": "Relative change of perplexity, sparse vs dense: 0 is no loss, 1.0 is twice as perplexed.",
        "zh": "稀疏相对稠密的困惑度相对变化：0 表示无损失，1.0 表示困惑度翻倍。",
    },
    "lab.help_kl_changed": {
        "en": "KL(dense ‖ sparse) in nats, averaged over the positions the pattern changes; lower is better.",
        "zh": "KL(稠密 ‖ 稀疏)（单位 nat），对模式改变的位置取平均；越低越好。",
    },
    "lab.help_agreement": {
        "en": "Share of positions where sparse and dense predict the same next token; higher is better.",
        "zh": "稀疏与稠密预测相同下一词元的位置占比；越高越好。",
    },
    "lab.help_mass_kept": {
        "en": "Share of dense attention probability inside the pattern; higher is better.",
        "zh": "模式内的稠密注意力概率占比；越高越好。",
    },
    "lab.help_cosine": {
        "en": "Cosine of final hidden states, sparse vs dense; 1 is identical.",
        "zh": "稀疏与稠密最终隐藏状态的余弦；1 表示完全相同。",
    },
    "lab.strip": {"en": "Mass kept per layer", "zh": "各层保留质量"},
    "lab.csv": {"en": "Download CSV", "zh": "下载 CSV"},
    "lab.json": {"en": "Download JSON (with per-layer and per-head arrays)", "zh": "下载 JSON（含各层和各头数组）"},
    "lab.continue": {"en": "See it in words", "zh": "用文字看差别"},
    "lab.continue_help": {
        "en": "Greedy continuation of the text under dense attention and under the pattern, which also applies to "
        "the KV cache: a key the pattern drops is never read. The first differing token onwards is shown between ⟦ ⟧.",
        "zh": "在稠密注意力和该模式下分别贪心续写文本；模式同样作用于 KV 缓存：被模式丢弃的键从不被读取。"
        "从第一个不同的词元起的内容显示在 ⟦ ⟧ 之间。",
    },
    "lab.continue_none": {
        "en": "Continuation needs a structured pattern (data-dependent ones score every cached key).",
        "zh": "续写需要结构化模式（数据相关模式要为每个缓存的键打分）。",
    },
    "lab.continue_pattern": {"en": "Pattern and budget", "zh": "模式与预算"},
    "lab.continue_steps": {"en": "New tokens", "zh": "新词元数"},
    "lab.continue_run": {"en": "Continue the text", "zh": "续写文本"},
    "lab.continuing": {"en": "Decoding…", "zh": "解码中…"},
    "lab.same": {"en": "All {n} new tokens are the same as dense.", "zh": "全部 {n} 个新词元都与稠密相同。"},
    "lab.diverges": {"en": "First difference at new token {i} of {n}.", "zh": "第一个差异出现在第 {i}/{n} 个新词元。"},
    "lab.dense": {"en": "Dense", "zh": "稠密"},
    "lab.sparse": {"en": "{pattern} at {budget}", "zh": "{pattern}，预算 {budget}"},
    "lab.err_not_fittable": {
        "en": "pattern '{name}' has no fittable parameter; fittable: {known}",
        "zh": "模式“{name}”没有可拟合的参数；可拟合的有：{known}",
    },
    "lab.err_bad_budget": {
        "en": "a budget must be a share between 0 and 1, like 0.05 or 5% (got '{value}')",
        "zh": "预算必须是 0 到 1 之间的比例，例如 0.05 或 5%（收到的是“{value}”）",
    },
    "lab.err_lab_not_causal": {
        "en": "continuing a text needs a causal language model (e.g. SmolLM2)",
        "zh": "续写文本需要因果语言模型（例如 SmolLM2）",
    },
    "lab.err_lab_data_dependent_decode": {
        "en": "'{name}' selects its keys by scoring every cached key, so decoding with it reads them all; "
        "continue with a structured pattern",
        "zh": "“{name}”通过为每个缓存的键打分来选择键，用它解码会读取全部键；请用结构化模式续写",
    },
    "q.warning": {
        "en": "Some settings in the link were not used:  \n{msg}",
        "zh": "链接中的部分设置未被采用：  \n{msg}",
    },
    "q.problem": {
        "en": "the link's {name} = '{value}' was not used: {reason}",
        "zh": "链接中的 {name} = “{value}” 未被采用：{reason}",
    },
    "q.problem_pattern": {"en": "the link's {name} was not used: {reason}", "zh": "链接中的 {name} 未被采用：{reason}"},
    "q.not_whole": {"en": "it must be a whole number in ASCII digits", "zh": "必须是用半角数字写的整数"},
    "q.not_number": {"en": "it must be a number", "zh": "必须是数字"},
    "q.not_bool": {"en": "it must be 1 or 0", "zh": "必须是 1 或 0"},
    "q.out_of_range": {"en": "it must be between {low} and {high}", "zh": "必须在 {low} 到 {high} 之间"},
    "q.not_choice": {"en": "it must be one of {choices}", "zh": "必须是以下之一：{choices}"},
    "q.too_long": {"en": "it is longer than {limit} characters", "zh": "长度超过 {limit} 个字符"},
    "err.prefix": {"en": "Cannot do that: {msg}", "zh": "无法执行：{msg}"},
}


def t(key: str, lang: str = "en", **fields) -> str:
    entry = STRINGS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**fields) if fields else text
