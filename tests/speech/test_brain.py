"""The LLM turn's conversation: a spoken-style system prompt and a bounded history."""

from __future__ import annotations

import threading

import pytest

from assistant.speech.brain import VOICE_SYSTEM_PROMPT, Conversation, EngineBrain, ReplySettings


def test_history_is_bounded_and_oldest_goes_first():
    conversation = Conversation(max_turns=2)
    for i in range(4):
        conversation.add(f"question {i}", f"answer {i}")
    messages = conversation.messages("question 4")
    assert messages[0] == {"role": "system", "content": VOICE_SYSTEM_PROMPT}
    assert [m["content"] for m in messages[1:]] == ["question 2", "answer 2", "question 3", "answer 3", "question 4"]
    assert [m["content"] for m in conversation.messages("q", keep=0)[1:]] == ["q"]


@pytest.mark.models
def test_old_turns_are_dropped_to_fit_the_context(local_models):
    from assistant.runtimes.llamacpp import LlamaCppEngine

    engine = LlamaCppEngine(local_models["smollm2-135m-instruct-q4_1"], context_length=256, slots=1, threads=2)
    try:
        conversation = Conversation(system_prompt="You are a helpful assistant.")
        for i in range(4):
            conversation.add("Tell me about the history of the Roman empire in detail. " * 2, "It was long. " * 8)
        brain = EngineBrain(engine, ReplySettings(max_tokens=16, temperature=0))
        prompt = brain._prompt(conversation, "What is the capital of France?")
        assert len(prompt) <= 256 - 16
        kept = engine.detokenize(prompt).count("Roman empire") // 2
        assert 0 < kept < 4  # the oldest turns went; the newest that fit stayed
        reply = "".join(brain.reply(conversation, "What is the capital of France?", threading.Event()))
        assert "Paris" in reply
    finally:
        engine.close()


def test_a_missing_piper_voice_falls_back_to_espeak(monkeypatch):
    from assistant.errors import ModelFileError
    from assistant.speech import assets, tts

    def missing(*_args):
        raise ModelFileError("the tts model piper-en-us-joe-medium is not installed")

    monkeypatch.setattr(assets, "resolve", missing)
    assert tts.open_synthesizer().voice_id == "espeak-ng:en-us"
    with pytest.raises(ModelFileError):  # a voice the user named is not swapped for another
        tts.open_synthesizer("piper-en-us-joe-medium")
