"""What the detectors found, as sentences: small text-only models answer questions about an
image well when its contents are written as plain language, and badly from raw detector dumps.

The stack runs every detector that is installed: the image label (EfficientNet-Lite0), objects
(YOLOv3-tiny, COCO), faces (BlazeFace) and text (PP-OCRv4). A detector whose model is not
installed is skipped and named in ``missing``, so a request still gets what the others see."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from .detect import Detection
from .label import Label
from .ocr import TextLine

# A label is said only when the classifier is this sure of it (or of its group, e.g. "cat",
# summed over the cat breeds): below it, ImageNet's closest class is often a wrong guess
# (skimage's astronaut comes out as "bobsleigh", 29 %).
LABEL_CONFIDENCE = 0.3
# ImageNet has no class for people: a photo of a person gets the label of what they wear or hold
# (the astronaut: "bobsleigh", 33 %), so with people in view a label needs more confidence.
LABEL_CONFIDENCE_WITH_PEOPLE = 0.6
PLURALS = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis",
           "scissors": "scissors", "bus": "buses", "wine glass": "wine glasses", "couch": "couches",
           "toothbrush": "toothbrushes", "bench": "benches", "sandwich": "sandwiches", "glass": "glasses"}
NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def plural(word: str, count: int) -> str:
    if count == 1:
        return word
    return PLURALS.get(word, word + "s")


def counted(word: str, count: int) -> str:
    number = NUMBERS[count] if count < len(NUMBERS) else str(count)
    return f"{number} {plural(word, count)}"


def what_it_looks_like(labels: tuple[Label, ...], people: bool = False) -> str | None:
    """The everyday name when the classifier is sure enough: the group ("a cat") with its likeliest
    breeds, or the class itself ("an espresso")."""
    groups: dict[str, float] = {}
    for label in labels:
        if label.group:
            groups[label.group] = groups.get(label.group, 0.0) + label.probability
    if groups:
        group, p = max(groups.items(), key=lambda kv: kv[1])
        if p >= LABEL_CONFIDENCE:
            kinds = [lb.name for lb in labels if lb.group == group][:2]
            return f"a {group} ({' or '.join(kinds)})"
    best = labels[0] if labels else None
    if best is not None and best.probability >= (LABEL_CONFIDENCE_WITH_PEOPLE if people else LABEL_CONFIDENCE):
        return ("an " if best.name[:1].lower() in "aeiou" else "a ") + best.name
    return None


@dataclass(frozen=True)
class ImageReport:
    text: tuple[TextLine, ...] = field(default=())
    size: tuple[int, int] = (0, 0)
    objects: tuple[Detection, ...] = field(default=())
    faces: tuple[Detection, ...] = field(default=())
    labels: tuple[Label, ...] = field(default=())
    missing: tuple[str, ...] = field(default=())  # detectors that are not installed
    seconds: dict = field(default_factory=dict, compare=False)  # detector that ran -> its run time

    def object_counts(self) -> Counter:
        counts = Counter(d.label for d in self.objects)
        # a face is a person the detector may have missed (close-ups)
        if self.faces and counts.get("person", 0) < len(self.faces):
            counts["person"] = len(self.faces)
        return counts

    def sentence(self, index: int = 1, count: int = 1, subject: str | None = None) -> str:
        which = subject or ("The attached image" if count == 1 else f"Attached image {index}")
        parts = []
        counts = self.object_counts()
        looks = what_it_looks_like(self.labels, people="person" in counts)
        if looks:
            parts.append(f"looks like {looks}")
        if counts:
            things = [counted(label, n) for label, n in counts.most_common()]
            shown = ", ".join(things[:-1]) + (" and " if len(things) > 1 else "") + things[-1]
            parts.append(f"shows {shown}")
        if self.faces:
            parts.append(f"has {counted('face', len(self.faces))} in view")
        if self.text:
            quoted = " / ".join(line.text for line in self.text)
            parts.append(f'has the words "{quoted}" written in it')
        if not parts:
            return f"[{which} has nothing in it that the vision stage recognises.]"
        if "person" not in counts and {"objects", "faces"} & set(self.seconds):  # only when they looked
            parts.append("has no people in it")  # said outright: "is anyone there?" is a common question
        body = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        return f"[{which} {body}.]"

    def to_document(self) -> dict:
        return {"width": self.size[0], "height": self.size[1],
                "labels": [lb.to_document() for lb in self.labels],
                "objects": [d.to_document() for d in self.objects],
                "faces": [d.to_document() for d in self.faces],
                "text": [{"text": t.text, "confidence": round(t.confidence, 3), "box": [list(p) for p in t.box]}
                         for t in self.text],
                "missing": list(self.missing),
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}


class VisionStack:
    """The detectors of one process, loaded on first use and shared."""

    def __init__(self, *, ocr: bool = True, objects: bool = True, faces: bool = True, labels: bool = True) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, object] = {}
        self.enabled = {"ocr": ocr, "objects": objects, "faces": faces, "labels": labels}

    def _get(self, name: str, make):
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = make()
            return self._loaded[name]

    def ocr(self):
        from .ocr import Ocr

        return self._get("ocr", Ocr)

    def detector(self, name: str):
        """The loaded detector for objects/faces/labels, or None when its model is not installed."""
        from . import models

        if name in self._loaded:  # no file lookups per request once it is loaded
            return self._loaded[name]
        path = models.installed_path(models.KIND_OF[name])
        if path is None:
            return None
        return self._get(name, lambda: models.load(name, path))

    def report(self, image) -> ImageReport:
        found: dict[str, tuple] = {}
        seconds: dict[str, float] = {}
        missing = []
        for name, method in (("labels", "classify"), ("objects", "detect"), ("faces", "detect")):
            if not self.enabled[name]:
                continue
            detector = self.detector(name)
            if detector is None:
                missing.append(name)
                continue
            start = time.perf_counter()
            found[name] = tuple(getattr(detector, method)(image))
            seconds[name] = time.perf_counter() - start
        text: tuple = ()
        if self.enabled["ocr"]:
            start = time.perf_counter()
            text = tuple(self.ocr().read(image))
            seconds["ocr"] = time.perf_counter() - start
        return ImageReport(text, image.size, found.get("objects", ()), found.get("faces", ()), found.get("labels", ()),
                           tuple(missing), seconds)
