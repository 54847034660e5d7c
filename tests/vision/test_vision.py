"""Images in: decoding and limits, PP-OCR on text rendered with PIL, chat with images through the
openai client, and `assistant see`."""

from __future__ import annotations

import base64
import io
import json
import subprocess

import pytest

from assistant.errors import InvalidInputError
from assistant.vision.images import ImageLimits, decode_image, image_from_url
from tests.server.conftest import ASSISTANT, MODEL

SIGN = "EXIT ONLY - NO PARKING"


def render(text: str, fmt: str = "PNG", size=(640, 200)) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 70), text, fill="black", font=ImageFont.load_default(size=44))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def sign() -> bytes:
    return render(SIGN)


def test_decoding_and_limits(sign):
    for fmt in ("PNG", "JPEG", "WEBP"):
        assert decode_image(render("hi", fmt)).size == (640, 200)
    assert max(decode_image(render("big", "PNG", (5000, 1000))).size) == 2048  # shrunk for the detectors
    with pytest.raises(InvalidInputError, match="GIF"):
        decode_image(render("x", "GIF"))
    with pytest.raises(InvalidInputError, match="not an image this server can decode"):
        decode_image(b"not an image at all")
    with pytest.raises(InvalidInputError, match="is empty"):
        decode_image(b"")
    limits = ImageLimits()
    assert image_from_url(data_url(sign), limits, "image 1").size == (640, 200)
    with pytest.raises(InvalidInputError, match="not valid base64"):
        image_from_url("data:image/png;base64,@@@", limits, "image 1")
    with pytest.raises(InvalidInputError, match="--allow-remote-images"):
        image_from_url("https://example.invalid/cat.png", limits, "image 1")
    with pytest.raises(InvalidInputError, match="the limit is 100"):
        image_from_url(data_url(sign), ImageLimits(max_bytes=100), "image 1")


def test_ocr_reads_rendered_text(sign):
    from assistant.vision.bridge import VisionStack

    stack = VisionStack(objects=False, faces=False, labels=False)
    report = stack.report(decode_image(sign))
    assert [line.text.replace(" ", "") for line in report.text] == [SIGN.replace(" ", "")]
    assert report.text[0].confidence > 0.9
    assert report.sentence().startswith('[The attached image has the words "EXIT ONLY')
    blank = stack.report(decode_image(render("")))
    assert blank.text == () and "nothing in it" in blank.sentence()


@pytest.mark.models
def test_assistant_see(tmp_path, sign, local_models):
    path = tmp_path / "sign.png"
    path.write_bytes(sign)
    run = subprocess.run([ASSISTANT, "see", str(path), "What does the sign say?", "--model", MODEL, "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert "PARKING" in doc["answer"].upper() and doc["image"]["text"][0]["confidence"] > 0.9
    missing = subprocess.run([ASSISTANT, "see", str(tmp_path / "none.png")], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


@pytest.mark.models
@pytest.mark.parametrize("photo, words", [("chelsea", ("cat",)), ("coffee", ("espresso", "coffee", "cup")),
                                          ("astronaut", ("person", "woman", "man", "face"))])
def test_assistant_see_names_what_is_in_a_photo(tmp_path, photos, local_models, vision_models, photo, words):
    path = tmp_path / f"{photo}.jpg"
    photos[photo].save(path, quality=90)
    run = subprocess.run([ASSISTANT, "see", str(path), "--model", MODEL, "--json"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert any(word in doc["answer"].lower() for word in words), doc
    assert doc["question"] == "What is in this image?" and doc["image"]["missing"] == []
