"""Plotly figures and shown labels of the Pattern Lab, free of Streamlit: each builder takes the engine's rows.

- `pareto_figure` / `layer_strip`: the perplexity side ("is it fluent?") from `lab.run_lab`'s table.
- `memory_heatmaps` / `memory_summary`: the retrieval side ("does it remember?") from
  `memory_eval.run_memory`'s rows, one depth × length heatmap per arm (dense first).
- `arm_label`: the engine's row label ("window@0.05", "dense") as the page shows it.

Builders with a caption beside them return `(figure, facts)`, the facts counted from the very arrays the
traces draw, so a caption cannot disagree with its figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sparse_core.retrieval import wilson

from .i18n import t

DENSE = "dense"  # memory_eval.DENSE, not imported: that module loads torch
RECALL_SCALE = [[0.0, "#f4f1ee"], [0.5, "#f2a65a"], [1.0, "#313191"]]  # 0 % pale, 100 % the app's dark blue
Titles = Callable[[str], str]


def arm_label(label: str, titles: Titles, lang: str = "en") -> str:
    """The engine's arm label as shown: "window@0.05" → "Sliding window · 5%", "dense" → "Dense"."""
    if label == DENSE:
        return t("lab.dense", lang)
    name, sep, budget = label.partition("@")
    try:
        return f"{titles(name)} · {float(budget):.0%}" if sep else titles(label.split("{", 1)[0])
    except (ValueError, KeyError):
        return label


