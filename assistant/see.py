"""`assistant see IMAGE [QUESTION]`: what the vision stage finds in an image, put as sentences in
front of the question, answered by the local LLM."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import AssistantError, InvalidInputError

DEFAULT_QUESTION = "What is in this image?"
SYSTEM_PROMPT = "You are a helpful assistant. Answer questions about the attached image in one or two sentences."


@dataclass(frozen=True)
class SeeResult:
    question: str
    answer: str
    report: object | None  # ImageReport; None when the model saw the image itself
    native: bool = False

    def to_document(self) -> dict:
        doc = {"question": self.question, "answer": self.answer, "seen_by": "model" if self.native else "vision stage"}
        if self.report is not None:
            doc.update(image=self.report.to_document(), described_as=self.report.sentence())
        return doc


def see(image_path: Path, question: str | None, *, model: str | None = None, context: int = 2048,
        threads: int | None = None, temperature: float = 0.0, max_tokens: int = 128,
        mmproj: Path | None = None) -> SeeResult:
    """A model with a vision projector sees the image itself; any other gets the vision stage's
    description of it."""
    from .runtimes.base import GenerationRequest, SamplingParams
    from .serve import load_single_engine
    from .vision.bridge import VisionStack
    from .vision.images import MAX_IMAGE_BYTES, decode_image, encode_png

    try:
        data = image_path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {image_path}: {exc.strerror}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInputError(f"{image_path} is {len(data):,} bytes; the limit is {MAX_IMAGE_BYTES:,}")
    image = decode_image(data, str(image_path))
    question = question or DEFAULT_QUESTION
    engine = load_single_engine(model, context, threads, mmproj)
    try:
        sampling = SamplingParams(temperature=temperature)
        if getattr(engine, "sees_images", False):
            report = None
            messages = [{"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": f"{engine.media_marker}\n{question}"}]
            request = GenerationRequest((), max_tokens, sampling=sampling,
                                        media=engine.media_prompt(messages, [encode_png(image)]))
        else:
            report = VisionStack().report(image)
            messages = [{"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": f"{report.sentence()}\n{question}"}]
            request = GenerationRequest(tuple(engine.chat_prompt_tokens(messages)), max_tokens, sampling=sampling)
        chunks = list(engine.submit(request))
    finally:
        engine.close()
    if chunks[-1].error:
        raise AssistantError(f"the language model failed: {chunks[-1].error}")
    return SeeResult(question, "".join(c.text for c in chunks).strip(), report, native=report is None)
