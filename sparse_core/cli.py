"""Command line: `python -m sparse_core list | stats | mask`.

Every bad argument ends in one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import registry
from .analysis import block_layout, dense_mask
from .cost import stats
from .params import PatternError

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit; we want one clear line
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog="python -m sparse_core", allow_abbrev=False, description="Sparse attention patterns: stats and masks."
    )
    sub = root.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # no abbreviations: "--block" is a pattern flag, not a prefix of "--block-size"
    ls = sub.add_parser("list", allow_abbrev=False, help="patterns and their parameters")
    ls.add_argument("--json", action="store_true")
    for name in ("stats", "mask"):
        what = "exact statistics" if name == "stats" else "write the mask to a file"
        p = sub.add_parser(name, allow_abbrev=False, help=what)
        p.add_argument("pattern")
        p.add_argument("--n", required=True)
        p.add_argument("--causal", action="store_true")
        p.add_argument("--block-size", default="128")
        if name == "stats":
            p.add_argument("--d-head", default="64")
            p.add_argument("--json", action="store_true")
        else:
            p.add_argument("--out", required=True)
            p.add_argument("--blocks", action="store_true", help="write the block layout instead")
    return root


def _positive_int(flag: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{flag} must be a whole number, got {text!r}") from None
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value}")
    return value


def _pattern_params(definition: registry.PatternDef, extra: list[str]) -> dict:
    flags = {p.flag: p for p in definition.params}
    values, i = {}, 0
    while i < len(extra):
        token = extra[i]
        flag, _, inline = token.partition("=")
        if flag not in flags:
            known = ", ".join(flags) or "none"
            raise UsageError(f"unknown option {flag} for pattern '{definition.name}' (its options: {known})")
        if inline:
            values[flags[flag].name] = inline
            i += 1
        elif i + 1 < len(extra):
            values[flags[flag].name] = extra[i + 1]
            i += 2
        else:
            raise UsageError(f"{flag} needs a value")
    return values


def _list(as_json: bool) -> str:
    rows = []
    for d in registry.PATTERNS.values():
        rows.append(
            {
                "name": d.name,
                "family": d.family,
                "title": d.title,
                "complexity": d.complexity,
                "causal": d.causal,
                "data_dependent": d.data_dependent,
                "reference": d.reference,
                "params": [
                    {
                        "name": p.name,
                        "flag": p.flag,
                        "type": p.kind.__name__,
                        "default": p.default,
                        "min": p.minimum,
                        "max": p.maximum,
                        "help": p.help,
                    }
                    for p in d.params
                ],
            }
        )
    if as_json:
        return json.dumps(rows, indent=2, ensure_ascii=False)
    lines = []
    for r in rows:
        params = " ".join(f"{p['flag']} {p['default']}" for p in r["params"])
        lines.append(f"{r['name']:15s} {r['complexity']:24s} {params}")
    return "\n".join(lines)


def _format_stats(s) -> str:
    d = s.to_dict()
    width = max(map(len, d))
    return "\n".join(
        f"{k:{width}s}  {v:,.6g}"
        if isinstance(v, float)
        else f"{k:{width}s}  {v:,}"
        if isinstance(v, int) and not isinstance(v, bool)
        else f"{k:{width}s}  {v}"
        for k, v in d.items()
    )


def _write(path: Path, mask: np.ndarray) -> None:
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv", ".png"):
        raise UsageError(f"--out must end in .npy, .csv or .png, got {path.name!r}")
    if not path.parent.exists():
        raise UsageError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        if suffix == ".npy":
            np.save(path, mask)
        elif suffix == ".csv":
            np.savetxt(path, mask.astype(np.uint8), fmt="%d", delimiter=",")
        else:
            from PIL import Image

            Image.fromarray(np.where(mask, 0, 255).astype(np.uint8)).save(path)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def run(argv: list[str]) -> str:
    args, extra = _parser().parse_known_args(argv)
    if args.command == "list":
        if extra:
            raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
        return _list(args.json)
    definition = registry.get(args.pattern)
    spec = registry.make(args.pattern, args.causal, **_pattern_params(definition, extra))
    n = _positive_int("--n", args.n)
    block = _positive_int("--block-size", args.block_size)
    expr = spec.expr()
    if args.command == "stats":
        s = stats(expr, n, block, _positive_int("--d-head", args.d_head))
        if args.json:
            return json.dumps(
                {"pattern": spec.name, "causal": spec.causal, "params": spec.params, **s.to_dict()}, indent=2
            )
        return _format_stats(s)
    mask = block_layout(expr, n, block).dense() if args.blocks else dense_mask(expr, n)
    _write(Path(args.out), mask)
    kind = "block layout" if args.blocks else "mask"
    return f"wrote {kind} {mask.shape[0]}×{mask.shape[1]} ({int(mask.sum()):,} kept) to {args.out}"


def main(argv: list[str] | None = None) -> int:
    try:
        print(run(sys.argv[1:] if argv is None else argv))
        return 0
    except (UsageError, PatternError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: not enough memory for this request; use a smaller n or --blocks", file=sys.stderr)
        return EXIT_USAGE
