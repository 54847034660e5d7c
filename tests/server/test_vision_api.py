"""Chat with images through the official openai client: the vision stage reads the image and
the default text-only model answers from what it found."""

from __future__ import annotations

import openai
import pytest

from tests.server.conftest import MODEL
from tests.vision.test_vision import SIGN, data_url, render


@pytest.fixture(scope="module")
def sign() -> bytes:
    return render(SIGN)


@pytest.mark.models
def test_chat_with_an_image_through_the_openai_client(client, sign):
    reply = client.chat.completions.create(model=MODEL, temperature=0, max_tokens=40, messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": [{"type": "text", "text": "What does the sign say?"},
                                     {"type": "image_url", "image_url": {"url": data_url(sign), "detail": "low"}}]}])
    answer = reply.choices[0].message.content.upper()
    assert "EXIT" in answer and "PARKING" in answer


@pytest.mark.models
def test_a_photo_of_a_cat_through_the_openai_client(client, vision_models, photos):
    import io

    jpeg = io.BytesIO()
    photos["chelsea"].save(jpeg, "JPEG", quality=90)
    reply = client.chat.completions.create(model=MODEL, temperature=0, max_tokens=40, messages=[
        {"role": "user", "content": [{"type": "text", "text": "What animal is this?"},
                                     {"type": "image_url", "image_url": {"url": data_url(jpeg.getvalue(), "image/jpeg")}}]}])
    assert "cat" in reply.choices[0].message.content.lower()


@pytest.mark.models
def test_image_errors_are_400s(client, server, sign):
    def ask(*parts):
        return client.chat.completions.create(model=MODEL, max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "text", "text": "?"}, *parts]}])

    with pytest.raises(openai.BadRequestError, match="not an image this server can decode"):
        ask({"type": "image_url", "image_url": {"url": data_url(b"garbage")}})
    with pytest.raises(openai.BadRequestError, match="does not fetch image URLs"):
        ask({"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}})
    with pytest.raises(openai.BadRequestError, match="detail must be auto, low or high, not 'huge'"):
        ask({"type": "image_url", "image_url": {"url": data_url(sign), "detail": "huge"}})
    with pytest.raises(openai.BadRequestError, match="9 images in one request; the limit is 8"):
        ask(*[{"type": "image_url", "image_url": {"url": data_url(sign)}}] * 9)
    assert server.health()["status"] == "ok"




def test_low_detail_shrinks_the_image_before_the_vision_stage():
    from types import SimpleNamespace

    from assistant.vision.images import ImageLimits
    from server.vision import _images

    big = data_url(render("SMALL PRINT", size=(1600, 800)))
    messages = [SimpleNamespace(content=[{"type": "text", "text": "?"},
                                         {"type": "image_url", "image_url": {"url": big, "detail": "low"}},
                                         {"type": "image_url", "image_url": {"url": big}}])]
    sizes = [image.size for *_, image in _images(messages, ImageLimits())]
    assert sizes == [(512, 256), (1600, 800)]
