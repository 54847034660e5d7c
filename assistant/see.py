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
    report: object  # ImageReport

    def to_document(self) -> dict:
        return {"question": self.question, "answer": self.answer, "image": self.report.to_document(),
                "described_as": self.report.sentence()}


def see(image_path: Path, question: str | None, *, model: str | None = None, context: int = 2048,
        threads: int | None = None, temperature: float = 0.0, max_tokens: int = 128) -> SeeResult:
    from .runtimes.base import GenerationRequest, SamplingParams
    from .serve import load_single_engine
    from .vision.bridge import VisionStack
    from .vision.images import MAX_IMAGE_BYTES, decode_image

    try:
        data = image_path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {image_path}: {exc.strerror}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInputError(f"{image_path} is {len(data):,} bytes; the limit is {MAX_IMAGE_BYTES:,}")
    report = VisionStack().report(decode_image(data, str(image_path)))
    question = question or DEFAULT_QUESTION
    engine = load_single_engine(model, context, threads)
    try:
        messages = [{"role": "system", "content": SYSTEM_PROMPT},
                    {"role": "user", "content": f"{report.sentence()}\n{question}"}]
        prompt = engine.chat_prompt_tokens(messages)
        chunks = list(engine.submit(GenerationRequest(tuple(prompt), max_tokens,
                                                      sampling=SamplingParams(temperature=temperature))))
    finally:
        engine.close()
    if chunks[-1].error:
        raise AssistantError(f"the language model failed: {chunks[-1].error}")
    return SeeResult(question, "".join(c.text for c in chunks).strip(), report)
