"""Command line: `sparse-attention list | stats | mask` (or `python -m sparse_core ...`).

Every bad argument ends in one line on stderr and exit code 2, never a traceback. Every request
is priced first (`limits.check_budget`) and refused with a message that says what to lower.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from . import lab_cli, limits, process, registry
from .analysis import block_layout, dense_mask
from .config import Config
from .explore import explore
from .params import PatternError

EXIT_USAGE = 2
EXIT_PIPE = 141  # what a shell reports for a tool killed by SIGPIPE (`list | head`)
ECHO_CHARS = 40  # user text echoed in a message is cut to this many characters
MAX_D_HEAD = 1 << 16


class UsageError(Exception):
    """A bad command line: printed as one line on stderr, exit code 2."""

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
        # --help is ours: after a pattern it also lists that pattern's options, generated from its ParamSpecs;
        # so the pattern and the required flags are checked in run(), not by argparse, which would refuse
        # `stats window --help` for its missing --n.
        p = sub.add_parser(name, allow_abbrev=False, add_help=False, help=what, description=what)
        p.add_argument("-h", "--help", action="store_true", help="this help; after a pattern, its own options too")
        p.add_argument("pattern", nargs="?", help="a pattern name (`list` shows them)")
        p.add_argument("--n", help="sequence length, 1 .. 1,048,576 (required)")
        p.add_argument("--causal", action="store_true")
        p.add_argument("--block-size", default="128")
        if name == "stats":
            p.add_argument("--d-head", default="64")
            p.add_argument("--json", action="store_true")
        else:
            p.add_argument("--out", help="a .npy, .csv or .png file (required)")
            p.add_argument("--blocks", action="store_true", help="write the block layout instead")
        COMMANDS[name] = p
    lab_cli.add_lab_parser(sub)
    return root


COMMANDS: dict[str, argparse.ArgumentParser] = {}


def pattern_help(definition: registry.PatternDef) -> str:
    """A pattern's own options, one line each, generated from its ParamSpecs (help, default, range, unit)."""
    lines = [f"pattern {definition.name}: {definition.title}. {definition.summary}"]
    if definition.reference:
        lines.append(f"reference: {definition.reference}")
    if definition.causal == "always":
        lines.append("always causal (--causal is implied)")
    lines.append("")
    lines.append(
        f"options of {definition.name}:" if definition.params else f"{definition.name} has no options of its own"
    )
    for p in definition.params:
        lines.append(
            f"  {p.flag} {p.name.upper()}  {p.help} Default {p.default:,}, range {p.minimum:,} .. {p.maximum:,}, "
            f"unit: {p.unit}."
        )
    return "\n".join(lines)


def _command_help(command: str, pattern: str | None) -> str:
    text = COMMANDS[command].format_help().rstrip()
    if pattern is None:
        return f"{text}\n\npatterns: {', '.join(registry.PATTERNS)}\n`{command} <pattern> --help` lists its options"
    if pattern not in registry.PATTERNS:
        raise UsageError(f"unknown pattern {_echo(pattern)}; choose one of: {', '.join(registry.PATTERNS)}")
    return f"{text}\n\n{pattern_help(registry.get(pattern))}"


def _echo(text: str) -> str:
    """User text as it may appear in a message: quoted, escaped, at most ECHO_CHARS characters."""
    return repr(limits.clip_text(text, ECHO_CHARS))


def _int_flag(flag: str, text: str, high: int, what: str = "") -> int:
    """A whole number in [1, high]; the range is part of every flag's contract."""
    stripped = text.strip().replace("_", "")
    if len(stripped) > ECHO_CHARS or not re.fullmatch(r"[+-]?[0-9]+", stripped):
        raise UsageError(f"{flag} must be a whole number, got {_echo(text)}")
    value = int(stripped)
    if value < 1:
        raise UsageError(f"{flag} must be at least 1, got {value:,}")
    if value > high:
        raise UsageError(f"{flag} = {value:,} is above the {what or 'allowed'} maximum of {high:,}")
    return value


def _value(flag: str, text: str) -> str:
    # Every valid parameter fits in a few digits; anything longer is refused before parsing.
    if not text.strip():
        raise UsageError(f"{flag} needs a value")
    if len(text) > ECHO_CHARS:
        raise UsageError(f"{flag} must be a number, got {_echo(text)}")
    return text


def _pattern_params(definition: registry.PatternDef, extra: list[str]) -> dict:
    flags = {p.flag: p for p in definition.params}
    values, i = {}, 0
    while i < len(extra):
        token = extra[i]
        flag, eq, inline = token.partition("=")
        if flag not in flags:
            known = ", ".join(flags) or "none"
            flag = limits.clip_text(flag, ECHO_CHARS)
            raise UsageError(f"unknown option {flag} for pattern '{definition.name}' (its options: {known})")
        if eq:
            values[flags[flag].name] = _value(flag, inline)
            i += 1
        elif i + 1 < len(extra):
            values[flags[flag].name] = _value(flag, extra[i + 1])
            i += 2
        else:
            raise UsageError(f"{flag} needs a value")
    return values


def _list(as_json: bool) -> str:
    rows: list[dict[str, Any]] = []
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
                        "unit": p.unit,
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


