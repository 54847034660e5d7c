"""Peak memory bandwidth of known devices, for decode-speed estimates (a decode step reads every
weight once, so tokens/s is bounded by bandwidth / bytes read per token).

Figures are vendor data-sheet peaks in GB/s. Unknown devices get None, and the picker then makes
no speed claim rather than a guess.
"""

from __future__ import annotations

import re

# Regex on the GPU name -> GB/s. First match wins, so specific names come first.
GPU_BANDWIDTH_GBPS: tuple[tuple[str, float], ...] = (
    (r"H200", 4800.0), (r"H100.*(SXM|HBM3)", 3350.0), (r"H100.*PCIe|H100", 2000.0),
    (r"A100.*80GB", 2039.0), (r"A100", 1555.0), (r"L40S?", 864.0), (r"L4\b", 300.0),
    (r"RTX 5090", 1792.0), (r"RTX 5080", 960.0), (r"RTX 5070 Ti", 896.0), (r"RTX 5070", 672.0),
    (r"RTX 4090", 1008.0), (r"RTX 4080 SUPER", 736.0), (r"RTX 4080", 717.0),
    (r"RTX 4070 Ti SUPER", 672.0), (r"RTX 4070 Ti", 504.0), (r"RTX 4070", 504.0),
    (r"RTX 4060 Ti", 288.0), (r"RTX 4060", 272.0),
    (r"RTX 3090", 936.0), (r"RTX 3080", 760.0), (r"RTX 3070", 448.0), (r"RTX 3060 Ti", 448.0),
    (r"RTX 3060", 360.0), (r"RTX 2080 SUPER", 496.0), (r"RTX 2080 Ti", 616.0), (r"RTX 2080", 448.0),
    (r"RTX 2070", 448.0), (r"RTX 2060", 336.0), (r"Tesla T4|\bT4\b", 320.0), (r"P100", 732.0),
    (r"V100", 900.0), (r"GB10", 273.0),
)

# Regex on the board / CPU name -> GB/s, for boards whose memory is fixed by the design.
BOARD_BANDWIDTH_GBPS: tuple[tuple[str, float], ...] = (
    (r"Raspberry Pi 5", 17.1),  # LPDDR4X-4267, 32-bit
    (r"Raspberry Pi 4", 12.8),  # LPDDR4-3200, 32-bit
    (r"Snapdragon.*X1E|X Elite", 135.0),  # LPDDR5X-8448, 128-bit
    (r"Ryzen AI 9 HX", 120.0),  # LPDDR5X-7500, 128-bit
    (r"Core.*Ultra.*2\d\dV", 136.5),  # Lunar Lake, on-package LPDDR5X-8533
    (r"Core.*Ultra", 120.0),  # Meteor/Arrow Lake with LPDDR5X-7467
)


def lookup(name: str | None, table: tuple[tuple[str, float], ...]) -> int | None:
    if not name:
        return None
    for pattern, gbps in table:
        if re.search(pattern, name, re.IGNORECASE):
            return int(gbps * 1e9)
    return None


def gpu_bandwidth(name: str | None) -> int | None:
    return lookup(name, GPU_BANDWIDTH_GBPS)


def board_bandwidth(name: str | None) -> int | None:
    return lookup(name, BOARD_BANDWIDTH_GBPS)
