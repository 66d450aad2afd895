"""Text that came from a user or a URL, made safe to show: it renders as itself, never as markup."""

from __future__ import annotations

import html
import re

# Every ASCII punctuation mark that Markdown (CommonMark, GFM autolinks, Streamlit's :color[] and
# $math$ directives) or HTML gives a meaning to. CommonMark renders a backslash-escaped
# punctuation mark as the mark itself, so escaping changes nothing that a reader sees. Commas,
# quotes, '/', '?', '%' and ';' mean nothing alone and stay as they are, so messages stay searchable.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=@^])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
# GitHub-flavoured autolinks (http://…, www.…, a@b.c) are found in the text *after* escapes are
# resolved, so a backslash does not stop them; an invisible word joiner inside the marker does.
_AUTOLINK = re.compile(r"(://|(?<![^\W_])www(?=\.)|@)", re.IGNORECASE)
JOINER = "\u2060"
LIMIT = 300


def clip(text: str, limit: int = LIMIT) -> str:
    """At most `limit` characters: a 5,000-digit value is shown by its start, with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: object, limit: int = LIMIT) -> str:
    """`text` escaped for Markdown and HTML on one line, clipped: a link, image or tag shows as its characters."""
    one_line = _CONTROL.sub(" ", clip(str(text), limit))
    unlinked = _AUTOLINK.sub(lambda m: m.group(1)[0] + JOINER + m.group(1)[1:], one_line)
    return _MARKDOWN.sub(r"\\\1", unlinked)


def plain_html(text: object, limit: int = LIMIT) -> str:
    """`text` escaped for HTML contexts such as Plotly titles and hover labels."""
    return html.escape(_CONTROL.sub(" ", clip(str(text), limit)), quote=True)
