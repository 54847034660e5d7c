"""The onnxruntime-genai engine on the CPU, for real, on SmolLM2 converted from its GGUF here:
the engine itself, the server over HTTP with the openai client, and the voice loop."""

from __future__ import annotations

import json
import subprocess
import threading

import openai
import pytest

from assistant.errors import ContextLengthExceededError, InvalidInputError, ModelFileError
from assistant.runtimes.base import GenerationRequest, SamplingParams
from tests.server.conftest import ASSISTANT, Server

pytestmark = pytest.mark.models
QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def engine(onnx_model):
    from assistant.runtimes.ortgenai import OrtGenaiEngine

    e = OrtGenaiEngine(onnx_model, context_length=1024, max_queue=2)
    yield e
    e.close()


def run(engine, max_tokens=30, stop=(), **sampling):
    request = GenerationRequest(prompt_tokens=tuple(engine.chat_prompt_tokens(QUESTION)), max_tokens=max_tokens,
                                stop=stop, sampling=SamplingParams(**{"temperature": 0.0, **sampling}))
    chunks = list(engine.submit(request))
    return "".join(c.text for c in chunks), chunks[-1]


def test_the_converted_folder(onnx_model):
    names = {p.name for p in onnx_model.iterdir()}
    assert {"genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json", "chat_template.jinja"} <= names
    config = json.loads((onnx_model / "genai_config.json").read_text())["model"]
    assert config["type"] == "llama" and config["decoder"]["num_hidden_layers"] == 30


def test_answers_and_counts(engine):
    text, last = run(engine)
    assert "Paris" in text
    assert last.finish_reason in ("stop", "length") and last.prompt_tokens > 10 and last.completion_tokens > 0
    assert engine.chat_prompt_tokens(QUESTION) == engine.tokenize(engine.apply_chat_template(QUESTION))
    assert engine.detokenize(engine.tokenize("Hello world")) == "Hello world"


def test_stops_lengths_and_sampling(engine):
    text, last = run(engine, stop=(" is",))
    assert text == "The capital of France" and last.finish_reason == "stop"
    text, last = run(engine, max_tokens=3)
    assert last.finish_reason == "length" and last.completion_tokens == 3
    a, _ = run(engine, temperature=0.9, seed=7)
    b, _ = run(engine, temperature=0.9, seed=7)
    assert a == b  # a seed makes sampling repeatable


def test_cancel(engine):
    request = GenerationRequest(prompt_tokens=tuple(engine.chat_prompt_tokens(QUESTION)), max_tokens=500,
                                sampling=SamplingParams(temperature=0.0))
    generation = engine.submit(request)
    threading.Timer(0.05, generation.cancel).start()
    last = list(generation)[-1]
    assert last.finish_reason in ("cancelled", "stop") and last.completion_tokens < 500


def test_what_it_cannot_do_is_a_clear_error(engine, tmp_path):
    prompt = tuple(engine.chat_prompt_tokens(QUESTION))
    with pytest.raises(InvalidInputError, match="need the llama.cpp runtime"):
        engine.submit(GenerationRequest(prompt, 10, sampling=SamplingParams(grammar='root ::= "a"')))
    with pytest.raises(InvalidInputError, match="log-probabilities"):
        engine.submit(GenerationRequest(prompt, 10, top_logprobs=2))
    with pytest.raises(ContextLengthExceededError):
        engine.submit(GenerationRequest(tuple(range(2000)), 10))
    from assistant.runtimes.ortgenai import OrtGenaiEngine

    with pytest.raises(ModelFileError, match="not an ONNX GenAI model folder"):
        OrtGenaiEngine(tmp_path)
    with pytest.raises(InvalidInputError, match="cannot drive metal"):
        OrtGenaiEngine(engine.path, device="metal")


def test_serves_chat_over_http(onnx_model):
    server = Server("--model", str(onnx_model), "--context", "1024")
    try:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)
        model = onnx_model.name
        reply = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=30)
        assert "Paris" in reply.choices[0].message.content and reply.usage.completion_tokens > 0
        stream = client.chat.completions.create(model=model, messages=QUESTION, temperature=0, max_tokens=30,
                                                stream=True)
        assert "Paris" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        with pytest.raises(openai.BadRequestError, match="llama.cpp runtime"):
            client.chat.completions.create(model=model, messages=QUESTION, response_format={"type": "json_object"})
        assert server.health()["model"] == model
    finally:
        server.stop()


def test_the_voice_loop_runs_on_it(onnx_model, france):
    _, path = france
    run_ = subprocess.run([ASSISTANT, "listen", "--json", "--model", str(onnx_model), "--input", str(path),
                           "--no-speak", "--temperature", "0"], capture_output=True, text=True, timeout=300)
    assert run_.returncode == 0, run_.stderr
    events = [json.loads(line) for line in run_.stdout.splitlines()]
    assert [e["event"] for e in events] == ["listening", "wake", "speech_end", "transcript", "reply"]
    assert "Paris" in events[-1]["text"]


def test_a_gguf_cannot_be_forced_onto_it(local_models):
    from tests.test_cli import run as cli

    out = cli("serve", "--port", "0", "--model", "smollm2-135m-instruct-q4_1", "--runtime", "onnxruntime-genai")
    assert out.returncode == 2 and "no onnx-genai build" in out.stderr


def test_conversion_errors(tmp_path):
    from assistant.convert.onnx_genai import gguf_to_onnx_genai

    with pytest.raises(ModelFileError, match="does not exist"):
        gguf_to_onnx_genai(tmp_path / "missing.gguf", tmp_path / "out")
    with pytest.raises(ModelFileError, match="precision"):
        gguf_to_onnx_genai(tmp_path / "missing.gguf", tmp_path / "out", precision="int2")
