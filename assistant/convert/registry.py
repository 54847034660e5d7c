"""Converters the model store can run at set-up, by the name a catalog source gives
(``convert = "darknet"``): each takes the source's files, in the catalog's order, and the path to write."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import CatalogError

Converter = Callable[[list[Path], Path], None]


def _darknet(inputs: list[Path], out: Path) -> None:
    from .darknet import convert

    cfg, weights, names = inputs
    convert(cfg, weights, names, out)


def _efficientnet_lite(inputs: list[Path], out: Path) -> None:
    from .efficientnet import convert

    checkpoint, names = inputs
    convert(checkpoint, names, out)


CONVERTERS: dict[str, Converter] = {"darknet": _darknet, "efficientnet-lite": _efficientnet_lite}


def converter(name: str) -> Converter:
    try:
        return CONVERTERS[name]
    except KeyError:
        raise CatalogError(f"the catalog names an unknown converter {name!r} (known: {', '.join(CONVERTERS)})") from None
