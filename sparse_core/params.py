"""Typed parameter specs: what a UI or the CLI needs to render and validate any pattern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# What a parameter's number counts.
# - tokens: a length along the sequence or a number of tokens tied to it (a window, a block size, a
#   stride, sinks, kept columns); a shorter text shrinks these, so "scale to n" halves them together.
# - blocks: a number of blocks (BigBird's window blocks, NSA's selected blocks); kept when scaling,
#   since the block size already scales.
# - gap: a distance between kept keys that does not change how many are kept (a dilation).
# - count: anything else counted (random keys per query, buckets, clusters, rounds, iterations).
# - seed: a random seed.
UNITS = ("tokens", "blocks", "gap", "count", "seed")


class PatternError(ValueError):
    """A user-facing problem with a pattern or its parameters.

    The message is plain English for the CLI and notebooks. `code` and `fields` let an app show
    the same message in another language: it looks up `err.<code>` and fills in the fields.
    """

    def __init__(self, message: str, code: str | None = None, **fields: Any):
        super().__init__(message)
        self.code = code
        self.fields = fields


@dataclass(frozen=True)
class ParamSpec:
    """One typed parameter of a pattern: default, range, unit and English help, rendered by any UI."""

    name: str
    kind: type  # int or float
    default: Any
    minimum: Any
    maximum: Any
    help: str
    unit: str  # one of UNITS: what the number counts; `scale.scale_to_n` halves the "tokens" ones
    log_scale: bool = False

    def __post_init__(self) -> None:
        # A parameter without a known unit would silently escape scaling and the CLI's help.
        if self.unit not in UNITS:
            raise ValueError(f"parameter '{self.name}' has unit {self.unit!r}; use one of {', '.join(UNITS)}")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def coerce(self, value: Any) -> Any:
        """Parse and range-check one value; raises PatternError with a message for people."""
        if isinstance(value, bool):
            raise PatternError(
                f"{self.name} must be a number, got {value!r}", "not_number", name=self.name, value=repr(value)
            )
        parsed: int | float
        try:
            if self.kind is int:
                as_float = float(value)
                if not as_float.is_integer():
                    raise ValueError
                parsed = int(as_float)
            else:
                parsed = float(value)
        except (TypeError, ValueError, OverflowError):
            kind = "a whole number" if self.kind is int else "a number"
            code = "not_whole" if self.kind is int else "not_number"
            raise PatternError(
                f"{self.name} must be {kind}, got {value!r}", code, name=self.name, value=repr(value)
            ) from None
        if not (self.minimum <= parsed <= self.maximum):
            raise PatternError(
                f"{self.name} must be between {self.minimum} and {self.maximum}, got {parsed}",
                "out_of_range",
                name=self.name,
                low=self.minimum,
                high=self.maximum,
                value=parsed,
            )
        return parsed


def P(  # noqa: N802
    name: str,
    kind: type,
    default: Any,
    minimum: Any,
    maximum: Any,
    help: str,  # noqa: A002
    log_scale: bool = False,
    *,
    unit: str,
) -> ParamSpec:
    """Short constructor that keeps the registry's definitions on one line each; the unit is required."""
    return ParamSpec(name, kind, default, minimum, maximum, help, unit, log_scale)
