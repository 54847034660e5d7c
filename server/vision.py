"""Images in chat messages. For a text-only model (the default) each ``image_url`` part becomes a
sentence saying what the vision stage found in it, before the chat template sees the messages; a
model with a vision projector gets the images themselves, each part replaced by its marker."""

from __future__ import annotations

from assistant.errors import InvalidInputError
from assistant.vision.bridge import VisionStack
from assistant.vision.images import ImageLimits, encode_png, image_from_url

IMAGE_PART_TYPES = ("image_url", "input_image")
DETAILS = ("auto", "low", "high")
LOW_DETAIL_SIDE = 512  # OpenAI's "low": the image is seen at 512 x 512 at most


def image_parts(messages) -> list[tuple[object, int, dict]]:
    return [(m, i, part) for m in messages if isinstance(m.content, list)
            for i, part in enumerate(m.content) if isinstance(part, dict) and part.get("type") in IMAGE_PART_TYPES]


def _images(messages, limits: ImageLimits):
    parts = image_parts(messages)
    if len(parts) > limits.max_images:
        raise InvalidInputError(f"{len(parts)} images in one request; the limit is {limits.max_images}")
    for n, (message, index, part) in enumerate(parts, 1):
        ref = part.get("image_url")
        url = ref.get("url") if isinstance(ref, dict) else ref
        if not isinstance(url, str) or not url:
            raise InvalidInputError(f"image {n}: an image_url part needs image_url.url")
        detail = (ref.get("detail") if isinstance(ref, dict) else None) or "auto"
        if detail not in DETAILS:
            raise InvalidInputError(f"image {n}: detail must be auto, low or high, not {detail!r}")
        image = image_from_url(url, limits, f"image {n}")
        if detail == "low":  # faster (OCR most of all), and small text is lost, as with OpenAI's low
            image.thumbnail((LOW_DETAIL_SIDE, LOW_DETAIL_SIDE))
        yield n, len(parts), message, index, image


def images_to_text(messages, stack: VisionStack, limits: ImageLimits) -> int:
    """Replace every image part in place by the vision stage's sentence; returns how many there
    were. Runs in a worker thread."""
    count = 0
    for n, total, message, index, image in _images(messages, limits):
        message.content[index] = {"type": "text", "text": stack.report(image).sentence(n, total) + "\n"}
        count += 1
    return count


def images_to_markers(messages, limits: ImageLimits, marker: str) -> list[bytes]:
    """Replace every image part in place by the projector's marker; returns the images (as PNG),
    in order, for the model to see. Runs in a worker thread."""
    images = []
    for _, _, message, index, image in _images(messages, limits):
        message.content[index] = {"type": "text", "text": marker}
        images.append(encode_png(image))
    return images
