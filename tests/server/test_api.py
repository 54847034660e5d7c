"""The OpenAI-compatible API over real HTTP with the official `openai` client, on the real model.
Responses are validated against OpenAI's published schemas (tests/data/openai/components.json)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.server.conftest import MODEL

pytestmark = pytest.mark.models
# The component schemas our responses must match, extracted from OpenAI's openapi.yaml (MIT; the
# version is in tests/data/openai/VERSION) with everything they reference.
OPENAI_COMPONENTS = Path(__file__).resolve().parents[1] / "data" / "openai" / "components.json"
QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def openai_schema():
    """A validator for one of OpenAI's component schemas."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = _nullable_to_json_schema(json.loads(OPENAI_COMPONENTS.read_text()))
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openai", resource)

    def validate(name: str, doc: dict) -> None:
        schema = {"$ref": f"urn:openai#/components/schemas/{name}"}
        jsonschema.Draft202012Validator(schema, registry=registry).validate(doc)

    return validate


def _nullable_to_json_schema(node):
    """OpenAI's spec marks optional-null fields with OpenAPI 3.0's `nullable: true`, which JSON
    Schema does not know; rewrite each as a type that also admits null."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_json_schema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def test_models(client):
    models = list(client.models.list())
    assert models[0].id == MODEL and models[0].loaded is True
    assert ("gemma-3-270m-q4_k_m", False) in [(m.id, m.loaded) for m in models]  # installed, not loaded
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_chat_answers_the_question(client, server, openai_schema):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=30)
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.model == MODEL and r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 10
    raw = httpx.post(f"{server.url}/v1/chat/completions", json={"model": MODEL, "messages": QUESTION,
                                                                 "temperature": 0, "max_tokens": 8}, timeout=60).json()
    openai_schema("CreateChatCompletionResponse", raw)


def test_stream_with_usage(client, server, openai_schema):
    stream = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=30,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Paris" in text
    assert {c.model for c in chunks} == {MODEL} and len({c.id for c in chunks}) == 1
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", timeout=60,
                      json={"model": MODEL, "messages": QUESTION, "max_tokens": 5, "stream": True}) as resp:
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        openai_schema("CreateChatCompletionStreamResponse", json.loads(line[6:]))


def test_same_seed_same_text(client):
    kw = dict(model=MODEL, messages=[{"role": "user", "content": "Tell me a story."}], temperature=0.9,
              max_tokens=24, seed=1234)
    assert client.chat.completions.create(**kw).choices[0].message.content == \
        client.chat.completions.create(**kw).choices[0].message.content


def test_stop_sequence(client):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=30, stop=["Paris"])
    assert "Paris" not in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"


def test_json_schema_output_validates(client):
    import jsonschema

    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
              "required": ["city", "country"], "additionalProperties": False}
    r = client.chat.completions.create(
        model=MODEL, messages=QUESTION + [{"role": "user", "content": "Answer in JSON."}], temperature=0,
        max_tokens=60, response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}})
    doc = json.loads(r.choices[0].message.content)
    jsonschema.validate(doc, schema)


def test_json_object_output_parses(client):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=60,
                                       response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_completions_with_echo(client, openai_schema, server):
    r = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0, echo=True)
    assert r.choices[0].text.startswith("The capital of France is")
    assert r.usage.completion_tokens > 0
    raw = httpx.post(f"{server.url}/v1/completions", json={"model": MODEL, "prompt": "Hello", "max_tokens": 3},
                     timeout=60).json()
    openai_schema("CreateCompletionResponse", raw)


@pytest.mark.parametrize("body, status, code", [
    ({"model": "gpt-4o", "messages": QUESTION}, 404, "model_not_found"),
    ({"model": MODEL, "messages": QUESTION, "n": 2}, 400, None),
    ({"model": MODEL, "messages": QUESTION, "temperature": 7}, 400, None),
    ({"model": MODEL, "messages": []}, 400, None),
    ({"model": MODEL, "messages": QUESTION, "tools": [{"type": "function"}]}, 400, None),
    ({"model": MODEL, "messages": QUESTION, "tools": [{"type": "function", "function": {"name": "f"}}],
      "tool_choice": {"type": "function", "function": {"name": "g"}}}, 400, None),
    ({"model": MODEL, "messages": [{"role": "user", "content": "word " * 3000}]}, 400, "context_length_exceeded"),
    ({"model": MODEL, "messages": QUESTION, "max_tokens": 100000}, 400, None),
])
def test_errors_are_openai_shaped(server, openai_schema, body, status, code):
    r = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)
    assert r.status_code == status, r.text
    openai_schema("ErrorResponse", r.json())
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


def test_bad_json_is_a_400_not_a_422(server):
    r = httpx.post(f"{server.url}/v1/chat/completions", content=b"{not json", timeout=10,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_too_large_a_body_is_413(server):
    r = httpx.post(f"{server.url}/v1/chat/completions", content=b"x" * (9 * 1024 * 1024), timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_four_streams_at_once(client, server):
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": f"Count to {i + 5}."}],
                                                max_tokens=40, temperature=0, stream=True)
        results[i] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    seen_parallel = 0
    while any(t.is_alive() for t in threads):
        seen_parallel = max(seen_parallel, server.health()["active"])
        time.sleep(0.02)
    assert len(results) == 4 and all(results.values())
    assert seen_parallel >= 2  # decoded together, not one after another


def test_closing_a_stream_cancels_its_generation(client, server):
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Write a long essay."}],
                                            max_tokens=1500, temperature=0.8, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    deadline = time.monotonic() + 10
    while server.health()["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.health()["active"] == 0


def test_api_key(guarded_server):
    from openai import OpenAI

    url = f"{guarded_server.url}/v1"
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
    assert httpx.get(f"{guarded_server.url}/health").status_code == 200  # stays open
    ok = OpenAI(base_url=url, api_key="s3cret", max_retries=0)
    assert [m.id for m in ok.models.list()][0] == MODEL


def test_overload_is_429_with_retry_after(guarded_server):
    """One slot and one queue place: of four long requests at once, some are turned away."""
    statuses: list[httpx.Response] = []

    def ask() -> None:
        statuses.append(httpx.post(f"{guarded_server.url}/v1/chat/completions", timeout=120,
                                   headers={"Authorization": "Bearer s3cret"},
                                   json={"model": MODEL, "max_tokens": 200,
                                         "messages": [{"role": "user", "content": "Write a poem."}]}))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in statuses)
    assert codes.count(200) >= 1 and 429 in codes, codes
    rejected = next(r for r in statuses if r.status_code == 429)
    assert rejected.headers["retry-after"] == "1"
    assert rejected.json()["error"]["type"] == "rate_limit_error"


WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"], "additionalProperties": False}}}
ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two numbers.",
    "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
                   "required": ["a", "b"], "additionalProperties": False}}}
ASK_WEATHER = [{"role": "user", "content": "What is the weather like in Paris?"}]


def _check_call(call, tool):
    import jsonschema

    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == tool["function"]["name"]
    jsonschema.validate(json.loads(call.function.arguments), tool["function"]["parameters"])


@pytest.mark.parametrize("choice", [{"type": "function", "function": {"name": "get_weather"}}, "required"])
def test_forced_tool_call_has_valid_arguments(client, server, openai_schema, choice):
    r = client.chat.completions.create(model=MODEL, messages=ASK_WEATHER, tools=[WEATHER, ADD], tool_choice=choice,
                                       temperature=0, max_tokens=80)
    choice0 = r.choices[0]
    assert choice0.finish_reason == "tool_calls" and choice0.message.content is None
    [call] = choice0.message.tool_calls
    _check_call(call, WEATHER if call.function.name == "get_weather" else ADD)
    raw = httpx.post(f"{server.url}/v1/chat/completions", timeout=60, json={
        "model": MODEL, "messages": ASK_WEATHER, "tools": [WEATHER], "tool_choice": "required", "max_tokens": 80}).json()
    openai_schema("CreateChatCompletionResponse", raw)


def test_tool_call_streams_as_deltas(client):
    stream = client.chat.completions.create(model=MODEL, messages=ASK_WEATHER, tools=[WEATHER],
                                            tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                            temperature=0, max_tokens=80, stream=True)
    name, arguments, finish = "", "", None
    for chunk in stream:
        delta = chunk.choices[0].delta
        for tc in delta.tool_calls or []:
            name += tc.function.name or ""
            arguments += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather" and finish == "tool_calls"
    assert json.loads(arguments)["city"]


def test_tool_result_round_trip_and_auto(client):
    """A conversation with a call and its result goes back through the template; with "auto" the
    reply is either prose or a valid call."""
    first = client.chat.completions.create(model=MODEL, messages=ASK_WEATHER, tools=[WEATHER],
                                           tool_choice="required", temperature=0, max_tokens=80)
    call = first.choices[0].message.tool_calls[0]
    follow = ASK_WEATHER + [
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature": 21, "sky": "sunny"})}]
    r = client.chat.completions.create(model=MODEL, messages=follow, tools=[WEATHER], tool_choice="auto",
                                       temperature=0, max_tokens=60)
    message = r.choices[0].message
    if message.tool_calls:
        assert r.choices[0].finish_reason == "tool_calls"
        _check_call(message.tool_calls[0], WEATHER)
    else:
        assert message.content and r.choices[0].finish_reason in ("stop", "length")


def test_tool_choice_none_is_plain_text(client):
    r = client.chat.completions.create(model=MODEL, messages=QUESTION, tools=[WEATHER], tool_choice="none",
                                       temperature=0, max_tokens=30)
    assert r.choices[0].message.tool_calls is None and "Paris" in r.choices[0].message.content


def test_metrics_count_requests_and_tokens(client, server):
    client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=10)
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    values = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values['assistant_requests_total{endpoint="/v1/chat/completions",status="200"}'] >= 1
    assert values["assistant_completion_tokens_total"] >= 10
    assert values["assistant_time_to_first_token_seconds_count"] >= 1
    assert values['assistant_request_duration_seconds_bucket{endpoint="/v1/chat/completions",le="+Inf"}'] >= 1
    assert "assistant_queue_depth 0" in text and "# TYPE assistant_decode_tokens_per_second histogram" in text


def test_chat_logprobs(client):
    import math

    r = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=8,
                                       logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert "".join(t.token for t in content) == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3
        assert t.top_logprobs[0].logprob >= t.top_logprobs[-1].logprob
        assert t.top_logprobs[0].token == t.token  # greedy picks the likeliest
    assert sum(math.exp(t.logprob) for t in content[:1]) <= 1.0


def test_completion_logprobs(client):
    r = client.completions.create(model=MODEL, prompt="The capital of France is", max_tokens=4, temperature=0,
                                  logprobs=2)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset) == 4
    assert all(len(t) <= 2 for t in lp.top_logprobs) and all(v <= 0 for v in lp.token_logprobs)


def test_completions_with_several_prompts(client):
    prompts = ["The capital of France is", "One, two, three,", "Hello"]
    r = client.completions.create(model=MODEL, prompt=prompts, max_tokens=6, temperature=0)
    assert [c.index for c in r.choices] == [0, 1, 2]
    singles = [client.completions.create(model=MODEL, prompt=p, max_tokens=6, temperature=0) for p in prompts]
    alone = [one.choices[0].text for one in singles]
    assert [c.text for c in r.choices] == alone
    assert r.usage.completion_tokens == sum(one.usage.completion_tokens for one in singles)
    assert r.usage.prompt_tokens == sum(one.usage.prompt_tokens for one in singles)
    texts = {0: "", 1: "", 2: ""}
    usage = None
    for chunk in client.completions.create(model=MODEL, prompt=prompts, max_tokens=6, temperature=0, stream=True,
                                           stream_options={"include_usage": True}):
        for c in chunk.choices:
            texts[c.index] += c.text
        usage = chunk.usage or usage
    assert [texts[i] for i in range(3)] == alone
    assert usage.completion_tokens == r.usage.completion_tokens


def test_a_client_that_gives_up_on_a_plain_request_frees_its_slot(server):
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{server.url}/v1/chat/completions", timeout=0.5, json={
            "model": MODEL, "max_tokens": 1500, "messages": [{"role": "user", "content": "Write a long essay."}]})
    deadline = time.monotonic() + 5
    while server.health()["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.health()["active"] == 0
