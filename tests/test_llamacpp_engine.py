"""The llama.cpp engine in-process, on the real models: templates, batching, stops, cancel."""

from __future__ import annotations

import threading
import time

import pytest

from assistant.errors import ContextLengthExceededError, InvalidInputError, QueueFullError
from assistant.runtimes.base import GenerationRequest, SamplingParams

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def gemma(local_models):
    from assistant.runtimes.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(local_models["gemma-3-270m-q4_k_m"], model_id="gemma", context_length=512, slots=2,
                            threads=2, max_queue=1)
    yield engine
    engine.close()


def run(engine, prompt: list[int], **kw) -> tuple[str, object]:
    chunks = list(engine.submit(GenerationRequest(tuple(prompt), **kw)))
    return "".join(c.text for c in chunks), chunks[-1]


def test_base_model_without_template_gets_llama_cpp_builtin(gemma):
    assert gemma.chat_template is None and gemma.fallback_template == "gemma"
    prompt = gemma.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert prompt == "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    tokens = gemma.chat_prompt_tokens([{"role": "user", "content": "Hi"}])
    assert tokens[0] == 2  # <bos>, added by the tokenizer since the built-in template has none


def test_greedy_is_deterministic_and_matches_the_binding(gemma, local_models):
    import llama_cpp

    prompt = gemma.tokenize("The capital of France is")
    text, last = run(gemma, prompt, max_tokens=12, sampling=SamplingParams(temperature=0))
    assert last.finish_reason == "length" and last.completion_tokens == 12
    assert run(gemma, prompt, max_tokens=12, sampling=SamplingParams(temperature=0))[0] == text
    ref = llama_cpp.Llama(str(local_models["gemma-3-270m-q4_k_m"]), n_ctx=512, n_threads=2, flash_attn=True,
                          verbose=False)
    expected = ref.create_completion("The capital of France is", max_tokens=12, temperature=0)["choices"][0]["text"]
    assert text == expected


def test_two_requests_decode_together_and_match_alone(gemma):
    prompts = [gemma.tokenize("Once upon a time"), gemma.tokenize("The best way to cook rice is")]
    alone = [run(gemma, p, max_tokens=16, sampling=SamplingParams(temperature=0))[0] for p in prompts]
    # Submit one at a time (this engine's queue holds a single waiting request), then read both
    # while they decode in the same batches.
    generations = []
    for n, p in enumerate(prompts, start=1):
        generations.append(gemma.submit(GenerationRequest(tuple(p), 16, sampling=SamplingParams(temperature=0))))
        deadline = time.monotonic() + 10
        while gemma.active() < n and gemma.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.001)
    together: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: together.__setitem__(i, "".join(c.text for c in generations[i])))
               for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [together[0], together[1]] == alone


def test_stop_sequence_is_cut_and_not_emitted(gemma):
    prompt = gemma.tokenize("1, 2, 3, 4,")
    full, _ = run(gemma, prompt, max_tokens=20, sampling=SamplingParams(temperature=0))
    assert " 7" in full
    text, last = run(gemma, prompt, max_tokens=20, stop=(" 7",), sampling=SamplingParams(temperature=0))
    assert last.finish_reason == "stop" and text == full[:full.index(" 7")]


def test_errors(gemma):
    with pytest.raises(ContextLengthExceededError) as info:
        gemma.submit(GenerationRequest(tuple([1000] * 600), 10))
    assert info.value.prompt_tokens == 600 and info.value.context_length == 512
    with pytest.raises(InvalidInputError):
        gemma.submit(GenerationRequest((), 10))
    with pytest.raises(InvalidInputError, match="grammar"):
        gemma.submit(GenerationRequest((1, 2), 10, sampling=SamplingParams(grammar="root ::= (")))


def test_cancel_frees_the_slot_and_queue_is_bounded(gemma):
    prompt = tuple(gemma.tokenize("Write a long story about a dragon."))
    long_runs = []
    for n in (1, 2):  # fill both slots, one at a time so that neither is still in the queue
        long_runs.append(gemma.submit(GenerationRequest(prompt, 400)))
        deadline = time.monotonic() + 10
        while gemma.active() < n and time.monotonic() < deadline:
            time.sleep(0.005)
    waiting = gemma.submit(GenerationRequest(prompt, 4))  # the one queue place
    with pytest.raises(QueueFullError):
        gemma.submit(GenerationRequest(prompt, 4))
    for g in long_runs:
        g.cancel()
    finals = [list(g)[-1] for g in long_runs]
    assert {f.finish_reason for f in finals} == {"cancelled"}
    assert all(f.completion_tokens < 400 for f in finals)
    assert list(waiting)[-1].finish_reason == "length"
