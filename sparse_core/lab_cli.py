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
from .lab_args import (
    DEFAULT_TOKENS,
    MAX_TOKENS,
    METHODS,
    parse_budgets,
    parse_depths,
    parse_lengths,
    parse_patterns,
    parse_trials,
)
from .lab_price import LAB_BUDGET_ENV, LabBudget, price_memory, refuse_over_budget
from .params import PatternError

MEMORY_COLUMNS = ["label", "length", "depth", "density", "budget_met", "correct", "trials", "accuracy", "ci_low",
                  "ci_high", "decode_note"]  # fmt: skip
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
    p.add_argument("--text", default=None, help="a UTF-8 text file ('-' reads standard input); not with --task")
    p.add_argument(
        "--task",
        default=None,
        choices=["passkey", "multikey"],
        help="instead of a text: a retrieval grid (one row per pattern, budget, length and depth)",
    )
    p.add_argument("--lengths", default="1024", help="--task: prompt lengths in tokens, e.g. 1024,2048")
    p.add_argument("--depths", default="0.1,0.5,0.9", help="--task: needle depths, e.g. 0.1,0.5,0.9")
    p.add_argument("--trials", default="2", help="--task: seeded prompts per length and depth")
    p.add_argument("--lang", default="en", choices=["en", "zh"], help="--task: the language of the filler")
    p.add_argument("--seed", default="0", help="--task: the first trial's seed")
    p.add_argument("--no-dense", action="store_true", help="--task: leave out the dense arm")
    p.add_argument(
        "--linear-dtype",
        default="float32",
        choices=["float32", "bfloat16"],
        help="--task: the decoder's linear layers in bfloat16 (about 1.5x faster a grid on a CPU with native "
        "bfloat16; attention stays float32; every row says which)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="--task: run each (arm, length) cell as a task on an existing Ray cluster (default address: auto); "
        "needs pip install -e .[cluster]",
    )
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


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise LabUsageError(f"--seed must be a whole number, got {text!r}") from None
    if not 0 <= value < 2**31:
        raise LabUsageError(f"--seed must be between 0 and {2**31 - 1}, got {value}")
    return value


def _memory_request(args: argparse.Namespace) -> dict:
    """The retrieval grid's arguments, every one checked (no torch imported)."""
    if args.text is not None:
        raise LabUsageError("--task runs a retrieval grid on generated prompts: leave out --text")
    return {
        "model_key": _model(args.model),
        "task": args.task,
        "lengths": parse_lengths(args.lengths),
        "depths": parse_depths(args.depths),
        "trials": parse_trials(args.trials),
        "patterns": parse_patterns(args.patterns),
        "budgets": parse_budgets(args.budgets),
        "include_dense": not args.no_dense,
        "lang": args.lang,
        "seed": _seed(args.seed),
        "linear_dtype": args.linear_dtype,
    }


def _memory_text(rows: list[dict]) -> str:
    lines = ["\t".join(MEMORY_COLUMNS)]
    for r in rows:
        cells = []
        for c in MEMORY_COLUMNS:
            v = r.get(c)
            cells.append(f"{v:.4g}" if isinstance(v, float) else "" if v is None else str(v))
        lines.append("\t".join(cells))
    return "\n".join(lines)


def run_memory_cli(args: argparse.Namespace) -> str:
    """`lab --task ...`: price the grid (refused over the CPU budget), then run it and format its rows."""
    import json

    request = _memory_request(args)
    budget = _budget(args.cpu_budget)
    price = price_memory(
        request["model_key"],
        request["task"],
        request["lengths"],
        request["depths"],
        request["trials"],
        request["patterns"],
        request["budgets"],
        include_dense=request["include_dense"],
        budget=budget,
        linear_dtype=request["linear_dtype"],
    )
    refuse_over_budget(price, budget)
    if args.ray is not None:
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise LabUsageError("--ray needs the optional 'cluster' extra: pip install -e .[cluster] (it installs ray)")
    from . import memory_eval  # torch and transformers: only once every argument is known to be good

    ray = None if args.ray is None else memory_eval.connect_ray(None if args.ray == "auto" else args.ray)

    def progress(done: int, total: int, label: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {label}", file=sys.stderr, flush=True)

    result = memory_eval.run_memory(progress=progress, ray=ray, **request)
    if args.json:
        out = {
            "task": request["task"],
            "model": request["model_key"],
            "rows": result.rows,
            "cancelled": result.cancelled,
            "cpu_seconds": result.cpu_seconds,
            "price_cpu_seconds": price.cpu_seconds,
        }
        return json.dumps(out, ensure_ascii=False, default=float)
    if args.csv:
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(result.rows[0]) if result.rows else MEMORY_COLUMNS)
        writer.writeheader()
        writer.writerows(result.rows)
        return buf.getvalue().rstrip("\n")
    return _memory_text(result.rows)


def run_lab(args: argparse.Namespace, extra: list[str] | tuple = ()) -> str:
    """Run the lab for parsed arguments and return what to print (`extra`: cli.py's unparsed arguments)."""
    if extra:
        raise LabUsageError(f"unrecognised arguments: {' '.join(extra)}")
    if args.task is not None:
        return run_memory_cli(args)
    if args.text is None:
        raise LabUsageError("give --text FILE (a text to measure) or --task passkey|multikey (a retrieval grid)")
    if args.linear_dtype != "float32":  # the perplexity table compares with float32 runs and caches them so
        raise LabUsageError("--linear-dtype applies to a retrieval grid (--task); the text lab runs in float32")
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
