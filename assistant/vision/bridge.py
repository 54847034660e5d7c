"""What the detectors found, as sentences: small text-only models answer questions about an
image well when its contents are written as plain language, and badly from raw detector dumps."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .ocr import Ocr, TextLine


@dataclass(frozen=True)
class ImageReport:
    text: tuple[TextLine, ...] = field(default=())
    size: tuple[int, int] = (0, 0)

    def sentence(self, index: int = 1, count: int = 1) -> str:
        which = "The attached image" if count == 1 else f"Attached image {index}"
        if self.text:
            quoted = " / ".join(line.text for line in self.text)
            return f'[{which} shows this text: "{quoted}".]'
        return f"[{which} has no readable text in it.]"

    def to_document(self) -> dict:
        return {"width": self.size[0], "height": self.size[1],
                "text": [{"text": t.text, "confidence": round(t.confidence, 3), "box": [list(p) for p in t.box]}
                         for t in self.text]}


class VisionStack:
    """The detectors of one process, loaded on first use and shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ocr: Ocr | None = None

    def ocr(self) -> Ocr:
        with self._lock:
            if self._ocr is None:
                self._ocr = Ocr()
            return self._ocr

    def report(self, image) -> ImageReport:
        return ImageReport(tuple(self.ocr().read(image)), image.size)
