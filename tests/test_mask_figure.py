"""mask_image as a small multiple (the explorer's compare tab): legible at 320 px, nothing of its own cut."""

import numpy as np
import pytest

from sparse_core import make
from sparse_core.views import MaskView, mask_view
from ui.figures import COMPACT_HEIGHT, TITLE_CHARS, TITLE_LINES, mask_image, text_width, wrap_title
from ui.i18n import STRINGS

LONG = {
    "en": STRINGS["pattern.streaming"]["en"] + " ∪ " + STRINGS["pattern.longformer"]["en"],
    "zh": STRINGS["pattern.streaming"]["zh"] + " ∪ " + STRINGS["pattern.longformer"]["zh"],
}
VIEWS = {
    "token": lambda: MaskView(np.tri(64, dtype=bool), False, 1, 64),
    "pooled": lambda: mask_view(make("streaming").expr(), 1 << 16),
    "blocks": lambda: MaskView(np.eye(8) > 0, True, 512, 4096, exact_density=False),
}


def _shown_title(fig) -> str:
    """A compact figure's title is an annotation (it carries the full title as hover text)."""
    return next(a.text for a in fig.layout.annotations if a.name == "title")


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("kind", list(VIEWS))
def test_a_compare_size_mask_has_no_colour_bar_and_a_title_that_fits(lang, kind):
    fig = mask_image(VIEWS[kind](), LONG[lang], height=320, lang=lang, nnz=1000)
    assert 320 < COMPACT_HEIGHT
    # no colour bar, colour scale or legend of its own: at ~300 px they were cut to "100(" and "0.1("
    assert not any(getattr(getattr(tr, "marker", None), "showscale", False) for tr in fig.data)
    assert not any(getattr(tr, "showscale", False) for tr in fig.data)
    assert fig.layout.showlegend is False
    lines = _shown_title(fig).split("<br>")
    assert 1 <= len(lines) <= TITLE_LINES and all(text_width(x) <= TITLE_CHARS for x in lines), lines
    hover = [a for a in fig.layout.annotations if a.hovertext]
    assert [a.hovertext for a in hover] == [LONG[lang]]  # the whole title, on hover
    # tick labels push the margins instead of running over an axis title; compact has no axis titles
    for axis in (fig.layout.xaxis, fig.layout.yaxis):
        assert axis.automargin is True and axis.title.text is None
    assert fig.layout.title.text is None  # one title, the annotation
    if kind != "token":  # the shade's meaning moved into the hover
        assert "<br>" in fig.data[0].hovertemplate.replace("<extra></extra>", "").split("%{x}", 1)[1]


def test_a_full_size_mask_keeps_its_colour_bar_and_axis_titles():
    fig = mask_image(VIEWS["pooled"](), "StreamingLLM", height=460)
    assert any(getattr(getattr(tr, "marker", None), "showscale", False) for tr in fig.data)
    assert fig.layout.xaxis.title.text == STRINGS["fig.key"]["en"] and fig.layout.title.text == "StreamingLLM"
    # the title pushes the margins from the container's top, so the top axis title ("key j") stays below it
    assert fig.layout.title.automargin is True and fig.layout.title.yref == "container"
    assert fig.layout.xaxis.automargin is True  # "key j" never runs into the title above it (home page)


@pytest.mark.parametrize(
    "title, lines",
    [
        ("Your pattern", ["Your pattern"]),
        ("Longformer (window + global tokens) ∪ BigBird", ["Longformer (window + global", "tokens) ∪ BigBird"]),
        ("x" * 100, ["x" * (TITLE_CHARS - 1) + "…"]),
    ],
)
def test_titles_wrap_at_spaces_and_end_in_an_ellipsis_when_cut(title, lines):
    assert wrap_title(title).split("<br>") == lines


def test_cjk_titles_count_two_columns_a_character():
    shown = wrap_title("滑" * 40).split("<br>")
    assert len(shown) == TITLE_LINES and shown[-1].endswith("…")
    assert all(text_width(x) <= TITLE_CHARS for x in shown)


def test_a_bracketed_cjk_group_moves_to_the_next_line_whole():
    assert wrap_title(STRINGS["pattern.streaming"]["zh"]).split("<br>") == ["StreamingLLM", "（注意力汇 + 窗口）"]
    assert not any(line.startswith("）") for line in wrap_title("窗" * 14 + "口）").split("<br>"))


def test_inspector_map_titles_start_below_the_mode_bar():
    from sparse_core.inspection import mask_states
    from ui import inspector_figures as F

    labels = [f"t{i}" for i in range(8)]
    weights = np.tri(8, dtype=np.float32) / np.arange(1, 9, dtype=np.float32)[:, None]
    for fig in (
        F.attention_map(weights, labels, STRINGS["in.sparse"]["en"]),
        F.mask_map(mask_states(np.tri(8, dtype=bool), None), labels, STRINGS["in.mask"]["zh"]),
    ):
        title = fig.layout.title
        # a phone shows the mode bar at all times, top right: a title inside its band ran under it
        assert title.yref == "container" and title.yanchor == "top" and title.pad.t >= F.MODEBAR_PX
        assert title.automargin is True and fig.layout.margin.t >= F.MODEBAR_PX


def test_an_untitled_small_mask_stands_alone_and_keeps_its_axis_titles():
    fig = mask_image(VIEWS["token"](), height=380)  # the explorer's zoom
    assert fig.layout.xaxis.title.text == STRINGS["fig.key"]["en"] and not fig.layout.annotations


@pytest.mark.parametrize("height", [320, 520])
def test_a_titled_mask_starts_its_title_below_the_mode_bar(height):
    # a phone shows the mode bar at all times, top right: Home's and the compare tab's titles ran under it
    from ui.figures import MODEBAR_PX

    fig = mask_image(VIEWS["token"](), LONG["en"], height=height, lang="en", nnz=1000)
    if height < COMPACT_HEIGHT:  # the title is an annotation above the plot: the margin holds the bar, then it
        lines = _shown_title(fig).count("<br>") + 1
        assert fig.layout.margin.t >= MODEBAR_PX + 18 * lines
    else:
        title = fig.layout.title
        assert title.yref == "container" and title.yanchor == "top" and title.pad.t >= MODEBAR_PX
