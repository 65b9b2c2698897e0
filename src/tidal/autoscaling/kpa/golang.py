"""Go's `strconv` parsers and `%v` float printing, so that what tidal accepts and the messages it
prints match Knative's (which parses annotations and ConfigMap values with these)."""

from __future__ import annotations

import math
import re
from decimal import Decimal

_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.I)
_INT = re.compile(r"[+-]?\d+")


def quote(s: str) -> str:
    """Go's `%q` for plain strings."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_float(s: str) -> float:
    """`strconv.ParseFloat(s, 64)`; ValueError with Go's message (syntax or range)."""
    if not _FLOAT.fullmatch(s):
        raise ValueError(f"strconv.ParseFloat: parsing {quote(s)}: invalid syntax")
    f = float(s)
    if math.isinf(f) and "inf" not in s.lower():
        raise ValueError(f"strconv.ParseFloat: parsing {quote(s)}: value out of range")
    return f


class RangeError(ValueError):
    """strconv.ErrRange: the digits are fine, the value does not fit."""


def parse_int(s: str, bits: int = 64) -> int:
    """`strconv.ParseInt(s, 10, bits)`."""
    if not _INT.fullmatch(s):
        raise ValueError(f"strconv.ParseInt: parsing {quote(s)}: invalid syntax")
    i = int(s)
    lim = 1 << (bits - 1)
    if not -lim <= i < lim:
        raise RangeError(f"strconv.ParseInt: parsing {quote(s)}: value out of range")
    return i


def parse_int32(s: str) -> int:
    return parse_int(s, 32)


def atoi(s: str) -> int:
    """`strconv.Atoi` (64-bit int)."""
    try:
        return parse_int(s, 64)
    except ValueError as err:
        raise ValueError(str(err).replace("ParseInt", "Atoi")) from None


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(s: str) -> bool:
    """`strconv.ParseBool`."""
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {quote(s)}: invalid syntax")


def format_float_v(f: float) -> str:
    """Go's `%v` for a float64: the shortest digits that round-trip, in `%e` form when the
    decimal exponent is below -4 or at least 6 (`1e+06`, `0.01`, `1.001`)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    sign, digits_t, exp = Decimal(repr(f)).as_tuple()
    digits = list(digits_t)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1  # type: ignore[operator]
    nd = len(digits)
    dp = nd + int(exp)  # position of the decimal point
    x = dp - 1
    s = "-" if sign else ""
    ds = "".join(map(str, digits))
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{s}{mant}e{'+' if x >= 0 else '-'}{abs(x):02d}"
    if dp <= 0:
        return f"{s}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return f"{s}{ds}{'0' * (dp - nd)}"
    return f"{s}{ds[:dp]}.{ds[dp:]}"
