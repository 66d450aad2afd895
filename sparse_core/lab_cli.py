"""`python -m sparse_core lab`: the Pattern Lab's table on the command line.

cli.py wires it with two lines: `lab_cli.add_lab_parser(sub)` in its parser and
`if args.command == "lab": return lab_cli.run_lab(args, extra)` in its dispatcher;
`python -m sparse_core.lab_cli --model ... ` runs the same code.

Every argument (text file, model, patterns, budgets, token count, CPU budget) is checked before
torch is imported: an argument error answers in a fraction of a second instead of the 2.4 s and
300 MB that importing torch and transformers costs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import models
from .lab_args import DEFAULT_TOKENS, MAX_TOKENS, METHODS, parse_budgets, parse_patterns
from .lab_price import LAB_BUDGET_ENV, LabBudget
from .params import PatternError

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
    p.add_argument(
        "--cpu-budget",
        default=None,
        help=f"refuse a run predicted to take more CPU seconds than this (default: {LAB_BUDGET_ENV} or "
        f"{LabBudget().cpu_seconds:g}); 'inf' for no limit",
    )
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


def _budget(text: str | None) -> LabBudget:
    if text is None:
        return LabBudget.from_env()
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise LabUsageError(f"--cpu-budget must be a positive number of seconds (or inf), got {text!r}")
    return LabBudget(value)


def _model(key: str) -> str:
    if key not in models.MODELS and not models.local_models_allowed():
        raise LabUsageError(
            f"--model: {key!r} is not one of {', '.join(models.MODELS)}; local folders need {models.ALLOW_LOCAL_ENV}=1"
        )
    return key


def run_lab(args: argparse.Namespace, extra: list[str] | tuple = ()) -> str:
    """Run the lab for parsed arguments and return what to print (`extra`: cli.py's unparsed arguments)."""
    if extra:
        raise LabUsageError(f"unrecognised arguments: {' '.join(extra)}")
    text = _read_text(args.text)
    limit = _max_tokens(args.max_tokens)
    model = _model(args.model)
    patterns, budgets = parse_patterns(args.patterns), parse_budgets(args.budgets)
    budget = _budget(args.cpu_budget)
    from . import lab  # torch and transformers: only once every argument is known to be good

    def progress(done: int, total: int, label: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    table = lab.run_lab(model, text, patterns, budgets, limit, progress=progress, method=args.method, budget=budget)
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
