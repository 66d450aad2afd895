"""`python -m sparse_core lab`: the Pattern Lab's table on the command line.

cli.py wires it with two lines: `lab_cli.add_lab_parser(sub)` in its parser and
`if args.command == "lab": return lab_cli.run_lab(args, extra)` in its dispatcher. Until then
`python -m sparse_core.lab_cli --model ... ` runs the same code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .params import PatternError

# the lab's limits, repeated here so that building cli.py's parser does not import torch (lab.py checks them)
DEFAULT_TOKENS, MAX_TOKENS, METHODS = 1024, 2048, ("auto", "sdpa", "blocks", "eager")

COLUMNS_TEXT = ["pattern", "budget", "solved", "value", "density", "flops_share", "mass_kept", "cosine",
                "ppl_dense", "ppl_sparse", "ppl_change", "agreement", "kl_changed", "cached"]  # fmt: skip


class LabUsageError(PatternError):
    """A bad command-line argument of the lab (a PatternError, so cli.py prints one line and exits 2)."""


def add_lab_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `lab` subcommand to cli.py's subparsers."""
    p = subparsers.add_parser(
        "lab", allow_abbrev=False, help="fit patterns to budgets and measure them on a model and a text"
    )
    p.add_argument("--model", default="smollm2", help="minilm, smollm2 (or a local folder where allowed)")
    p.add_argument("--text", required=True, help="a UTF-8 text file ('-' reads standard input)")
    p.add_argument("--patterns", default="window,streaming,bigbird", help="comma-separated pattern names")
    p.add_argument("--budgets", default="0.05,0.1", help="comma-separated densities, e.g. 0.05,0.1 or 5%%,10%%")
    p.add_argument("--max-tokens", default=str(DEFAULT_TOKENS), help=f"at most {MAX_TOKENS}")
    p.add_argument("--method", default="auto", choices=METHODS, help="how the sparse pass runs")
    p.add_argument("--json", action="store_true", help="print the table (and per-layer arrays) as JSON")
    p.add_argument("--csv", action="store_true", help="print the table as CSV")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return p


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    file = Path(path)
    if not file.is_file():
        raise LabUsageError(f"--text: no such file {path!r}")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise LabUsageError(f"--text: {path!r} is not UTF-8 text") from None
    except OSError as e:
        raise LabUsageError(f"--text: cannot read {path!r}: {e.strerror or e}") from None


def _max_tokens(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise LabUsageError(f"--max-tokens must be a whole number, got {text!r}") from None
    if not 2 <= value <= MAX_TOKENS:
        raise LabUsageError(f"--max-tokens must be between 2 and {MAX_TOKENS}, got {value}")
    return value


def run_lab(args: argparse.Namespace, extra: list[str] | tuple = ()) -> str:
    """Run the lab for parsed arguments and return what to print (`extra`: cli.py's unparsed arguments)."""
    from . import lab

    if extra:
        raise LabUsageError(f"unrecognised arguments: {' '.join(extra)}")
    text = _read_text(args.text)
    limit = _max_tokens(args.max_tokens)

    def progress(done: int, total: int, label: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    table = lab.run_lab(args.model, text, args.patterns, args.budgets, limit, progress=progress, method=args.method)
    if args.json:
        return lab.to_json(table)
    if args.csv:
        return table.to_csv(index=False).rstrip("\n")
    shown = table[[c for c in COLUMNS_TEXT if c in table.columns]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point with the same error handling as cli.py."""
    root = argparse.ArgumentParser(prog="python -m sparse_core", allow_abbrev=False)
    sub = root.add_subparsers(dest="command", required=True)
    add_lab_parser(sub)
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] != "lab":
        argv = ["lab", *argv]
    try:
        args = root.parse_args(argv)
        print(run_lab(args))
        return 0
    except PatternError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
