"""Native vision: a model with a projector sees images itself, through llama.cpp's mtmd, in the
engine, over HTTP and in `assistant see`. The projector is built by tests/runtimes/mmproj.py
(random weights: the plumbing is real, what the model says about the image is not meaningful)."""

from __future__ import annotations

import base64
import io
import json
import subprocess

import pytest

from assistant.errors import InvalidInputError, ModelFileError
from assistant.runtimes.base import GenerationRequest, SamplingParams
from tests.runtimes.mmproj import IMAGE_TOKENS, write_mmproj
from tests.server.conftest import ASSISTANT, MODEL, Server

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def mmproj(tmp_path_factory):
    return write_mmproj(tmp_path_factory.mktemp("mmproj") / "mmproj-smollm2-test.gguf")


@pytest.fixture(scope="module")
def engine(local_models, mmproj):
    from assistant.runtimes.llamacpp import LlamaCppEngine

    e = LlamaCppEngine(local_models[MODEL], model_id=MODEL, context_length=1024, slots=2, projector=mmproj)
    yield e
    e.close()


def png(photo) -> bytes:
    out = io.BytesIO()
    photo.save(out, "PNG")
    return out.getvalue()


def answer(engine, request: GenerationRequest) -> tuple[str, object]:
    chunks = list(engine.submit(request))
    return "".join(c.text for c in chunks), chunks[-1]


def test_the_image_reaches_the_model(engine, photos):
    assert engine.sees_images and engine.media_marker == "<__media__>"
    messages = [{"role": "user", "content": f"{engine.media_marker}\nWhat is in this picture?"}]
    text_only = engine.chat_prompt_tokens([{"role": "user", "content": "\nWhat is in this picture?"}])
    first = {}
    for name in ("chelsea", "coffee", "chelsea"):
        media = engine.media_prompt(messages, [png(photos[name])])
        assert media.n_tokens == len(text_only) + IMAGE_TOKENS and media.n_images == 1
        chunks = list(engine.submit(GenerationRequest((), 6, sampling=SamplingParams(temperature=0), top_logprobs=3,
                                                      media=media)))
        assert chunks[-1].finish_reason == "length" and chunks[-1].prompt_tokens == media.n_tokens
        top = next(c.logprobs[0] for c in chunks if c.logprobs).top
        assert first.setdefault(name, top) == top  # the same image, the same distribution
    # the first token's distribution differs only through the image
    assert first["chelsea"] != first["coffee"]
    # a text request beside an image request is untouched by it
    tokens = tuple(engine.chat_prompt_tokens([{"role": "user", "content": "What is the capital of France?"}]))
    alone = answer(engine, GenerationRequest(tokens, 8, sampling=SamplingParams(temperature=0)))[0]
    media = engine.media_prompt(messages, [png(photos["coffee"])])
    beside = engine.submit(GenerationRequest((), 8, sampling=SamplingParams(temperature=0), media=media))
    assert answer(engine, GenerationRequest(tokens, 8, sampling=SamplingParams(temperature=0)))[0] == alone
    list(beside)


def test_bad_images_and_markers_are_clear_errors(engine, photos):
    messages = [{"role": "user", "content": f"{engine.media_marker} and {engine.media_marker}"}]
    with pytest.raises(InvalidInputError, match="2 image places for 1 images"):
        engine.media_prompt(messages, [png(photos["coffee"])])
    with pytest.raises(InvalidInputError, match="image 1 could not be decoded"):
        engine.media_prompt([{"role": "user", "content": engine.media_marker}], [b"not an image"])


def test_a_projector_for_another_model_is_refused(local_models, tmp_path):
    from assistant.runtimes.llamacpp import LlamaCppEngine

    wrong = write_mmproj(tmp_path / "mmproj-2048.gguf", n_embd_text=2048)  # a 2048-wide LLM's projector
    with pytest.raises(ModelFileError, match="made for another model"):
        LlamaCppEngine(local_models[MODEL], context_length=512, slots=1, projector=wrong)


def test_the_projector_counts_in_the_memory_estimate(local_models, mmproj):
    from assistant.memory import RuntimeConfig, estimate_gguf

    config = RuntimeConfig(context_length=1024)
    with_projector = estimate_gguf(local_models[MODEL], config, mmproj)
    without = estimate_gguf(local_models[MODEL], config)
    assert with_projector.projector_bytes > 1_800_000
    assert with_projector.required_bytes - without.required_bytes == with_projector.projector_bytes


def test_chat_with_images_over_http_when_the_model_sees(local_models, mmproj, photos):
    from openai import OpenAI

    server = Server("--context", "1024", "--slots", "2", "--mmproj", str(mmproj))
    try:
        client = OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)
        url = "data:image/png;base64," + base64.b64encode(png(photos["chelsea"])).decode()
        reply = client.chat.completions.create(model=MODEL, max_tokens=8, temperature=0, messages=[
            {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": url}}]}])
        plain = client.chat.completions.create(model=MODEL, max_tokens=8, temperature=0, messages=[
            {"role": "user", "content": "What is this?"}])
        assert reply.choices[0].message.content and reply.usage.completion_tokens == 8
        assert reply.usage.prompt_tokens == plain.usage.prompt_tokens + IMAGE_TOKENS  # the image is in the prompt
        stream = client.chat.completions.create(model=MODEL, max_tokens=6, temperature=0, stream=True, messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                         {"type": "image_url", "image_url": {"url": url}},
                                         {"type": "text", "text": "Compare them."}]}])
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    finally:
        server.stop()


def test_assistant_see_with_a_projector(local_models, mmproj, photos, tmp_path):
    path = tmp_path / "cat.jpg"
    photos["chelsea"].save(path)
    run = subprocess.run([ASSISTANT, "see", str(path), "--model", MODEL, "--mmproj", str(mmproj), "--json"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["seen_by"] == "model" and "image" not in doc and doc["answer"]
    missing = subprocess.run([ASSISTANT, "see", str(path), "--model", MODEL, "--mmproj", str(tmp_path / "none.gguf")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "vision projector" in missing.stderr and "does not exist" in missing.stderr
