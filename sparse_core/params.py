"""Typed parameter specs: what a UI or the CLI needs to render and validate any pattern."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class PatternError(ValueError):
    """A user-facing problem with a pattern or its parameters; the message is shown as is."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    kind: type  # int or float
    default: Any
    minimum: Any
    maximum: Any
    help_en: str
    help_zh: str
    log_scale: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def help(self, lang: str = "en") -> str:
        return self.help_zh if lang == "zh" else self.help_en

    def coerce(self, value: Any) -> Any:
        """Parse and range-check one value; raises PatternError with a message for people."""
        if isinstance(value, bool):
            raise PatternError(f"{self.name} must be a number, got {value!r}")
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
            raise PatternError(f"{self.name} must be {kind}, got {value!r}") from None
        if not (self.minimum <= parsed <= self.maximum):
            raise PatternError(
                f"{self.name} must be between {self.minimum} and {self.maximum}, got {parsed}"
            )
        return parsed


def P(name, kind, default, minimum, maximum, en, zh, log_scale=False) -> ParamSpec:  # noqa: N802
    return ParamSpec(name, kind, default, minimum, maximum, en, zh, log_scale)
