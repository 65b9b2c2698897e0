"""Kubernetes resource quantities (`100m`, `200Mi`, `1.5`, `2e3`): parse to an exact number and
format back in Kubernetes' canonical style, so CPU requests and HPA averages read as kubectl shows
them. Exact arithmetic with `Fraction`: `0.1` CPU is 100m, never 99.99999m.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

# apimachinery's own pattern, quoted in its error message.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_ERROR = f"quantities must match the regular expression '{QUANTITY_PATTERN}'"
_RE = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][-+]?[0-9]+)?$"
)

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}


def parse(text: str | int | float) -> Fraction:
    """The exact value of a quantity; ValueError with apimachinery's message when malformed."""
    if isinstance(text, bool):
        raise ValueError(QUANTITY_ERROR)
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ValueError(QUANTITY_ERROR)
        return Fraction(str(text))
    m = _RE.match(text.strip() if isinstance(text, str) else "")
    if not m or text != text.strip():
        raise ValueError(QUANTITY_ERROR)
    number, suffix = Fraction(m.group(1)), m.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * Fraction(10) ** int(suffix[1:])


def format_decimal(value: Fraction | int | float) -> str:
    """Canonical decimal form (`100m`, `1`, `1500m`, `2k`, `250u`); rounds up to nanos as
    Kubernetes does."""
    v = Fraction(value) if not isinstance(value, Fraction) else value
    sign = "-" if v < 0 else ""
    v = abs(v)
    nanos = math.ceil(v * 10**9)
    if nanos == 0:
        return "0"
    for suffix, scale in (
        ("E", 27),
        ("P", 24),
        ("T", 21),
        ("G", 18),
        ("M", 15),
        ("k", 12),
        ("", 9),
    ):
        if nanos % 10**scale == 0:
            return f"{sign}{nanos // 10**scale}{suffix}"
    for suffix, scale in (("m", 6), ("u", 3), ("n", 0)):
        if nanos % 10**scale == 0:
            return f"{sign}{nanos // 10**scale}{suffix}"
    return f"{sign}{nanos}n"  # unreachable: nanos % 1 == 0


def format_binary(value: Fraction | int) -> str:
    """Binary form for byte counts (`52Mi`, `1Gi`, `1500`): the largest exact binary suffix."""
    v = Fraction(value)
    if v.denominator != 1:
        return format_decimal(v)
    n = int(v)
    if n == 0:
        return "0"
    for suffix, mult in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
        if n % mult == 0:
            return f"{n // mult}{suffix}"
    return str(n)


def milli(text: str | int | float) -> int:
    """The value in thousandths, rounded up (`MilliValue()`): CPU `1` is 1000."""
    return math.ceil(parse(text) * 1000)
