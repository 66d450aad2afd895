"""A text's token ids with the labels a person reads on the inspector's axes."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from html import escape
from typing import Any

from .models import LoadedModel
from .params import PatternError

DISPLAY_LIMIT = 256  # tokens the inspector draws and keeps maps for
MAX_DISPLAY_LIMIT = 512


@dataclass
class Tokens:
    """A text's token ids with the labels a person reads on the axes."""

    ids: list[int]
    labels: list[str]  # what a person reads on an axis: characters, never bytes; HTML-escaped
    truncated_chars: int  # characters of the input that did not fit
    total_tokens: int  # tokens the whole text would need (for the notice)
    limit: int
    hover: list[str] = field(default_factory=list)  # original text, token and id; HTML-escaped


# Joiners and selectors that belong inside an emoji sequence: shown as the emoji, not escaped
_KEEP_FORMAT = {0x200D, 0x20E3} | set(range(0xFE00, 0xFE10)) | set(range(0xE0020, 0xE0080))
_FORMAT_NAMES = {0x200D: "ZWJ", 0xFE0E: "VS15", 0xFE0F: "VS16", 0x20E3: "keycap"}


def _visible(piece: str) -> str:
    out = []
    for ch in piece:
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("⏎")
        elif ch == "\t":
            out.append("⇥")
        elif unicodedata.category(ch).startswith("C") and ord(ch) not in _KEEP_FORMAT:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    text = "".join(out)
    if text and all(ord(c) in _KEEP_FORMAT for c in text):  # a lone joiner would be invisible: name it
        text = "".join(f"⟨{_FORMAT_NAMES.get(ord(c), f'U+{ord(c):04X}')}⟩" for c in text)
    return text


def tokenize(lm: LoadedModel, text: str, limit: int = DISPLAY_LIMIT) -> Tokens:
    """Token ids, axis labels and hover texts for the first `limit` tokens of the text."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError("the text is empty: paste some text or pick an example")
    limit = max(2, min(limit, lm.info.max_tokens))
    # Tokenise a generous prefix only: 100,000 characters never reach the model anyway.
    head = text[: limit * 32]
    tok: Any = lm.tokenizer  # a transformers tokenizer; models.py types it as object
    enc = tok(head, return_offsets_mapping=True, truncation=True, max_length=limit, add_special_tokens=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    special = set(tok.all_special_ids)
    unk = tok.unk_token_id
    pieces = tok.convert_ids_to_tokens(ids)
    labels, hover, previous = [], [], None
    for tid, piece, (start, end) in zip(ids, pieces, offsets, strict=True):
        original = _visible(text[start:end])
        if tid in special and start == end:
            label = piece
        elif unk is not None and tid == unk:
            label = "[UNK]"  # the model saw [UNK], not these characters
        elif (start, end) == previous:
            label = "·" + original  # another byte of the same character
        elif isinstance(piece, str) and piece.startswith("##") and len(piece) > 2:
            label = "##" + original  # WordPiece continuation of the previous word
        else:
            label = original or "∅"
        previous = (start, end)
        labels.append(escape(label, quote=False))  # plotly reads tick text as HTML
        hover.append(escape(f"“{original}” · token {piece} · id {tid}", quote=False))
    covered = max((end for _, end in offsets), default=0)
    total = len(ids)
    if text[covered:].strip():  # something readable was cut: say how much
        total = len(tok(text[:200_000], add_special_tokens=True)["input_ids"])
    cut = len(text[covered:].rstrip()) if total > len(ids) else 0
    return Tokens(ids, labels, cut, total, limit, hover)
