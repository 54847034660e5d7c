"""Images as chat requests carry them (``image_url`` parts: base64 data URLs; http(s) only when
the server allows it), decoded with Pillow and bounded in count, bytes and pixels."""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

from ..errors import InvalidInputError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_IMAGES = 8
MAX_PIXELS = 40_000_000  # larger is refused (a decompression bomb guard), not shrunk
WORK_SIDE = 2048  # detectors get at most this many pixels on the long side


@dataclass(frozen=True)
class ImageLimits:
    max_images: int = MAX_IMAGES
    max_bytes: int = MAX_IMAGE_BYTES
    allow_remote: bool = False


def decode_image(data: bytes, name: str = "the image"):
    """Bytes -> an RGB PIL image no larger than WORK_SIDE on its long side."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise InvalidInputError(f"{name} is empty")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        image = Image.open(io.BytesIO(data))
        if image.format not in FORMATS:
            raise InvalidInputError(f"{name} is {image.format or 'an unknown format'}; send JPEG, PNG or WebP")
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"{name} is not an image this server can decode ({exc.__class__.__name__}); "
                                "send JPEG, PNG or WebP") from None
    except Image.DecompressionBombError:
        raise InvalidInputError(f"{name} has more than {MAX_PIXELS:,} pixels; scale it down") from None
    image = image.convert("RGB")
    if max(image.size) > WORK_SIDE:
        image.thumbnail((WORK_SIDE, WORK_SIDE))
    return image


def encode_png(image) -> bytes:
    """A decoded image as PNG, the form llama.cpp's image loader reads whatever came in (WebP too)."""
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def image_from_url(url: str, limits: ImageLimits, name: str):
    """A ``data:image/...;base64,`` URL, or an http(s) URL when ``limits.allow_remote``."""
    if url.startswith("data:"):
        head, _, payload = url.partition(",")
        if ";base64" not in head:
            raise InvalidInputError(f"{name}: only base64 data URLs are supported (data:image/png;base64,...)")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"{name}: the data URL is not valid base64") from None
    elif url.startswith(("http://", "https://")):
        if not limits.allow_remote:
            raise InvalidInputError(f"{name}: this server does not fetch image URLs (start it with "
                                    "--allow-remote-images to allow it); send the image as a base64 data URL")
        data = _fetch(url, limits.max_bytes, name)
    else:
        raise InvalidInputError(f"{name}: image_url must be a data: URL (or http(s) when allowed)")
    if len(data) > limits.max_bytes:
        raise InvalidInputError(f"{name} is {len(data):,} bytes; the limit is {limits.max_bytes:,}")
    return decode_image(data, name)


def _fetch(url: str, max_bytes: int, name: str) -> bytes:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=10, follow_redirects=True) as response:
            response.raise_for_status()
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    raise InvalidInputError(f"{name} at {url} is larger than {max_bytes:,} bytes")
            return data
    except httpx.HTTPError as exc:
        raise InvalidInputError(f"{name}: cannot fetch {url} ({exc})") from None