# -- fluent: perplexity -----------------------------------------------------------------------
def pareto_figure(table: pd.DataFrame, x: str, y: str, x_title: str, y_title: str, titles: Titles) -> go.Figure:
    """One line per pattern through its budgets; the hover names the fitted parameters."""
    fig = go.Figure()
    for name, rows in table.sort_values(x).groupby("pattern", sort=False):
        fig.add_trace(
            go.Scatter(
                x=rows[x],
                y=rows[y],
                mode="lines+markers",
                name=titles(str(name)),
                customdata=np.stack([rows["params"], rows["budget"]], axis=-1),
                hovertemplate=f"{x_title} %{{x:.2%}}<br>{y_title} %{{y:.4g}}<br>%{{customdata[0]}}"
                "<br>budget %{customdata[1]:.0%}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        height=380,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(title=x_title, tickformat=percent_ticks(table[x])),
        yaxis=dict(title=y_title),
        legend=dict(orientation="h", y=-0.2),
    )
    shares = table[x].dropna()
    if len(shares) and shares.max() == shares.min():
        # every point at one share (one budget, patterns fitted alike): Plotly's own range spread to -50%-100%
        v = float(shares.iloc[0])
        fig.update_xaxes(range=[max(0.0, v - 0.005), min(1.0, v + 0.005)])
    return fig


def percent_ticks(values) -> str:
    """A percent tick format with as many decimals as the ticks' spacing needs: rows between 9.94% and 9.99%
    read "10%" on every tick at ".0%" (the walk at 2,048 tokens). Plotly draws about five ticks over the span."""
    finite = [float(v) for v in values if np.isfinite(v)]
    span = (max(finite) - min(finite)) if finite else 0.0
    if span <= 0:
        return ".1%"
    return f".{min(3, max(0, math.ceil(-math.log10(span * 100 / 5))))}%"


def layer_strip(layers: pd.DataFrame, title: str, layer_label: str, titles: Titles, lang: str = "en") -> go.Figure:
    """Mass kept per layer: one row per (pattern, budget), so one sees where a pattern loses mass."""
    fig = go.Figure(
        go.Heatmap(
            z=layers.to_numpy(float),
            x=[str(i) for i in range(layers.shape[1])],
            y=[arm_label(str(label), titles, lang) for label in layers.index],
            zmin=0,
            zmax=1,
            colorscale="Viridis",
            hovertemplate=f"%{{y}} · {layer_label} %{{x}}{'：' if lang == 'zh' else ': '}%{{z:.1%}}<extra></extra>",
            colorbar=dict(tickformat=".0%"),
        )
    )
    fig.update_layout(
        # the title starts below the toolbar's band (a phone shows the toolbar at all times)
        title=dict(text=title, x=0, xanchor="left", y=1, yref="container", yanchor="top", pad=dict(t=28)),
        height=150 + 22 * len(layers),
        margin=dict(l=10, r=10, t=70, b=10),
        xaxis=dict(title=layer_label),
    )
    return fig


# -- remembers: retrieval -----------------------------------------------------------------------
def _arms(rows: Sequence[dict]) -> list[str]:
    """Arm labels in the engine's order, dense first."""
    labels = list(dict.fromkeys(r["label"] for r in rows))
    return sorted(labels, key=lambda label: label != DENSE)


def _grid(rows: Sequence[dict], label: str, lengths: list[int], depths: list[float]) -> dict[str, np.ndarray]:
    """One arm's cells as (depths, lengths) arrays; NaN where the run stopped before the cell."""
    shape = (len(depths), len(lengths))
    out = {k: np.full(shape, np.nan) for k in ("accuracy", "correct", "trials", "ci_low", "ci_high", "measured")}
    for r in rows:
        if r["label"] == label:
            i, j = depths.index(r["depth"]), lengths.index(r["length"])
            for key, field in (("accuracy", "accuracy"), ("correct", "correct"), ("trials", "trials")):
                out[key][i, j] = r[field]
            out["ci_low"][i, j], out["ci_high"][i, j] = r["ci_low"], r["ci_high"]
            out["measured"][i, j] = r["depth_measured"]
    return out


def memory_heatmaps(
    rows: Sequence[dict], titles: Titles, lang: str = "en", columns: int = 3, grid: tuple | None = None
) -> tuple[go.Figure, dict]:
    """One depth × length heatmap of recall per arm (dense first), with the trial count and 95% interval.

    Cells show "correct/trials"; the hover adds the Wilson interval and the depth measured in tokens.
    `grid` = (arm labels, lengths, depths) asked for draws the whole grid, cells not reached blank (a stopped
    run); without it, the arms and cells the rows reach.
    Facts per arm (label → title, correct, trials, recall), summed over the cells drawn; an arm with no cell
    measured has none (a caption must not rank it)."""
    arms = _arms(rows)
    lengths = sorted({int(r["length"]) for r in rows})
    depths = sorted({float(r["depth"]) for r in rows})
    if grid is not None:
        arms = _arms([{"label": a} for a in [*arms, *grid[0]]])
        lengths, depths = sorted({*lengths, *map(int, grid[1])}), sorted({*depths, *map(float, grid[2])})
    cols = max(1, min(columns, len(arms)))
    nrows = max(1, math.ceil(len(arms) / cols))
    shown = {a: arm_label(a, titles, lang) for a in arms}
    fig = make_subplots(
        rows=nrows,
        cols=cols,
        subplot_titles=[shown[a] for a in arms],
        horizontal_spacing=0.06,
        vertical_spacing=min(0.12, 0.5 / nrows),
        shared_yaxes=True,
    )
    hover = (
        f"{t('lab.mem_length', lang)} %{{x}} · {t('lab.mem_depth', lang)} %{{y}}<br>"
        f"{t('lab.mem_recall', lang)} %{{z:.0%}} (%{{text}})<br>"
        f"{t('lab.mem_interval', lang)} %{{customdata[0]:.0%}}–%{{customdata[1]:.0%}}<br>"
        f"{t('lab.mem_measured', lang)} %{{customdata[2]:.0%}}<extra>%{{meta}}</extra>"
    )
    facts: dict[str, dict] = {}
    for k, arm in enumerate(arms):
        g = _grid(rows, arm, lengths, depths)
        text = np.where(
            np.isnan(g["trials"]), "", np.char.add(np.char.add(_ints(g["correct"]), "/"), _ints(g["trials"]))
        )
        fig.add_trace(
            go.Heatmap(
                z=g["accuracy"],
                x=[f"{n:,}" for n in lengths],
                y=[f"{d:.0%}" for d in depths],
                text=text,
                texttemplate="%{text}",
                customdata=np.stack([g["ci_low"], g["ci_high"], g["measured"]], axis=-1),
                meta=shown[arm],
                coloraxis="coloraxis",
                hovertemplate=hover,
                xgap=2,
                ygap=2,
            ),
            row=k // cols + 1,
            col=k % cols + 1,
        )
        correct, trials = int(np.nansum(g["correct"])), int(np.nansum(g["trials"]))
        if not trials:
            continue
        facts[arm] = {"title": shown[arm], "correct": correct, "trials": trials, "recall": correct / max(trials, 1)}
    fig.update_xaxes(type="category", title_text=t("lab.mem_length", lang), row=nrows)
    fig.update_yaxes(type="category", autorange="reversed")
    if lang == "zh":
        # Plotly turns a y-axis title on its side, and a Chinese word (深度) then reads sideways: it stands
        # level above the depth ticks of the first column instead
        fig.add_annotation(
            text=t("lab.mem_depth", lang), x=0, xref="x domain", xanchor="right", xshift=-4,
            y=1, yref="y domain", yanchor="bottom", showarrow=False, font_size=12,
        )  # fmt: skip
    else:
        fig.update_yaxes(title_text=t("lab.mem_depth", lang), col=1)
    fig.update_annotations(font_size=13)
    fig.update_layout(
        coloraxis=dict(
            colorscale=RECALL_SCALE, cmin=0, cmax=1, colorbar=dict(title=t("lab.mem_recall", lang), tickformat=".0%")
        ),
        height=80 + 230 * nrows,
        margin=dict(l=10, r=10, t=60, b=10),
    )
    return fig, facts


def memory_compare(facts: dict[str, dict]) -> tuple[str, dict] | None:
    """The caption (catalog key, fields) from `memory_heatmaps`' facts: dense, the pattern arm recalling most and,
    with several, the one recalling least (None without dense or without a pattern arm)."""
    arms = [f for label, f in facts.items() if label != DENSE]
    if DENSE not in facts or not arms:
        return None
    ranked = sorted(arms, key=lambda f: -f["recall"])  # stable: equal recall keeps the engine's order
    out = {"dense": facts[DENSE]["title"], "dense_correct": facts[DENSE]["correct"]}
    out["dense_trials"] = facts[DENSE]["trials"]
    picked = (("best", ranked[0]),) if len(arms) == 1 else (("best", ranked[0]), ("worst", ranked[-1]))
    for name, f in picked:
        out |= {name: f["title"], f"{name}_correct": f["correct"], f"{name}_trials": f["trials"]}
    return ("lab.mem_compare_one" if len(arms) == 1 else "lab.mem_compare"), out


def marked(pieces: list[str], divergence: int | None) -> str:
    """A continuation as plain text, the first divergent token onwards between ⟦ ⟧."""
    if divergence is None:
        return "".join(pieces)
    return "".join(pieces[:divergence]) + "⟦" + "".join(pieces[divergence:]) + "⟧"


def _ints(values: np.ndarray) -> np.ndarray:
    return np.array([f"{v:.0f}" if np.isfinite(v) else "" for v in values.ravel()]).reshape(values.shape)


def _note_kind(row: dict) -> str:
    """How the arm's decode reads the cache, as a catalog key (the engine's note is English)."""
    if row["label"] == DENSE:
        return "dense"
    return "selects" if str(row.get("decode_note", "")).startswith("data-dependent") else "structured"


def memory_summary(rows: Sequence[dict], titles: Titles, lang: str = "en") -> pd.DataFrame:
    """One line per arm: keys recalled over all its cells, with the 95% (Wilson) interval of that share."""
    out = []
    for arm in _arms(rows):
        mine = [r for r in rows if r["label"] == arm]
        correct, trials = sum(int(r["correct"]) for r in mine), sum(int(r["trials"]) for r in mine)
        low, high = wilson(correct, trials)
        first = mine[0]
        out.append(
            {
                t("lab.col_pattern", lang): arm_label(arm, titles, lang),
                t("lab.col_density", lang): first["density"],
                t("lab.mem_recall", lang): correct / max(trials, 1),
                t("lab.mem_keys", lang): f"{correct}/{trials}",
                t("lab.mem_interval", lang): f"{low:.0%}–{high:.0%}",
                t("lab.mem_decode", lang): t(f"lab.mem_note_{_note_kind(first)}", lang),
            }
        )
    return pd.DataFrame(out)