def _json_safe(value):
    """inf and nan are not JSON: an undefined ratio (nothing kept) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_bytes(mask: np.ndarray) -> bytes:
    """'0,1,...\n' per row, built as one byte array (np.savetxt formats each cell in Python: 10.9 s at 8,192)."""
    rows, cols = mask.shape
    text = np.full((rows, 2 * cols), ord(","), dtype=np.uint8)  # (rows, 2 cols): digit, comma, ..., digit, newline
    text[:, 0::2] = mask.view(np.uint8) + ord("0")
    text[:, -1] = ord("\n")
    return text.tobytes()


def _check_out(path: Path, side: int, budget: limits.Budget) -> None:
    """Refuse a bad --out path, or a CSV of more cells than the budget allows, before any mask is built."""
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv", ".png"):
        raise UsageError(f"--out must end in .npy, .csv or .png, got {_echo(path.name)}")
    if not path.parent.exists():
        raise UsageError(f"cannot write {_echo(str(path))}: folder {_echo(str(path.parent))} does not exist")
    if suffix == ".csv" and side > budget.csv_n:
        raise PatternError(
            f"a CSV of {side:,} × {side:,} cells is larger than this installation allows ({budget.csv_n:,} × "
            f"{budget.csv_n:,}): lower n, use --blocks with a larger --block-size, or write .npy or .png",
            "budget_csv_n",
            n=f"{side:,}",
            limit=f"{budget.csv_n:,}",
        )


def _write(path: Path, mask: np.ndarray) -> None:
    """Write exactly the path asked for (np.save would append .npy to 'm.NPY')."""
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".csv", ".png"):
        raise UsageError(f"--out must end in .npy, .csv or .png, got {_echo(path.name)}")
    if not path.parent.exists():
        raise UsageError(f"cannot write {_echo(str(path))}: folder {_echo(str(path.parent))} does not exist")
    try:
        with open(path, "wb") as f:
            if suffix == ".npy":
                np.save(f, mask)
            elif suffix == ".csv":
                f.write(_csv_bytes(mask))
            else:
                from PIL import Image

                # a 1-bit image (kept = black): n^2 / 8 bytes, where an int64 np.where held 8 n^2 (677 MB at 8,192)
                rows, cols = mask.shape
                bits = np.packbits(~mask, axis=1)  # (rows, ceil(cols / 8)) uint8
                Image.frombytes("1", (cols, rows), bits.tobytes()).save(f, format="PNG")
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot write {_echo(str(path))}: {getattr(e, 'strerror', None) or e}") from None


def run(argv: list[str]) -> str:
    """Run one command line and return what it prints; raises UsageError or PatternError."""
    args, extra = _parser().parse_known_args(argv)
    if args.command == "lab":
        return lab_cli.run_lab(args, extra)
    if args.command == "list":
        if extra:
            raise UsageError(f"unrecognised arguments: {_echo(' '.join(extra))}")
        return _list(args.json)
    if args.help:
        return _command_help(args.command, args.pattern)
    required = [("pattern", args.pattern), ("--n", args.n)]
    if args.command == "mask":
        required.append(("--out", args.out))
    missing = [flag for flag, value in required if value is None]
    if missing:
        raise UsageError(f"the following arguments are required: {', '.join(missing)}")
    if args.pattern not in registry.PATTERNS:
        raise UsageError(f"unknown pattern {_echo(args.pattern)}; choose one of: {', '.join(registry.PATTERNS)}")
    definition = registry.get(args.pattern)
    spec = registry.make(args.pattern, args.causal, **_pattern_params(definition, extra))
    budget = limits.current()
    n = _int_flag("--n", args.n, registry.MAX_N, "supported")
    if n > budget.max_n:
        raise UsageError(f"--n = {n:,} is above this installation's maximum of {budget.max_n:,}")
    block = _int_flag("--block-size", args.block_size, registry.MAX_N, "supported")
    if args.command == "stats":
        d_head = _int_flag("--d-head", args.d_head, MAX_D_HEAD)
        # the explorer's own call (issue 21: one engine call per question, for the page and the CLI alike):
        # it checks n and the budget, then counts exactly; the CLI prints its stats
        s = explore(Config([spec], n, "union", block, spec.causal), d_head).stats
        if args.json:
            body = {"pattern": spec.name, "causal": spec.causal, "params": spec.params, **s.to_dict()}
            return json.dumps({k: _json_safe(v) for k, v in body.items()}, indent=2, allow_nan=False)
        return _format_stats(s)
    expr = spec.expr()
    out = Path(args.out)
    _check_out(out, -(-n // block) if args.blocks else n, budget)
    if args.blocks:
        limits.check_budget(expr, n, block, budget, what="layout")
        mask = block_layout(expr, n, block, priced=True).dense()
    else:
        limits.check_budget(expr, n, block, budget, what="dense")
        mask = dense_mask(expr, n)
    _write(out, mask)
    kind = "block layout" if args.blocks else "mask"
    return f"wrote {kind} {mask.shape[0]}×{mask.shape[1]} ({int(mask.sum()):,} kept) to {out}"


def _one_line(message: str) -> str:
    """One line, and no quoted user text longer than ECHO_CHARS (argparse echoes values whole)."""
    message = re.sub(rf"'([^']{{{ECHO_CHARS + 1},}})'", lambda m: _echo(m.group(1)), message)
    message = re.sub(rf"\d{{{ECHO_CHARS + 1},}}", lambda m: limits.clip_text(m.group(0), ECHO_CHARS), message)
    return " ".join(message.split())


def _quiet_stdout() -> None:
    # The reader went away: point stdout at /dev/null so the interpreter's final flush is silent.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad request, 141 reader closed the pipe)."""
    process.calibrated()  # one BLAS thread, no huge pages: as the budget was measured
    try:
        text = run(sys.argv[1:] if argv is None else argv)
    except (UsageError, PatternError, OverflowError) as e:
        print(f"error: {_one_line(str(e))}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: not enough memory for this request; use a smaller n or --blocks", file=sys.stderr)
        return EXIT_USAGE
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_PIPE
    return 0
