"""Byte sizes: parse what users type ("5GiB", "512M", "8e9") and print them readably."""

from __future__ import annotations

import re

from .errors import InvalidInputError

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)

GiB = 1024**3
MiB = 1024**2


def parse_size(text: str) -> int:
    """'5GiB' -> 5368709120. Decimal units (GB) are powers of 1000, binary (GiB) of 1024."""
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise InvalidInputError(
            f"cannot read the size {text!r}: write a number with an optional unit, e.g. 5GiB, 512MiB or 8GB"
        )
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: int | float) -> str:
    """Binary units, three significant figures: 1.50 GiB, 98.0 MiB, 512 B."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{int(value)} B" if unit == "B" else f"{_three_figures(value)} {unit}"
        value /= 1024
    return f"{_three_figures(value)} TiB"


def _three_figures(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
